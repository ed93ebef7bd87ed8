// rotation: csi — the action restarts nothing and the gate waits for the driver's own rotation to
// update the SecretProviderClassPodStatus of the running pod (the kubelet stand-in's rotation pass,
// as --enable-secret-rotation does at each poll interval).
import { expect, it, jest } from '@jest/globals';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { runGate } from '../../../src/gate/index.ts';
import { writeSecret } from '../../support/azure.ts';
import { admin, csiPodSpec, deployment, deploymentOf, describeKube, kubeletControl } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { identityFacts, targetIdentity, targetSuite } from '../../support/targets.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(180_000);

describeKube('rotation: csi against the sandbox cluster', () => {
  const id = shortId();
  const ns = `it-csi-${id}`;
  const secret = `it-${id}-csi`;
  const suite = targetSuite([ns]);

  it('restarts nothing and waits for the driver to mount the new version in the same pod', async () => {
    const { kube, az } = suite;
    const identity = await targetIdentity(suite, ns);
    const v1 = await writeSecret(az, secret);
    const manifest = testManifest([testTarget(ns, identity.name, { secretProviderClass: 'app-secrets', objects: [mounted(secret)], rotation: 'csi' })]);
    await applyKubeObjects(kube, manifest, identityFacts(suite, { [ns]: identity }), { mode: 'apply' });
    await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'app', csiPodSpec('app-secrets')) });
    const first = await runGate(kube, manifest, [{ name: secret, version: v1, changed: true }], { timeoutMs: 90_000 });
    expect(first.passed).toBe(true);
    const pod = first.pods[0]!.pod;
    const generation = (await deployment(kube, ns, 'app')).metadata?.generation;

    const v2 = await writeSecret(az, secret);
    const rotation = await restartChangedWorkloads(kube, manifest, [{ name: secret, version: v2, changed: true }], { mode: 'apply' });
    expect(rotation.restarted).toEqual([]);
    expect(rotation.items[0]).toMatchObject({ action: 'unchanged', reason: 'Deployment: rotation: csi' });

    // The gate is waiting when the driver's poll comes round.
    const gate = runGate(kube, manifest, [{ name: secret, version: v2, changed: true }], { timeoutMs: 60_000 });
    await kubeletControl('POST', '/rotate');
    const result = await gate;
    expect(result.diagnoses).toEqual([]);
    expect(result.passed).toBe(true);
    expect(result.pods.map((p) => p.pod)).toEqual([pod]);
    expect(result.pods[0]!.objects[0]).toMatchObject({ expected: v2, mounted: v2, ok: true });
    expect((await deployment(kube, ns, 'app')).metadata?.generation).toBe(generation);
  });
});
