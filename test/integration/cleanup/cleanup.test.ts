// Clean-up mode against the sandbox through the real SDKs and the real API server: a manifest is
// applied with the pipeline's own steps (syncSecrets, ensureIdentities, applyKubeObjects), look-alike
// objects the action does not own are added next to it, then the clean-up plan (no writes anywhere),
// the clean-up (everything owned gone, in reverse order; look-alikes and secrets kept), a second
// clean-up (no writes), and the opt-in secret deletion and purge.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { authorizationClient, keyVaultManagementClient, msiClient, scopeParam } from '../../../src/auth/arm.ts';
import type { AzureSession } from '../../../src/auth/login.ts';
import { CleanupError, runCleanup } from '../../../src/cleanup/index.ts';
import { ensureIdentities } from '../../../src/identity/index.ts';
import { federatedCredentialName, roleAssignmentName } from '../../../src/identity/plan.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import type { KubeSession } from '../../../src/kube/client.ts';
import { readServiceAccountIssuer, kubeStatusOf } from '../../../src/kube/client.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from '../../../src/kube/spcps.ts';
import type { Manifest, SecretSpec, TargetSpec } from '../../../src/manifest/types.ts';
import type { PlanItem } from '../../../src/plan/types.ts';
import { instanceId } from '../../../src/render/labels.ts';
import { describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { armRecords, control, isWriteMethod, settledMark, vaultStats, world } from '../../support/sandbox.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { createTestVault, dataClient, sandboxSession, type SessionVault } from '../../support/session.ts';
import { admin, describeKube, sandboxKube } from '../../support/kube.ts';
import { vaultManifest } from '../../support/manifest.ts';
import { describeInstance, manifestInstance } from '../../../src/manifest/instance.ts';
import { ACTION_NAME, MANAGED_BY_LABEL } from '../../../src/names.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';

jest.setTimeout(240_000);

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SECRET_VALUE = `cu-${randomBytes(12).toString('base64url')}`;
const run = randomBytes(3).toString('hex');
const cluster = `cu${run}`;
const NS_A = `cu-a-${run}`; // fully owned: everything goes, the namespace too
const NS_B = `cu-b-${run}`; // holds a ConfigMap of a user: the namespace stays
const NS_C = `cu-c-${run}`; // its identity exists without the ownership tag: the identity stays
const ID_A = `id-${cluster}-a`;
const ID_B = `id-${cluster}-b`;
const ID_C = `id-${cluster}-c`;

let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let kube: KubeSession;
let issuer: string;
let capture: ReturnType<typeof captureStdout>;

function target(namespace: string, sa: string, identity: string, over: Partial<TargetSpec> = {}): TargetSpec {
  return {
    namespace,
    createNamespace: true,
    serviceAccount: sa,
    identity: { mode: 'managed', name: identity, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: `${sa}-secrets`,
    objects: [{ secret: 'db-password', objectType: 'secret' }],
    rotation: 'restart',
    ...over,
  };
}

function manifest(over: Partial<Manifest> = {}): Manifest {
  const secrets: SecretSpec[] = [
    { name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false },
    { name: 'api-key', source: { kind: 'generate', length: 24, charset: 'hex' }, tags: {}, adopt: false },
    { name: 'user-cert', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false },
  ];
  const targets = [
    target(NS_A, 'api', ID_A),
    target(NS_B, 'worker', ID_B, { access: { scope: 'secret', role: 'Key Vault Secrets User' }, objects: [{ secret: 'api-key', objectType: 'secret' }] }),
    target(NS_C, 'reports', ID_C, { objects: [{ secret: 'user-cert', objectType: 'secret' }] }),
  ];
  return vaultManifest(tv.name, secrets, targets, over, cluster);
}

const summary = (items: PlanItem[]): string[] => items.map((i) => `${i.action} ${i.kind} ${i.name}`);

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if (kubeStatusOf(err) === 404) return false;
    throw err;
  }
}
const saExists = (namespace: string, name: string): Promise<boolean> => exists(() => kube.core.readNamespacedServiceAccount({ namespace, name }));
const spcExists = (namespace: string, name: string): Promise<boolean> =>
  exists(() => kube.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPC_PLURAL, name }));
