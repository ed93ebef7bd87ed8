// Apply what src/render renders (Namespaces only for createNamespace, workload-identity
// ServiceAccounts, SecretProviderClasses) by server-side apply with the action's field manager;
// plan mode asks the API server for a dry run and diffs. Pruning touches only objects carrying the
// action's managed-by + instance labels, only with `prune: true`, and never Namespaces.
import * as core from '@actions/core';
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Manifest } from '../manifest/types.ts';
import type { PlanAction, PlanItem, PlanKind } from '../plan/types.ts';
import { INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, instanceId, renderAll } from '../render/index.ts';
import type { KubeObject, RenderFacts } from '../render/index.ts';
import type { KubeSession } from './client.ts';
import { errorSummary, FIELD_MANAGER, statusOf } from './client.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from './spcps.ts';

export type { RenderFacts } from '../render/index.ts';

type Obj = KubernetesObject & Record<string, unknown>;

/**
 * Set on an object that existed before the action first applied it (a ServiceAccount a chart created,
 * say): the action manages its fields from then on but never deletes it when pruning.
 */
export const ADOPTED_ANNOTATION = 'akv-aks-action/adopted';

function adopted(o: { metadata?: { annotations?: Record<string, string> } } | undefined): boolean {
  return o?.metadata?.annotations?.[ADOPTED_ANNOTATION] === 'true';
}

const KIND_TO_PLAN: Record<string, PlanKind> = {
  Namespace: 'namespace',
  ServiceAccount: 'service-account',
  SecretProviderClass: 'secret-provider-class',
};

function itemName(o: { metadata?: { name?: string; namespace?: string } }): string {
  return o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? '');
}

/** True when an object carries the action's managed-by label and this manifest's instance label. */
export function ownedBy(o: { metadata?: { labels?: Record<string, string> } } | undefined, instance: string): boolean {
  const l = o?.metadata?.labels;
  return l?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && l[INSTANCE_LABEL] === instance;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v instanceof Date ? v.toISOString() : v) ?? 'undefined';
}

/**
 * Value-free field paths where `after` differs from `before`, limited to what the action declares:
 * the desired labels and annotations, and every other top-level field of the desired object.
 */
export function changedPaths(desired: KubeObject, before: Obj | undefined, after: Obj | undefined): string[] {
  const paths: string[] = [];
  const meta = (o: Obj | undefined, f: 'labels' | 'annotations'): Record<string, string> =>
    ((o?.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined)?.[f]) ?? {};
  for (const f of ['labels', 'annotations'] as const) {
    for (const k of Object.keys(desired.metadata[f] ?? {}).sort()) {
      if (meta(before, f)[k] !== meta(after, f)[k]) paths.push(`metadata.${f}[${k}]`);
    }
  }
  for (const key of Object.keys(desired).sort()) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    const b = before?.[key];
    const a = after?.[key];
    if (stable(b) === stable(a)) continue;
    if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const sub of [...keys].sort()) {
        const av = (a as Record<string, unknown>)[sub];
        const bv = (b as Record<string, unknown>)[sub];
        if (stable(av) === stable(bv)) continue;
        if (av && bv && typeof av === 'object' && typeof bv === 'object' && !Array.isArray(av)) {
          const inner = new Set([...Object.keys(av), ...Object.keys(bv)]);
          for (const k of [...inner].sort()) {
            if (stable((av as Record<string, unknown>)[k]) !== stable((bv as Record<string, unknown>)[k])) paths.push(`${key}.${sub}.${k}`);
          }
        } else {
          paths.push(`${key}.${sub}`);
        }
      }
    } else {
      paths.push(key);
    }
  }
  return paths;
}

async function readObject(kube: KubeSession, o: KubeObject): Promise<Obj | undefined> {
  try {
    return (await kube.objects.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } })) as Obj;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function crdHint(o: KubeObject, err: unknown): string {
  const text = errorSummary(err);
  if (o.kind === 'SecretProviderClass' && /Unrecognized API version and kind|the server could not find the requested resource|404/i.test(text)) {
    return `${text} (the SecretProviderClass CRD is not installed: enable the azure-keyvault-secrets-provider add-on or install the Secrets Store CSI driver)`;
  }
  return text;
}

