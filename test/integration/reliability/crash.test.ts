// Reliability suite, crash consistency: the bundle is SIGKILLed at each pipeline step (detected
// from the log's `::group::` lines as they stream, or from the vault's write count mid-way through a
// 50-secret sync), then run again to completion. The end state (versions per secret, tags,
// identities, federated credentials, role assignments, ServiceAccounts, SecretProviderClasses,
// workload annotations) must equal that of an uninterrupted run on another fresh vault and
// namespace: no extra Key Vault version, no orphaned or duplicate role assignment. A third run
// writes nothing.
import { expect, it, jest } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  appDeployment,
  applyObject,
  Restorer,
  artifacts,
  describeRun,
  expectExit,
  leaks,
  requestRecords,
  runBundle,
  staleSandbox,
  usedValues,
  vaultStats,
  world,
  type Run,
  type Scenario,
} from './helpers.ts';
import { reliabilitySuite } from './suite.ts';
import { itUnless } from '../../support/guard.ts';
import { basename } from 'node:path';
import { manifestInstance } from '../../../src/manifest/instance.ts';

jest.setTimeout(6 * 60_000);

const suite = await reliabilitySuite();
const { d } = suite;

// Without a sandbox whose Entra can read the cluster's JWKS, neither the proof nor a pod mount can
// succeed: the crash runs then skip the proof (the kill point "Proof" is kept as a no-op step).
const stale = staleSandbox();
const INPUTS: Record<string, string> = stale ? { 'prove-access': 'false', timeout: '60s' } : { timeout: '60s' };

const SAS = ['api', 'worker'];

// ---- the end state, normalized (scenario ids, vault names and principal ids replaced) -----------

type Json = Record<string, unknown>;

function clean(o: KubernetesObject | undefined): Json | undefined {
  if (!o) return undefined;
  const m = o.metadata ?? {};
  const { kind, apiVersion } = o;
  const rest = { ...(o as Json) };
  delete rest.metadata;
  delete rest.status;
  return { kind, apiVersion, name: m.name, labels: m.labels ?? {}, annotations: m.annotations ?? {}, ...rest };
}

