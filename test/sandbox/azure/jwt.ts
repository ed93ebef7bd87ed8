// Minimal RS256 JWT signing and verification on node:crypto, for the sandbox's token issuers
// (GitHub OIDC, Entra) and for checking client assertions against a JWKS.
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** Public JWK with kid/use/alg, as served in a JWKS. */
  jwk: JsonWebKey & { kid: string; use: string; alg: string; kty: string };
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export function newSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID().replace(/-/g, '').slice(0, 20);
  const pub = publicKey.export({ format: 'jwk' });
  return { kid, privateKey, jwk: { ...pub, kty: 'RSA', kid, use: 'sig', alg: 'RS256' } };
}

export function signJwt(key: SigningKey, payload: Record<string, unknown>, extraHeader: Record<string, unknown> = {}): string {
  const header = { typ: 'JWT', alg: 'RS256', kid: key.kid, ...extraHeader };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('RSA-SHA256', Buffer.from(signingInput), key.privateKey);
  return `${signingInput}.${b64url(signature)}`;
}

/** Decodes without verifying; undefined when the token is not a well-formed JWS compact JWT. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object') return undefined;
    return {
      header: header as Record<string, unknown>,
      payload: payload as Record<string, unknown>,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

/** Verifies an RS256 signature against one public JWK. */
export function verifyWithJwk(decoded: DecodedJwt, jwk: JsonWebKey): boolean {
  if (decoded.header.alg !== 'RS256') return false;
  try {
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    return verify('RSA-SHA256', Buffer.from(decoded.signingInput), key, decoded.signature);
  } catch {
    return false;
  }
}
