// SDK clients of one session, pointed at the session's cloud (or the sandbox's endpoints).
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { isCloudVaultHost } from './cloud.ts';
import type { Cloud } from './cloud.ts';
import { sdkClientOptions } from './http.ts';
import type { AzureSession } from './login.ts';

/** Options of the classic ARM clients (msi, authorization): the cloud's endpoint and token scope. */
function armClientOptions(cloud: Cloud): { endpoint: string; $host: string; credentialScopes: string[] } & ReturnType<typeof sdkClientOptions> {
  return { ...sdkClientOptions(), endpoint: cloud.armEndpoint, $host: cloud.armEndpoint, credentialScopes: [cloud.armScope] };
}

/**
 * Each kind of ARM client is built once per session and subscription: a client is only its request
 * pipeline, and the identity step would otherwise build one per identity and read.
 */
const armClients = new WeakMap<AzureSession, Map<string, unknown>>();

function sharedClient<T>(session: AzureSession, kind: string, subscriptionId: string, build: () => T): T {
  let clients = armClients.get(session);
  if (!clients) armClients.set(session, (clients = new Map()));
  const key = `${kind}/${subscriptionId}`;
  let client = clients.get(key) as T | undefined;
  if (!client) clients.set(key, (client = build()));
  return client;
}

export function msiClient(session: AzureSession, subscriptionId = session.subscriptionId): ManagedServiceIdentityClient {
  return sharedClient(session, 'msi', subscriptionId, () => new ManagedServiceIdentityClient(session.credential, subscriptionId, armClientOptions(session.cloud)));
}

export function authorizationClient(session: AzureSession, subscriptionId = session.subscriptionId): AuthorizationManagementClient {
  return sharedClient(session, 'authorization', subscriptionId, () => new AuthorizationManagementClient(session.credential, subscriptionId, armClientOptions(session.cloud)));
}

export function keyVaultManagementClient(session: AzureSession, subscriptionId = session.subscriptionId): KeyVaultManagementClient {
  const { cloud } = session;
  return sharedClient(
    session,
    'keyvault',
    subscriptionId,
    () =>
      new KeyVaultManagementClient(session.credential, subscriptionId, {
        ...sdkClientOptions(),
        endpoint: cloud.armEndpoint,
        credentials: { scopes: [cloud.armScope] },
      }),
  );
}

/**
 * Key Vault data-plane API version, pinned: the action uses nothing newer than 2025-07-01 (GA), and a
 * pinned version keeps its behaviour independent of the SDK's default (4.12 defaults to 2026-04-01).
 */
export const KEYVAULT_API_VERSION = '2025-07-01';

/**
 * A data-plane client for a vault URI (from ARM's properties.vaultUri), as any principal.
 * `perRetry`: more policies run on every attempt (the vault engine's guard against re-sent writes).
 */
export function secretClient(credential: TokenCredential, cloud: Cloud, vaultUri: string, perRetry: PipelinePolicy[] = []): SecretClient {
  const base = sdkClientOptions();
  return new SecretClient(vaultUri, credential, {
    ...base,
    additionalPolicies: [...base.additionalPolicies, ...perRetry.map((policy) => ({ policy, position: 'perRetry' as const }))],
    serviceVersion: KEYVAULT_API_VERSION,
    disableChallengeResourceVerification: !isCloudVaultHost(cloud, vaultUri),
  });
}

/** ARM scopes are passed to the SDK without their leading slash (the path template adds one). */
export function scopeParam(scope: string): string {
  return scope.replace(/^\/+/, '');
}
