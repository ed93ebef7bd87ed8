// A no-op re-run of the Kubernetes steps writes nothing and reads little (labelled lists, no read or
// dry run per object, no pod lists once digests are recorded), and change detection still works:
// an edit by another field manager, a removed label, a new client id and a new secret version are
// each seen and applied. Against the sandbox's kube-apiserver; every API call is counted.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubeSession } from '../../../src/kube/client.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from '../../../src/kube/spcps.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { admin, countingSession, csiPodSpec, deleteNamespace, deployment, deploymentOf, describeKube, sandboxKube } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { shortId } from '../../support/ids.ts';
import { DIGEST_ANNOTATION } from '../../../src/names.ts';

jest.setTimeout(90_000);

describeKube('no-op re-runs of the Kubernetes steps', () => {
  const id = shortId();
  const namespaces = [0, 1, 2].map((i) => `it-noop-${id}-${i}`);
  let raw: KubeSession;
  let kube: KubeSession;
  let calls: string[] = [];
  const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const clientIds = Object.fromEntries(namespaces.map((n, i) => [n, `00000000-0000-0000-0000-0000000000a${i}`]));
  const manifest = testManifest(namespaces.map((ns, i) => testTarget(ns, `id-${i}`, { secretProviderClass: 'app', objects: [mounted(`s-${id}-${i}`)] })));
  const versions = (v: string): SecretVersion[] => namespaces.map((_, i) => ({ name: `s-${id}-${i}`, version: i === 1 ? v : 'v1', changed: false }));

  const writes = (): string[] => calls.filter((c) => /\.(patch|create|replace|delete)/.test(c));
  const versionsOf = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const ns of namespaces) {
      out.push((await raw.core.readNamespace({ name: ns })).metadata?.resourceVersion ?? '');
      out.push((await raw.core.readNamespacedServiceAccount({ namespace: ns, name: 'api' })).metadata?.resourceVersion ?? '');
      const spc = (await raw.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace: ns, plural: SPC_PLURAL, name: 'app' })) as { metadata: { resourceVersion: string } };
      out.push(spc.metadata.resourceVersion);
      // The Deployment's status is the controller's to update at any time: what a write of the action's
      // would change is its generation (spec), labels and annotations.
      const d = (await deployment(raw, ns, 'consumer')).metadata;
      out.push(JSON.stringify({ generation: d?.generation, labels: d?.labels, annotations: d?.annotations }));
    }
    return out;
  };

  beforeAll(async () => {
    raw = sandboxKube();
    kube = countingSession(raw, () => calls);
    await applyKubeObjects(raw, manifest, { tenantId, clientIds }, { mode: 'apply' });
    for (const ns of namespaces) await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'consumer', csiPodSpec('app'), 0) });
    const first = await restartChangedWorkloads(raw, manifest, versions('v1'), { mode: 'apply' });
    expect(first.items.map((i) => i.reason)).toEqual(namespaces.map(() => 'Deployment: first deploy: versions recorded without a rollout'));
  });
  afterAll(async () => {
    if (raw) for (const ns of namespaces) await deleteNamespace(raw, ns);
  });

  it('apply and plan re-runs write nothing and read only the labelled lists; rotation lists workloads only', async () => {
    const before = await versionsOf();
    for (const mode of ['apply', 'plan'] as const) {
      calls = [];
      const items = await applyKubeObjects(kube, manifest, { tenantId, clientIds }, { mode });
      expect(items.map((i) => i.action)).toEqual(items.map(() => 'unchanged'));
      expect(items).toHaveLength(9);
      expect(writes()).toEqual([]);
      // One labelled list per kind (ServiceAccounts, SecretProviderClasses, Namespaces): no read per object.
      expect(calls.sort()).toEqual(['core.listNamespace', 'core.listServiceAccountForAllNamespaces', 'custom.listClusterCustomObject']);
    }
    calls = [];
    const rot = await restartChangedWorkloads(kube, manifest, versions('v1'), { mode: 'apply' });
    expect(rot.items.map((i) => i.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(writes()).toEqual([]);
    // Digests recorded: the workload lists decide (one cluster-wide list per kind); no ReplicaSet, Pod or SPCPS list.
    expect(calls.sort()).toEqual(['apps.listDaemonSetForAllNamespaces', 'apps.listDeploymentForAllNamespaces', 'apps.listStatefulSetForAllNamespaces']);
    expect(await versionsOf()).toEqual(before);
  });

  it("sees another manager's edit, a removed label and a new client id, and applies them back", async () => {
    const [a, b, c] = namespaces as [string, string, string];
    // kubectl edit of an SPC parameter (another field manager takes the field over).
    await admin().objects.patch(
      { apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass', metadata: { name: 'app', namespace: a }, spec: { parameters: { keyvaultName: 'edited' } } } as never,
      undefined,
      undefined,
      'kubectl-edit',
      undefined,
      PatchStrategy.MergePatch,
    );
    // A label of the ServiceAccount removed by someone else.
    await admin().objects.patch(
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: b, labels: { 'azure.workload.identity/use': null } } } as never,
      undefined,
      undefined,
      'kubectl-label',
      undefined,
      PatchStrategy.MergePatch,
    );
    const changedIds = { ...clientIds, [c]: '00000000-0000-0000-0000-0000000000ff' };

    const plan = await applyKubeObjects(kube, manifest, { tenantId, clientIds: changedIds }, { mode: 'plan' });
    const changed = plan
      .filter((i) => i.action !== 'unchanged')
      .map((i) => `${i.name} ${i.action} ${i.reason ?? ''}`)
      .sort();
    expect(changed).toEqual(
      [
        `${a}/app update changed: spec.parameters.keyvaultName`,
        `${b}/api update changed: metadata.labels[azure.workload.identity/use]`,
        `${c}/api update changed: metadata.annotations[azure.workload.identity/client-id]`,
        `${c}/app update changed: spec.parameters.clientID`,
      ].sort(),
    );

    const applied = await applyKubeObjects(kube, manifest, { tenantId, clientIds: changedIds }, { mode: 'apply' });
    expect(
      applied
        .filter((i) => i.action !== 'unchanged')
        .map((i) => `${i.name} ${i.action}`)
        .sort(),
    ).toEqual(changed.map((l) => l.split(' ').slice(0, 2).join(' ')));
    const spc = (await raw.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace: a, plural: SPC_PLURAL, name: 'app' })) as {
      spec: { parameters: Record<string, string> };
    };
    expect(spc.spec.parameters.keyvaultName).toBe(manifest.vault.name);
    const sa = await raw.core.readNamespacedServiceAccount({ namespace: b, name: 'api' });
    expect(sa.metadata?.labels?.['azure.workload.identity/use']).toBe('true');
    // And then a no-op again.
    calls = [];
    const again = await applyKubeObjects(kube, manifest, { tenantId, clientIds: changedIds }, { mode: 'apply' });
    expect(again.every((i) => i.action === 'unchanged')).toBe(true);
    expect(writes()).toEqual([]);
  });

  it('a new version restarts exactly its consumer', async () => {
    const [, b] = namespaces as [string, string, string];
    const before = await deployment(raw, b, 'consumer');
    const rot = await restartChangedWorkloads(kube, manifest, versions('v2'), { mode: 'apply' });
    expect(rot.restarted.map((r) => `${r.namespace}/${r.name}`)).toEqual([`${b}/consumer`]);
    const after = await deployment(raw, b, 'consumer');
    expect(after.spec?.template.metadata?.annotations?.[DIGEST_ANNOTATION]).toBeDefined();
    expect(after.spec?.template.metadata?.annotations?.[DIGEST_ANNOTATION]).not.toBe(before.spec?.template.metadata?.annotations?.[DIGEST_ANNOTATION]);
    calls = [];
    const again = await restartChangedWorkloads(kube, manifest, versions('v2'), { mode: 'apply' });
    expect(again.restarted).toEqual([]);
    expect(writes()).toEqual([]);
  });
});
