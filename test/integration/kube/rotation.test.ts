// Apply → first deploy → gate; no-op re-run; one secret changes → only its consumers restart and the
// gate waits for their new pods. Against the sandbox's real kube-apiserver + controller-manager and
// the kubelet/CSI stand-in mounting through the local Azure.
import { beforeAll, expect, it, jest } from '@jest/globals';
import type { KubeSession } from '../../../src/kube/client.ts';
import { kubeStatusOf } from '../../../src/kube/client.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { runGate } from '../../../src/gate/index.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { writeSecret, type SharedVaultSide, type TestIdentity } from '../../support/azure.ts';
import { admin, csiPodSpec, deployment, deploymentOf, describeKube, envPodSpec } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { identityFacts, targetIdentity, targetSuite } from '../../support/targets.ts';
import { shortId } from '../../support/ids.ts';
import { DIGEST_ANNOTATION } from '../../../src/names.ts';

jest.setTimeout(180_000);

describeKube('rotation and gate against the sandbox cluster', () => {
  const id = shortId();
  const ns = `it-rot-${id}`;
  const dbName = `it-${id}-db`;
  const keyName = `it-${id}-key`;
  const suite = targetSuite([ns]);
  let kube: KubeSession;
  let az: SharedVaultSide;
  let identity: TestIdentity;
  let manifest: Manifest;
  let versions: SecretVersion[];
  const facts = (): { tenantId: string; clientIds: Record<string, string> } => identityFacts(suite, { [ns]: identity });

  beforeAll(async () => {
    ({ kube, az } = suite);
    identity = await targetIdentity(suite, ns);
    versions = [
      { name: dbName, version: await writeSecret(az, dbName), changed: true },
      { name: keyName, version: await writeSecret(az, keyName), changed: true },
    ];
    manifest = testManifest([
      testTarget(ns, identity.name, {
        secretProviderClass: 'db-secrets',
        objects: [mounted(dbName, { alias: 'DB_PASSWORD' })],
        syncTo: { secretName: 'db-env', type: 'Opaque', labels: {}, annotations: {}, keys: [{ key: 'DB_PASSWORD', object: 'DB_PASSWORD' }] },
      }),
      testTarget(ns, identity.name, { secretProviderClass: 'key-secrets', objects: [mounted(keyName)] }),
    ]);
  });

  it('plans, applies, and a first deploy passes the gate with the exact versions and no extra rollout', async () => {
    const plan = await applyKubeObjects(kube, manifest, facts(), { mode: 'plan' });
    expect(plan.map((i) => `${i.kind}:${i.name}:${i.action}`)).toEqual([
      `namespace:${ns}:create`,
      `service-account:${ns}/api:create`,
      `secret-provider-class:${ns}/db-secrets:create`,
      `secret-provider-class:${ns}/key-secrets:create`,
    ]);
    expect(await kube.core.readNamespace({ name: ns }).then(() => 200, kubeStatusOf)).toBe(404);

    const applied = await applyKubeObjects(kube, manifest, facts(), { mode: 'apply' });
    expect(applied.map((i) => i.action)).toEqual(['create', 'create', 'create', 'create']);
    const sa = await kube.core.readNamespacedServiceAccount({ namespace: ns, name: 'api' });
    expect(sa.metadata?.annotations?.['azure.workload.identity/client-id']).toBe(identity.clientId);
    expect(sa.metadata?.managedFields?.some((f) => f.manager === 'akv-aks-action' && f.operation === 'Apply')).toBe(true);

    // The workloads are deployed by the user's own step, after the action.
    await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'db-reader', csiPodSpec('db-secrets')) });
    await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'key-reader', csiPodSpec('key-secrets')) });
    await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'env-reader', envPodSpec('db-env')) });

    const rotation = await restartChangedWorkloads(kube, manifest, versions, { mode: 'apply' });
    expect(rotation.restarted).toEqual([]);

    const gate = await runGate(kube, manifest, versions, { timeoutMs: 90_000 });
    expect(gate.diagnoses).toEqual([]);
    expect(gate.passed).toBe(true);
    const byWorkload = new Map(gate.pods.map((p) => [p.workload, p]));
    expect([...byWorkload.keys()].sort()).toEqual(['Deployment/db-reader', 'Deployment/env-reader', 'Deployment/key-reader']);
    expect(byWorkload.get('Deployment/db-reader')!.objects[0]).toMatchObject({ expected: versions[0]!.version, mounted: versions[0]!.version, ok: true });
    expect(byWorkload.get('Deployment/key-reader')!.objects[0]).toMatchObject({ expected: versions[1]!.version, mounted: versions[1]!.version, ok: true });
    // Recorded on the Deployments' metadata only (which bumps their generation but not their
    // template): still one ReplicaSet each, revision 1, no digest in the pod templates.
    for (const name of ['db-reader', 'key-reader', 'env-reader']) {
      const d = await deployment(kube, ns, name);
      expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
      expect(d.metadata?.annotations?.[DIGEST_ANNOTATION]).toMatch(/^[0-9a-f]{32}$/);
      expect(d.spec?.template.metadata?.annotations?.[DIGEST_ANNOTATION]).toBeUndefined();
    }
    const rss = await kube.apps.listNamespacedReplicaSet({ namespace: ns });
    expect(rss.items.map((r) => r.metadata?.ownerReferences?.[0]?.name).sort()).toEqual(['db-reader', 'env-reader', 'key-reader']);
  });

  it('a no-op re-run changes and restarts nothing', async () => {
    const before = await Promise.all(['db-reader', 'key-reader', 'env-reader'].map((n) => deployment(kube, ns, n)));
    const unchanged = versions.map((v) => ({ ...v, changed: false }));
    const applied = await applyKubeObjects(kube, manifest, facts(), { mode: 'apply' });
    expect(applied.map((i) => i.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    const rotation = await restartChangedWorkloads(kube, manifest, unchanged, { mode: 'apply' });
    expect(rotation.restarted).toEqual([]);
    expect(rotation.items.every((i) => i.action === 'unchanged')).toBe(true);
    const after = await Promise.all(['db-reader', 'key-reader', 'env-reader'].map((n) => deployment(kube, ns, n)));
    const ours = (d: (typeof before)[number]): string | undefined => String(d.metadata?.managedFields?.find((f) => f.manager === 'akv-aks-action')?.time ?? '');
    for (let i = 0; i < before.length; i++) {
      expect(after[i]!.metadata?.generation).toBe(before[i]!.metadata?.generation);
      expect(after[i]!.metadata?.annotations?.[DIGEST_ANNOTATION]).toBe(before[i]!.metadata?.annotations?.[DIGEST_ANNOTATION]);
      expect(after[i]!.spec?.template.metadata?.annotations).toEqual(before[i]!.spec?.template.metadata?.annotations);
      // The action's field manager entry was not touched: nothing was written.
      expect(ours(after[i]!)).toBe(ours(before[i]!));
    }
    const gate = await runGate(kube, manifest, unchanged, { timeoutMs: 30_000 });
    expect(gate.passed).toBe(true);
  });

  it('a new version of one secret restarts only its consumers, and the gate waits for their new pods', async () => {
    const oldPods = await kube.core.listNamespacedPod({ namespace: ns });
    const before = new Map((await kube.apps.listNamespacedDeployment({ namespace: ns })).items.map((d) => [d.metadata!.name!, d]));
    const oldKeyPod = oldPods.items.find((p) => p.metadata?.name?.startsWith('key-reader'))!.metadata!.name!;
    const changedAt = new Date();
    versions = [
      { ...versions[0]!, changed: false },
      { name: keyName, version: await writeSecret(az, keyName), changed: true },
    ];

    const plan = await restartChangedWorkloads(kube, manifest, versions, { mode: 'plan' });
    expect(plan.items.filter((i) => i.action === 'restart').map((i) => i.name)).toEqual([`${ns}/key-reader`]);

    const rotation = await restartChangedWorkloads(kube, manifest, versions, { mode: 'apply', changedAt });
    expect(rotation.restarted.map((w) => w.name)).toEqual(['key-reader']);
    expect(rotation.restarted[0]!.reason).toBe(`new version of ${keyName}`);
    const keyReader = await deployment(kube, ns, 'key-reader');
    expect(keyReader.metadata?.generation).toBe(before.get('key-reader')!.metadata!.generation! + 1);
    expect(keyReader.spec?.template.metadata?.annotations?.[DIGEST_ANNOTATION]).toBe(keyReader.metadata?.annotations?.[DIGEST_ANNOTATION]);
    // Not restarted: the same spec generation and pod template (their status stays the controller's to update).
    for (const name of ['db-reader', 'env-reader']) {
      const now = await deployment(kube, ns, name);
      expect([now.metadata?.generation, now.spec?.template.metadata?.annotations]).toEqual([before.get(name)!.metadata!.generation, before.get(name)!.spec?.template.metadata?.annotations]);
    }

    const gate = await runGate(kube, manifest, versions, { timeoutMs: 90_000, changedAt });
    expect(gate.diagnoses).toEqual([]);
    expect(gate.passed).toBe(true);
    const keyPods = gate.pods.filter((p) => p.workload === 'Deployment/key-reader');
    expect(keyPods).toHaveLength(1);
    expect(keyPods[0]!.pod).not.toBe(oldKeyPod);
    expect(keyPods[0]!.objects[0]).toMatchObject({ expected: versions[1]!.version, mounted: versions[1]!.version, ok: true });

    // And running it again restarts nothing more.
    const again = await restartChangedWorkloads(
      kube,
      manifest,
      versions.map((v) => ({ ...v, changed: false })),
      { mode: 'apply' },
    );
    expect(again.restarted).toEqual([]);
  });
});
