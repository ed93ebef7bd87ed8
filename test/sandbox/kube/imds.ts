// The node's IMDS as the provider's useVMManagedIdentity mode reaches it: a token for a managed
// identity assigned to the node pool (the kubelet identity or another user-assigned identity),
// issued by the sandbox's Entra (AzureWorld.managedIdentityToken), or IMDS's error.
import type { AzureWorld } from '../azure/world-api.ts';
import type { TokenResult } from './csi.ts';

const IMDS_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';

/** azidentity's ManagedIdentityCredential error text for an IMDS answer. */
export function imdsError(status: number, statusText: string, body: unknown, clientId: string | undefined): string {
  const query = `api-version=2018-02-01${clientId ? `&client_id=${clientId}` : ''}&resource=https%3A%2F%2Fvault.azure.net`;
  return [
    "ManagedIdentityCredential authentication failed. the requested identity isn't assigned to this resource",
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
    if (!world) return { ok: false, error: 'ManagedIdentityCredential: no sandbox Azure world is running' };
    // Without a client id IMDS would pick the only assigned identity; AKS nodes carry several, so the provider always names one.
    const token = clientId ? world.managedIdentityToken(clientId, resource) : undefined;
    if (!token) return { ok: false, error: imdsError(400, 'Bad Request', { error: 'invalid_request', error_description: 'Identity not found' }, clientId) };
    return { ok: true, token };
  };
}
