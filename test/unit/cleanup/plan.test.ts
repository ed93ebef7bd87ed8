// The pure clean-up planner: what is deleted, in which order, what is kept and why (fakes only).
import { describe, expect, test } from '@jest/globals';
import { planCleanup } from '../../../src/cleanup/plan.ts';
import type { CleanupInput, CleanupStep, FoundRoleAssignment, IdentityFound, KubeFound } from '../../../src/cleanup/plan.ts';
import { federatedCredentialName, groupIdentities, roleAssignmentName } from '../../../src/identity/plan.ts';
import type { Manifest, TargetSpec } from '../../../src/manifest/types.ts';
import { instanceId } from '../../../src/render/labels.ts';
import { normalizeLedger } from '../../../src/ledger/model.ts';
import type { GrantLedger } from '../../../src/ledger/model.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import { ACTION_NAME, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../../../src/names.ts';

const SUB = '00000000-0000-0000-0000-00000000aaaa';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-app`;
const USER_ROLE = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;
const ISSUER = 'https://127.0.0.1:27643';
const PID_PAY = 'aaaaaaaa-0000-0000-0000-000000000001';
const PID_EXT = 'bbbbbbbb-0000-0000-0000-000000000002';

function target(namespace: string, over: Partial<TargetSpec> = {}): TargetSpec {
  return {
    namespace,
    createNamespace: true,
    serviceAccount: 'api',
    identity: { mode: 'managed', name: `id-c1-${namespace}`, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: `${namespace}-spc`,
    objects: [{ secret: 'db-password', objectType: 'secret' }],
    rotation: 'restart',
    ...over,
  };
}

function manifest(targets: TargetSpec[], over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: 'c1' }),
    vault: { name: 'kv-app', resourceGroup: 'rg-sandbox' },
    cluster: { name: 'c1' },
    identityDefaults: { tags: {} },
    secrets: [
      { name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false },
      { name: 'api-key', source: { kind: 'generate', length: 24, charset: 'hex' }, tags: {}, adopt: false },
      { name: 'tls-cert', source: { kind: 'existing', objectType: 'cert' }, tags: {}, adopt: false },
    ],
    targets,
    prune: false,
    purge: false,
    ...over,
  };
}

const ownedLabels = (m: Manifest): Record<string, string> => ({ [MANAGED_BY_LABEL]: ACTION_NAME, [INSTANCE_LABEL]: instanceId(m) });

function kubeObj(m: Manifest, kind: KubeFound['kind'], name: string, namespace?: string, over: Partial<KubeFound> = {}): KubeFound {
  return { kind, name, namespace, labels: ownedLabels(m), managers: ['akv-aks-action'], uid: `uid-${kind}-${name}`, resourceVersion: '7', ...over };
}

/** Everything apply would have created for `m` (one namespace), all owned. */
function appliedKube(m: Manifest, ns: string): KubeFound[] {
  return [kubeObj(m, 'Namespace', ns), kubeObj(m, 'ServiceAccount', 'api', ns), kubeObj(m, 'SecretProviderClass', `${ns}-spc`, ns)];
}

const ownedAssignment = (principalId: string, scope = VAULT_ID): FoundRoleAssignment => ({
  name: roleAssignmentName(scope, principalId, USER_ROLE),
  scope,
  roleDefinitionId: USER_ROLE,
  principalId,
});

function identities(m: Manifest, over: (g: IdentityFound) => Partial<IdentityFound> = () => ({})): IdentityFound[] {
  return groupIdentities(m, SUB).map((g) => {
    const base: IdentityFound = { key: g.key, spec: g.spec, targets: g.targets, exists: true, subscriptionId: SUB, credentials: [], roleAssignments: [] };
    if (g.spec.mode === 'managed' || g.spec.mode === 'existing') {
      base.tags = g.spec.mode === 'managed' ? { 'managed-by': 'akv-aks-action' } : {};
      base.principalId = PID_PAY;
      base.credentials = g.targets.map((t) => ({
        name: federatedCredentialName(m.cluster.name, t.namespace, t.serviceAccount!),
        issuer: ISSUER,
        subject: `system:serviceaccount:${t.namespace}:${t.serviceAccount!}`,
        audiences: ['api://AzureADTokenExchange'],
      }));
      base.roleAssignments = [ownedAssignment(PID_PAY)];
    } else if (g.spec.mode === 'external') {
      base.principalId = g.spec.principalId;
      base.roleAssignments = [ownedAssignment(g.spec.principalId)];
    }
    return { ...base, ...over(base) };
  });
}

function input(m: Manifest, over: Partial<CleanupInput> = {}): CleanupInput {
  return {
    manifest: m,
    vault: { id: VAULT_ID, name: 'kv-app', rbac: true, tenantId: TENANT },
    kube: {
      objects: appliedKube(m, 'pay'),
      content: {
        pay: [
          { kind: 'ServiceAccount', name: 'default' },
          { kind: 'ConfigMap', name: 'kube-root-ca.crt' },
          { kind: 'ServiceAccount', name: 'api' },
          { kind: 'SecretProviderClass', name: 'pay-spc' },
        ],
      },
    },
    identities: identities(m),
    issuer: ISSUER,
    roleNames: new Map([['4633458b-17de-408a-b874-0445c86b69e6', 'Key Vault Secrets User']]),
    ...over,
  };
}

const lines = (steps: CleanupStep[]): string[] => steps.map((s) => `${s.item.action} ${s.item.kind} ${s.item.name}`);
const find = (steps: CleanupStep[], kind: string, name: string): CleanupStep => {
  const s = steps.find((x) => x.item.kind === kind && x.item.name === name);
  if (!s) throw new Error(`no ${kind} ${name} in ${lines(steps).join('; ')}`);
  return s;
};

describe('planCleanup: order and ownership', () => {
  test('everything apply created is deleted, in the reverse order of creation; secrets stay by default', () => {
    const m = manifest([target('pay')]);
    const steps = planCleanup(input(m));
    const fic = federatedCredentialName('c1', 'pay', 'api');
    expect(lines(steps)).toEqual([
      'delete secret-provider-class pay/pay-spc',
      'delete service-account pay/api',
      'delete namespace pay',
      'delete role-assignment Key Vault Secrets User for id-c1-pay at vaults/kv-app',
      `delete federated-credential id-c1-pay/${fic}`,
      'delete identity rg-ids/id-c1-pay',
      'keep secret db-password',
      'keep secret api-key',
      'keep secret tls-cert',
    ]);
    // Every delete carries the exact operation; nothing else does.
    for (const s of steps) expect(s.op !== undefined).toBe(s.item.action === 'delete');
    expect(find(steps, 'service-account', 'pay/api').op).toEqual({
      kind: 'kube',
      apiVersion: 'v1',
      objectKind: 'ServiceAccount',
      name: 'api',
      namespace: 'pay',
      uid: 'uid-ServiceAccount-api',
      resourceVersion: '7',
    });
    expect(find(steps, 'role-assignment', 'Key Vault Secrets User for id-c1-pay at vaults/kv-app').op).toEqual({
      kind: 'role-assignment',
      scope: VAULT_ID,
      name: roleAssignmentName(VAULT_ID, PID_PAY, USER_ROLE),
    });
    expect(find(steps, 'identity', 'rg-ids/id-c1-pay').op).toEqual({ kind: 'identity', subscriptionId: SUB, resourceGroup: 'rg-ids', name: 'id-c1-pay' });
    expect(find(steps, 'secret', 'db-password').item.reason).toMatch(/cleanup\.deleteSecrets/);
    expect(find(steps, 'secret', 'tls-cert').item.reason).toMatch(/existing secret/);
  });

  test('look-alike Kubernetes objects without both labels, or of another manifest, are kept', () => {
    const m = manifest([target('pay')]);
    const other = { ...ownedLabels(m), [INSTANCE_LABEL]: 'kv-other--c9' };
    const objects = [
      kubeObj(m, 'Namespace', 'pay', undefined, { labels: {} }),
      kubeObj(m, 'ServiceAccount', 'api', 'pay', { labels: { [MANAGED_BY_LABEL]: ACTION_NAME } }),
      kubeObj(m, 'SecretProviderClass', 'pay-spc', 'pay', { labels: other }),
    ];
    const steps = planCleanup(input(m, { kube: { objects, content: {} } }));
    expect(find(steps, 'namespace', 'pay').item).toMatchObject({ action: 'keep', reason: expect.stringMatching(/not created by the action/) });
    expect(find(steps, 'service-account', 'pay/api').item).toMatchObject({ action: 'keep', reason: expect.stringMatching(/lacks the .* labels/) });
    expect(find(steps, 'secret-provider-class', 'pay/pay-spc').item).toMatchObject({ action: 'keep', reason: 'belongs to another manifest (akv-aks-action/instance=kv-other--c9)' });
    expect(steps.filter((s) => s.op?.kind === 'kube')).toEqual([]);
  });

  test('an owned object another field manager changed is kept, and so is its namespace', () => {
    const m = manifest([target('pay')]);
    const objects = appliedKube(m, 'pay').map((o) => (o.kind === 'ServiceAccount' ? { ...o, managers: ['akv-aks-action', 'kubectl-annotate'] } : o));
    const steps = planCleanup(input(m, { kube: { objects, content: input(m).kube.content } }));
    expect(find(steps, 'service-account', 'pay/api').item).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^also changed by kubectl-annotate/) });
    expect(find(steps, 'secret-provider-class', 'pay/pay-spc').item.action).toBe('delete');
    expect(find(steps, 'namespace', 'pay').item).toMatchObject({ action: 'keep', reason: 'holds objects the action does not own: ServiceAccount/api' });
  });

  test('an owned namespace with anything else in it is kept; the defaults Kubernetes adds do not count', () => {
    const m = manifest([target('pay')]);
    const base = input(m).kube.content.pay!;
    const busy = planCleanup(
      input(m, { kube: { objects: appliedKube(m, 'pay'), content: { pay: [...base, { kind: 'Deployment', name: 'web' }, { kind: 'SecretProviderClass', name: 'not-ours' }] } } }),
    );
    expect(find(busy, 'namespace', 'pay').item).toMatchObject({ action: 'keep', reason: 'holds objects the action does not own: Deployment/web, SecretProviderClass/not-ours' });
    expect(find(busy, 'service-account', 'pay/api').item.action).toBe('delete');
    const unknown = planCleanup(input(m, { kube: { objects: appliedKube(m, 'pay'), content: { pay: [{ kind: 'Role', name: '(cannot list: HTTP 403)' }] } } }));
    expect(find(unknown, 'namespace', 'pay').item.action).toBe('keep');
  });

  test('a namespace the manifest does not create and that is not labelled is never deleted', () => {
    const m = manifest([target('pay', { createNamespace: false })]);
    const objects = appliedKube(m, 'pay').filter((o) => o.kind !== 'Namespace');
    const steps = planCleanup(input(m, { kube: { objects, content: {} } }));
    expect(steps.some((s) => s.item.kind === 'namespace')).toBe(false);
    expect(find(steps, 'service-account', 'pay/api').item.action).toBe('delete');
  });

  test('labelled objects the manifest no longer declares are deleted too (they belong to this instance)', () => {
    const m = manifest([target('pay')]);
    const objects = [...appliedKube(m, 'pay'), kubeObj(m, 'SecretProviderClass', 'old-spc', 'pay')];
    const steps = planCleanup(input(m, { kube: { objects, content: { pay: [...input(m).kube.content.pay!, { kind: 'SecretProviderClass', name: 'old-spc' }] } } }));
    expect(lines(steps).slice(0, 4)).toEqual(['delete secret-provider-class pay/old-spc', 'delete secret-provider-class pay/pay-spc', 'delete service-account pay/api', 'delete namespace pay']);
  });

  test('a second clean-up finds nothing: every item unchanged, no operation', () => {
    const m = manifest([target('pay')]);
    const steps = planCleanup(input(m, { kube: { objects: [], content: {} }, identities: identities(m, () => ({ exists: false, principalId: undefined, credentials: [], roleAssignments: [] })) }));
    expect(steps.filter((s) => s.op)).toEqual([]);
    expect(lines(steps)).toEqual([
      'unchanged secret-provider-class pay/pay-spc',
      'unchanged service-account pay/api',
      'unchanged namespace pay',
      'unchanged identity rg-ids/id-c1-pay',
      'keep secret db-password',
      'keep secret api-key',
      'keep secret tls-cert',
    ]);
  });

  test('objects already being deleted are not deleted again', () => {
    const m = manifest([target('pay')]);
    const objects = appliedKube(m, 'pay').map((o) => ({ ...o, deleting: o.kind === 'Namespace' }));
    const steps = planCleanup(input(m, { kube: { objects, content: {} } }));
    expect(find(steps, 'namespace', 'pay').item).toMatchObject({ action: 'unchanged', reason: 'already being deleted' });
  });
});

describe('planCleanup: identities, federation, grants', () => {
  test('an identity without the ownership tag is kept, but the credentials and grants the action made on it go', () => {
    const m = manifest([target('pay')]);
    const steps = planCleanup(input(m, { identities: identities(m, () => ({ tags: { team: 'payments' } })) }));
    expect(find(steps, 'identity', 'rg-ids/id-c1-pay').item).toMatchObject({ action: 'keep', reason: 'not created by the action (no managed-by: akv-aks-action tag)' });
    expect(steps.filter((s) => s.item.kind === 'federated-credential' || s.item.kind === 'role-assignment').map((s) => s.item.action)).toEqual(['delete', 'delete']);
  });

  test('existing, external and kubelet identities are never deleted; the action-named assignment of an external one goes', () => {
    const m = manifest([
      target('pay', { identity: { mode: 'existing', name: 'id-shared', resourceGroup: 'rg-ids' } }),
      target('ext', { identity: { mode: 'external', clientId: 'cccccccc-0000-0000-0000-000000000003', principalId: PID_EXT } }),
      target('kub', { serviceAccount: undefined, identity: { mode: 'kubelet', clientId: 'dddddddd-0000-0000-0000-000000000004', principalId: 'dddddddd-0000-0000-0000-0000000000d4' } }),
    ]);
    const steps = planCleanup(input(m, { kube: { objects: [], content: {} } }));
    expect(steps.filter((s) => s.item.kind === 'identity').map((s) => `${s.item.name} ${s.item.action} ${s.item.reason ?? ''}`)).toEqual([
      'rg-ids/id-shared keep existing identity: never deleted',
      'cccccccc-0000-0000-0000-000000000003 keep external identity: never deleted',
      'dddddddd-0000-0000-0000-000000000004 keep kubelet identity: never deleted',
    ]);
    expect(find(steps, 'role-assignment', `Key Vault Secrets User for cccccccc-0000-0000-0000-000000000003 at vaults/kv-app`).item.action).toBe('delete');
    expect(find(steps, 'federated-credential', `id-shared/${federatedCredentialName('c1', 'pay', 'api')}`).item.action).toBe('delete');
    // Kubelet targets have no service account to look for.
    expect(steps.some((s) => s.item.kind === 'service-account' && s.item.namespace === 'kub')).toBe(false);
  });

  test('look-alike credentials and assignments are kept, and keep the identity alive', () => {
    const m = manifest([target('pay')]);
    const foreignFic = {
      name: 'github-deploy',
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:contoso/payments:ref:refs/heads/main',
      audiences: ['api://AzureADTokenExchange'],
    };
    // The action's name pattern but for another cluster, and the right name with another issuer.
    const otherCluster = { name: federatedCredentialName('c2', 'pay', 'api'), issuer: ISSUER, subject: 'system:serviceaccount:pay:api' };
    const steps = planCleanup(input(m, { identities: identities(m, (g) => ({ credentials: [...g.credentials, foreignFic, otherCluster] })) }));
    expect(find(steps, 'federated-credential', 'id-c1-pay/github-deploy').item).toMatchObject({ action: 'keep', reason: 'not created by the action for cluster c1' });
    expect(find(steps, 'federated-credential', `id-c1-pay/${otherCluster.name}`).item.action).toBe('keep');
    expect(find(steps, 'federated-credential', `id-c1-pay/${federatedCredentialName('c1', 'pay', 'api')}`).item.action).toBe('delete');
    expect(find(steps, 'identity', 'rg-ids/id-c1-pay').item).toMatchObject({ action: 'keep', reason: 'still holds 2 federated credential(s) the action did not create' });

    const otherIssuer = planCleanup(input(m, { issuer: 'https://oidc.example/other/' }));
    expect(find(otherIssuer, 'federated-credential', `id-c1-pay/${federatedCredentialName('c1', 'pay', 'api')}`).item).toMatchObject({
      action: 'keep',
      reason: `issuer differs from this cluster's (${ISSUER})`,
    });
    expect(find(otherIssuer, 'identity', 'rg-ids/id-c1-pay').item.action).toBe('keep');

    const randomName: FoundRoleAssignment = { ...ownedAssignment(PID_PAY), name: '0b6f3c2a-1111-4222-8333-944455556666' };
    const elsewhere = ownedAssignment(PID_PAY, `/subscriptions/${SUB}/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/st1`);
    const ra = planCleanup(input(m, { identities: identities(m, (g) => ({ roleAssignments: [...g.roleAssignments, randomName, elsewhere] })) }));
    const raItems = ra.filter((s) => s.item.kind === 'role-assignment').map((s) => s.item.action);
    // The look-alike at the vault is listed and kept; the one elsewhere is not the vault's business but counts.
    expect(raItems.sort()).toEqual(['delete', 'keep']);
    expect(find(ra, 'identity', 'rg-ids/id-c1-pay').item).toMatchObject({ action: 'keep', reason: 'still holds 2 role assignment(s) the action did not create' });
  });

  test('per-secret grants: one delete per action-named assignment below the vault', () => {
    const m = manifest([target('pay', { access: { scope: 'secret', role: 'Key Vault Secrets User' } })]);
    const scope = `${VAULT_ID}/secrets/db-password`;
    const steps = planCleanup(input(m, { identities: identities(m, () => ({ roleAssignments: [ownedAssignment(PID_PAY, scope)] })) }));
    expect(find(steps, 'role-assignment', 'Key Vault Secrets User for id-c1-pay at vaults/kv-app/secrets/db-password').op).toEqual({
      kind: 'role-assignment',
      scope,
      name: roleAssignmentName(scope, PID_PAY, USER_ROLE),
    });
  });

  test('access-policy vault: only the permissions the action grants are removed, only for identities it created', () => {
    const m = manifest([target('pay'), target('ext', { identity: { mode: 'external', clientId: 'cccccccc-0000-0000-0000-000000000003', principalId: PID_EXT } })]);
    const vault = {
      id: VAULT_ID,
      name: 'kv-app',
      rbac: false,
      tenantId: TENANT,
      accessPolicies: [
        { tenantId: TENANT, objectId: PID_PAY, permissions: { secrets: ['get', 'list'] } },
        { tenantId: TENANT, objectId: PID_EXT, permissions: { secrets: ['get'] } },
      ],
    };
    const steps = planCleanup(input(m, { vault, kube: { objects: [], content: {} }, identities: identities(m, () => ({ roleAssignments: [] })) }));
    expect(find(steps, 'access-policy', 'kv-app for id-c1-pay')).toEqual({
      item: { kind: 'access-policy', name: 'kv-app for id-c1-pay', namespace: 'pay', action: 'delete', reason: 'secrets: get (other permissions stay)' },
      op: { kind: 'access-policy', tenantId: TENANT, objectId: PID_PAY, applicationId: undefined, permissions: { secrets: ['get'], keys: [], certificates: [] } },
    });
    expect(find(steps, 'access-policy', 'kv-app for cccccccc-0000-0000-0000-000000000003').item).toMatchObject({
      action: 'keep',
      reason: expect.stringMatching(/not recorded as added by the action/),
    });
    expect(steps.some((s) => s.item.kind === 'role-assignment')).toBe(false);
    expect(find(steps, 'identity', 'rg-ids/id-c1-pay').item.action).toBe('delete');
  });
});

