// Identity bindings (`federation: binding`): the manifest field, the binding plan, the RBAC and the
// SecretProviderClass they render, and the CSIDriver check. Pure parts only; the ARM and kube paths
// are exercised end to end in test/e2e/identity-bindings.test.ts.
import { describe, expect, it } from '@jest/globals';
import { parseManifest } from '../../../src/manifest/load.ts';
import { BINDING_NAME, bindingRecord, identityBindingName, managedClusterId, planBinding } from '../../../src/identity/bindings.ts';
import { provable } from '../../../src/identity/prove-plan.ts';
import { tokenRequestProblem } from '../../../src/kube/csidriver.ts';
import { renderAll, useIdentityRoleName } from '../../../src/render/index.ts';
import type { Manifest } from '../../../src/manifest/types.ts';

const SUB = '00000000-0000-0000-0000-00000000aaaa';
const MI = `/subscriptions/${SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-shared`;
const CLIENT = '3f0c1b2a-1111-4222-8333-944455556666';

function fleetManifest(namespaces: number, extra = ''): Manifest {
  const targets = Array.from({ length: namespaces }, (_, i) => `  - { namespace: team-${i}, serviceAccount: app, secretProviderClass: kv, objects: [{ secret: db-password }] }`).join('\n');
  const text = `apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: aks-a, resourceGroup: rg-aks }
identityDefaults: { resourceGroup: rg-ids, federation: binding }
x-id: &id { name: id-shared }
secrets:
  - name: db-password
    from: { env: DB_PASSWORD }
${extra}targets:
${targets.replace(/serviceAccount: app,/g, 'serviceAccount: app, identity: *id,')}
`;
  return parseManifest(text, 'fleet.yaml', { env: { DB_PASSWORD: 'x' } }).manifest;
}

describe('manifest', () => {
  it('accepts more than 20 service accounts on one identity with federation: binding (defaulted)', () => {
    const m = fleetManifest(25);
    expect(m.targets).toHaveLength(25);
    expect(m.targets.every((t) => t.federation === 'binding')).toBe(true);
    expect(m.cluster.resourceGroup).toBe('rg-aks');
    expect(m.identityDefaults.federation).toBe('binding');
  });

  it('refuses the same 25 service accounts with credentials, suggesting bindings', () => {
    const text = `apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: aks-a }
identityDefaults: { resourceGroup: rg-ids }
secrets:
  - { name: db-password, from: { env: DB_PASSWORD } }
targets:
${Array.from({ length: 25 }, (_, i) => `  - { namespace: team-${i}, serviceAccount: app, identity: { name: id-shared }, secretProviderClass: kv, objects: [{ secret: db-password }] }`).join('\n')}
`;
    expect(() => parseManifest(text, 'm.yaml', { env: { DB_PASSWORD: 'x' } })).toThrow(/targets\[20\]\.serviceAccount: .*set `federation: binding`/);
  });
});

describe('binding names and ids', () => {
  it('follow the spec pattern, stay stable and tell identities of one name apart', () => {
    const a = identityBindingName(MI, 'id-shared');
    expect(a).toMatch(BINDING_NAME);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(identityBindingName(MI.toUpperCase(), 'id-shared')).toBe(a);
    expect(identityBindingName(MI.replace('rg-ids', 'rg-other'), 'id-shared')).not.toBe(a);
    const long = identityBindingName(MI, `Id_${'x'.repeat(120)}`);
    expect(long).toMatch(BINDING_NAME);
  });

  it('name the managed cluster by the manifest (subscription defaulted) and the binding by its id', () => {
    const id = managedClusterId({ name: 'aks-a', resourceGroup: 'rg-aks' }, SUB);
    expect(id).toBe(`/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-a`);
    expect(bindingRecord(id, 'akvx')).toBe(`${id}/identityBindings/akvx`.toLowerCase());
    expect(() => managedClusterId({ name: 'aks-a' }, SUB)).toThrow(/cluster.resourceGroup/);
  });
});

