// Shared setup of the Azure-side integration tests: a logged-in session against the sandbox, a
// private vault per test file (so request counts are not mixed with other tests'), stdout capture.
import { randomBytes } from 'node:crypto';
import { authorizationClient, scopeParam, secretClient } from '../../../src/auth/arm.ts';
import { resolveCloud } from '../../../src/auth/cloud.ts';
import { login } from '../../../src/auth/login.ts';
import type { AzureSession } from '../../../src/auth/login.ts';
import { roleAssignmentName } from '../../../src/identity/plan.ts';
import type { SecretClient } from '@azure/keyvault-secrets';
import { control, sandboxEnv } from '../../support/sandbox.ts';
import { retryUntilOk, waitFor } from '../../support/wait.ts';

export const DEPLOYER_CLIENT_ID = '11111111-1111-1111-1111-111111111111';

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

interface WorldDump {
  principals: { clientId: string; objectId: string }[];
  roleAssignments: { scope: string; principalId: string; roleDefinitionId: string }[];
  federatedCredentials: { clientId: string; name: string; issuer: string; subject: string }[];
  identities: { name: string; resourceGroup: string; clientId: string; principalId: string; tags?: Record<string, string> }[];
  config: Record<string, unknown>;
}

export async function world(): Promise<WorldDump> {
  return control<WorldDump>('GET', '/world');
}

export async function deployerObjectId(): Promise<string> {
  const w = await world();
  const p = w.principals.find((x) => x.clientId === DEPLOYER_CLIENT_ID);
  if (!p) throw new Error('deployer principal missing from the sandbox world');
  return p.objectId;
}