async function namespaceGoneOrTerminating(name: string): Promise<boolean> {
  try {
    const ns = await kube.core.readNamespace({ name });
    return ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating';
  } catch (err) {
    if (kubeStatusOf(err) === 404) return true;
    throw err;
  }
}

/** ARM writes since the mark `since` on this file's resources (identities carry the cluster name; grants sit on the test vaults). */
const armSince = async (since: number, vaults: string[] = [tv.name]): Promise<{ method: string; path: string }[]> =>
  (await armRecords(since, cluster, ...vaults.map((v) => `/vaults/${v}/`))).filter((r) => isWriteMethod(r.method));

let userFicOnA: string;
let foreignAssignmentOnA: string;
let userSecretVersion: string | undefined;

beforeAll(async () => {
  capture = captureStdout();
  session = await sandboxSession();
  kube = sandboxKube();
  issuer = await readServiceAccountIssuer(kube);
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-cu-' });
  const m0 = (): Manifest => manifest();
  vault = await describeVault(session, m0());

  // What exists before the action: an `existing` secret, an undeclared secret, the untagged identity of NS_C.
  const data = await dataClient(session, tv);
  userSecretVersion = (await data.setSecret('user-cert', randomBytes(16).toString('hex'))).properties.version;
  await data.setSecret('unrelated', randomBytes(16).toString('hex'));
  await (await msiClient(session)).userAssignedIdentities.createOrUpdate('rg-ids', ID_C, { location: 'westeurope', tags: { team: 'reports' } });

  // The action's apply, step by step as the pipeline runs it.
  const m = m0();
  await syncSecrets(session, vault, m, { mode: 'apply', env: { DB_PASSWORD: SECRET_VALUE }, now: new Date() });
  const ids = await ensureIdentities(session, vault, m, { mode: 'apply', issuer });
  const clientIds: Record<string, string> = {};
  for (const i of ids.identities) if (i.clientId) clientIds[i.namespace] = i.clientId;
  await applyKubeObjects(kube, m, { tenantId: TENANT, clientIds }, { mode: 'apply' });

  // Look-alikes the action does not own (in NS_B, which therefore stays).
  await admin().core.createNamespacedServiceAccount({ namespace: NS_B, body: { metadata: { name: 'user-sa' } } });
  await admin().core.createNamespacedServiceAccount({ namespace: NS_B, body: { metadata: { name: 'half-labelled', labels: { [MANAGED_BY_LABEL]: ACTION_NAME } } } });
  await admin().custom.createNamespacedCustomObject({
    group: SPC_GROUP,
    version: SPC_VERSION,
    namespace: NS_B,
    plural: SPC_PLURAL,
    body: { apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass', metadata: { name: 'user-spc' }, spec: { provider: 'azure', parameters: {} } },
  });
  await admin().core.createNamespacedConfigMap({ namespace: NS_B, body: { metadata: { name: 'app-config' }, data: { mode: 'blue' } } });
  // On identity A: a credential and a role assignment someone else added.
  userFicOnA = `deploy-${run}`;
  await (
    await msiClient(session)
  ).federatedIdentityCredentials.createOrUpdate('rg-ids', ID_A, userFicOnA, {
    issuer: 'https://token.actions.githubusercontent.com',
    subject: `repo:contoso/other-${run}:ref:refs/heads/main`,
    audiences: ['api://AzureADTokenExchange'],
  });
  const auth = await authorizationClient(session);
  let reader: string | undefined;
  for await (const d of auth.roleDefinitions.list(scopeParam(tv.id), { filter: "roleName eq 'Key Vault Reader'" })) reader = d.id;
  if (!reader) throw new Error('Key Vault Reader role definition missing');
  const a = ids.identities.find((i) => i.namespace === NS_A);
  foreignAssignmentOnA = randomUUID();
  await auth.roleAssignments.create(scopeParam(tv.id), foreignAssignmentOnA, { roleDefinitionId: reader, principalId: a!.principalId!, principalType: 'ServicePrincipal' });
});

afterAll(async () => {
  capture?.stop();
  if (kube) {
    for (const ns of [NS_A, NS_B, NS_C])
      await admin()
        .core.deleteNamespace({ name: ns })
        .catch(() => undefined);
  }
  if (session) {
    const msi = await msiClient(session);
    for (const id of [ID_A, ID_B, ID_C]) await msi.userAssignedIdentities.delete('rg-ids', id).catch(() => undefined);
  }
  await tv?.remove();
});

describeKube('clean-up mode against the sandbox', () => {
  it('plan lists what would be deleted and kept, and writes nothing at ARM, the vault or the cluster', async () => {
    const since = await settledMark();
    const vaultBefore = await vaultStats(tv.name);
    const saBefore = await kube.core.readNamespacedServiceAccount({ namespace: NS_A, name: 'api' });
    const r = await runCleanup(session, vault, kube, manifest(), { mode: 'plan', issuer });
    const s = summary(r.items);
    expect(s.slice(0, 9)).toEqual([
      `delete secret-provider-class ${NS_A}/api-secrets`,
      `delete secret-provider-class ${NS_B}/worker-secrets`,
      `delete secret-provider-class ${NS_C}/reports-secrets`,
      `delete service-account ${NS_A}/api`,
      `delete service-account ${NS_B}/worker`,
      `delete service-account ${NS_C}/reports`,
      `delete namespace ${NS_A}`,
      `keep namespace ${NS_B}`,
      `delete namespace ${NS_C}`,
    ]);
    expect(r.items.find((i) => i.name === NS_B)?.reason).toBe(
      'holds objects the action does not own: ConfigMap/app-config, ServiceAccount/half-labelled, ServiceAccount/user-sa, SecretProviderClass/user-spc',
    );
    // Look-alikes are never even listed as candidates.
    expect(s.some((x) => /user-sa|half-labelled|user-spc$/.test(x))).toBe(false);
    expect(s).toEqual(
      expect.arrayContaining([
        `delete role-assignment Key Vault Secrets User for ${ID_A} at vaults/${tv.name}`,
        `keep role-assignment Key Vault Reader for ${ID_A} at vaults/${tv.name}`,
        `delete role-assignment Key Vault Secrets User for ${ID_B} at vaults/${tv.name}/secrets/api-key`,
        `delete role-assignment Key Vault Secrets User for ${ID_C} at vaults/${tv.name}`,
        `delete federated-credential ${ID_A}/${federatedCredentialName(cluster, NS_A, 'api')}`,
        `keep federated-credential ${ID_A}/${userFicOnA}`,
        `delete federated-credential ${ID_B}/${federatedCredentialName(cluster, NS_B, 'worker')}`,
        `delete federated-credential ${ID_C}/${federatedCredentialName(cluster, NS_C, 'reports')}`,
        `keep identity rg-ids/${ID_A}`,
        `delete identity rg-ids/${ID_B}`,
        `keep identity rg-ids/${ID_C}`,
        `delete secret akv-aks-grants-${instanceId(manifest())}`,
        'keep secret db-password',
        'keep secret api-key',
        'keep secret user-cert',
      ]),
    );
    expect(r.items.find((i) => i.kind === 'identity' && i.name.endsWith(ID_A))?.reason).toBe('still holds 1 federated credential(s) the action did not create');
    expect(r.items.find((i) => i.kind === 'identity' && i.name.endsWith(ID_C))?.reason).toBe('not created by the action (no managed-by: akv-aks-action tag)');

    expect(await armSince(since)).toEqual([]);
    expect((await vaultStats(tv.name)).writes).toBe(vaultBefore.writes);
    const saAfter = await kube.core.readNamespacedServiceAccount({ namespace: NS_A, name: 'api' });
    expect(saAfter.metadata?.resourceVersion).toBe(saBefore.metadata?.resourceVersion);
    expect(await spcExists(NS_A, 'api-secrets')).toBe(true);
  });

  it('clean-up deletes what the action owns in reverse order and leaves every look-alike and the secrets', async () => {
    const since = await settledMark();
    const vaultBefore = await vaultStats(tv.name);
    const r = await runCleanup(session, vault, kube, manifest(), { mode: 'apply', issuer });
    const deleted = r.items.filter((i) => i.action === 'delete');
    expect(deleted.map((i) => i.kind)).toEqual([
      'secret-provider-class',
      'secret-provider-class',
      'secret-provider-class',
      'service-account',
      'service-account',
      'service-account',
      'namespace',
      'namespace',
      'role-assignment',
      'role-assignment',
      'role-assignment',
      'federated-credential',
      'federated-credential',
      'federated-credential',
      'identity',
      'secret', // the manifest's grant ledger
    ]);

    // Kubernetes: the action's objects gone, the look-alikes there.
    for (const [ns, name] of [
      [NS_A, 'api-secrets'],
      [NS_B, 'worker-secrets'],
      [NS_C, 'reports-secrets'],
    ] as const)
      expect(await spcExists(ns, name)).toBe(false);
    expect(await saExists(NS_B, 'worker')).toBe(false);
    expect(await namespaceGoneOrTerminating(NS_A)).toBe(true);
    expect(await namespaceGoneOrTerminating(NS_C)).toBe(true);
    expect(await namespaceGoneOrTerminating(NS_B)).toBe(false);
    expect(await spcExists(NS_B, 'user-spc')).toBe(true);
    expect(await saExists(NS_B, 'user-sa')).toBe(true);
    expect(await saExists(NS_B, 'half-labelled')).toBe(true);
    expect((await admin().core.readNamespacedConfigMap({ namespace: NS_B, name: 'app-config' })).data).toEqual({ mode: 'blue' });

    // Azure: in reverse order of creation (grants, then credentials, then identities), look-alikes kept.
    const writes = await armSince(since);
    const firstIdx = (re: RegExp): number => writes.findIndex((w) => re.test(w.path));
    const lastIdx = (re: RegExp): number => writes.map((w) => re.test(w.path)).lastIndexOf(true);
    expect(writes.every((w) => w.method === 'DELETE')).toBe(true);
    expect(lastIdx(/roleAssignments/i)).toBeLessThan(firstIdx(/federatedIdentityCredentials/i));
    expect(lastIdx(/federatedIdentityCredentials/i)).toBeLessThan(firstIdx(/userAssignedIdentities\/[^/?]+(\?|$)/i));
    const w = await world();
    expect(w.identities.map((i) => i.name)).toEqual(expect.arrayContaining([ID_A, ID_C]));
    expect(w.identities.map((i) => i.name)).not.toContain(ID_B);
    const idA = w.identities.find((i) => i.name === ID_A)!;
    const idC = w.identities.find((i) => i.name === ID_C)!;
    expect(w.federatedCredentials.filter((f) => f.clientId === idA.clientId).map((f) => f.name)).toEqual([userFicOnA]);
    expect(w.federatedCredentials.filter((f) => f.clientId === idC.clientId)).toEqual([]);
    const assignments = w.roleAssignments as { name: string; scope: string; principalId: string; roleDefinitionId: string }[];
    expect(assignments.filter((a) => a.principalId === idA.principalId).map((a) => a.name)).toEqual([foreignAssignmentOnA]);
    expect(assignments.filter((a) => a.principalId === idC.principalId)).toEqual([]);
    // The deployer's own role on the vault (named the action's way by the test helper) was never a candidate.
    const deployer = w.principals.find((p) => p.clientId === session.clientId)!.objectId;
    expect(assignments.some((a) => a.principalId === deployer && a.name === roleAssignmentName(tv.id, deployer, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'))).toBe(true);

    // Key Vault: only the grant ledger deleted.
    expect((await vaultStats(tv.name)).writes).toBe(vaultBefore.writes + 1);
    const data = await dataClient(session, tv);
    await expect(data.getSecret(`akv-aks-grants-${instanceId(manifest())}`)).rejects.toMatchObject({ statusCode: 404 });
    for (const name of ['db-password', 'api-key', 'user-cert', 'unrelated']) expect((await data.getSecret(name)).properties.enabled).toBe(true);
    expect(visibleLog(capture.text())).not.toContain(SECRET_VALUE);
  });

  it('a second clean-up writes nothing', async () => {
    const since = await settledMark();
    const vaultBefore = await vaultStats(tv.name);
    const r = await runCleanup(session, vault, kube, manifest(), { mode: 'apply', issuer });
    expect(r.items.filter((i) => i.action === 'delete')).toEqual([]);
    expect(await armSince(since)).toEqual([]);
    expect((await vaultStats(tv.name)).writes).toBe(vaultBefore.writes);
  });

  it('deletes the secrets it wrote only when the manifest asks, purges only with purge; never the others', async () => {
    const data = await dataClient(session, tv);
    const softly = await runCleanup(session, vault, kube, manifest({ cleanup: { deleteSecrets: true, purge: false } }), { mode: 'apply', issuer });
    expect(softly.items.filter((i) => i.kind === 'secret').map((i) => `${i.action} ${i.name}`)).toEqual(['delete db-password', 'delete api-key', 'keep user-cert']);
    for (const name of ['db-password', 'api-key']) {
      const d = await data.getDeletedSecret(name);
      expect(d.name).toBe(name);
    }
    expect((await data.getSecret('user-cert')).properties.version).toBe(userSecretVersion);
    expect((await data.getSecret('unrelated')).properties.enabled).toBe(true);

    const planPurge = await runCleanup(session, vault, kube, manifest({ cleanup: { deleteSecrets: true, purge: true } }), { mode: 'plan', issuer });
    expect(planPurge.items.filter((i) => i.kind === 'secret').map((i) => `${i.action} ${i.name} ${i.reason ?? ''}`)).toEqual([
      'delete db-password purge the soft-deleted secret (irreversible)',
      'delete api-key purge the soft-deleted secret (irreversible)',
      'keep user-cert existing secret: never written by the action',
    ]);
    await runCleanup(session, vault, kube, manifest({ cleanup: { deleteSecrets: true, purge: true } }), { mode: 'apply', issuer });
    for (const name of ['db-password', 'api-key']) {
      await expect(data.getDeletedSecret(name)).rejects.toMatchObject({ statusCode: 404 });
    }
    expect((await data.getSecret('user-cert')).properties.version).toBe(userSecretVersion);
    expect(visibleLog(capture.text())).not.toContain(SECRET_VALUE);
  });
});

describeKube('clean-up on an access-policy vault', () => {
  let apVault: SessionVault;
  let info: VaultInfo;
  const ns = `cu-ap-${run}`;
  const idName = `id-${cluster}-ap`;
  // An external identity the action grants, and one whose entry someone made by hand before the action ran.
  const externalPrincipal = randomUUID();
  const externalClient = randomUUID();
  const handPrincipal = randomUUID();
  const handClient = randomUUID();
  const m = (): Manifest => ({
    ...manifest(),
    vault: { name: apVault.name, resourceGroup: 'rg-sandbox' },
    secrets: [{ name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false }],
    targets: [
      target(ns, 'api', idName),
      target(`${ns}-x`, 'ext', '', { identity: { mode: 'external', clientId: externalClient, principalId: externalPrincipal } }),
      target(`${ns}-h`, 'hand', '', { identity: { mode: 'external', clientId: handClient, principalId: handPrincipal } }),
    ],
  });
  let manifestAp: Manifest;
  const ledger = (): string => `akv-aks-grants-${instanceId(manifestAp)}`;

  beforeAll(async () => {
    apVault = await createTestVault(session ?? (await sandboxSession()), { rbac: false, prefix: 'kv-cuap-' });
    manifestAp = m();
    await (
      await keyVaultManagementClient(session)
    ).vaults.updateAccessPolicy('rg-sandbox', apVault.name, 'add', {
      properties: { accessPolicies: [{ tenantId: session.tenantId, objectId: handPrincipal, permissions: { secrets: ['get'] } }] },
    });
    info = await describeVault(session, manifestAp);
    await ensureIdentities(session, info, manifestAp, { mode: 'apply', issuer: issuer ?? 'https://127.0.0.1:27643' });
  });
  afterAll(async () => {
    await (await msiClient(session)).userAssignedIdentities.delete('rg-ids', idName).catch(() => undefined);
    await apVault?.remove();
  });

  it("removes the entries the action added (its identity's and an external one's), keeps the hand-made one; resumes after a failure", async () => {
    const fresh = await describeVault(session, manifestAp);
    const principal = (await world()).identities.find((i) => i.name === idName)!.principalId;
    expect(fresh.accessPolicies?.map((p) => p.objectId)).toEqual(expect.arrayContaining([principal, externalPrincipal, handPrincipal]));
    // The ledger apply wrote: what each principal relies on, and which of it the action added.
    const recorded = JSON.parse((await (await dataClient(session, apVault)).getSecret(ledger())).value ?? '{}') as { manifest: string; added: Record<string, unknown> };
    // Ledgers name their manifest instance: owner (repository:path) @ cluster.
    expect(recorded.manifest).toBe(describeInstance(manifestAp.instance));
    expect(Object.keys(recorded.added).sort()).toEqual([principal, externalPrincipal].map((x) => x.toLowerCase()).sort());
    const since = await settledMark();
    const plan = await runCleanup(session, fresh, kube, manifestAp, { mode: 'plan', issuer });
    expect(summary(plan.items).filter((s) => / (access-policy|identity|secret akv-aks-grants)/.test(s))).toEqual([
      `delete access-policy ${apVault.name} for ${idName}`,
      `delete access-policy ${apVault.name} for ${externalClient}`,
      `keep access-policy ${apVault.name} for ${handClient}`,
      `delete identity rg-ids/${idName}`,
      `keep identity ${externalClient}`,
      `keep identity ${handClient}`,
      `delete secret ${ledger()}`,
    ]);
    expect(plan.items.find((i) => i.name === `${apVault.name} for ${handClient}`)?.reason).toMatch(/^secrets: get not recorded as added by the action/);
    expect(await armSince(since, [apVault.name])).toEqual([]);

    // A failing deletion stops the run with the plan attached; a second run finishes the job.
    const fault = await control<{ id: string }>('POST', '/faults', {
      service: 'arm',
      method: 'DELETE',
      pathPattern: `userAssignedIdentities/${idName}\\?`,
      times: 1,
      effect: { kind: 'status', status: 400, code: 'InjectedFailure', message: 'injected by the clean-up test' },
    });
    let failed: unknown;
    try {
      await runCleanup(session, fresh, kube, manifestAp, { mode: 'apply', issuer });
    } catch (e) {
      failed = e;
    } finally {
      await control('DELETE', `/faults/${fault.id}`).catch(() => undefined);
    }
    expect(failed).toBeInstanceOf(CleanupError);
    expect((failed as CleanupError).message).toMatch(new RegExp(`^clean-up stopped at identity rg-ids/${idName}: .*\\(3 deletion\\(s\\) done, 1 not run; run the clean-up again`));
    expect((failed as CleanupError).items.filter((i) => i.action === 'delete').map((i) => i.kind)).toEqual(['access-policy', 'access-policy', 'federated-credential', 'identity', 'secret']);
    expect((await world()).identities.map((i) => i.name)).toContain(idName);
    const again = await runCleanup(session, await describeVault(session, manifestAp), kube, manifestAp, { mode: 'apply', issuer });
    expect(again.items.filter((i) => i.action === 'delete').map((i) => `${i.kind} ${i.name}`)).toEqual([`identity rg-ids/${idName}`, `secret ${ledger()}`]);
    const after = await describeVault(session, manifestAp);
    const objectIds = after.accessPolicies?.map((p) => p.objectId) ?? [];
    expect(objectIds).not.toContain(principal);
    expect(objectIds).not.toContain(externalPrincipal);
    expect(objectIds).toContain(handPrincipal);
    expect((await world()).identities.map((i) => i.name)).not.toContain(idName);
    await expect((await dataClient(session, apVault)).getSecret(ledger())).rejects.toMatchObject({ statusCode: 404 });
  });
});

describeKube.each([
  ['an RBAC vault (one role assignment serves both)', true],
  ['an access-policy vault (one entry serves both)', false],
])('two manifests (two clusters) granting one external identity on %s', (_, rbac) => {
  let shared: SessionVault;
  const principal = randomUUID();
  const client = randomUUID();
  const ns = `cu-sh-${run}-${rbac ? 'r' : 'p'}`;
  const forCluster = (name: string, path = `${name.endsWith('a') ? 'a' : 'b'}.yaml`): Manifest => ({
    ...manifest(),
    instance: manifestInstance({ repository: 'contoso/tests', path, cluster: name }),
    vault: { name: shared.name, resourceGroup: 'rg-sandbox' },
    cluster: { name },
    secrets: [{ name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false }],
    targets: [target(ns, 'api', '', { identity: { mode: 'external', clientId: client, principalId: principal } })],
  });
  const granted = async (): Promise<boolean> => {
    if (rbac) return (await world()).roleAssignments.some((a) => a.principalId === principal && a.scope.toLowerCase() === shared.id.toLowerCase());
    return ((await describeVault(session, forCluster('x'))).accessPolicies ?? []).some((p) => p.objectId === principal && (p.permissions.secrets ?? []).includes('get'));
  };

  beforeAll(async () => {
    shared = await createTestVault(session ?? (await sandboxSession()), { rbac, prefix: 'kv-cush-' });
    for (const [c, path] of [
      [`${cluster}a`, 'a.yaml'],
      [`${cluster}b`, 'b.yaml'],
    ] as const) {
      const mc = forCluster(c, path);
      await ensureIdentities(session, await describeVault(session, mc), mc, { mode: 'apply', issuer: issuer ?? 'https://127.0.0.1:27643' });
    }
  });
  afterAll(async () => {
    await shared?.remove();
  });

  it('the first clean-up keeps the shared grant, naming the other manifest; the last one removes it', async () => {
    expect(await granted()).toBe(true);
    const a = forCluster(`${cluster}a`);
    const first = await runCleanup(session, await describeVault(session, a), kube, a, { mode: 'apply', issuer });
    const grant = first.items.find((i) => i.kind === (rbac ? 'role-assignment' : 'access-policy'));
    expect(grant).toMatchObject({ action: 'keep', reason: expect.stringContaining(`still relied on by contoso/tests:b.yaml @ ${cluster}b (${instanceId(forCluster(`${cluster}b`))})`) });
    expect(await granted()).toBe(true);
    const b = forCluster(`${cluster}b`);
    const last = await runCleanup(session, await describeVault(session, b), kube, b, { mode: 'apply', issuer });
    expect(last.items.find((i) => i.kind === (rbac ? 'role-assignment' : 'access-policy'))?.action).toBe('delete');
    expect(await granted()).toBe(false);
    // Both ledgers are gone with their manifests.
    for (const c of [a, b]) await expect((await dataClient(session, shared)).getSecret(`akv-aks-grants-${instanceId(c)}`)).rejects.toMatchObject({ statusCode: 404 });
  });
});
