// Reliability suite, cluster side: the gate's diagnoses through the bundle (SecretProviderClassPodStatus
// absent, unmounted, left by an older pod of the same name, or holding an older version; a rollout
// past its progress deadline) and concurrent writers on the objects the action applies. Each
// scenario has its own fresh vault and namespace. Pods are kept off the kubelet stand-in (an unknown
// schedulerName) where the test writes the SPCPS itself, so what the gate reads is exactly what the
// test wrote.
import { randomUUID } from 'node:crypto';
import { expect, it, jest } from '@jest/globals';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { appDeployment, applyObject, artifacts, expectExit, leaks, runBundle, secretValue, usedValues, versionsOf, waitFor, type Scenario } from './helpers.ts';
import { reliabilitySuite } from './suite.ts';
import { pastSecondOf } from '../../support/wait.ts';

jest.setTimeout(4 * 60_000);

const suite = await reliabilitySuite();
const { d, restorer } = suite;

const SETUP = { 'prove-access': 'false', gate: 'false' };
const SPCPS = { group: 'secrets-store.csi.x-k8s.io', version: 'v1', plural: 'secretproviderclasspodstatuses' };

/** A scenario after a first apply (no proof, no gate): secrets, identity, SA `api`, SPC `app`. */
async function applied(tag: string): Promise<Scenario> {
  const s = await suite.scenario(tag);
  const r = await runBundle(`${tag}-setup`, { workspace: s.workspace, env: s.env, inputs: SETUP });
  expectExit(r, 0);
  return s;
}

/** A Deployment mounting SPC `app` whose pod no scheduler binds (so no kubelet touches it). */
async function parkedApp(s: Scenario, name: string): Promise<V1Pod> {
  const dep = appDeployment({ namespace: s.ns, name, serviceAccount: 'api', spc: 'app' }) as unknown as KubernetesObject & { spec: { template: { spec: Record<string, unknown> } } };
  dep.spec.template.spec.schedulerName = 'reliability-parked';
  await applyObject(suite.k, dep);
  return waitFor(`a pod of ${name}`, async () => {
    const pods = await suite.k.core.listNamespacedPod({ namespace: s.ns, labelSelector: `app=${name}` });
    return pods.items.find((p) => p.metadata?.uid && !p.metadata.deletionTimestamp);
  });
}

async function writeSpcps(s: Scenario, pod: V1Pod, o: { ownerUid?: string; mounted: boolean; versions: Record<string, string> }): Promise<void> {
  const name = `${pod.metadata!.name}-${s.ns}-app`;
  await suite.k.custom.createNamespacedCustomObject({
    ...SPCPS,
    namespace: s.ns,
    body: {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClassPodStatus',
      metadata: { name, namespace: s.ns, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: o.ownerUid ?? pod.metadata!.uid! }] },
      status: {
        podName: pod.metadata!.name,
        secretProviderClassName: 'app',
        mounted: o.mounted,
        targetPath: `/var/lib/kubelet/pods/${o.ownerUid ?? pod.metadata!.uid}/volumes/kubernetes.io~csi/secrets/mount`,
        objects: Object.entries(o.versions).map(([secret, version]) => ({ id: `secret/${secret}`, version })),
      },
    },
  });
}

async function current(s: Scenario, name: string): Promise<string> {
  return (await versionsOf(s.vault.client, name)).slice(-1)[0] ?? '';
}