describe('planCleanup: grant ledgers (shared and external grants)', () => {
  const KUBELET = 'dddddddd-0000-0000-0000-000000000004';
  const kubeletTarget = (ns: string): TargetSpec => target(ns, { serviceAccount: undefined, identity: { mode: 'kubelet', clientId: 'eeeeeeee-0000-0000-0000-000000000005', principalId: KUBELET } });
  const policyVault = (perms: string[]) => ({
    id: VAULT_ID,
    name: 'kv-app',
    rbac: false,
    tenantId: TENANT,
    accessPolicies: [{ tenantId: TENANT, objectId: KUBELET, permissions: { secrets: perms } }],
  });
  const ledger = (instance: string, added: string[], manifestPath = `deploy/${instance}.yaml`): GrantLedger =>
    normalizeLedger({
      instance,
      manifest: manifestPath,
      assignments: [],
      policies: { [KUBELET]: { secrets: ['get'], keys: [], certificates: [] } },
      added: { [KUBELET]: { secrets: added, keys: [], certificates: [] } },
    });
  const m = manifest([kubeletTarget('pay')]);
  const mine = instanceId(m);
  const item = (steps: CleanupStep[]): CleanupStep => find(steps, 'access-policy', 'kv-app for eeeeeeee-0000-0000-0000-000000000005');

  test('a kubelet identity: the permission the ledger says the action added is removed, then the ledger itself', () => {
    const steps = planCleanup(
      input(m, { vault: policyVault(['get', 'list']), kube: { objects: [], content: {} }, identities: identities(m, () => ({ principalId: KUBELET })), ledgers: [ledger(mine, ['get'])] }),
    );
    expect(item(steps)).toEqual({
      item: { kind: 'access-policy', name: 'kv-app for eeeeeeee-0000-0000-0000-000000000005', namespace: 'pay', action: 'delete', reason: 'secrets: get (other permissions stay)' },
      op: { kind: 'access-policy', tenantId: TENANT, objectId: KUBELET, applicationId: undefined, permissions: { secrets: ['get'], keys: [], certificates: [] } },
    });
    expect(find(steps, 'identity', 'eeeeeeee-0000-0000-0000-000000000005').item.action).toBe('keep');
    const last = steps.filter((s) => s.op).at(-1);
    expect(last).toEqual({
      item: { kind: 'secret', name: `akv-aks-grants-${mine}`, action: 'delete', reason: "this manifest's grant ledger (value-free state, recoverable)" },
      op: { kind: 'secret', name: `akv-aks-grants-${mine}`, purge: false, alreadyDeleted: false },
    });
  });

  test('a permission that was there before the action claimed it stays', () => {
    const steps = planCleanup(input(m, { vault: policyVault(['get']), kube: { objects: [], content: {} }, identities: identities(m, () => ({ principalId: KUBELET })), ledgers: [ledger(mine, [])] }));
    expect(item(steps).item).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^secrets: get not recorded as added by the action/) });
    expect(item(steps).op).toBeUndefined();
  });

  test('a permission another manifest relies on stays, named by that manifest, whoever added it', () => {
    const other = ledger('kv-app--c2', ['get'], 'deploy/c2.yaml');
    for (const own of [ledger(mine, ['get']), ledger(mine, [])]) {
      const steps = planCleanup(input(m, { vault: policyVault(['get']), kube: { objects: [], content: {} }, identities: identities(m, () => ({ principalId: KUBELET })), ledgers: [own, other] }));
      expect(item(steps).item).toMatchObject({ action: 'keep', reason: 'still relied on by deploy/c2.yaml (kv-app--c2)' });
      // Its own ledger still goes; the other manifest's stays.
      expect(steps.filter((s) => s.op?.kind === 'secret').map((s) => s.item.name)).toEqual([`akv-aks-grants-${mine}`]);
    }
  });

  test('a role assignment another manifest relies on (same principal, role, scope) is kept; without that claim it goes', () => {
    const ext = manifest([target('ext', { identity: { mode: 'external', clientId: 'cccccccc-0000-0000-0000-000000000003', principalId: PID_EXT } })]);
    const ra = ownedAssignment(PID_EXT);
    const claim = (instance: string): GrantLedger => normalizeLedger({ instance, manifest: `deploy/${instance}.yaml`, assignments: [ra.name], policies: {}, added: {} });
    const shared = planCleanup(input(ext, { kube: { objects: [], content: {} }, ledgers: [claim(instanceId(ext)), claim('kv-app--c2')] }));
    expect(find(shared, 'role-assignment', 'Key Vault Secrets User for cccccccc-0000-0000-0000-000000000003 at vaults/kv-app').item).toMatchObject({
      action: 'keep',
      reason: 'created by the action, still relied on by deploy/kv-app--c2.yaml (kv-app--c2)',
    });
    const alone = planCleanup(input(ext, { kube: { objects: [], content: {} }, ledgers: [claim(instanceId(ext))] }));
    expect(find(alone, 'role-assignment', 'Key Vault Secrets User for cccccccc-0000-0000-0000-000000000003 at vaults/kv-app')).toMatchObject({
      item: { action: 'delete' },
      op: { kind: 'role-assignment', name: ra.name },
    });
  });
});