describe('planBinding', () => {
  const name = identityBindingName(MI, 'id-shared');
  it('creates a missing binding', () => {
    const p = planBinding('aks-a', 'id-shared', MI, [], ['team-0', 'team-1']);
    expect(p).toEqual({ name, write: name, item: { kind: 'identity-binding', name: `aks-a/${name}`, action: 'create', reason: 'binds id-shared' } });
  });
  it('keeps a succeeded binding of the identity, also one made by hand under another name', () => {
    expect(planBinding('aks-a', 'id-shared', MI, [{ name, identityResourceId: MI, provisioningState: 'Succeeded' }], ['a']).write).toBeUndefined();
    const byHand = planBinding('aks-a', 'id-shared', MI, [{ name: 'kvreader', identityResourceId: MI.toLowerCase(), provisioningState: 'Succeeded' }], ['a']);
    expect(byHand).toMatchObject({ name: 'kvreader', item: { action: 'unchanged', reason: 'already bound as kvreader' } });
    expect(byHand.write).toBeUndefined();
  });
  it('puts again a binding that did not succeed', () => {
    const p = planBinding('aks-a', 'id-shared', MI, [{ name, identityResourceId: MI, provisioningState: 'Failed' }], ['a']);
    expect(p.write).toBe(name);
    expect(p.item).toMatchObject({ action: 'update', reason: 'provisioningState Failed' });
  });
  it('refuses a binding of its name that names another identity (managedIdentity is create-only)', () => {
    expect(() => planBinding('aks-a', 'id-shared', MI, [{ name, identityResourceId: MI.replace('id-shared', 'id-other'), provisioningState: 'Succeeded' }], ['a'])).toThrow(/cannot be re-pointed/);
  });
});

describe('render', () => {
  const m = fleetManifest(3);
  const objects = renderAll(m, { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientIds: { 'team-0': CLIENT, 'team-1': CLIENT, 'team-2': CLIENT } });

  it('renders token-proxy SecretProviderClasses with clientID and tenantID', () => {
    const spc = objects.find((o) => o.kind === 'SecretProviderClass' && o.metadata.namespace === 'team-1')!;
    const params = (spc.spec as { parameters: Record<string, string> }).parameters;
    expect(params).toMatchObject({ useAzureTokenProxy: 'true', clientID: CLIENT, tenantID: '72f988bf-86f1-41af-91ab-2d7cd011db47', useVMManagedIdentity: 'false', usePodIdentity: 'false' });
    expect(params.tenantId).toBeUndefined();
  });

  it('renders one ClusterRole (use-managed-identity on the client id) and a binding for exactly the service accounts, labelled with the instance', () => {
    const role = objects.filter((o) => o.kind === 'ClusterRole');
    const binding = objects.filter((o) => o.kind === 'ClusterRoleBinding');
    expect(role).toHaveLength(1);
    expect(binding).toHaveLength(1);
    expect(role[0]!.metadata.name).toBe(useIdentityRoleName(m, CLIENT));
    expect(role[0]!.metadata.name).toContain(m.instance.key);
    expect(role[0]!.rules).toEqual([{ apiGroups: ['cid.wi.aks.azure.com'], resources: [CLIENT], verbs: ['use-managed-identity'] }]);
    expect(binding[0]!.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role[0]!.metadata.name });
    expect(binding[0]!.subjects).toEqual(['team-0', 'team-1', 'team-2'].map((namespace) => ({ kind: 'ServiceAccount', name: 'app', namespace })));
    expect(role[0]!.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'akv-aks-action', 'akv-aks-action/instance': m.instance.key });
  });

  it('leaves credential targets as they were (no RBAC, no token proxy)', () => {
    const text = `apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: aks-a }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
secrets:
  - { name: db-password, from: { env: DB_PASSWORD } }
targets:
  - { namespace: a, serviceAccount: app, secretProviderClass: kv, objects: [{ secret: db-password }] }
`;
    const plain = parseManifest(text, 'm.yaml', { env: { DB_PASSWORD: 'x' } }).manifest;
    const out = renderAll(plain, {});
    expect(out.map((o) => o.kind)).toEqual(['ServiceAccount', 'SecretProviderClass']);
    expect((out[1]!.spec as { parameters: Record<string, string> }).parameters.useAzureTokenProxy).toBeUndefined();
    expect(plain.targets[0]!.federation).toBeUndefined();
  });

  it('does not prove binding targets from the runner (the gate does)', () => {
    expect(m.targets.some(provable)).toBe(false);
  });
});

