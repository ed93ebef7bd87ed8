import { describe, expect, it } from '@jest/globals';
import type { MountedObject, TargetSpec } from '../../../src/manifest/types.ts';
import type { PlanItem } from '../../../src/plan/types.ts';
import { federatedCredentialName } from '../../../src/identity/plan.ts';
import { planProof } from '../../../src/identity/prove-plan.ts';
import type { NamespaceIdentity } from '../../../src/identity/model.ts';

const CLUSTER = 'aks-prod';
const VAULT = 'kv-app';
const obj = (secret: string, objectType: MountedObject['objectType'] = 'secret'): MountedObject => ({ secret, objectType });

function target(ns: string, scope: 'vault' | 'object', objects: MountedObject[]): TargetSpec {
  return {
    namespace: ns,
    createNamespace: false,
    serviceAccount: 'app',
    identity: { mode: 'managed', name: `id-${ns}`, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { role: 'Key Vault Secrets User', scope },
    secretProviderClass: 'app',
    objects,
    rotation: 'restart',
  } as unknown as TargetSpec;
}
const ident = (ns: string): NamespaceIdentity => ({ namespace: ns, mode: 'managed', name: `id-${ns}`, clientId: `client-${ns}`, principalId: `p-${ns}`, serviceAccounts: ['app'] });

/** The unchanged items of a target's chain, as the identity and Kubernetes steps report them. */
function unchanged(ns: string, scope: 'vault' | 'object', objects: MountedObject[]): PlanItem[] {
  const scopes = scope === 'vault' ? [`vaults/${VAULT}`] : objects.map((o) => `vaults/${VAULT}/${o.objectType === 'key' ? 'keys' : o.objectType === 'cert' ? 'certificates' : 'secrets'}/${o.secret}`);
  return [
    { kind: 'identity', name: `rg-ids/id-${ns}`, namespace: ns, action: 'unchanged' },
    { kind: 'federated-credential', name: `id-${ns}/${federatedCredentialName(CLUSTER, ns, 'app')}`, namespace: ns, action: 'unchanged' },
    ...scopes.map((s): PlanItem => ({ kind: 'role-assignment', name: `Key Vault Secrets User for id-${ns} at ${s}`, namespace: ns, action: 'unchanged' })),
    { kind: 'service-account', name: `${ns}/app`, namespace: ns, action: 'unchanged' },
    { kind: 'secret-provider-class', name: `${ns}/app`, namespace: ns, action: 'unchanged' },
  ];
}
const change = (items: PlanItem[], kind: PlanItem['kind'], action: PlanItem['action'] = 'create', nameIncludes = ''): PlanItem[] =>
  items.map((i) => (i.kind === kind && i.name.includes(nameIncludes) ? { ...i, action } : i));

const plan = (mode: 'always' | 'changed' | 'never', targets: TargetSpec[], items: PlanItem[]) =>
  planProof(mode, { targets, identities: targets.map((t) => ident(t.namespace)), items, cluster: CLUSTER, vaultName: VAULT }).map((p) => ({
    ns: p.target.namespace,
    objects: p.objects.map((o) => o.secret),
  }));

describe('planProof', () => {
  const objs = [obj('db'), obj('api'), obj('signing', 'key')];
  const a = target('a', 'vault', objs);
  const b = target('b', 'vault', objs);

  it('changed (default): a no-op proves nothing (no secret read, no pod token)', () => {
    expect(plan('changed', [a, b], [...unchanged('a', 'vault', objs), ...unchanged('b', 'vault', objs)])).toEqual([]);
  });

  it('changed: only the target whose chain changed, one read per type under a vault-wide grant', () => {
    for (const kind of ['identity', 'federated-credential', 'role-assignment', 'service-account', 'secret-provider-class'] as const) {
      const items = [...change(unchanged('a', 'vault', objs), kind, kind === 'federated-credential' ? 'update' : 'create'), ...unchanged('b', 'vault', objs)];
      expect({ kind, proofs: plan('changed', [a, b], items) }).toEqual({ kind, proofs: [{ ns: 'a', objects: ['db', 'signing'] }] });
    }
  });

  it('changed: per-object grants prove each object whose grant is new', () => {
    const t = target('c', 'object', objs);
    expect(plan('changed', [t], change(unchanged('c', 'object', objs), 'role-assignment', 'create', '/secrets/api'))).toEqual([{ ns: 'c', objects: ['api'] }]);
  });

  it("changed: another target's identity with a similar name does not count", () => {
    const items = [...unchanged('a', 'vault', objs), { kind: 'identity', name: 'rg-ids/id-a-2', namespace: 'a-2', action: 'create' } as PlanItem];
    expect(plan('changed', [a], items)).toEqual([]);
  });

  it('always: every object of every target; never: nothing', () => {
    const items = [...unchanged('a', 'vault', objs), ...unchanged('b', 'vault', objs)];
    expect(plan('always', [a, b], items)).toEqual([
      { ns: 'a', objects: ['db', 'api', 'signing'] },
      { ns: 'b', objects: ['db', 'api', 'signing'] },
    ]);
    expect(plan('never', [a, b], change(items, 'identity'))).toEqual([]);
  });
});
