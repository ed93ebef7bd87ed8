// rotation: csi — the action restarts nothing and the gate waits for the driver's own rotation to
// update the SecretProviderClassPodStatus of the running pod (the kubelet stand-in's rotation pass,
// as --enable-secret-rotation does at each poll interval).
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { KubeSession } from '../../../src/kube/client.ts';
import { readServiceAccountIssuer } from '../../../src/kube/client.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { runGate } from '../../../src/gate/index.ts';
import type { AzureSide } from './helpers.ts';
import {
  azureSide,
  createIdentity,
  csiPodSpec,
  deleteNamespace,
  deploymentOf,
  federate,
  grantSecretsUser,
  kubeAvailable,
  kubeletControl,
  mounted,
  readDeployment,
  sandboxKube,
  shortId,
  testManifest,
  testTarget,
  writeSecret,
} from './helpers.ts';
import { describeUnless, sandboxLogTail } from '../../support/guard.ts';

jest.setTimeout(180_000);
const describeKube = describeUnless(kubeAvailable() ? undefined : 'the sandbox runs without its cluster (started with --no-kube, or the control plane is not built)', sandboxLogTail);

describeKube('rotation: csi against the sandbox cluster', () => {
  const id = shortId();
  const ns = `it-csi-${id}`;
  const secret = `it-${id}-csi`;
  let kube: KubeSession;
  let az: AzureSide;

  beforeAll(async () => {
    kube = sandboxKube();
    az = await azureSide();
  });
  afterAll(async () => {
    if (kube) await deleteNamespace(kube, ns);
  });

  it('restarts nothing and waits for the driver to mount the new version in the same pod', async () => {
    const issuer = await readServiceAccountIssuer(kube);
    const identity = await createIdentity(az, `id-sandbox-${ns}`);
    await federate(az, identity, issuer, ns, 'api');
    await grantSecretsUser(az, identity);
    const v1 = await writeSecret(az, secret);
    const manifest = testManifest([testTarget(ns, identity.name, { secretProviderClass: 'app-secrets', objects: [mounted(secret)], rotation: 'csi' })]);
    await applyKubeObjects(kube, manifest, { tenantId: az.env.AKV_AKS_SANDBOX_TENANT_ID!, clientIds: { [ns]: identity.clientId } }, { mode: 'apply' });
    await kube.apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'app', csiPodSpec('app-secrets')) });
    const first = await runGate(kube, manifest, [{ name: secret, version: v1, changed: true }], { timeoutMs: 90_000 });
    expect(first.passed).toBe(true);
    const pod = first.pods[0]!.pod;
    const generation = (await readDeployment(kube, ns, 'app')).metadata?.generation;

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
    expect((await readDeployment(kube, ns, 'app')).metadata?.generation).toBe(generation);
  });
});
