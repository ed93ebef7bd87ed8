import { describe, expect, it } from '@jest/globals';
import type { TargetSpec } from '../../../src/manifest/types.ts';
import type { PlanItem } from '../../../src/plan/types.ts';
import { identityBindingName } from '../../../src/identity/bindings.ts';
import { planBindingProof } from '../../../src/identity/prove-binding-plan.ts';
import type { NamespaceIdentity } from '../../../src/identity/model.ts';

const ID = 'id-fleet';
const RID = `/subscriptions/s/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${ID}`;
const CLIENT = '11111111-2222-3333-4444-555555555555';
const BINDING = identityBindingName(RID, ID);

function target(ns: string, federation: 'binding' | 'credential' = 'binding'): TargetSpec {
  return {
    namespace: ns,
    createNamespace: false,
    serviceAccount: 'app',
    identity: { mode: 'managed', name: ID, resourceGroup: 'rg-ids', location: 'westeurope' },
    federation,
    access: { role: 'Key Vault Secrets User', scope: 'vault' },
    secretProviderClass: 'kv',
    objects: [{ secret: 'db', objectType: 'secret' }],
    rotation: 'restart',
  } as unknown as TargetSpec;
}
const ident = (ns: string): NamespaceIdentity => ({ namespace: ns, mode: 'managed', name: ID, clientId: CLIENT, resourceId: RID, serviceAccounts: ['app'], federation: 'binding' });

/** A converged bound chain of namespaces a and b, as the identity and Kubernetes steps report it. */
const unchanged: PlanItem[] = [
  { kind: 'identity', name: `rg-ids/${ID}`, action: 'unchanged' },
  { kind: 'identity-binding', name: `aks-a/${BINDING}`, action: 'unchanged' },
  { kind: 'role-assignment', name: `Key Vault Secrets User for ${ID} at vaults/kv`, action: 'unchanged' },
  { kind: 'cluster-role', name: `akv-aks-k1-use-mi-${CLIENT}`, action: 'unchanged' },
  { kind: 'cluster-role-binding', name: `akv-aks-k1-use-mi-${CLIENT}`, action: 'unchanged' },
  ...['a', 'b'].flatMap((ns): PlanItem[] => [
    { kind: 'service-account', name: `${ns}/app`, namespace: ns, action: 'unchanged' },
    { kind: 'secret-provider-class', name: `${ns}/kv`, namespace: ns, action: 'unchanged' },
  ]),
];
const change = (kind: PlanItem['kind'], name = ''): PlanItem[] => unchanged.map((i) => (i.kind === kind && i.name.includes(name) ? { ...i, action: 'create' as const } : i));

const plan = (mode: 'always' | 'changed' | 'never', items: PlanItem[], targets = [target('a'), target('b')]) =>
  planBindingProof(mode, { targets, identities: targets.map((t) => ident(t.namespace)), items }).map((p) => `${p.namespace}/${p.serviceAccount} ${p.clientId}`);

describe('planBindingProof', () => {
  it('changed: a converged bound chain is not checked', () => {
    expect(plan('changed', unchanged)).toEqual([]);
  });

  it('changed: what the whole identity depends on (identity, binding, RBAC, grant) checks every bound service account', () => {
    for (const kind of ['identity', 'identity-binding', 'cluster-role', 'cluster-role-binding', 'role-assignment'] as const) {
      expect({ kind, proofs: plan('changed', change(kind)) }).toEqual({ kind, proofs: [`a/app ${CLIENT}`, `b/app ${CLIENT}`] });
    }
  });

  it('changed: a service account or SecretProviderClass checks only its namespace', () => {
    expect(plan('changed', change('service-account', 'b/'))).toEqual([`b/app ${CLIENT}`]);
    expect(plan('changed', change('secret-provider-class', 'a/'))).toEqual([`a/app ${CLIENT}`]);
  });

  it('changed: a binding written under another name (one made by hand) is matched by its reason', () => {
    const items = unchanged.map((i) => (i.kind === 'identity-binding' ? { ...i, name: 'aks-a/handmade', action: 'update' as const, reason: `binds ${ID}` } : i));
    expect(plan('changed', items)).toHaveLength(2);
  });

  it('always checks every bound service account; never none; credential targets are the other proof', () => {
    expect(plan('always', unchanged)).toEqual([`a/app ${CLIENT}`, `b/app ${CLIENT}`]);
    expect(plan('never', change('cluster-role-binding'))).toEqual([]);
    expect(plan('always', unchanged, [target('a', 'credential'), target('b')])).toEqual([`b/app ${CLIENT}`]);
  });

  it('one check per (service account, identity) and none without a client id (identity not created yet)', () => {
    expect(plan('always', unchanged, [target('a'), target('a')])).toEqual([`a/app ${CLIENT}`]);
    expect(planBindingProof('always', { targets: [target('a')], identities: [{ ...ident('a'), clientId: undefined }], items: unchanged })).toEqual([]);
  });
});
