// Reads over the target namespaces cost a number of Kubernetes requests that does not grow with the
// namespaces (one cluster-wide list per kind), and a deployer whose RBAC is scoped to its namespaces
// still works, through one list per namespace. Against the sandbox's kube-apiserver (RBAC on); every
// API call is counted at the client.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeSession } from '../../../src/kube/client.ts';
import { listAcross } from '../../../src/kube/across.ts';
import { readNamespaces, restartChangedWorkloads } from '../../../src/rotate/index.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { admin, countingSession, csiPodSpec, deleteNamespace, deploymentOf, describeKube, sandboxKube, serviceAccountSession } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(90_000);

describeKube('reads across the target namespaces', () => {
  const id = shortId();
  const namespaces = [0, 1, 2, 3, 4].map((i) => `it-across-${id}-${i}`);
  const manifestOf = (nss: string[]) => testManifest(nss.map((ns, i) => testTarget(ns, `id-${i}`, { secretProviderClass: 'app', objects: [mounted(`s-${id}-${i}`)] })));
  const versions = (nss: string[]): SecretVersion[] => nss.map((_, i) => ({ name: `s-${id}-${i}`, version: 'v1', changed: false }));
  let raw: KubeSession;
  let calls: string[] = [];
  let dir = '';

  const countedSession = (s: KubeSession): KubeSession => countingSession(s, () => calls);

  /** A session as a ServiceAccount allowed to list the gate's kinds in the given namespaces only. */
  const namespaceScoped = async (nss: string[]): Promise<KubeSession> => {
    const home = nss[0]!;
    await admin().core.createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: 'deployer' } } });
    const rbac = admin().kc.makeApiClient(RbacAuthorizationV1Api);
    for (const namespace of nss) {
      await rbac.createNamespacedRole({
        namespace,
        body: {
          metadata: { name: 'deployer' },
          rules: [
            { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['list', 'get', 'patch'] },
            { apiGroups: [''], resources: ['pods', 'events'], verbs: ['list'] },
            { apiGroups: ['secrets-store.csi.x-k8s.io'], resources: ['secretproviderclasspodstatuses'], verbs: ['list'] },
          ],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: {
          metadata: { name: 'deployer' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deployer' },
          subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: home }],
        },
      });
    }
    return serviceAccountSession(raw, home, 'deployer', dir);
  };

  beforeAll(async () => {
    raw = sandboxKube();
    dir = mkdtempSync(join(tmpdir(), 'across-'));
    for (const ns of namespaces) {
      await admin().core.createNamespace({ body: { metadata: { name: ns } } });
      await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'consumer', csiPodSpec('app'), 0) });
    }
    // A first deploy records the mounted versions: a re-run's rotation then decides on the workloads alone.
    await restartChangedWorkloads(raw, manifestOf(namespaces), versions(namespaces), { mode: 'apply' });
  });
  afterAll(async () => {
    if (raw) for (const ns of namespaces) await deleteNamespace(raw, ns);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the gate's listing and rotation make the same requests for 2 and for 5 namespaces", async () => {
    const kube = countedSession(raw);
    const perRun: string[][] = [];
    for (const nss of [namespaces.slice(0, 2), namespaces]) {
      calls = [];
      const snaps = await readNamespaces(kube, nss);
      expect(snaps.map((s) => s.workloads.map((w) => `${w.obj.metadata?.namespace}/${w.obj.metadata?.name}`))).toEqual(nss.map((ns) => [`${ns}/consumer`]));
      await restartChangedWorkloads(kube, manifestOf(nss), versions(nss), { mode: 'plan' });
      perRun.push([...calls].sort());
    }
    expect(perRun[1]).toEqual(perRun[0]);
    // Six kinds for the gate's listing, three workload kinds for rotation: cluster-wide, whatever the namespaces.
    expect(perRun[0]).toHaveLength(9);
    expect(perRun[0]!.every((c) => /ForAllNamespaces|listClusterCustomObject/.test(c))).toBe(true);
  });

  it("a cluster holding more than a page: the apiserver's continue tokens while its count of items left is under the namespaces' lists", async () => {
    const total = (await raw.apps.listDeploymentForAllNamespaces()).items.length;
    expect(total).toBeGreaterThanOrEqual(namespaces.length);
    const truth = Object.fromEntries(namespaces.map((ns) => [ns, [`${ns}/consumer`]]));
    const read = async (nss: string[], pageSize: number): Promise<{ got: Record<string, string[]>; calls: string[] }> => {
      const seen: string[] = [];
      const got = await listAcross(
        nss,
        {
          cluster: (limit, after) => (seen.push(after ? 'cluster page' : 'cluster first page'), raw.apps.listDeploymentForAllNamespaces({ limit, _continue: after })),
          namespaced: (namespace) => (seen.push(`ns ${namespace}`), raw.apps.listNamespacedDeployment({ namespace })),
        },
        undefined,
        pageSize,
      );
      return { got: Object.fromEntries([...got].map(([ns, items]) => [ns, items.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`)])), calls: seen };
    };
    // Pages of a quarter of the cluster: 3 or 4 more pages, fewer than the 5 namespaces' lists.
    const quarter = Math.ceil(total / 4);
    const paged = await read(namespaces, quarter);
    expect(paged.got).toEqual(truth);
    expect(paged.calls).toEqual(['cluster first page', ...Array.from({ length: Math.ceil(total / quarter) - 1 }, () => 'cluster page')]);
    // Pages of one: as many pages left as items, more than 2 namespaces' lists.
    const two = namespaces.slice(0, 2);
    const listed = await read(two, 1);
    expect(listed.got).toEqual(Object.fromEntries(two.map((ns) => [ns, truth[ns]])));
    expect(listed.calls).toEqual(['cluster first page', ...two.map((ns) => `ns ${ns}`)]);
  });

  it('a deployer allowed only in its namespaces reads the same through one list per namespace', async () => {
    const nss = namespaces.slice(0, 3);
    const scoped = countedSession(await namespaceScoped(nss));
    calls = [];
    const snaps = await readNamespaces(scoped, nss);
    const admin = await readNamespaces(raw, nss);
    expect(snaps.map((s) => [s.namespace, s.workloads.map((w) => w.obj.metadata?.uid), s.spcpsServed])).toEqual(
      admin.map((s) => [s.namespace, s.workloads.map((w) => w.obj.metadata?.uid), s.spcpsServed]),
    );
    // Each kind: the refused cluster-wide list, then one list per namespace.
    expect(calls.filter((c) => /ForAllNamespaces|listClusterCustomObject/.test(c))).toHaveLength(6);
    expect(calls.filter((c) => /listNamespaced/.test(c))).toHaveLength(6 * nss.length);
    const rot = await restartChangedWorkloads(scoped, manifestOf(nss), versions(nss), { mode: 'plan' });
    expect(rot.items.map((i) => i.name)).toEqual(nss.map((ns) => `${ns}/consumer`));
  });
});
