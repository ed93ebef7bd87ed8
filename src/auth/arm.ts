// SDK clients of one session, pointed at the session's cloud (or the sandbox's endpoints). Each SDK
// is imported when its first client is built: the action reads over src/auth/rest.ts and needs the
// SDKs for writes only, so a run that changes nothing never loads them.
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { KeyVaultManagementClient } from '@azure/arm-keyvault';
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { isCloudVaultHost } from './cloud.ts';
import type { Cloud } from './cloud.ts';
import { sdkClientOptions } from './http.ts';
import type { AzureSession } from './login.ts';
import { armReader } from './rest.ts';
import type { ArmReader } from './rest.ts';

/** Options of the classic ARM clients (msi, authorization): the cloud's endpoint and token scope. */
function armClientOptions(cloud: Cloud): { endpoint: string; $host: string; credentialScopes: string[] } & ReturnType<typeof sdkClientOptions> {
  return { ...sdkClientOptions(), endpoint: cloud.armEndpoint, $host: cloud.armEndpoint, credentialScopes: [cloud.armScope] };
}

/**
 * Each kind of ARM client is built once per session and subscription: a client is only its request
 * pipeline, and the identity step would otherwise build one per identity and read.
 */
const armClients = new WeakMap<AzureSession, Map<string, unknown>>();

function sharedClient<T>(session: AzureSession, kind: string, subscriptionId: string, build: () => Promise<T>): Promise<T> {
  let clients = armClients.get(session);
  if (!clients) armClients.set(session, (clients = new Map()));
  const key = `${kind}/${subscriptionId}`;
  let client = clients.get(key) as Promise<T> | undefined;
  if (!client) clients.set(key, (client = build()));
  return client;
}

export function msiClient(session: AzureSession, subscriptionId = session.subscriptionId): Promise<ManagedServiceIdentityClient> {
  return sharedClient(session, 'msi', subscriptionId, async () => {
    const { ManagedServiceIdentityClient } = await import('@azure/arm-msi');
    return new ManagedServiceIdentityClient(session.credential, subscriptionId, armClientOptions(session.cloud));
  });
}

export function authorizationClient(session: AzureSession, subscriptionId = session.subscriptionId): Promise<AuthorizationManagementClient> {
  return sharedClient(session, 'authorization', subscriptionId, async () => {
    const { AuthorizationManagementClient } = await import('@azure/arm-authorization');
    return new AuthorizationManagementClient(session.credential, subscriptionId, armClientOptions(session.cloud));
  });
}

export function keyVaultManagementClient(session: AzureSession, subscriptionId = session.subscriptionId): Promise<KeyVaultManagementClient> {
  const { cloud } = session;
  return sharedClient(session, 'keyvault', subscriptionId, async () => {
    const { KeyVaultManagementClient } = await import('@azure/arm-keyvault');
    return new KeyVaultManagementClient(session.credential, subscriptionId, { ...sdkClientOptions(), endpoint: cloud.armEndpoint, credentials: { scopes: [cloud.armScope] } });
  });
}

const readers = new WeakMap<AzureSession, ArmReader>();

/** The session's ARM reads of the action's own (src/auth/rest.ts): no SDK. */
export function armReads(session: AzureSession): ArmReader {
  let reader = readers.get(session);
  if (!reader) readers.set(session, (reader = armReader(session.credential, session.cloud.armEndpoint, session.cloud.armScope)));
  return reader;
}

/** API versions of the reads, those the SDK clients above use for the same resources. */
export const ARM_API_VERSIONS = { keyVault: '2026-02-01', managedIdentity: '2024-11-30', authorization: '2022-04-01' } as const;

/**
 * Key Vault data-plane API version, pinned: the action uses nothing newer than 2025-07-01 (GA), and a
 * pinned version keeps its behaviour independent of the SDK's default (4.12 defaults to 2026-04-01).
 */
export const KEYVAULT_API_VERSION = '2025-07-01';

/**
 * A data-plane client for a vault URI (from ARM's properties.vaultUri), as any principal.
 * `perRetry`: more policies run on every attempt (the vault engine's guard against re-sent writes).
 */
export async function secretClient(credential: TokenCredential, cloud: Cloud, vaultUri: string, perRetry: PipelinePolicy[] = []): Promise<SecretClient> {
  const { SecretClient } = await import('@azure/keyvault-secrets');
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
