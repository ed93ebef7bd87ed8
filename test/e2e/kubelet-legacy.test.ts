// Kubelet-identity mode on the access-policy vault kv-legacy, end to end through the bundle: the node
// pool's user-assigned identity (created here through ARM, as AKS creates it), given to the manifest
// by client id only (the action looks its principal up); the action adds an access policy with secret
// get for it, renders useVMManagedIdentity + userAssignedIdentityID, creates no federated credential
// and no service account, and the gate passes once the pod mounted the vault's version. A re-run adds
// nothing. kv-legacy is shared: only secrets named with this run's prefix are touched, and the access
// policy added for the identity is removed at the end.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretClient } from '@azure/keyvault-secrets';
import { armWritesDuring, expectExit, fixture, jsonOutput, Runner, stepRecords, type Step } from '../support/e2e.ts';
import { azureSide, vaultClient, type AzureSide } from '../support/azure.ts';
import { appDeployment, applyObject, deleteNamespace, kube, type Kube } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control, sandboxEnv } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-kubelet-${id}`;
const P = `k${id}`;
const TOKEN = `${P}-legacy-token`;
const KUBELET = `id-e2e-kubelet-${id}`;

const runner = new Runner();
let az: AzureSide;
let k: Kube;
let secrets: SecretClient;
let workspace: string;
let kubelet: { clientId: string; principalId: string };
const env = { LEGACY_TOKEN: secretValue('legacy') };

const apply = (label: string): Promise<Step> => runner.run({ label, mode: 'apply', workspace, env });

interface WorldVault {
  name: string;
  vaultUri: string;
  accessPolicies: Array<{ objectId: string; permissions: { secrets?: string[]; keys?: string[]; certificates?: string[] } }>;
}
async function legacy(): Promise<WorldVault> {
  const w = await control<{ vaults: WorldVault[] }>('GET', '/world');
  const v = w.vaults.find((x) => x.name === 'kv-legacy');
  if (!v) throw new Error('kv-legacy missing from the sandbox world');
  return v;
}

beforeAll(async () => {
  // The node's managed-identity tokens come from the Azure world of the same sandbox process: a
  // cluster started apart (test/sandbox/kube/dev.ts) cannot mount with the kubelet identity.
  if (!sandboxEnv().KUBECONFIG) {
    throw new Error('kubelet-identity e2e needs the full sandbox (`npm run sandbox -- up`: Azure and the cluster in one process); this one runs the cluster apart (no node managed-identity tokens)');
  }
  az = azureSide();
  k = kube();
  const created = await az.arm.msi.userAssignedIdentities.createOrUpdate('rg-ids', KUBELET, { location: 'westeurope', tags: { purpose: 'e2e kubelet identity' } });
  kubelet = { clientId: created.clientId!, principalId: created.principalId! };
  secrets = vaultClient(az, (await legacy()).vaultUri);
  workspace = mkdtempSync(join(tmpdir(), 'akv-aks-e2e-kubelet-'));
  writeFileSync(join(workspace, 'akv-aks.yaml'), fixture('kubelet-legacy.yaml', { NS, P, KUBELET_CLIENT_ID: kubelet.clientId }));
  runner.leaks.addSecret('LEGACY_TOKEN', env.LEGACY_TOKEN);
});

afterAll(async () => {
  if (k) await deleteNamespace(k, NS);
  if (kubelet) {
    await az.arm.keyVault.vaults
      .updateAccessPolicy('rg-sandbox', 'kv-legacy', 'remove', {
        properties: { accessPolicies: [{ tenantId: az.env.AKV_AKS_SANDBOX_TENANT_ID!, objectId: kubelet.principalId, permissions: {} }] },
      })
      .catch(() => undefined);
    await az.arm.msi.userAssignedIdentities.delete('rg-ids', KUBELET).catch(() => undefined);
  }
  await secrets?.beginDeleteSecret(TOKEN).catch(() => undefined);
});

describe('kubelet identity on the access-policy vault kv-legacy', () => {
  it('apply: the secret, an access policy for the kubelet identity, useVMManagedIdentity; no federation', async () => {
    const s = await apply('apply');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([TOKEN]);
    expect(s.report.vault?.authorization).toBe('access-policy');
    const policy = s.report.plan.find((i) => i.kind === 'access-policy');
    expect(policy).toMatchObject({ action: 'create' });
    expect(policy?.reason).toMatch(/secrets: .*get/);
    expect(s.report.plan.filter((i) => i.kind === 'federated-credential' || i.kind === 'identity' || i.kind === 'service-account')).toEqual([]);
    expect(s.log).not.toContain('Proof of access');

    const v = await legacy();
    const entry = v.accessPolicies.find((p) => p.objectId === kubelet.principalId);
    expect(entry?.permissions.secrets).toEqual(expect.arrayContaining(['get']));
    const fics = (await control<{ federatedCredentials: Array<{ clientId: string }> }>('GET', '/world')).federatedCredentials.filter((f) => f.clientId === kubelet.clientId);
    expect(fics).toEqual([]);

    const spc = (await k.custom.getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: NS, plural: 'secretproviderclasses', name: 'legacy-secrets' })) as {
      spec: { parameters: Record<string, string> };
    };
    expect(spc.spec.parameters.useVMManagedIdentity).toBe('true');
    expect(spc.spec.parameters.userAssignedIdentityID).toBe(kubelet.clientId);
    expect(spc.spec.parameters.keyvaultName).toBe('kv-legacy');
    expect(spc.spec.parameters.clientID).toBeUndefined();
    const stored = await secrets.getSecret(TOKEN);
    expect(stored.value === env.LEGACY_TOKEN).toBe(true);
    expect(s.report.secrets.find((x) => x.name === TOKEN)?.version).toBe(stored.properties.version);
  });

  it('the release gate passes once a pod on the node mounted the version through the kubelet identity', async () => {
    await applyObject(k, appDeployment({ namespace: NS, name: 'legacy', spc: 'legacy-secrets', workloadIdentity: false }));
    const s = await runner.run({ label: 'verify', entry: 'dist/verify/index.js', workspace });
    expectExit(s, 0);
    const version = (await secrets.getSecret(TOKEN)).properties.version;
    const pods = (s.report.gate?.pods ?? []).filter((p) => p.namespace === NS);
    expect(pods).toHaveLength(1);
    expect(pods[0]!.objects).toEqual([expect.objectContaining({ expected: version, mounted: version, ok: true })]);
  });

  it('a re-run writes nothing: no new version, no access-policy write', async () => {
    const s = await apply('apply (no-op)');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([]);
    expect(s.report.plan.filter((i) => i.action !== 'unchanged')).toEqual([]);
    const kvWrites = (await stepRecords(s)).filter((r) => r.service === 'keyvault' && r.class === 'write' && r.path.includes(P));
    expect(kvWrites).toEqual([]);
    // Access-policy writes name the vault only; another test may touch kv-legacy meanwhile, so the
    // world's entry for our principal is checked too.
    expect(await armWritesDuring(s, ['vaults/kv-legacy/accessPolicies'])).toEqual([]);
    expect((await legacy()).accessPolicies.filter((p) => p.objectId === kubelet.principalId)).toHaveLength(1);
    expect(s.outputs.verified).toBe('true');
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(3);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});
