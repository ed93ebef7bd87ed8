// Which bound targets (`federation: binding`) the proof checks: pure, from the plan items of this run.
// The runner cannot reach the AKS token proxy, so the proof makes the proxy's own decision instead (a
// SubjectAccessReview per service account); the binding's provisioningState was waited on when it was
// written, and the vault grant is read by the gate (what the pods mounted).
import { usesBinding } from '../manifest/types.ts';
import type { TargetSpec } from '../manifest/types.ts';
import { isWrite, type PlanItem } from '../plan/types.ts';
import { identityBindingName } from './bindings.ts';
import type { NamespaceIdentity } from './model.ts';
import { identityOf, type ProveMode } from './prove-plan.ts';

export interface BindingProof {
  namespace: string;
  serviceAccount: string;
  clientId: string;
  /** Why the service account is checked (for the log). */
  why: string;
}

const lower = (s: string | undefined): string => (s ?? '').toLowerCase();

/** The writes of this run that a bound target's chain depends on, as short reasons. */
function bindingChanges(t: TargetSpec, ident: NamespaceIdentity, items: readonly PlanItem[]): string[] {
  const idName = lower(ident.name);
  const clientId = lower(ident.clientId);
  const binding = ident.resourceId && ident.name ? identityBindingName(ident.resourceId, ident.name) : undefined;
  const out: string[] = [];
  for (const i of items) {
    if (!isWrite(i)) continue;
    const name = lower(i.name);
    const hit =
      (i.kind === 'identity' && idName !== '' && name.endsWith(`/${idName}`)) ||
      (i.kind === 'identity-binding' && ((binding !== undefined && name.endsWith(`/${binding}`)) || (idName !== '' && lower(i.reason).includes(` ${idName}`)))) ||
      ((i.kind === 'cluster-role' || i.kind === 'cluster-role-binding') && clientId !== '' && name.includes(clientId)) ||
      (i.kind === 'service-account' && name === lower(`${t.namespace}/${t.serviceAccount}`)) ||
      (i.kind === 'secret-provider-class' && name === lower(`${t.namespace}/${t.secretProviderClass}`)) ||
      (i.kind === 'role-assignment' && idName !== '' && name.includes(` for ${idName} at `)) ||
      (i.kind === 'access-policy' && idName !== '' && name.endsWith(` for ${idName}`));
    if (hit) out.push(`${i.kind} ${i.action}`);
  }
  return [...new Set(out)];
}

/**
 * The service accounts of bound targets to check, once each per identity: `always` every one,
 * `changed` those whose identity, binding, RBAC, service account, SecretProviderClass or grant this
 * run wrote, `never` none. A target whose identity has no client id yet (plan mode) is left out.
 */
export function planBindingProof(mode: ProveMode, ctx: { targets: readonly TargetSpec[]; identities: readonly NamespaceIdentity[]; items: readonly PlanItem[] }): BindingProof[] {
  if (mode === 'never') return [];
  const out = new Map<string, BindingProof>();
  for (const t of ctx.targets) {
    if (!usesBinding(t) || !t.serviceAccount || t.identity.mode === 'kubelet') continue;
    const ident = identityOf(ctx.identities, t);
    if (!ident?.clientId) continue;
    const why = mode === 'always' ? 'prove-access: always' : bindingChanges(t, ident, ctx.items).join(', ');
    if (!why) continue;
    const key = lower(`${t.namespace}/${t.serviceAccount}/${ident.clientId}`);
    if (!out.has(key)) out.set(key, { namespace: t.namespace, serviceAccount: t.serviceAccount, clientId: ident.clientId, why });
  }
  return [...out.values()];
}