export interface TestVault {
  name: string;
  id: string;
  uri: string;
  rbac: boolean;
  remove(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/**
 * POST /vault/vaults. The sandbox's background vault sync can open the new vault's proxy port before
 * the route does (the route then answers 400 EADDRINUSE although the vault is up): look it up then.
 */
async function addVault(body: Record<string, unknown>): Promise<{ id: string; vaultUri: string }> {
  try {
    return await control<{ id: string; vaultUri: string }>('POST', '/vault/vaults', body);
  } catch (e) {
    const listed = async (): Promise<{ id: string; vaultUri: string } | undefined> => {
      const w = await world();
      const rec = (w as unknown as { vaults: { name: string; id: string; vaultUri: string }[] }).vaults.find((v) => v.name === body.name);
      const listening = (await control<{ name: string; listening: boolean }[]>('GET', '/vault/vaults')).find((v) => v.name === body.name)?.listening;
      return rec && listening ? rec : undefined;
    };
    const rec = await waitFor(`vault ${String(body.name)} up`, listed, 1_000, 100).catch(() => undefined);
    if (rec) return rec;
    throw e;
  }
}

/** Assigns the deployer a built-in role at `scope` (the data plane may take the sandbox's propagation delay to follow). */
export async function grantDeployer(session: AzureSession, scope: string, roleName: string): Promise<void> {
  const oid = await deployerObjectId();
  const auth = authorizationClient(session);
  let role: string | undefined;
  for await (const d of auth.roleDefinitions.list(scopeParam(scope), { filter: `roleName eq '${roleName}'` })) role = d.id;
  if (!role) throw new Error(`${roleName} role definition missing`);
  await auth.roleAssignments.create(scopeParam(scope), roleAssignmentName(scope, oid, role), { roleDefinitionId: role, principalId: oid, principalType: 'ServicePrincipal' });
}

/** A fresh vault the deployer can write (Secrets Officer, or an all-secrets access policy). */
export async function createTestVault(session: AzureSession, opts: { rbac: boolean; prefix?: string }): Promise<TestVault> {
  const name = uniqueName(opts.prefix ?? 'kv-d-');
  const oid = await deployerObjectId();
  const body: Record<string, unknown> = { name, enableRbacAuthorization: opts.rbac };
  if (!opts.rbac) {
    body.accessPolicies = [
      { tenantId: session.tenantId, objectId: oid, permissions: { secrets: ['get', 'list', 'set', 'delete', 'recover', 'backup', 'restore', 'purge'], keys: [], certificates: [] } },
    ];
  }
  const rec = await addVault(body);
  if (opts.rbac) await grantDeployer(session, rec.id, 'Key Vault Secrets Officer');
  // Wait until the data plane lets the deployer in (RBAC propagation delay of the sandbox, if set).
  const client = secretClient(session.credential, session.cloud, rec.vaultUri);
  await retryUntilOk(() => client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next());
  return {
    name,
    id: rec.id,
    uri: rec.vaultUri,
    rbac: opts.rbac,
    remove: async () => {
      await control('DELETE', `/vault/vaults/${name}`).catch(() => undefined);
    },
  };
}

/** Creates a key version as a client of the vault would (POST /keys/{name}/create); returns its version. */
export async function createKey(session: AzureSession, tv: TestVault, name: string): Promise<string> {
  const deadline = Date.now() + 60_000; // a 403 while a new role assignment propagates is waited through
  for (;;) {
    const token = await session.credential.getToken('https://vault.azure.net/.default');
    const res = await fetch(`${tv.uri}keys/${name}/create?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token?.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kty: 'RSA', key_size: 2048 }),
    });
    const body = (await res.json()) as { key?: { kid?: string } };
    if (res.status === 200) return body.key!.kid!.split('/').pop()!;
    if (res.status !== 403 || Date.now() > deadline) throw new Error(`create key ${name}: HTTP ${res.status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Creates a self-signed certificate (POST /certificates/{name}/create), waiting through a propagating role. */
export async function createCertificate(session: AzureSession, tv: TestVault, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const token = await session.credential.getToken('https://vault.azure.net/.default');
    const res = await fetch(`${tv.uri}certificates/${name}/create?api-version=7.6`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token?.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policy: { issuer: { name: 'Self' }, x509_props: { subject: `CN=${name}.contoso.test` }, secret_props: { contentType: 'application/x-pem-file' } } }),
    });
    if (res.status === 202) return;
    if (res.status !== 403 || Date.now() > deadline) throw new Error(`create certificate ${name}: HTTP ${res.status} ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function dataClient(session: AzureSession, vault: TestVault): SecretClient {
  return secretClient(session.credential, session.cloud, vault.uri);
}

export interface VaultStats {
  requests: number;
  reads: number;
  writes: number;
  throttled: number;
}

/** Requests the vault's authorization proxy served (this vault only). */
export async function vaultStats(name: string): Promise<VaultStats> {
  const all = await control<{ name: string; stats: VaultStats }[]>('GET', '/vault/vaults');
  const v = all.find((x) => x.name === name);
  if (!v) throw new Error(`vault ${name} unknown to the sandbox`);
  return v.stats;
}

export interface ArmRecord {
  service: string;
  method: string;
  path: string;
  status: number;
  seq: number;
}

/** ARM requests since `mark` (from recordMark) whose path mentions one of `needles` (case-insensitive). */
export async function armRequests(mark: number, needles: string[]): Promise<ArmRecord[]> {
  const s = await control<{ records: ArmRecord[] }>('GET', '/stats');
  const lower = needles.map((n) => n.toLowerCase());
  return s.records.filter((r) => r.service === 'arm' && r.seq >= mark && lower.some((n) => r.path.toLowerCase().includes(n)));
}

export const isWriteMethod = (m: string): boolean => !['GET', 'HEAD'].includes(m.toUpperCase());

/** Captures what @actions/core (and anything else) writes to stdout, for the no-secret-in-logs checks. */
export function captureStdout(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  return {
    text: () => chunks.join(''),
    stop: () => {
      process.stdout.write = original;
    },
  };
}

/**
 * The captured log as a runner would show it: `::add-mask::` commands are consumed by the runner
 * (they are how values get masked), everything else is printed.
 */
export function visibleLog(captured: string): string {
  return captured
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}