describe('planCleanup: an identity of this manifest whose grant another manifest shares', () => {
  test('the grant and the identity stay, both naming the other manifest', () => {
    const m = manifest([target('pay')]);
    const claim = normalizeLedger({ instance: 'kv-app--c2', manifest: 'c2.yaml', assignments: [ownedAssignment(PID_PAY).name], policies: {}, added: {} });
    const steps = planCleanup(input(m, { ledgers: [claim] }));
    expect(find(steps, 'role-assignment', 'Key Vault Secrets User for id-c1-pay at vaults/kv-app').item).toMatchObject({
      action: 'keep',
      reason: 'created by the action, still relied on by c2.yaml (kv-app--c2)',
    });
    expect(find(steps, 'identity', 'rg-ids/id-c1-pay').item).toMatchObject({ action: 'keep', reason: 'its vault grant is still relied on by c2.yaml (kv-app--c2)' });
    // Its federated credential is this manifest's own: it goes.
    expect(find(steps, 'federated-credential', `id-c1-pay/${federatedCredentialName('c1', 'pay', 'api')}`).item.action).toBe('delete');
  });
});

describe('planCleanup: secrets', () => {
  const live = (tags: Record<string, string>) => (name: string) => [name.toLowerCase(), { name, tags }] as const;
  const owned = live({ 'managed-by': 'akv-aks-action' });

  test('deleteSecrets: only secrets the action wrote are soft-deleted; existing and untagged ones stay', () => {
    const m = manifest([target('pay')], { cleanup: { deleteSecrets: true, purge: false } });
    const secrets = { live: new Map([owned('db-password'), live({ team: 'x' })('api-key'), owned('tls-cert')]), deleted: new Map() };
    const steps = planCleanup(input(m, { secrets }));
    expect(steps.filter((s) => s.item.kind === 'secret').map((s) => `${s.item.name} ${s.item.action} ${s.item.reason ?? ''}`)).toEqual([
      'db-password delete soft-delete (recoverable)',
      'api-key keep not written by the action (no managed-by: akv-aks-action tag)',
      'tls-cert keep existing secret: never written by the action',
    ]);
    expect(find(steps, 'secret', 'db-password').op).toEqual({ kind: 'secret', name: 'db-password', purge: false, alreadyDeleted: false });
    // Secrets go last, after the identities.
    expect(steps.findIndex((s) => s.item.kind === 'secret')).toBeGreaterThan(steps.findIndex((s) => s.item.kind === 'identity'));
  });

  test('purge: live owned secrets are deleted then purged; owned soft-deleted ones purged; absent ones unchanged', () => {
    const m = manifest([target('pay')], { cleanup: { deleteSecrets: true, purge: true } });
    const secrets = { live: new Map([owned('db-password')]), deleted: new Map([owned('api-key')]) };
    const steps = planCleanup(input(m, { secrets }));
    expect(find(steps, 'secret', 'db-password')).toMatchObject({ item: { action: 'delete', reason: 'soft-delete, then purge (irreversible)' }, op: { purge: true, alreadyDeleted: false } });
    expect(find(steps, 'secret', 'api-key')).toMatchObject({ item: { action: 'delete' }, op: { purge: true, alreadyDeleted: true } });
    const none = planCleanup(input(m, { secrets: { live: new Map(), deleted: new Map() } }));
    expect(find(none, 'secret', 'db-password').item).toMatchObject({ action: 'unchanged', reason: 'not found' });
  });

  test('without purge a soft-deleted secret is left recoverable', () => {
    const m = manifest([target('pay')], { cleanup: { deleteSecrets: true, purge: false } });
    const steps = planCleanup(input(m, { secrets: { live: new Map(), deleted: new Map([owned('db-password')]) } }));
    expect(find(steps, 'secret', 'db-password').item).toMatchObject({ action: 'unchanged', reason: 'already deleted (recoverable)' });
  });
});