d('the gate diagnoses what pods mounted (verify mode through the bundle)', () => {
  it('SPCPS absent, unmounted, from an older pod of the same name, and holding an older version: each pod diagnosed', async () => {
    const s = await applied('gatediag');
    const [a, b] = s.names as [string, string];
    const versionsA1 = await current(s, a);
    // A newer version of `a` written behind the action's back: the vault's current one now differs
    // from what one pod mounted. A second later than the first (Key Vault's createdOn has whole
    // seconds: two versions in one second are the separate scenario below).
    await pastSecondOf((await s.vault.client.getSecret(a)).properties.createdOn);
    const newer = secretValue('gatediag-newer');
    usedValues.set(`${a}#2`, newer);
    const a2 = (await s.vault.client.setSecret(a, newer)).properties.version!;
    const vb = await current(s, b);

    const absent = await parkedApp(s, 'absent');
    const unmounted = await parkedApp(s, 'unmounted');
    const olduid = await parkedApp(s, 'olduid');
    const oldver = await parkedApp(s, 'oldver');
    await writeSpcps(s, unmounted, { mounted: false, versions: {} });
    await writeSpcps(s, olduid, { ownerUid: randomUUID(), mounted: true, versions: { [a]: a2, [b]: vb } });
    await writeSpcps(s, oldver, { mounted: true, versions: { [a]: versionsA1, [b]: vb } });

    const r = await runBundle('gate-diagnoses', { workspace: s.workspace, env: {}, inputs: { mode: 'verify', timeout: '6s' } });
    expectExit(r, 1);
    const gate = r.report?.gate;
    expect(gate?.passed).toBe(false);
    const row = (pod: V1Pod) => gate?.pods.find((p) => p.pod === pod.metadata!.name);
    for (const p of [absent, unmounted, olduid, oldver]) expect(row(p)?.ok).toBe(false);
    // Nothing counts as mounted for the absent, unmounted and older-pod statuses.
    for (const p of [absent, unmounted, olduid]) expect(row(p)?.objects.every((o) => o.mounted === undefined || o.mounted === '')).toBe(true);
    // The older version is named against the current one.
    const objA = row(oldver)?.objects.find((o) => o.object.includes(a));
    expect(objA).toMatchObject({ expected: a2, mounted: versionsA1, ok: false });

    const causes = (gate?.diagnoses ?? []).map((x) => `${x.cause} ${x.pod ?? ''}`);
    expect(causes).toEqual(expect.arrayContaining([`stale-version ${oldver.metadata!.name}`]));
    expect(causes.some((c) => c.startsWith('not-mounted'))).toBe(true);
    const stale = gate?.diagnoses.find((x) => x.cause === 'stale-version');
    expect(stale?.message).toContain(a);
    expect(r.report?.error ?? '').toMatch(/the gate failed/);
    // verify writes nothing: still exactly two versions of `a`, one of `b`.
    expect((await versionsOf(s.vault.client, a)).length).toBe(2);
    expect((await versionsOf(s.vault.client, b)).length).toBe(1);
  });

  it('two versions written within one second (createdOn ties): verify still expects the current one', async () => {
    const s = await applied('tie');
    const a = s.names[0]!;
    // Write versions until one lands in the same createdOn second as the one before it with a
    // version id that sorts lower: the current version is then not the "latest by createdOn, then id".
    let prev = await s.vault.client.getSecret(a);
    let current: string | undefined;
    for (let i = 0; i < 40 && !current; i++) {
      const value = secretValue(`tie${i}`);
      usedValues.set(`${a}#tie${i}`, value);
      const next = await s.vault.client.setSecret(a, value);
      const sameSecond = next.properties.createdOn?.getTime() === prev.properties.createdOn?.getTime();
      if (sameSecond && (next.properties.version ?? '') < (prev.properties.version ?? '')) current = next.properties.version;
      prev = next;
    }
    expect(current).toBeDefined();
    expect((await s.vault.client.getSecret(a)).properties.version).toBe(current);
    const r = await runBundle('verify-tie', { workspace: s.workspace, env: {}, inputs: { mode: 'verify', timeout: '5s' } });
    expect(r.report?.secrets.find((x) => x.name === a)?.version).toBe(current);
  });

  it('ProgressDeadlineExceeded: a Deployment whose pods cannot mount, with a 2-second progress deadline, is diagnosed as a stuck rollout', async () => {
    const s = await applied('deadline');
    await restorer.kubelet({
      failMounts: [{ namespace: s.ns, pod: 'stuck', message: 'rpc error: code = Unknown desc = failed to mount secrets store objects: injected by the reliability suite', times: 1000 }],
    });
    await applyObject(suite.k, appDeployment({ namespace: s.ns, name: 'stuck', serviceAccount: 'api', spc: 'app', progressDeadlineSeconds: 2 }));
    await waitFor(
      'ProgressDeadlineExceeded on deployment stuck',
      async () => {
        const dep = await suite.k.apps.readNamespacedDeployment({ namespace: s.ns, name: 'stuck' });
        return dep.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
      },
      60_000,
      500,
    );
    const r = await runBundle('gate-progress-deadline', { workspace: s.workspace, env: {}, inputs: { mode: 'verify', timeout: '8s' } });
    expectExit(r, 1);
    const diag = r.report?.gate?.diagnoses ?? [];
    const stuck = diag.find((x) => x.cause === 'rollout-stuck');
    expect(stuck?.message).toContain(`${s.ns}/stuck`);
    expect(stuck?.message).toMatch(/timed out progressing|progress deadline|ProgressDeadlineExceeded/);
    expect(r.report?.error ?? '').toContain('rollout-stuck');
  });
});