describe('CSIDriver token requests', () => {
  it('pass with the identity-binding audience', () => {
    expect(tokenRequestProblem(['api://AzureADTokenExchange', 'api://AKSIdentityBinding'])).toBeUndefined();
  });
  it('name the provider error and the fix when the audience is missing', () => {
    const p = tokenRequestProblem(['api://AzureADTokenExchange'])!;
    expect(p).toContain('failed to parse service account token for identity binding, error: token for audience api://AKSIdentityBinding not found');
    expect(p).toContain('kubectl patch csidriver secrets-store.csi.k8s.io --type json');
    expect(p).toContain('"path":"/spec/tokenRequests/-"');
    expect(tokenRequestProblem([])).toContain('"path":"/spec/tokenRequests","value":[{"audience":"api://AKSIdentityBinding"}]');
    expect(tokenRequestProblem(undefined)).toMatch(/not found: install the Secrets Store CSI driver/);
  });
});

describe('clean-up of bindings', () => {
  const m = fleetManifest(2);
  const clusterId = managedClusterId(m.cluster, SUB);
  const own = identityBindingName(`/subscriptions/${SUB}/resourcegroups/rg-ids/providers/microsoft.managedidentity/userassignedidentities/id-shared`, 'id-shared');
  const labels = { 'app.kubernetes.io/managed-by': 'akv-aks-action', 'akv-aks-action/instance': m.instance.key };
  const rbac = [
    { kind: 'ClusterRole' as const, name: 'r', labels },
    { kind: 'ClusterRoleBinding' as const, name: 'rb', labels },
    { kind: 'ClusterRole' as const, name: 'theirs', labels: { ...labels, 'akv-aks-action/instance': 'ffffffffffffffff' } },
  ];
  const live = [
    { name: own, identityResourceId: MI, provisioningState: 'Succeeded' },
    { name: 'kvreader', identityResourceId: MI, provisioningState: 'Succeeded' },
  ];

  it('deletes the instance RBAC (binding first) and its own binding, never one made by hand nor another instance RBAC', async () => {
    const { planBindingCleanup } = await import('../../../src/cleanup/bindings.ts');
    const steps = planBindingCleanup({ manifest: m, subscriptionId: SUB, clusterId, rbac, bindings: live, ledgers: [] });
    expect(steps.map((s) => [s.item.kind, s.item.name, s.item.action])).toEqual([
      ['cluster-role-binding', 'rb', 'delete'],
      ['cluster-role', 'r', 'delete'],
      ['identity-binding', `aks-a/${own}`, 'delete'],
    ]);
    expect(steps[2]!.op).toEqual({ kind: 'identity-binding', clusterId, name: own });
  });

  it('keeps a binding another manifest relies on, naming it', async () => {
    const { planBindingCleanup } = await import('../../../src/cleanup/bindings.ts');
    const other = { v: 1 as const, instance: 'ffffffffffffffff', manifest: 'contoso/other:akv.yaml @ aks-a', assignments: [], policies: {}, added: {}, bindings: [bindingRecord(clusterId, own)] };
    const steps = planBindingCleanup({ manifest: m, subscriptionId: SUB, clusterId, rbac: [], bindings: live, ledgers: [other] });
    expect(steps).toEqual([{ item: { kind: 'identity-binding', name: `aks-a/${own}`, action: 'keep', reason: 'still relied on by contoso/other:akv.yaml @ aks-a (ffffffffffffffff)' } }]);
  });
});

