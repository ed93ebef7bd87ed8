// The node's IMDS as the provider's useVMManagedIdentity mode reaches it: a token for a managed
// identity assigned to the node pool (the kubelet identity or another user-assigned identity),
// issued by the sandbox's Entra. The AzureWorld interface has no managed-identity token call yet,
// so this prefers one if the world grows it (`managedIdentityToken`) and otherwise signs with the
// Entra simulator's key the way its token endpoint does.
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import type { AzureWorld } from '../azure/world-api.ts';
import type { TokenResult } from './csi.ts';

type WorldWithMi = AzureWorld & {
  managedIdentityToken?: (clientId: string | undefined, resource: string) => Promise<TokenResult> | TokenResult;
  entraKey?: { kid: string; privateKey: KeyObject };
};

const IMDS_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** azidentity's ManagedIdentityCredential error text for an IMDS answer. */
export function imdsError(status: number, statusText: string, body: unknown, clientId: string | undefined): string {
  const query = `api-version=2018-02-01${clientId ? `&client_id=${clientId}` : ''}&resource=https%3A%2F%2Fvault.azure.net`;
  return [
    'ManagedIdentityCredential authentication failed. the requested identity isn\'t assigned to this resource',
    `GET ${IMDS_URL}`,
    '--------------------------------------------------------------------------------',
    `RESPONSE ${status}: ${status} ${statusText}`,
    '--------------------------------------------------------------------------------',
    JSON.stringify(body, null, 2),
    '--------------------------------------------------------------------------------',
    `To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot#managed-id (request: ${query})`,
  ].join('\n');
}

export function managedIdentityTokenSource(world: AzureWorld | undefined): (clientId: string | undefined, resource: string) => Promise<TokenResult> {
  return async (clientId, resource) => {
    const w = world as WorldWithMi | undefined;
    if (!w) return { ok: false, error: 'ManagedIdentityCredential: no sandbox Azure world is running' };
    if (typeof w.managedIdentityToken === 'function') return w.managedIdentityToken(clientId, resource);
    if (!clientId) {
      return { ok: false, error: imdsError(400, 'Bad Request', { error: 'invalid_request', error_description: 'Identity not found' }, clientId) };
    }
    const principal = w.principalByClientId(clientId);
    if (!principal || principal.kind !== 'managedIdentity') {
      return { ok: false, error: imdsError(400, 'Bad Request', { error: 'invalid_request', error_description: 'Identity not found' }, clientId) };
    }
    if (!w.entraKey?.privateKey) return { ok: false, error: 'ManagedIdentityCredential: the sandbox Entra exposes no way to issue managed-identity tokens' };
    const iat = Math.floor(Date.now() / 1000);
    const claims = {
      aud: resource,
      iss: w.tokenIssuer,
      iat,
      nbf: iat,
      exp: iat + 86_399,
      appid: principal.clientId,
      appidacr: '2',
      azp: principal.clientId,
      azpacr: '2',
      idp: `https://sts.windows.net/${w.tenantId}/`,
      idtyp: 'app',
      oid: principal.objectId,
      sub: principal.objectId,
      tid: w.tenantId,
      uti: randomUUID().replace(/-/g, '').slice(0, 22),
      ver: '1.0',
    };
    const header = { typ: 'JWT', alg: 'RS256', kid: w.entraKey.kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${b64url(sign('RSA-SHA256', Buffer.from(input), w.entraKey.privateKey))}`;
    return { ok: true, token };
  };
}
