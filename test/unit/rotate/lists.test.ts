// What restartChangedWorkloads lists: workloads per namespace, a few namespaces at a time; pods,
// ReplicaSets and SecretProviderClassPodStatuses only in a namespace where a consumer has no digest
// recorded yet (the only case in which pods are evidence). Items keep the sorted namespace order.
import { describe, expect, it } from '@jest/globals';
import type { KubeSession } from '../../../src/kube/client.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { indexVersions, mountedVersionsDigest } from '../../../src/rotate/decide.ts';
import { discoverConsumption } from '../../../src/rotate/discovery.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { csiVolume, deployment, manifest, obj, pod, podSpec, fakeRotateKube, replicaSet, spcps, target } from './helpers.ts';
import { DIGEST_ANNOTATION, KUBE_CONCURRENCY } from '../../../src/names.ts';

const namespaces = Array.from({ length: 12 }, (_, i) => `ns-${i}`);
const targets = namespaces.map((ns) => target({ namespace: ns, secretProviderClass: 'spc', objects: [obj(`s-${ns}`)] }));
const m = manifest(targets);
const versions: SecretVersion[] = namespaces.map((ns) => ({ name: `s-${ns}`, version: 'v2', changed: false }));
const spec = podSpec({ volumes: [csiVolume('x', 'spc')] });
const digestOf = (ns: string): string => mountedVersionsDigest(discoverConsumption(ns, spec, targets), indexVersions(versions))!;

describe('restartChangedWorkloads: what it lists', () => {
  it('with every digest recorded: three workload lists per namespace, nothing else, in bounded concurrency and namespace order', async () => {
    const deps = namespaces.map((ns) => deployment(ns, 'app', spec, { annotations: { [DIGEST_ANNOTATION]: digestOf(ns) } }));
    const f = fakeRotateKube(deps, [], [], [], { scrambled: true });
    const r = await restartChangedWorkloads(f.kube, m, versions, { mode: 'apply' });
    expect(r.items.map((i) => `${i.name}:${i.action}`)).toEqual([...namespaces].sort().map((ns) => `${ns}/app:unchanged`));
    expect(f.calls.filter((c) => !/^(deployments|statefulsets|daemonsets) /.test(c))).toEqual([]);
    expect(f.calls).toHaveLength(namespaces.length * 3);
    expect(f.peak()).toBeGreaterThan(1);
    expect(f.peak()).toBeLessThanOrEqual(KUBE_CONCURRENCY);
  });

  it('lists pods only where a consumer has no digest yet, and still restarts on evidence of an old version', async () => {
    const deps = namespaces.map((ns) => deployment(ns, 'app', spec, ns === 'ns-3' ? {} : { annotations: { [DIGEST_ANNOTATION]: digestOf(ns) } }));
    const d3 = deps[3]!;
    const rs = replicaSet(d3, 'app-1');
    const p = pod(rs, 'app-1-x');
    const f = fakeRotateKube(deps, [rs], [p], [spcps(p, 'spc', { 'secret/s-ns-3': 'v1' })], { scrambled: true });
    const r = await restartChangedWorkloads(f.kube, m, versions, { mode: 'apply' });
    expect(f.calls.filter((c) => /^(pods|replicasets|spcps) /.test(c)).sort()).toEqual(['pods ns-3', 'replicasets ns-3', 'spcps ns-3']);
    expect(r.restarted).toEqual([{ kind: 'Deployment', namespace: 'ns-3', name: 'app', reason: 'pods hold an old version of s-ns-3' }]);
  });

  it('the earliest failing namespace names the error', async () => {
    const f = fakeRotateKube([], [], [], [], { scrambled: true });
    const failing = {
      ...f.kube,
      apps: {
        ...f.kube.apps,
        listNamespacedStatefulSet: async ({ namespace }: { namespace: string }) => {
          if (namespace === 'ns-5' || namespace === 'ns-9') throw Object.assign(new Error('forbidden'), { code: 403 });
          return { items: [] };
        },
      },
    } as unknown as KubeSession;
    await expect(restartChangedWorkloads(failing, m, versions, { mode: 'apply' })).rejects.toThrow(/^cannot list workloads in namespace ns-5: HTTP 403/);
  });
});
