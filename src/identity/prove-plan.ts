// Which targets the proof of access reads as, and which objects: pure, from the plan items the
// identity and Kubernetes steps returned. The proof exists to wait through the propagation of a
// chain this run changed; an unchanged chain is left to the gate (which checks what pods mounted),
// so a no-op deploy reads no secret value and exchanges no pod token.
import { usesBinding } from '../manifest/types.ts';
import type { MountedObject, TargetSpec } from '../manifest/types.ts';
import { isWrite, type PlanItem } from '../plan/types.ts';
import { federatedCredentialName, shortScope } from './plan.ts';
import type { NamespaceIdentity } from './model.ts';

/** `always`: every object of every target; `changed`: what this run changed; `never`: no proof. */
export const PROVE_MODES = ['always', 'changed', 'never'] as const;
export type ProveMode = (typeof PROVE_MODES)[number];

export interface ProofTarget {
  target: TargetSpec;
  /** The objects to read as the target's identity (at least one). */
  objects: MountedObject[];
  /** Why the target is proven (for the log). */
  why: string;
}

const collectionOf = (t: MountedObject['objectType']): string => (t === 'key' ? 'keys' : t === 'cert' ? 'certificates' : 'secrets');
const lower = (s: string | undefined): string => (s ?? '').toLowerCase();

/** True when the target's pods can use Workload ID (the proof reads as them). */
export function provable(t: TargetSpec): boolean {
  // A binding target's token is exchanged by the AKS token proxy inside the cluster, which the runner
  // does not reach: prove-binding-plan.ts checks the proxy's RBAC decision instead.
  return Boolean(t.serviceAccount) && t.identity.mode !== 'kubelet' && !usesBinding(t);
}

/** The identity the identity step resolved for a target (same rule as the proof's). */
export function identityOf(identities: readonly NamespaceIdentity[], t: TargetSpec): NamespaceIdentity | undefined {
  const same = identities.find((i) => {
    if (i.namespace !== t.namespace || i.mode !== t.identity.mode) return false;
    if (t.identity.mode === 'managed' || t.identity.mode === 'existing') return lower(i.name) === lower(t.identity.name);
    if (t.identity.mode === 'external') return lower(i.clientId) === lower(t.identity.clientId);
    return false;
  });
  return same ?? identities.find((i) => i.namespace === t.namespace && i.mode === t.identity.mode);
}

/** One object per type: under a vault-wide grant one read proves the scope (keys and certificates have their own permissions). */
function onePerType(objects: readonly MountedObject[]): MountedObject[] {
  const seen = new Set<string>();
  return objects.filter((o) => !seen.has(o.objectType) && seen.add(o.objectType));
}

/** The changes of this run (writes only) that a target's chain depends on, as short reasons. */
function chainChanges(t: TargetSpec, ident: NamespaceIdentity | undefined, items: readonly PlanItem[], cluster: string): { exchange: string[]; grants: PlanItem[] } {
  const sa = t.serviceAccount as string;
  const idName = lower(ident?.name);
  const label = lower(ident?.name ?? ident?.clientId ?? (t.identity.mode === 'external' ? t.identity.clientId : undefined));
  const fic = idName ? `${idName}/${lower(federatedCredentialName(cluster, t.namespace, sa))}` : undefined;
  const exchange: string[] = [];
  const grants: PlanItem[] = [];
  for (const i of items) {
    if (!isWrite(i)) continue;
    const name = lower(i.name);
    if (i.kind === 'identity' && idName && name.endsWith(`/${idName}`)) exchange.push(`identity ${i.action}`);
    else if (i.kind === 'federated-credential' && fic && name === fic) exchange.push(`federated credential ${i.action}`);
    else if (i.kind === 'service-account' && name === lower(`${t.namespace}/${sa}`)) exchange.push(`service account ${i.action}`);
    else if ((i.kind === 'role-assignment' && label && name.includes(` for ${label} at `)) || (i.kind === 'access-policy' && label && name.endsWith(` for ${label}`))) grants.push(i);
  }
  return { exchange, grants };
}

/** Objects whose own (per-object) role assignment this run creates. */
function objectsWithNewGrant(t: TargetSpec, grants: readonly PlanItem[], vaultName: string): MountedObject[] {
  const names = grants.filter((g) => g.kind === 'role-assignment').map((g) => lower(g.name));
  return t.objects.filter((o) => {
    const scope = lower(shortScope(`/providers/Microsoft.KeyVault/vaults/${vaultName}/${collectionOf(o.objectType)}/${o.secret}`));
    return names.some((n) => n.endsWith(` at ${scope}`));
  });
}

/**
 * The targets to prove and what to read for each. `changed`: a target whose exchange (identity,
 * federated credential, service account) or grant changed in this run, or whose SecretProviderClass
 * was created or updated (objects newly mounted); one read per grant scope: under a vault-wide grant
 * (or access policy) one object per type, under per-object grants each object whose grant is new.
 */
export function planProof(
  mode: ProveMode,
  ctx: { targets: readonly TargetSpec[]; identities: readonly NamespaceIdentity[]; items: readonly PlanItem[]; cluster: string; vaultName: string },
): ProofTarget[] {
  if (mode === 'never') return [];
  const out: ProofTarget[] = [];
  for (const t of ctx.targets.filter(provable)) {
    if (mode === 'always') {
      if (t.objects.length) out.push({ target: t, objects: [...t.objects], why: 'prove-access: always' });
      continue;
    }
    const { exchange, grants } = chainChanges(t, identityOf(ctx.identities, t), ctx.items, ctx.cluster);
    const spc = ctx.items.find((i) => i.kind === 'secret-provider-class' && isWrite(i) && lower(i.name) === lower(`${t.namespace}/${t.secretProviderClass}`));
    const perObject = t.access.scope !== 'vault' && grants.some((g) => g.kind === 'role-assignment');
    let objects: MountedObject[];
    if (perObject) {
      objects = objectsWithNewGrant(t, grants, ctx.vaultName);
      // The exchange changed but no object's grant did: one read proves the new exchange.
      if (!objects.length && exchange.length) objects = onePerType(t.objects).slice(0, 1);
    } else if (exchange.length || grants.length || spc) {
      objects = onePerType(t.objects);
    } else objects = [];
    if (!objects.length) continue;
    const why = [...new Set([...exchange, ...grants.map((g) => `${g.kind} ${g.action}`), ...(spc ? [`SecretProviderClass ${spc.action}`] : [])])].join(', ');
    out.push({ target: t, objects, why });
  }
  return out;
}