describe('clean-up of bindings after the manifest stopped binding', () => {
  const binding = fleetManifest(2);
  const clusterId = managedClusterId(binding.cluster, SUB);
  const name = identityBindingName(`/subscriptions/${SUB}/resourcegroups/rg-ids/providers/microsoft.managedidentity/userassignedidentities/id-shared`, 'id-shared');
  // The same manifest instance, now with per-service-account credentials: only its ledger remembers the binding.
  const credential: Manifest = { ...binding, targets: binding.targets.map((t) => ({ ...t, federation: undefined })) };
  const ownLedger = { v: 1 as const, instance: binding.instance.key, manifest: 'contoso/app:akv.yaml @ aks-a', assignments: [], policies: {}, added: {}, bindings: [bindingRecord(clusterId, name)] };

  it('finds the cluster from the ledger record, and nothing without one', async () => {
    const { bindingClusterId } = await import('../../../src/cleanup/bindings.ts');
    expect(bindingClusterId(credential, SUB, ownLedger)).toBe(clusterId.toLowerCase());
    expect(bindingClusterId(credential, SUB, { ...ownLedger, bindings: [] })).toBe('');
    expect(bindingClusterId(credential, SUB, undefined)).toBe('');
  });

  it('deletes the binding its own ledger records, and only that one', async () => {
    const { planBindingCleanup } = await import('../../../src/cleanup/bindings.ts');
    const live = [
      { name, identityResourceId: MI, provisioningState: 'Succeeded' },
      { name: 'kvreader', identityResourceId: MI, provisioningState: 'Succeeded' },
    ];
    const steps = planBindingCleanup({ manifest: credential, subscriptionId: SUB, clusterId: clusterId.toLowerCase(), rbac: [], bindings: live, ledgers: [ownLedger] });
    expect(steps.map((s) => [s.item.kind, s.item.name, s.item.action])).toEqual([['identity-binding', `aks-a/${name}`, 'delete']]);
    expect(planBindingCleanup({ manifest: credential, subscriptionId: SUB, clusterId: clusterId.toLowerCase(), rbac: [], bindings: live, ledgers: [] })).toEqual([]);
  });
});

describe('gate diagnosis of identity-binding mounts', () => {
  const target = fleetManifest(1).targets[0]!;
  it('names the token proxy refusal in its own words and the RBAC fix', async () => {
    const { classifyMountFailure } = await import('../../../src/gate/diagnose.ts');
    const message =
      'MountVolume.SetUp failed for volume "kv" : rpc error: code = Unknown desc = failed to mount secrets store objects for pod team-0/app-1, err: rpc error: code = Unknown desc = failed to mount objects, error: failed to get objectType:secret, objectName:db-password, objectVersion:: ClientAssertionCredential authentication failed. \nPOST https://kubernetes.default.svc.cluster.local/t/oauth2/v2.0/token\n--------------------------------------------------------------------------------\nRESPONSE 403: 403 Forbidden\n--------------------------------------------------------------------------------\n{\n  "error": "unauthorized_client",\n  "error_description": "system:serviceaccount:team-0:app is not allowed to use-managed-identity 3f0c1b2a-1111-4222-8333-944455556666 (cid.wi.aks.azure.com): no RBAC rule grants it"\n}\n';
    const d = classifyMountFailure(message, { namespace: 'team-0', pod: 'app-1', target });
    expect(d.cause).toBe('binding-not-allowed');
    expect(d.message).toBe(
      `the AKS token proxy refused service account team-0/app: system:serviceaccount:team-0:app is not allowed to use-managed-identity ${CLIENT} (cid.wi.aks.azure.com): no RBAC rule grants it`,
    );
    expect(d.fix).toContain(`use-managed-identity on resource ${CLIENT} of API group cid.wi.aks.azure.com`);
  });
  it('names a CSIDriver without the identity-binding audience', async () => {
    const { classifyMountFailure } = await import('../../../src/gate/diagnose.ts');
    const d = classifyMountFailure(
      '... failed to build auth config for mode AzureTokenProxy: failed to parse service account token for identity binding, error: token for audience api://AKSIdentityBinding not found',
      { target },
    );
    expect(d.cause).toBe('binding-token-missing');
    expect(d.fix).toMatch(/spec\.tokenRequests of CSIDriver secrets-store\.csi\.k8s\.io/);
  });
});
