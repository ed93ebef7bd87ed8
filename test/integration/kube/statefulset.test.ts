// A StatefulSet and a DaemonSet as consumers: discovered from their pod templates, restarted by a
// template annotation under their own RollingUpdate strategy, and gated on their update revision.
import { expect, it, jest } from '@jest/globals';
import type { V1DaemonSet, V1StatefulSet } from '@kubernetes/client-node';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { runGate } from '../../../src/gate/index.ts';
import { writeSecret } from '../../support/azure.ts';
import { admin, csiPodSpec, describeKube } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { identityFacts, targetIdentity, targetSuite } from '../../support/targets.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(180_000);

describeKube('StatefulSet and DaemonSet consumers against the sandbox cluster', () => {
  const id = shortId();
  const ns = `it-sts-${id}`;
  const secret = `it-${id}-sts`;
  const suite = targetSuite([ns]);

  it('restarts both once on a new version and the gate waits for every replaced pod', async () => {
    const { kube, az } = suite;
    const identity = await targetIdentity(suite, ns);
    const v1 = await writeSecret(az, secret);
    const manifest = testManifest([testTarget(ns, identity.name, { secretProviderClass: 'db-secrets', objects: [mounted(secret)] })]);
    await applyKubeObjects(kube, manifest, identityFacts(suite, { [ns]: identity }), { mode: 'apply' });
    const sts: V1StatefulSet = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: { replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: csiPodSpec('db-secrets') } },
    };
    const ds: V1DaemonSet = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: ns },
      // The sandbox node keeps the node.kubernetes.io/not-ready:NoSchedule taint (no node-lifecycle
      // controller), which the DaemonSet controller does not tolerate by itself.
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { ...csiPodSpec('db-secrets'), tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' }] },
        },
      },
    };
    await admin().apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
    await admin().apps.createNamespacedDaemonSet({ namespace: ns, body: ds });

    const first = await runGate(kube, manifest, [{ name: secret, version: v1, changed: true }], { timeoutMs: 90_000 });
    expect(first.diagnoses).toEqual([]);
    expect(first.passed).toBe(true);
    expect(first.pods.map((p) => p.workload).sort()).toEqual(['DaemonSet/agent', 'StatefulSet/db', 'StatefulSet/db']);
    const before = first.pods.map((p) => p.pod).sort();

    const v2 = await writeSecret(az, secret);
    const rotation = await restartChangedWorkloads(kube, manifest, [{ name: secret, version: v2, changed: true }], { mode: 'apply' });
    expect(rotation.restarted.map((w) => `${w.kind}/${w.name}`).sort()).toEqual(['DaemonSet/agent', 'StatefulSet/db']);

    const gate = await runGate(kube, manifest, [{ name: secret, version: v2, changed: true }], { timeoutMs: 120_000 });
    expect(gate.diagnoses).toEqual([]);
    expect(gate.passed).toBe(true);
    expect(gate.pods).toHaveLength(3);
    for (const p of gate.pods) expect(p.objects[0]).toMatchObject({ expected: v2, mounted: v2, ok: true });
    // StatefulSet pods keep their names (db-0, db-1) but are new pods: the gate matched the new UIDs' statuses.
    expect(
      gate.pods
        .filter((p) => p.workload === 'StatefulSet/db')
        .map((p) => p.pod)
        .sort(),
    ).toEqual(['db-0', 'db-1']);
    expect(gate.pods.find((p) => p.workload === 'DaemonSet/agent')!.pod).not.toBe(before.find((n) => n.startsWith('agent')));
  });
});
