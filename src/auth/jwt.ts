// Reading (never verifying) the claims of a JWT, for diagnostics: which iss/sub/aud was presented.

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  [k: string]: unknown;
}

/** The payload of a compact JWS, or undefined when it is not one. Signature not checked. */
export function decodeJwtClaims(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const json = Buffer.from(parts[1], 'base64url').toString('utf8');
    const claims: unknown = JSON.parse(json);
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as JwtClaims) : undefined;
  } catch {
    return undefined;
  }
}

export function audienceText(aud: JwtClaims['aud']): string {
  if (Array.isArray(aud)) return aud.join(', ');
  return aud ?? '(none)';
}