d('concurrent writers on the objects the action applies', () => {
  it('another field manager changed fields the action owns: the next apply restores them (update, not refuse), once', async () => {
    const s = await applied('fieldmgr');
    await applyObject(
      suite.k,
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'api', namespace: s.ns, annotations: { 'azure.workload.identity/client-id': '00000000-0000-0000-0000-0000000000ff' } },
      } as KubernetesObject,
      'kubectl-edit',
    );
    const r = await runBundle('kube-field-manager', { workspace: s.workspace, env: s.env, inputs: SETUP });
    expectExit(r, 0);
    const item = r.report?.plan.find((p) => p.kind === 'service-account');
    expect(item?.action).toBe('update');
    const sa = await suite.k.core.readNamespacedServiceAccount({ namespace: s.ns, name: 'api' });
    expect(sa.metadata?.annotations?.['azure.workload.identity/client-id']).not.toBe('00000000-0000-0000-0000-0000000000ff');
    const again = await runBundle('kube-field-manager-again', { workspace: s.workspace, env: s.env, inputs: SETUP });
    expectExit(again, 0);
    expect(again.report?.plan.filter((p) => p.action !== 'unchanged')).toEqual([]);
  });

  it('a SecretProviderClass of the same name owned by another manager (409 conflict): precise failure naming the object and the hand-over labels', async () => {
    const s = await suite.scenario('conflict');
    await suite.k.core.createNamespace({ body: { metadata: { name: s.ns } } }).catch(() => undefined);
    await applyObject(
      suite.k,
      {
        apiVersion: 'secrets-store.csi.x-k8s.io/v1',
        kind: 'SecretProviderClass',
        metadata: { name: 'app', namespace: s.ns },
        spec: { provider: 'azure', parameters: { keyvaultName: 'someone-elses-vault', tenantId: 'x', objects: 'array: []' } },
      } as KubernetesObject,
      'helm',
    );
    const r = await runBundle('kube-conflict', { workspace: s.workspace, env: s.env, inputs: SETUP });
    expectExit(r, 1);
    const error = r.report?.error ?? '';
    expect(error).toContain(`SecretProviderClass ${s.ns}/app`);
    expect(error).toMatch(/another manager/);
    expect(error).toContain('app.kubernetes.io/managed-by');
    const spc = (await suite.k.custom.getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', plural: 'secretproviderclasses', namespace: s.ns, name: 'app' })) as {
      spec: { parameters: Record<string, string> };
    };
    expect(spc.spec.parameters.keyvaultName).toBe('someone-elses-vault');
  });
});

d('leak scan (this file)', () => {
  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