async function namespaceExists(kube: KubeSession, name: string): Promise<boolean> {
  try {
    await kube.core.readNamespace({ name });
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw new Error(`cannot read namespace ${name}: ${errorSummary(err)}`);
  }
}

async function serverSideApply(kube: KubeSession, o: KubeObject, dryRun: boolean, force: boolean): Promise<Obj> {
  return (await kube.objects.patch(o as Obj, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, force, PatchStrategy.ServerSideApply)) as Obj;
}

/** Objects carrying this manifest's instance labels, found cluster-wide (or in the manifest's namespaces if not allowed). */
async function ownedObjects(kube: KubeSession, manifest: Manifest): Promise<Obj[]> {
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${INSTANCE_LABEL}=${instanceId(manifest)}`;
  const out: Obj[] = [];
  const namespaces = [...new Set(manifest.targets.map((t) => t.namespace))];
  try {
    const sas = await kube.core.listServiceAccountForAllNamespaces({ labelSelector: selector });
    out.push(...sas.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'ServiceAccount' }) as Obj));
  } catch (err) {
    if (statusOf(err) !== 403) throw err;
    for (const namespace of namespaces) {
      const sas = await kube.core.listNamespacedServiceAccount({ namespace, labelSelector: selector });
      out.push(...sas.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'ServiceAccount' }) as Obj));
    }
  }
  try {
    const spcs = (await kube.custom.listClusterCustomObject({ group: SPC_GROUP, version: SPC_VERSION, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] };
    out.push(...(spcs.items ?? []).map((i) => ({ ...i, apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass' }) as Obj));
  } catch (err) {
    // 404: the CRD is absent, so no SecretProviderClass of ours can exist.
    if (statusOf(err) !== 404 && statusOf(err) !== 403) throw err;
    for (const namespace of statusOf(err) === 403 ? namespaces : []) {
      const spcs = (await kube.custom.listNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] };
      out.push(...(spcs.items ?? []).map((i) => ({ ...i, apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass' }) as Obj));
    }
  }
  const nss = await kube.core.listNamespace({ labelSelector: selector }).catch((err: unknown) => {
    if (statusOf(err) === 403) return { items: [] };
    throw err;
  });
  out.push(...nss.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'Namespace' }) as Obj));
  return out;
}

function key(o: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * Namespaces (only createNamespace), ServiceAccounts, SecretProviderClasses rendered by src/render, applied by
 * server-side apply with field manager 'akv-aks-action' (plan mode: dry-run=All + diff → value-free PlanItems);
 * owned objects no longer declared pruned only with manifest.prune, never anything without the managed-by
 * + instance labels. Kubelet-mode targets get no ServiceAccount.
 */
export async function applyKubeObjects(kube: KubeSession, manifest: Manifest, facts: RenderFacts, opts: { mode: 'plan' | 'apply' }): Promise<PlanItem[]> {
  // The renderer gives kubelet-mode targets no ServiceAccount and Namespaces only for createNamespace.
  const desired = renderAll(manifest, facts);
  const instance = instanceId(manifest);
  const plan = opts.mode === 'plan';
  const items: PlanItem[] = [];
  const missingNamespaces = new Set<string>();
  const toCreate = new Set(desired.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));

  for (const ns of [...new Set(desired.map((o) => o.metadata.namespace).filter((n): n is string => Boolean(n)))].sort()) {
    if (!toCreate.has(ns) && !(await namespaceExists(kube, ns))) missingNamespaces.add(ns);
  }
  if (missingNamespaces.size && !plan) {
    throw new Error(
      `namespace${missingNamespaces.size > 1 ? 's' : ''} ${[...missingNamespaces].join(', ')} do${missingNamespaces.size > 1 ? '' : 'es'} not exist: create ${missingNamespaces.size > 1 ? 'them' : 'it'} or set createNamespace: true on the target`,
    );
  }
  const createdNamespaces = new Set<string>();

  for (const o of desired) {
    const kind = KIND_TO_PLAN[o.kind] ?? 'secret-provider-class';
    const name = itemName(o);
    const base = { kind, name, namespace: o.metadata.namespace ?? (o.kind === 'Namespace' ? o.metadata.name : undefined) };
    const push = (action: PlanAction, reason?: string): void => {
      items.push(reason ? { ...base, action, reason } : { ...base, action });
    };
    const ns = o.metadata.namespace;
    if (ns && missingNamespaces.has(ns)) {
      push('refuse', `namespace ${ns} does not exist and createNamespace is false`);
      continue;
    }
    let existing: Obj | undefined;
    try {
      existing = await readObject(kube, o);
    } catch (err) {
      if (plan && o.kind === 'SecretProviderClass') {
        push('refuse', crdHint(o, err));
        continue;
      }
      throw new Error(`cannot read ${o.kind} ${name}: ${crdHint(o, err)}`);
    }
    if (o.kind === 'Namespace' && existing && !ownedBy(existing, instance)) {
      // A namespace the action did not create is left exactly as it is.
      push('unchanged', 'exists, not created by the action');
      continue;
    }
    if (plan && ns && toCreate.has(ns) && createdNamespaces.has(ns)) {
      // The namespace does not exist yet, so a dry run of its content cannot be asked for.
      push('create', `in new namespace ${ns}`);
      continue;
    }
    const force = existing === undefined || ownedBy(existing, instance);
    // Keep (or set) the adoption mark: server-side apply would drop a field the manager stops sending.
    const applied: KubeObject = existing && (adopted(existing) || !ownedBy(existing, instance))
      ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [ADOPTED_ANNOTATION]: 'true' } } }
      : o;
    let after: Obj;
    try {
      after = await serverSideApply(kube, applied, plan, force);
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) {
        const msg = `${o.kind} ${name} exists with fields another manager owns (${errorSummary(err)}); the action does not overwrite objects it does not own: remove the conflicting fields or add the labels ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} and ${INSTANCE_LABEL}=${instance} to hand it over`;
        if (plan) {
          push('refuse', 'owned by another field manager');
          continue;
        }
        throw new Error(msg);
      }
      throw new Error(`cannot apply ${o.kind} ${name}: ${crdHint(o, err)}`);
    }
    if (!existing) {
      if (o.kind === 'Namespace') createdNamespaces.add(o.metadata.name);
      push('create');
      if (!plan) core.info(`created ${o.kind} ${name}`);
      continue;
    }
    const paths = changedPaths(applied, existing, after);
    const adopting = !ownedBy(existing, instance);
    if (paths.length === 0) push('unchanged');
    else push(adopting ? 'adopt' : 'update', `changed: ${paths.join(', ')}`);
    if (!plan && paths.length) core.info(`${adopting ? 'adopted' : 'updated'} ${o.kind} ${name} (${paths.join(', ')})`);
  }

  const wanted = new Set(desired.map(key));
  for (const o of await ownedObjects(kube, manifest)) {
    if (wanted.has(key(o)) || !ownedBy(o, instance)) continue;
    const kind = KIND_TO_PLAN[o.kind ?? ''] ?? 'secret-provider-class';
    const name = itemName(o);
    const namespace = o.metadata?.namespace ?? (o.kind === 'Namespace' ? o.metadata?.name : undefined);
    if (o.kind === 'Namespace') {
      items.push({ kind, name, namespace, action: 'keep', reason: 'namespaces are never deleted by the action' });
      continue;
    }
    if (!manifest.prune) {
      items.push({ kind, name, namespace, action: 'keep', reason: 'no longer declared (prune: false)' });
      continue;
    }
    if (adopted(o)) {
      items.push({ kind, name, namespace, action: 'keep', reason: 'existed before the action (adopted): never deleted' });
      continue;
    }
    items.push({ kind, name, namespace, action: 'prune', reason: 'no longer declared' });
    if (plan) continue;
    try {
      await kube.objects.delete({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace } });
      core.info(`pruned ${o.kind} ${name}`);
    } catch (err) {
      if (statusOf(err) !== 404) throw new Error(`cannot prune ${o.kind} ${name}: ${errorSummary(err)}`);
    }
  }
  return items;
}
