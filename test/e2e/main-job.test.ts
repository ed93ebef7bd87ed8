// The main job end to end, as a runner runs it: `node dist/index.js` (and `dist/verify/index.js`) with
// INPUT_* variables and the runner's files, against the sandbox. One namespace, two consumers, a vault
// of this file's own (its request counts are ours alone). In order: plan, first deploy, the release
// gate, a no-op re-run, one value changed, a scheduled rotation, a secret changed behind the action's
// back (the gate fails with a per-pod table), and the next apply healing it. Every artifact of every
// step is scanned for every secret value used.
import { describe, expect, it, jest } from '@jest/globals';
import { armWritesDuring, e2eScenario, errorLines, expectExit, fixture, jsonOutput, logLines, podObject, SANDBOX_ISSUER, stepRecords, type Step } from '../support/e2e.ts';
import { secretVersions } from '../support/azure.ts';
import { appDeployment, applyObject, deployment, podsOf } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control, vaultStats } from '../support/sandbox.ts';
import { LeakScan } from '../support/leaks.ts';
import { waitFor } from '../support/wait.ts';
import { kubeStatusOf } from '../../src/kube/client.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-main-${id}`;
const P = `m${id}`;
const DB = `${P}-db-password`;
const API = `${P}-api-key`;
const WORKER = `${P}-worker-token`;
const IDENTITY = `id-sandbox-${NS}`;

const env: Record<string, string> = { DB_PASSWORD: secretValue('db'), WORKER_TOKEN: secretValue('worker') };

const sc = e2eScenario({
  tag: 'main',
  vaultPrefix: 'kv-e2e-',
  namespaces: [NS],
  identities: [IDENTITY],
  env,
  manifest: (vault) => fixture('main-job.yaml', { VAULT: vault.name, NS, P, ROTATE_AFTER: '1s' }),
});
const { runner } = sc;

const run = (label: string, mode: 'plan' | 'apply' | 'rotate' | 'verify', extraEnv: Record<string, string> = env): Promise<Step> =>
  mode === 'verify' ? runner.run({ label, entry: 'dist/verify/index.js', workspace: sc.workspace, env: {} }) : runner.run({ label, mode, workspace: sc.workspace, env: extraEnv });

async function currentVersion(name: string): Promise<string> {
  const s = await sc.secrets.getSecret(name);
  runner.leaks.addSecret(`${name}@${s.properties.version}`, s.value);
  return s.properties.version ?? '';
}

async function generation(name: string): Promise<number> {
  return (await deployment(sc.k, NS, name)).metadata?.generation ?? -1;
}

