// Test-side helpers: the real Azure SDK clients pointed at a running sandbox (its env.json).
// Used by the conformance tests; the action itself builds its own clients.
import { getIDToken } from '@actions/core';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ClientAssertionCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';

export const FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';
export const ARM_SCOPE = 'https://management.azure.com/.default';
export const VAULT_SCOPE = 'https://vault.azure.net/.default';

/** Exports the runner variables @actions/core reads (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN). */
export function useRunnerEnv(env: Record<string, string>): void {
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
}

/**
 * @actions/core getIDToken, with its `::add-mask::<token>` workflow command kept out of the test
 * output (on a runner the runner consumes it; here it would print the token).
 */
export async function githubIdToken(audience = FEDERATED_AUDIENCE): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    if (/^::(add-mask|debug)::/.test(String(chunk))) return true;
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return await getIDToken(audience);
  } finally {
    process.stdout.write = write;
  }
}

export function federatedCredential(env: Record<string, string>, clientId = env.AKV_AKS_SANDBOX_CLIENT_ID!, getAssertion: () => Promise<string> = () => githubIdToken()): ClientAssertionCredential {
  return new ClientAssertionCredential(env.AKV_AKS_SANDBOX_TENANT_ID!, clientId, getAssertion, {
    authorityHost: env.AKV_AKS_AUTHORITY_HOST,
    disableInstanceDiscovery: true,
  });
}

export interface ArmClients {
  msi: ManagedServiceIdentityClient;
  authorization: AuthorizationManagementClient;
  keyVault: KeyVaultManagementClient;
}

export function armClients(env: Record<string, string>, credential: TokenCredential, retry?: { maxRetries?: number }): ArmClients {
  const endpoint = env.AKV_AKS_ARM_ENDPOINT!;
  const sub = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!;
  const retryOptions = retry ? { maxRetries: retry.maxRetries } : undefined;
  return {
    msi: new ManagedServiceIdentityClient(credential, sub, { endpoint, $host: endpoint, credentialScopes: [ARM_SCOPE], retryOptions }),
    authorization: new AuthorizationManagementClient(credential, sub, { endpoint, $host: endpoint, credentialScopes: [ARM_SCOPE], retryOptions }),
    keyVault: new KeyVaultManagementClient(credential, sub, { endpoint, credentials: { scopes: [ARM_SCOPE] }, retryOptions }),
  };
}

/** Decodes a JWT payload (no verification) for assertions in tests. */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