async function endState(s: Scenario): Promise<string> {
  const w = await world();
  const ident = w.identities.filter((i) => i.name === s.identity);
  const principals = new Map<string, string>();
  for (const i of ident) principals.set(i.principalId, 'IDENTITY_PRINCIPAL');
  const deployer = w.principals.find((p) => p.clientId === suite.az.env.AKV_AKS_SANDBOX_CLIENT_ID);
  if (deployer) principals.set(deployer.objectId, 'DEPLOYER');

  // Key Vault: every secret (the manifest's and the action's own), its versions and tags.
  const secrets: Json = {};
  for await (const p of s.vault.client.listPropertiesOfSecrets()) {
    // The version index, the write lease and the manifest ledger are bookkeeping that runs changing
    // something rewrite (the lease once per writing run, the ledger before the secrets and again
    // before the grants): only their presence counts.
    if (/^akv-aks-state(-[0-9a-f]{16})?(-\d+)?$/.test(p.name)) {
      secrets[p.name] = { index: true };
      continue;
    }
    if (p.name === 'akv-aks-lease' || /^akv-aks-grants-/.test(p.name)) {
      secrets[p.name] = { bookkeeping: true };
      continue;
    }
    const versions: string[] = [];
    for await (const v of s.vault.client.listPropertiesOfSecretVersions(p.name)) if (v.version) versions.push(v.version);
    const tags = { ...(p.tags ?? {}) };
    if (tags['akv-aks-digest']) tags['akv-aks-digest'] = 'DIGEST';
    secrets[p.name] = { versions: versions.length, enabled: p.enabled, contentType: p.contentType, tags };
  }
  const deleted: string[] = [];
  for await (const p of s.vault.client.listDeletedSecrets()) deleted.push(p.name);

  // ARM: the identity, its credentials, and every assignment at or under the vault.
  const identities = ident.map((i) => ({ name: i.name, resourceGroup: i.resourceGroup, tags: i.tags ?? {} }));
  const clientIds = new Set(ident.map((i) => i.clientId));
  const fics = w.federatedCredentials
    .filter((f) => f.identityName === s.identity || (f.clientId !== undefined && clientIds.has(f.clientId)))
    .map((f) => ({ name: f.name, issuer: f.issuer, subject: f.subject, audiences: f.audiences }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const vaultId = s.vault.id.toLowerCase();
  const grants = w.roleAssignments
    .filter((r) => r.scope.toLowerCase().startsWith(vaultId) || principals.get(r.principalId) === 'IDENTITY_PRINCIPAL')
    .map((r) => ({ scope: r.scope.toLowerCase(), role: r.roleDefinitionId.split('/').pop(), principal: principals.get(r.principalId) ?? `ORPHAN:${r.principalId}` }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  // Cluster: the namespace's ServiceAccounts (but the default one), SecretProviderClasses, workloads.
  const sas = (await suite.k.core.listNamespacedServiceAccount({ namespace: s.ns })).items
    .filter((x) => x.metadata?.name !== 'default')
    .map((x) => clean({ ...x, kind: 'ServiceAccount', apiVersion: 'v1' }))
    .sort((a, b) => String(a?.name).localeCompare(String(b?.name)));
  const spcs = (
    (await suite.k.custom.listNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: s.ns, plural: 'secretproviderclasses' })) as { items: KubernetesObject[] }
  ).items
    .map((x) => clean(x))
    .sort((a, b) => String(a?.name).localeCompare(String(b?.name)));
  // A rollout restart makes a new ReplicaSet: their count per Deployment tells restarts apart.
  const replicaSets = (await suite.k.apps.listNamespacedReplicaSet({ namespace: s.ns })).items;
  const deployments = (await suite.k.apps.listNamespacedDeployment({ namespace: s.ns })).items.map((x) => ({
    name: x.metadata?.name,
    replicaSets: replicaSets.filter((rs) => (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === x.metadata?.uid)).length,
    annotations: Object.keys(x.metadata?.annotations ?? {})
      .filter((a) => a.startsWith('akv-aks'))
      .sort(),
    templateAnnotations: Object.keys(x.spec?.template.metadata?.annotations ?? {})
      .filter((a) => a.startsWith('akv-aks'))
      .sort(),
  }));

  let text = JSON.stringify({ secrets, deleted, identities, fics, grants, sas, spcs, deployments }, null, 1);
  for (const i of ident) text = text.split(i.clientId).join('CLIENT_ID').split(i.principalId).join('IDENTITY_PRINCIPAL');
  text = text.split(s.vault.name).join('VAULT').split(s.id).join('ID');
  // Each scenario acts for a repository of its own (its workspace): its manifest instance differs.
  const repository = `contoso/${basename(s.workspace)}`.toLowerCase(); // as the action tags it
  text = text
    .split(manifestInstance({ repository, path: 'akv-aks.yaml', cluster: 'sandbox' }).key)
    .join('INSTANCE')
    .split(repository)
    .join('REPOSITORY');
  return text;
}

// ---- scenarios --------------------------------------------------------------------------------

async function crashScenario(n: number): Promise<Scenario> {
  const s = await suite.scenario('crash', { secrets: n, serviceAccounts: SAS });
  if (!stale) {
    // The teams' workloads are there before the action runs (the same in every scenario), so the
    // rotation and gate steps have pods to restart and check. Their pods mount only through a
    // working workload-identity exchange, hence not on a stale sandbox.
    await suite.k.core.createNamespace({ body: { metadata: { name: s.ns } } });
    await applyObject(suite.k, appDeployment({ namespace: s.ns, name: 'web', serviceAccount: 'api', spc: 'app' }));
    await applyObject(suite.k, appDeployment({ namespace: s.ns, name: 'worker', serviceAccount: 'worker', spc: 'app-worker' }));
  }
  return s;
}

/** The reference end states: uninterrupted runs, per manifest size. */
const reference = new Map<number, string>();
async function referenceState(n: number): Promise<string> {
  const known = reference.get(n);
  if (known) return known;
  const s = await crashScenario(n);
  const r = await runBundle(`crash-reference-${n}`, { workspace: s.workspace, env: s.env, inputs: INPUTS });
  expectExit(r, 0);
  const state = await endState(s);
  reference.set(n, state);
  return state;
}

async function vaultWrites(s: Scenario, mark: number): Promise<number> {
  return (await requestRecords()).filter((x) => x.service === 'keyvault' && x.class === 'write' && x.seq >= mark && x.path.includes(`r${s.id}-`) && x.status >= 200 && x.status < 300).length;
}

/** Runs, killed when `when` says so; then again to completion; then a third time (a no-op). */
async function crashAndRecover(
  label: string,
  n: number,
  when: (log: string, s: Scenario) => boolean | Promise<boolean>,
  prepare?: (s: Scenario) => Promise<void>,
): Promise<{ s: Scenario; killed: Run; rerun: Run }> {
  const s = await crashScenario(n);
  await prepare?.(s);
  const killed = await runBundle(`crash-${label}`, { workspace: s.workspace, env: s.env, inputs: INPUTS, killWhen: (log) => when(log, s) });
  if (!killed.killed) throw new Error(`the run was not killed at ${label}: ${describeRun(killed)}`);
  expect(killed.exitCode).not.toBe(0);
  const rerun = await runBundle(`crash-${label}-rerun`, { workspace: s.workspace, env: s.env, inputs: INPUTS });
  expectExit(rerun, 0);
  return { s, killed, rerun };
}

const afterGroup =
  (title: string) =>
  (log: string): boolean =>
    log.split('\n').some((l) => l.startsWith(`::group::${title}`));
const afterLine =
  (re: RegExp) =>
  (log: string): boolean =>
    re.test(log);

const KILL_POINTS: Array<{ label: string; when: (log: string) => boolean }> = [
  { label: 'key-vault-start', when: afterGroup('Key Vault') },
  { label: 'after-first-secret-write', when: afterLine(/secret r[0-9a-f]+-crash-\d+: wrote a new version/) },
  { label: 'identities-start', when: afterGroup('Identities') },
  { label: 'after-identity-created', when: afterLine(/identity rg-ids\/[^\n]*: created/) },
  { label: 'after-first-federated-credential', when: afterLine(/federated credential [^\n]*: system:serviceaccount/) },
  { label: 'after-grant-ledger', when: afterLine(/manifest ledger akv-aks-grants-[^\n]*: [^\n]*role assignment[^\n]*recorded/) },
  { label: 'kubernetes-objects-start', when: afterGroup('Kubernetes objects') },
  { label: 'after-first-kube-object', when: afterLine(/created (Namespace|ServiceAccount) /) },
  { label: 'proof-start', when: (log) => afterGroup('Proof')(log) || (stale !== undefined && afterGroup('Rotation')(log)) },
  { label: 'rotation-start', when: afterGroup('Rotation') },
  { label: 'gate-start', when: afterGroup('Gate') },
];

d(`crash consistency: SIGKILL at each step, then a re-run${stale ? ' (proof skipped: stale sandbox)' : ''}`, () => {
  it('an uninterrupted run gives the reference end state (and a re-run writes nothing)', async () => {
    const ref = await referenceState(4);
    const parsed = JSON.parse(ref) as { secrets: Record<string, { versions: number }>; grants: Array<{ principal: string }>; fics: unknown[] };
    // Sanity of the reference itself: 4 secrets of one version each (+ the digest key, the version index and the grant ledger), two credentials, no orphan.
    expect(Object.values(parsed.secrets).every((x) => x.versions === 1 || x.versions === undefined)).toBe(true);
    const names = Object.keys(parsed.secrets).sort();
    expect(names).toEqual(expect.arrayContaining(['akv-aks-digest-key', 'akv-aks-lease']));
    expect(names).toEqual(expect.arrayContaining(['akv-aks-state-INSTANCE', 'akv-aks-grants-INSTANCE']));
    expect(Object.keys(parsed.secrets)).toHaveLength(8);
    expect(parsed.fics).toHaveLength(2);
    expect(parsed.grants.filter((g) => g.principal.startsWith('ORPHAN'))).toEqual([]);
    expect(parsed.grants.filter((g) => g.principal === 'IDENTITY_PRINCIPAL')).toHaveLength(1);
  });

  for (const kp of KILL_POINTS) {
    it(`killed at ${kp.label}: the re-run reaches the reference end state, the next run writes nothing`, async () => {
      const ref = await referenceState(4);
      const { s, rerun } = await crashAndRecover(kp.label, 4, (log) => kp.when(log));
      expect(await endState(s)).toBe(ref);
      const third = await runBundle(`crash-${kp.label}-third`, { workspace: s.workspace, env: s.env, inputs: INPUTS });
      expectExit(third, 0);
      expect(JSON.parse(third.outputs['changed-secrets'] ?? 'null')).toEqual([]);
      expect(await vaultWrites(s, third.mark)).toBe(0);
      expect((third.report?.plan ?? []).filter((p) => !['unchanged', 'keep'].includes(p.action))).toEqual([]);
      expect(rerun.report?.error).toBeUndefined();
    });
  }

  // A changed value: the second run writes one version and restarts its consumer. Killed at the
  // rotation or the gate of that run, the re-run must still restart it exactly once.
  const changedRef = new Map<string, string>();
  async function changeValue(s: Scenario): Promise<void> {
    const first = await runBundle('crash-change-first', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(first, 0);
    s.env.V_0 = `${s.env.V_0}-changed`;
    usedValues.set(`${s.names[0]}#2`, s.env.V_0);
  }
  async function changedReference(): Promise<string> {
    const known = changedRef.get('ref');
    if (known) return known;
    const s = await crashScenario(4);
    await changeValue(s);
    expectExit(await runBundle('crash-change-reference', { workspace: s.workspace, env: s.env, inputs: INPUTS }), 0);
    const state = await endState(s);
    changedRef.set('ref', state);
    return state;
  }
  for (const kp of [
    { label: 'change-rotation-start', when: afterGroup('Rotation') },
    { label: 'change-after-restart', when: afterLine(/Restarted Deployment /) },
    { label: 'change-gate-start', when: afterGroup('Gate') },
  ]) {
    const runIt = itUnless(stale);
    runIt(`a changed value, killed at ${kp.label}: the re-run restarts the consumer exactly once and reaches the reference`, async () => {
      const ref = await changedReference();
      const parsed = JSON.parse(ref) as { secrets: Record<string, { versions: number }>; deployments: Array<{ name: string; replicaSets: number }> };
      expect(Object.values(parsed.secrets).filter((x) => x.versions === 2)).toHaveLength(1);
      // The reference restarted both consumers once (a second ReplicaSet each).
      expect(parsed.deployments.map((x) => [x.name, x.replicaSets]).sort()).toEqual([
        ['web', 2],
        ['worker', 2],
      ]);
      const { s } = await crashAndRecover(kp.label, 4, (log) => kp.when(log), changeValue);
      expect(await endState(s)).toBe(ref);
    });
  }

  it('killed mid-way through a 50-secret sync (after 20 vault writes): the re-run writes only the rest', async () => {
    const ref = await referenceState(50);
    const restorer = new Restorer();
    try {
      // The vault's throttle at 10 writes per second stretches the sync over ~5 s, so the write
      // count (GET /vault/vaults, this vault's own) is seen passing 20 well before the end.
      const { s, killed, rerun } = await crashAndRecover(
        'mid-sync',
        50,
        async (_log, sc) => {
          const st = await vaultStats(sc.vault.name);
          return st.writes - st.throttled >= 20; // accepted writes (the proxy counts its 429s as writes too)
        },
        (sc) => restorer.throttle(sc.vault.name, { create: 10, other: 200, windowMs: 1_000 }),
      );
      await restorer.restore();
      await checkMidSync(s, killed, rerun, ref);
    } finally {
      await restorer.restore();
    }
  });
});

async function checkMidSync(s: Scenario, killed: Run, rerun: Run, ref: string): Promise<void> {
  const total = await vaultWrites(s, killed.mark);
  const beforeKill = total - (await vaultWrites(s, rerun.mark));
  // Killed mid-way (the proxy's count also holds the digest key and writes still in flight).
  expect(beforeKill).toBeGreaterThanOrEqual(10);
  expect(beforeKill).toBeLessThan(50);
  // Each secret written exactly once over both runs: the writes before the kill are not redone.
  expect(total).toBe(50);
  expect(await endState(s)).toBe(ref);
}

d('leak scan (this file)', () => {
  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
