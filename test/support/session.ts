// The action's own Azure session (src/auth/login.ts) on the sandbox, for suites that call a step
// directly, and vaults of a suite's own made and filled through it.
import { authorizationClient, scopeParam, secretClient } from '../../src/auth/arm.ts';
import { resolveCloud } from '../../src/auth/cloud.ts';
import { login, type AzureSession } from '../../src/auth/login.ts';
import { roleAssignmentName } from '../../src/identity/plan.ts';
import type { SecretClient } from '@azure/keyvault-secrets';
import { addVault, deployerObjectId, DEPLOYER_CLIENT_ID, removeVault, vaultPost } from './azure.ts';
import { sandboxEnv } from './sandbox.ts';
import { retryUntilOk } from './wait.ts';

/** Exports the sandbox's variables to process.env (the action reads them there) and logs in. */
export async function sandboxSession(): Promise<AzureSession> {
  const env = sandboxEnv();
  for (const k of ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'AKV_AKS_AUTHORITY_HOST', 'AKV_AKS_ARM_ENDPOINT']) {
    const v = env[k];
    if (v) process.env[k] = v;
  }
  const cloud = resolveCloud('AzureCloud', process.env);
  return login({
    clientId: env.AKV_AKS_SANDBOX_CLIENT_ID ?? DEPLOYER_CLIENT_ID,
    tenantId: env.AKV_AKS_SANDBOX_TENANT_ID ?? '',
    subscriptionId: env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? '',
    cloud,
  });
}

export interface SessionVault {
  name: string;
  id: string;
  uri: string;
  rbac: boolean;
  remove(): Promise<void>;
}

/** Assigns the deployer a built-in role at `scope` (the data plane may take the sandbox's propagation delay to follow). */
export async function grantDeployer(session: AzureSession, scope: string, roleName: string): Promise<void> {
  const oid = await deployerObjectId();
  const auth = await authorizationClient(session);
  let role: string | undefined;
  for await (const d of auth.roleDefinitions.list(scopeParam(scope), { filter: `roleName eq '${roleName}'` })) role = d.id;
  if (!role) throw new Error(`${roleName} role definition missing`);
  await auth.roleAssignments.create(scopeParam(scope), roleAssignmentName(scope, oid, role), { roleDefinitionId: role, principalId: oid, principalType: 'ServicePrincipal' });
}

/** A fresh vault the deployer can write (Secrets Officer, or an all-secrets access policy). */
export async function createTestVault(session: AzureSession, opts: { rbac: boolean; prefix?: string }): Promise<SessionVault> {
  const oid = await deployerObjectId();
  const accessPolicies = opts.rbac
    ? undefined
    : [{ tenantId: session.tenantId, objectId: oid, permissions: { secrets: ['get', 'list', 'set', 'delete', 'recover', 'backup', 'restore', 'purge'], keys: [], certificates: [] } }];
  const rec = await addVault(opts.prefix ?? 'kv-d-', { rbac: opts.rbac, accessPolicies });
  if (opts.rbac) await grantDeployer(session, rec.id, 'Key Vault Secrets Officer');
  // Wait until the data plane lets the deployer in (RBAC propagation delay of the sandbox, if set).
  const client = await secretClient(session.credential, session.cloud, rec.vaultUri);
  await retryUntilOk(() => client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next());
  return { name: rec.name, id: rec.id, uri: rec.vaultUri, rbac: opts.rbac, remove: () => removeVault(rec.name) };
}

/** Creates a key version as a client of the vault would (POST /keys/{name}/create); returns its version. */
export async function createKey(session: AzureSession, tv: SessionVault, name: string): Promise<string> {
  const answer = (await vaultPost(session.credential, tv.uri, `keys/${name}/create`, { kty: 'RSA', key_size: 2048 }, 200)) as { key: { kid: string } };
  return answer.key.kid.split('/').pop()!;
}

/** Creates a self-signed certificate (POST /certificates/{name}/create). */
export async function createCertificate(session: AzureSession, tv: SessionVault, name: string): Promise<void> {
  const policy = { issuer: { name: 'Self' }, x509_props: { subject: `CN=${name}.contoso.test` }, secret_props: { contentType: 'application/x-pem-file' } };
  await vaultPost(session.credential, tv.uri, `certificates/${name}/create`, { policy }, 202);
}

export function dataClient(session: AzureSession, vault: SessionVault): Promise<SecretClient> {
  return secretClient(session.credential, session.cloud, vault.uri);
}
