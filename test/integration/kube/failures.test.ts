// The gate's failures against the sandbox cluster: a federated credential whose issuer does not match
// (AADSTS70021), an identity without a Key Vault role (ForbiddenByRbac), and verify-only mode catching a
// pod that still mounts an older version than the vault's current one.
import { expect, it, jest } from '@jest/globals';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { restartChangedWorkloads } from '../../../src/rotate/index.ts';
import { runGate } from '../../../src/gate/index.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { writeSecret, type TestIdentity } from '../../support/azure.ts';
import { admin, csiPodSpec, deploymentOf, describeKube, kubeletControl } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { identityFacts, targetIdentity, targetSuite } from '../../support/targets.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(180_000);

describeKube('gate failures against the sandbox cluster', () => {
  const id = shortId();
  const namespaces: string[] = [];
  const suite = targetSuite(namespaces);

  /** A namespace `it-<suffix>-…` with a secret, its identity (federated and granted as `access` says), the cluster objects and a consumer. */
  async function deployTarget(suffix: string, access: { issuer?: string; grant?: boolean } = {}): Promise<{ ns: string; manifest: Manifest; secret: string; version: string; identity: TestIdentity }> {
    const { kube, az } = suite;
    const ns = `it-${suffix}-${id}`;
    namespaces.push(ns);
    const secret = `it-${id}-${suffix}`;
    const version = await writeSecret(az, secret);
    const identity = await targetIdentity(suite, ns, access);
    const manifest = testManifest([testTarget(ns, identity.name, { secretProviderClass: 'app-secrets', objects: [mounted(secret)] })]);
    await applyKubeObjects(kube, manifest, identityFacts(suite, { [ns]: identity }), { mode: 'apply' });
    await admin().apps.createNamespacedDeployment({ namespace: ns, body: deploymentOf(ns, 'app', csiPodSpec('app-secrets')) });
    return { ns, manifest, secret, version, identity };
  }

  it('a federated credential with another issuer fails the gate with the AADSTS70021 diagnosis', async () => {
    const { kube, issuer } = suite;
    // Trailing slash: the byte-exact comparison Entra makes.
    const t = await deployTarget('fed', { issuer: `${issuer}/` });
    const gate = await runGate(kube, t.manifest, [{ name: t.secret, version: t.version, changed: true }], { timeoutMs: 15_000, issuer });
    expect(gate.passed).toBe(false);
    const fed = gate.diagnoses.find((d) => d.cause === 'federation-mismatch');
    expect(fed).toBeDefined();
    expect(fed!.message).toContain('AADSTS70021');
    expect(fed!.message).toContain(`presented subject 'system:serviceaccount:${t.ns}:api'`);
    expect(fed!.message).toContain(`presented issuer '${issuer}'`);
    expect(fed!.namespace).toBe(t.ns);
    const pod = gate.pods.find((p) => p.workload === 'Deployment/app');
    expect(pod).toBeDefined();
    expect(pod!.ready).toBe(false);
    expect(pod!.node).toBeTruthy();
    expect(pod!.objects[0]).toMatchObject({ object: t.secret, expected: t.version, ok: false });
    expect(pod!.lastEvent).toMatch(/^FailedMount: .*AADSTS70021/);
  });

  it('an identity without a Key Vault role fails the gate with the RBAC diagnosis', async () => {
    const { kube, issuer } = suite;
    const t = await deployTarget('rbac', { grant: false });
    const gate = await runGate(kube, t.manifest, [{ name: t.secret, version: t.version, changed: true }], { timeoutMs: 15_000, issuer });
    expect(gate.passed).toBe(false);
    const rbac = gate.diagnoses.find((d) => d.cause === 'missing-role');
    expect(rbac).toBeDefined();
    expect(rbac!.message).toContain(`secret ${t.secret}`);
    expect(rbac!.fix).toContain('Key Vault Secrets User');
    expect(gate.diagnoses.some((d) => d.cause === 'federation-mismatch')).toBe(false);
  });

  it('a mounted secret missing from the vault fails the gate with the missing-secret diagnosis', async () => {
    const { kube } = suite;
    const t = await deployTarget('nosecret');
    const absent = `${t.secret}-absent`;
    const manifest = testManifest([testTarget(t.ns, t.identity.name, { secretProviderClass: 'app-secrets', objects: [mounted(t.secret), mounted(absent)] })]);
    await applyKubeObjects(kube, manifest, identityFacts(suite, { [t.ns]: t.identity }), { mode: 'apply' });
    // The SPC changed under a running pod; a new pod mounts the new list (one object is missing).
    await admin().apps.patchNamespacedDeployment(
      { namespace: t.ns, name: 'app', body: { spec: { template: { metadata: { annotations: { 'test/restart': '1' } } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const gate = await runGate(
      kube,
      manifest,
      [
        { name: t.secret, version: t.version, changed: false },
        { name: absent, changed: false },
      ],
      { timeoutMs: 15_000 },
    );
    expect(gate.passed).toBe(false);
    const missing = gate.diagnoses.find((d) => d.cause === 'missing-secret');
    expect(missing?.message).toContain(`secret ${absent}`);
  });

  it('a crash-looping container is diagnosed as such', async () => {
    const { kube } = suite;
    const t = await deployTarget('crash');
    const config = ((await kubeletControl('GET', '/status')) as { config: { crashLoop: Array<{ namespace?: string }> } }).config;
    const others = config.crashLoop.filter((r) => r.namespace !== t.ns);
    await kubeletControl('PATCH', '/config', { crashLoop: [...others, { namespace: t.ns, pod: 'app' }] });
    try {
      await admin().apps.patchNamespacedDeployment(
        { namespace: t.ns, name: 'app', body: { spec: { template: { metadata: { annotations: { 'test/restart': '1' } } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const gate = await runGate(kube, t.manifest, [{ name: t.secret, version: t.version, changed: true }], { timeoutMs: 15_000 });
      expect(gate.passed).toBe(false);
      const crash = gate.diagnoses.find((d) => d.cause === 'crash-loop');
      expect(crash?.message).toContain('container app');
      expect(crash?.namespace).toBe(t.ns);
    } finally {
      const now = ((await kubeletControl('GET', '/status')) as { config: { crashLoop: Array<{ namespace?: string }> } }).config;
      await kubeletControl('PATCH', '/config', { crashLoop: now.crashLoop.filter((r) => r.namespace !== t.ns) });
    }
  });

  it('verify-only mode catches a pod still mounting an older version', async () => {
    const { kube, az } = suite;
    const t = await deployTarget('stale');
    const first = await runGate(kube, t.manifest, [{ name: t.secret, version: t.version, changed: true }], { timeoutMs: 90_000 });
    expect(first.passed).toBe(true);

    // Someone writes a new version straight into the vault; nothing restarts the pod.
    const newer = await writeSecret(az, t.secret);
    expect(newer).not.toBe(t.version);
    const verify = await runGate(kube, t.manifest, [{ name: t.secret, version: newer, changed: false }], { timeoutMs: 8_000 });
    expect(verify.passed).toBe(false);
    expect(verify.diagnoses.map((d) => d.cause)).toEqual(['stale-version']);
    expect(verify.pods[0]!.objects[0]).toMatchObject({ expected: newer, mounted: t.version, ok: false });

    // The apply mode fixes it: one restart, then the gate passes on the new pod.
    const rotation = await restartChangedWorkloads(kube, t.manifest, [{ name: t.secret, version: newer, changed: true }], { mode: 'apply' });
    expect(rotation.restarted.map((w) => w.name)).toEqual(['app']);
    const after = await runGate(kube, t.manifest, [{ name: t.secret, version: newer, changed: true }], { timeoutMs: 90_000 });
    expect(after.passed).toBe(true);
    expect(after.pods[0]!.objects[0]).toMatchObject({ expected: newer, mounted: newer, ok: true });
  });
});