describe('main job end to end', () => {
  it('plan: shows every change, writes nothing', async () => {
    const before = await vaultStats(sc.vault.name);
    const s = await run('plan', 'plan');
    expectExit(s, 0);
    const after = await vaultStats(sc.vault.name);
    expect(after.writes - before.writes).toBe(0);
    expect(await armWritesDuring(s, [IDENTITY, sc.vault.name, NS])).toEqual([]);
    expect(jsonOutput(s, 'changed-secrets').sort()).toEqual([API, DB, WORKER].sort());
    expect(s.outputs.verified).toBe('false');
    const planned = s.report.plan.map((i) => `${i.kind}:${i.action}`);
    expect(planned).toEqual(expect.arrayContaining(['secret:create', 'identity:create', 'federated-credential:create', 'service-account:create', 'secret-provider-class:create']));
    expect(s.summary).toContain('plan');
    expect(s.summary).toContain('nothing was written');
    // Nothing in the cluster either.
    expect(await sc.k.core.readNamespace({ name: NS }).then(() => 200, kubeStatusOf)).toBe(404);
  });

  it('first deploy: secrets, identity, federation, role, ServiceAccounts and SecretProviderClasses', async () => {
    const s = await run('apply', 'apply');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets').sort()).toEqual([API, DB, WORKER].sort());
    expect(jsonOutput(s, 'restarted-workloads')).toEqual([]);
    // The report's versions are the vault's current ones, read back through the SDK.
    for (const name of [DB, API, WORKER]) {
      const reported = s.report.secrets.find((x) => x.name === name);
      expect(reported?.changed).toBe(true);
      expect(reported?.version).toBe(await currentVersion(name));
      expect(await secretVersions(sc.secrets, name)).toHaveLength(1);
    }
    expect((await sc.secrets.getSecret(DB)).value === env.DB_PASSWORD).toBe(true);
    const generated = (await sc.secrets.getSecret(API)).value ?? '';
    expect(generated).toMatch(/^[A-Za-z0-9]{40}$/);

    // Azure side, as the world sees it.
    const w = await control<{
      identities: Array<{ name: string; clientId: string; principalId: string }>;
      federatedCredentials: Array<{ identityName?: string; name: string; issuer: string; subject: string; clientId?: string }>;
      roleAssignments: Array<{ scope: string; principalId: string; roleDefinitionId: string }>;
    }>('GET', '/world');
    const ident = w.identities.find((i) => i.name === IDENTITY);
    expect(ident).toBeDefined();
    const fics = w.federatedCredentials.filter((f) => f.clientId === ident!.clientId || f.identityName === IDENTITY);
    expect(fics.map((f) => f.subject).sort()).toEqual([`system:serviceaccount:${NS}:web`, `system:serviceaccount:${NS}:worker`]);
    for (const f of fics) expect(f.issuer).toBe(SANDBOX_ISSUER);
    const grants = w.roleAssignments.filter((r) => r.principalId === ident!.principalId);
    expect(grants.some((r) => r.scope.toLowerCase() === sc.vault.id.toLowerCase() && r.roleDefinitionId.endsWith('4633458b-17de-408a-b874-0445c86b69e6'))).toBe(true);

    // Cluster side.
    for (const sa of ['web', 'worker']) {
      const obj = await sc.k.core.readNamespacedServiceAccount({ namespace: NS, name: sa });
      expect(obj.metadata?.annotations?.['azure.workload.identity/client-id']).toBe(ident!.clientId);
    }
    const spc = (await sc.k.custom.getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: NS, plural: 'secretproviderclasses', name: 'web-secrets' })) as {
      spec: { parameters: Record<string, string> };
    };
    expect(spc.spec.parameters.clientID).toBe(ident!.clientId);
    expect(spc.spec.parameters.objects).toContain(DB);
    expect(s.summary).toContain('Key Vault → AKS secrets');
    // prove-access: changed (default): one read per grant scope (vault scope: one object of each type).
    expect(logLines(s).some((l) => l.includes(`proof: ${NS}/web read 1 object(s)`))).toBe(true);

    // The app arrives between runs (its own deploy step), as in scripts/demo.ts.
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'web', serviceAccount: 'web', spc: 'web-secrets', replicas: 2 }));
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'worker', serviceAccount: 'worker', spc: 'worker-secrets' }));
  });

  it('verify: the release gate passes once pods mounted the versions now in the vault', async () => {
    const s = await run('verify', 'verify');
    expectExit(s, 0);
    expect(s.outputs.verified).toBe('true');
    const gate = s.report.gate!;
    expect(gate.passed).toBe(true);
    const web = gate.pods.filter((p) => p.namespace === NS && p.pod.startsWith('web-'));
    const worker = gate.pods.filter((p) => p.namespace === NS && p.pod.startsWith('worker-'));
    expect(web).toHaveLength(2);
    expect(worker).toHaveLength(1);
    const dbVersion = await currentVersion(DB);
    for (const p of web) {
      const o = podObject(p, DB);
      expect(o).toMatchObject({ expected: dbVersion, mounted: dbVersion, ok: true });
    }
    expect(s.summary).toMatch(/Gate: passed/);
    expect(s.summary).toContain('<th>Pod</th>');
    for (const p of [...web, ...worker]) expect(s.summary).toContain(`${NS}/${p.pod}`);
    expect(logLines(s).some((l) => /gate passed/.test(l))).toBe(true);
  });

  it('no-op re-run: zero Key Vault and ARM writes, no restart', async () => {
    // The first apply after the consumers appeared records the versions they mounted in an annotation
    // on each Deployment (no rollout: the pod template is untouched, though Kubernetes bumps a
    // Deployment's generation on any annotation change); the apply after that changes nothing at all.
    for (const round of ['first after the app arrived', 'second']) {
      const before = { web: await deployment(sc.k, NS, 'web'), worker: await deployment(sc.k, NS, 'worker') };
      const pods = (await Promise.all([podsOf(sc.k, NS, 'web'), podsOf(sc.k, NS, 'worker')]))
        .flat()
        .map((p) => p.metadata?.uid)
        .sort();
      const stats = await vaultStats(sc.vault.name);
      const s = await run(`apply (no-op, ${round})`, 'apply');
      expectExit(s, 0);
      expect((await vaultStats(sc.vault.name)).writes - stats.writes).toBe(0);
      expect(await armWritesDuring(s, [IDENTITY, sc.vault.name, NS])).toEqual([]);
      // Nor any Key Vault write naming our secrets (the vault's own count above covers the digest key).
      const kvWrites = (await stepRecords(s)).filter((r) => r.service === 'keyvault' && r.class === 'write' && r.path.includes(P));
      expect(kvWrites).toEqual([]);
      expect(jsonOutput(s, 'changed-secrets')).toEqual([]);
      expect(jsonOutput(s, 'restarted-workloads')).toEqual([]);
      expect(s.outputs.verified).toBe('true');
      expect(s.report.plan.filter((i) => i.action !== 'unchanged')).toEqual([]);
      const after = { web: await deployment(sc.k, NS, 'web'), worker: await deployment(sc.k, NS, 'worker') };
      for (const name of ['web', 'worker'] as const) {
        expect(after[name].spec?.template).toEqual(before[name].spec?.template);
        if (round === 'second') expect(after[name].metadata?.generation).toBe(before[name].metadata?.generation);
      }
      expect(
        (await Promise.all([podsOf(sc.k, NS, 'web'), podsOf(sc.k, NS, 'worker')]))
          .flat()
          .map((p) => p.metadata?.uid)
          .sort(),
      ).toEqual(pods);
    }
  });

  it('one value changed: one new version, only its consumer restarts, the gate waits for it', async () => {
    const gens = { web: await generation('web'), worker: await generation('worker') };
    const oldWorker = await currentVersion(WORKER);
    const versionsBefore = { db: (await secretVersions(sc.secrets, DB)).length, api: (await secretVersions(sc.secrets, API)).length };
    env.WORKER_TOKEN = secretValue('worker2');
    runner.leaks.addSecret('WORKER_TOKEN (changed)', env.WORKER_TOKEN);
    const before = await vaultStats(sc.vault.name);
    const s = await run('apply (worker token changed)', 'apply');
    expectExit(s, 0);
    const after = await vaultStats(sc.vault.name);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([WORKER]);
    expect(jsonOutput(s, 'restarted-workloads')).toEqual([`Deployment/${NS}/worker`]);
    // The vault's write lease (taken, released), the new version, and the version index recording it.
    expect(after.writes - before.writes).toBe(4);
    const versions = await secretVersions(sc.secrets, WORKER);
    expect(versions).toHaveLength(2);
    const newWorker = await currentVersion(WORKER);
    expect(newWorker).not.toBe(oldWorker);
    expect(s.report.secrets.find((x) => x.name === WORKER)?.version).toBe(newWorker);
    expect((await sc.secrets.getSecret(WORKER)).value === env.WORKER_TOKEN).toBe(true);
    expect({ db: (await secretVersions(sc.secrets, DB)).length, api: (await secretVersions(sc.secrets, API)).length }).toEqual(versionsBefore);
    expect(await generation('web')).toBe(gens.web);
    expect(await generation('worker')).toBeGreaterThan(gens.worker);
    expect(s.outputs.verified).toBe('true');
    const workerPods = s.report.gate!.pods.filter((p) => p.pod.startsWith('worker-'));
    expect(workerPods.length).toBeGreaterThan(0);
    for (const p of workerPods) expect(p.objects.every((o) => o.mounted === newWorker && o.ok)).toBe(true);
    expect(s.summary).toContain('Restarted workloads');
    expect(s.summary).toContain(`Deployment ${NS}/worker`);
  });

  it('scheduled rotation: the generated secret older than rotateAfter gets a new value; only web restarts', async () => {
    const gens = { web: await generation('web'), worker: await generation('worker') };
    const oldApi = await currentVersion(API);
    const current = await sc.secrets.getSecret(API);
    const oldValue = current.value;
    // rotateAfter: 1s, counted from the version's creation time as the vault states it
    const written = current.properties.createdOn?.getTime() ?? Date.now();
    await waitFor('rotateAfter (1s) to elapse since the current version was written', () => Promise.resolve(Date.now() - written > 1_000), 10_000, 100);
    const s = await run('rotate', 'rotate');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([API]);
    expect(jsonOutput(s, 'restarted-workloads')).toEqual([`Deployment/${NS}/web`]);
    expect(await secretVersions(sc.secrets, API)).toHaveLength(2);
    const newApi = await currentVersion(API);
    expect(newApi).not.toBe(oldApi);
    expect((await sc.secrets.getSecret(API)).value === oldValue).toBe(false);
    expect(s.report.plan.find((i) => i.kind === 'secret' && i.name === API)).toMatchObject({ action: 'update', reason: 'rotateAfter 1s elapsed' });
    expect(await generation('web')).toBeGreaterThan(gens.web);
    expect(await generation('worker')).toBe(gens.worker);
    expect(s.outputs.verified).toBe('true');
  });

  it("verify after a change behind the action's back: the gate fails with a per-pod table", async () => {
    const stale = await currentVersion(DB);
    const drift = secretValue('drift');
    runner.leaks.addSecret('drifted db password', drift);
    const written = await sc.secrets.setSecret(DB, drift);
    const s = await run('verify (stale pods)', 'verify');
    expectExit(s, 1);
    expect(s.outputs.verified).toBe('false');
    const gate = s.report.gate!;
    expect(gate.passed).toBe(false);
    const web = gate.pods.filter((p) => p.pod.startsWith('web-'));
    expect(web).toHaveLength(2);
    for (const p of web) {
      const o = podObject(p, DB)!;
      expect(o).toMatchObject({ expected: written.properties.version, mounted: stale, ok: false });
    }
    // The worker is not affected.
    for (const p of gate.pods.filter((x) => x.pod.startsWith('worker-'))) expect(p.ok).toBe(true);
    expect(s.summary).toMatch(/Gate: failed/);
    expect(s.summary).toContain('<th>Pod</th>');
    expect(s.summary).toContain('<th>Expected</th>');
    expect(s.summary).toContain('<th>Mounted</th>');
    for (const p of web) expect(s.summary).toContain(`${NS}/${p.pod}`);
    expect(s.summary).toContain('mismatch');
    expect(s.summary).toContain((written.properties.version ?? '').slice(0, 12));
    expect(s.summary).toContain(stale.slice(0, 12));
    expect(errorLines(s).length).toBeGreaterThan(0);
    expect(s.report.error).toMatch(/the gate failed/);
  });

  it('the next apply refuses to overwrite the secret now changed outside the action (its ownership tags are gone)', async () => {
    // `az keyvault secret set` (and the SDK call above) writes a version without the action's tags:
    // the action no longer owns the secret and must not overwrite it without `adopt: true`.
    const before = await vaultStats(sc.vault.name);
    const versions = (await secretVersions(sc.secrets, DB)).length;
    const s = await run('apply (refuses the drifted secret)', 'apply');
    expectExit(s, 1);
    expect((await vaultStats(sc.vault.name)).writes - before.writes).toBe(0);
    expect(await secretVersions(sc.secrets, DB)).toHaveLength(versions);
    expect(logLines(s).some((l) => l.startsWith(`secret ${DB}: refuse`))).toBe(true);
    expect(s.report.error).toContain(DB);
    expect(s.report.error).toMatch(/adopt: true/);
    expect(errorLines(s).some((l) => l.includes(DB) && /nothing was written/.test(l))).toBe(true);
    expect(s.summary).toContain('Error');
    expect(s.outputs.verified).toBe('false');
    expect(jsonOutput(s, 'changed-secrets')).toEqual([]);
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(9);
    expect(runner.leaks.secretCount).toBeGreaterThanOrEqual(6);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
    // Self-check: the scan does find a value planted in an artifact.
    const probe = new LeakScan();
    probe.addSecret('probe', env.DB_PASSWORD!);
    probe.addArtifact('planted', `x${Buffer.from(`..${env.DB_PASSWORD}..`).toString('base64')}x`);
    expect(probe.scan().length).toBeGreaterThan(0);
  });
});
