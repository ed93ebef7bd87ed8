// Apply what src/render renders (Namespaces only for createNamespace, workload-identity
// ServiceAccounts, SecretProviderClasses, the ClusterRoles and bindings of identity bindings) by server-side apply with the action's field manager;
// plan mode asks the API server for a dry run and diffs. Pruning touches only objects carrying the
// action's managed-by + instance labels, only with `prune: true`, and never Namespaces.
import * as runner from '../runner/index.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { usesBinding } from '../manifest/types.ts';
import type { Manifest } from '../manifest/types.ts';
import type { PlanAction, PlanItem, PlanKind } from '../plan/types.ts';
import { RBAC_API_VERSION, instanceId, legacyInstanceId, renderAll } from '../render/index.ts';
import type { KubeObject, RenderFacts } from '../render/index.ts';
import type { KubeSession } from './client.ts';
import { errorSummary, kubeStatusOf } from './client.ts';
import { PatchStrategy } from './api.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from './spcps.ts';
import { ACTION_NAME, ADOPTED_ANNOTATION, FIELD_MANAGER, INSTANCE_LABEL, KUBE_CONCURRENCY, MANAGED_BY_LABEL, OWNER_ANNOTATION } from '../names.ts';
import { mapUntilError, semaphore, startedEarly } from '../util/concurrency.ts';

export type { RenderFacts } from '../render/index.ts';

type Obj = KubernetesObject & Record<string, unknown>;

/**
 * Set on an object that existed before the action first applied it (a ServiceAccount a chart created,
 * say): the action manages its fields from then on but never deletes it when pruning.
 */

function adopted(o: { metadata?: { annotations?: Record<string, string> } } | undefined): boolean {
  return o?.metadata?.annotations?.[ADOPTED_ANNOTATION] === 'true';
}

const KIND_TO_PLAN: Record<string, PlanKind> = {
  Namespace: 'namespace',
  ServiceAccount: 'service-account',
  SecretProviderClass: 'secret-provider-class',
  ClusterRole: 'cluster-role',
  ClusterRoleBinding: 'cluster-role-binding',
};

function itemName(o: { metadata?: { name?: string; namespace?: string } }): string {
  return o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? '');
}

/** True when an object carries the action's managed-by label and this manifest's instance label. */
export function ownedBy(o: { metadata?: { labels?: Record<string, string> } } | undefined, instance: string): boolean {
  const l = o?.metadata?.labels;
  return l?.[MANAGED_BY_LABEL] === ACTION_NAME && l[INSTANCE_LABEL] === instance;
}

type Labelled = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };

/**
 * Who else owns an object the manifest declares: another manifest instance's labels (its owner
 * annotation when readable), or undefined when the object is this instance's, carries the
 * pre-ownership label of this vault and cluster (migrated by this apply), or is not the action's.
 */
export function otherOwner(o: Labelled | undefined, instance: string, legacy: string): string | undefined {
  const l = o?.metadata?.labels;
  const theirs = l?.[INSTANCE_LABEL];
  if (l?.[MANAGED_BY_LABEL] !== ACTION_NAME || theirs === undefined || theirs === instance || theirs === legacy) return undefined;
  const who = o?.metadata?.annotations?.[OWNER_ANNOTATION];
  return who && who.length <= 300 && !/[\u0000-\u001f\u007f]/.test(who) ? `${who} (instance ${theirs})` : `instance ${theirs}`;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v instanceof Date ? v.toISOString() : v) ?? 'undefined';
}

/** Paths under `prefix` where two values differ, descending into mappings at most `levels` deep. */
function differingPaths(prefix: string, before: unknown, after: unknown, levels: number): string[] {
  if (stable(before) === stable(after)) return [];
  if (levels === 0 || !(after && before && typeof after === 'object' && typeof before === 'object' && !Array.isArray(after))) return [prefix];
  const a = after as Record<string, unknown>;
  const b = before as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => differingPaths(`${prefix}.${k}`, b[k], a[k], levels - 1));
}

/**
 * Value-free field paths where `after` differs from `before`, limited to what the action declares:
 * the desired labels and annotations, and every other top-level field of the desired object.
 */
export function changedPaths(desired: KubeObject, before: Obj | undefined, after: Obj | undefined): string[] {
  const paths: string[] = [];
  const meta = (o: Obj | undefined, f: 'labels' | 'annotations'): Record<string, string> =>
    (o?.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined)?.[f] ?? {};
  for (const f of ['labels', 'annotations'] as const) {
    for (const k of Object.keys(desired.metadata[f] ?? {}).sort()) {
      if (meta(before, f)[k] !== meta(after, f)[k]) paths.push(`metadata.${f}[${k}]`);
    }
  }
  for (const key of Object.keys(desired).sort()) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    paths.push(...differingPaths(key, before?.[key], after?.[key], 2));
  }
  return paths;
}

async function readObject(kube: KubeSession, o: KubeObject): Promise<Obj | undefined> {
  try {
    return (await kube.objects.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } })) as Obj;
  } catch (err) {
    if (kubeStatusOf(err) === 404) return undefined;
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
    if (kubeStatusOf(err) === 404) return false;
    throw new Error(`cannot read namespace ${name}: ${errorSummary(err)}`);
  }
}

async function serverSideApply(kube: KubeSession, o: KubeObject, dryRun: boolean, force: boolean): Promise<Obj> {
  return await kube.objects.patch<Obj>(o as Obj, { strategy: PatchStrategy.ServerSideApply, fieldManager: FIELD_MANAGER, force, dryRun });
}

/** Objects carrying this manifest's instance labels, found cluster-wide (or in the manifest's namespaces if not allowed). */
async function ownedObjects(kube: KubeSession, manifest: Manifest): Promise<Obj[]> {
  const selector = `${MANAGED_BY_LABEL}=${ACTION_NAME},${INSTANCE_LABEL}=${instanceId(manifest)}`;
  const namespaces = [...new Set(manifest.targets.map((t) => t.namespace))];
  const serviceAccounts = async (): Promise<Obj[]> => {
    const out: Obj[] = [];
    try {
      const sas = await kube.core.listServiceAccountForAllNamespaces({ labelSelector: selector });
      out.push(...sas.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'ServiceAccount' }) as Obj));
    } catch (err) {
      if (kubeStatusOf(err) !== 403) throw err;
      const lists = await mapUntilError(namespaces, KUBE_CONCURRENCY, (namespace) => kube.core.listNamespacedServiceAccount({ namespace, labelSelector: selector }));
      for (const sas of lists) out.push(...sas.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'ServiceAccount' }) as Obj));
    }
    return out;
  };
  const providerClasses = async (): Promise<Obj[]> => {
    const out: Obj[] = [];
    try {
      const spcs = (await kube.custom.listClusterCustomObject({ group: SPC_GROUP, version: SPC_VERSION, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] };
      out.push(...(spcs.items ?? []).map((i) => ({ ...i, apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass' }) as Obj));
    } catch (err) {
      // 404: the CRD is absent, so no SecretProviderClass of ours can exist.
      if (kubeStatusOf(err) !== 404 && kubeStatusOf(err) !== 403) throw err;
      const lists = await mapUntilError(
        kubeStatusOf(err) === 403 ? namespaces : [],
        KUBE_CONCURRENCY,
        async (namespace) => (await kube.custom.listNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] },
      );
      for (const spcs of lists) out.push(...(spcs.items ?? []).map((i) => ({ ...i, apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass' }) as Obj));
    }
    return out;
  };
  const ownNamespaces = async (): Promise<Obj[]> => {
    const nss = await kube.core.listNamespace({ labelSelector: selector }).catch((err: unknown) => {
      if (kubeStatusOf(err) === 403) return { items: [] };
      throw err;
    });
    return nss.items.map((i) => ({ ...i, apiVersion: 'v1', kind: 'Namespace' }) as Obj);
  };
  // The kinds are independent: listed together, kept in this order (it orders the prune items).
  const [sas, spcs, nss, rbac] = await Promise.all([serviceAccounts(), providerClasses(), ownNamespaces(), manifest.targets.some(usesBinding) ? ownBindingRbac(kube, selector) : []]);
  return [...sas, ...spcs, ...nss, ...rbac];
}

/** The ClusterRoles and ClusterRoleBindings of identity bindings this instance applied (by its labels). */
export async function ownBindingRbac(kube: KubeSession, selector: string): Promise<Obj[]> {
  const lists = await Promise.all(
    (['ClusterRole', 'ClusterRoleBinding'] as const).map(async (kind) => {
      const l = await kube.objects.list(RBAC_API_VERSION, kind, undefined, { labelSelector: selector }).catch((err: unknown) => {
        if (kubeStatusOf(err) === 403) return { items: [] };
        throw err;
      });
      return l.items.map((i) => ({ ...i, apiVersion: RBAC_API_VERSION, kind }) as Obj);
    }),
  );
  return lists.flat();
}

function key(o: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

type Fields = { [k: string]: Fields };

function plainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The FieldsV1 set a server-side apply of `v` records (maps by key, lists and scalars whole); undefined when unsure. */
function fieldSet(v: Record<string, unknown>): Fields | undefined {
  const out: Fields = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (x === null) return undefined;
    if (plainObject(x)) {
      const inner = fieldSet(x);
      if (!inner) return undefined;
      out[`f:${k}`] = inner;
    } else {
      out[`f:${k}`] = {};
    }
  }
  return out;
}

/** True when `live` already holds every field of `want` with the same value (lists compared whole). */
function holds(live: unknown, want: unknown): boolean {
  if (plainObject(want)) {
    if (!plainObject(live)) return false;
    return Object.entries(want).every(([k, w]) => w === undefined || holds(live[k], w));
  }
  if (Array.isArray(want)) return Array.isArray(live) && stable(live) === stable(want);
  return live === want;
}

/**
 * True when a server-side apply of `applied` by the action's field manager would change nothing on
 * `live`: the manager's Apply entry in managedFields (same apiVersion, no subresource) records exactly
 * the fields `applied` sets (so no field would be released or newly claimed), and the live object holds
 * each of them with the applied value. Anything unusual (metadata beyond labels and annotations, nulls,
 * several entries, a different apiVersion) answers false, and the caller applies as usual.
 */
export function applyIsNoop(applied: KubeObject, live: Obj | undefined): boolean {
  if (!live) return false;
  const { name, namespace, labels, annotations, ...otherMeta } = applied.metadata;
  if (Object.values(otherMeta).some((v) => v !== undefined)) return false;
  if (name !== live.metadata?.name || (namespace ?? undefined) !== (live.metadata?.namespace ?? undefined)) return false;
  const entries = (live.metadata?.managedFields ?? []).filter((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
  if (entries.length !== 1) return false;
  const entry = entries[0]!;
  if (entry.apiVersion !== applied.apiVersion || (entry.fieldsType ?? 'FieldsV1') !== 'FieldsV1') return false;
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(applied)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata') body[k] = v;
  const meta: Record<string, unknown> = {};
  if (labels !== undefined) meta.labels = labels;
  if (annotations !== undefined) meta.annotations = annotations;
  if (Object.keys(meta).length) body.metadata = meta;
  const want = fieldSet(body);
  if (!want || stable(want) !== stable(entry.fieldsV1 ?? {})) return false;
  return holds(live, body);
}

/**
 * Namespaces (only createNamespace), ServiceAccounts, SecretProviderClasses rendered by src/render, applied by
 * server-side apply with field manager 'akv-aks-action' (plan mode: dry-run=All + diff → value-free PlanItems);
 * owned objects no longer declared pruned only with manifest.prune, never anything without the managed-by
 * + instance labels. Kubelet-mode targets get no ServiceAccount.
 */
/** What one apply run knows about the cluster before it writes, shared by the per-object steps. */
interface ApplyRun {
  kube: KubeSession;
  plan: boolean;
  instance: string;
  legacy: string;
  request: <R>(fn: () => Promise<R>) => Promise<R>;
  missingNamespaces: Set<string>;
  /** Namespaces the manifest renders (createNamespace), and those this run created. */
  toCreate: Set<string>;
  createdNamespaces: Set<string>;
  existingByKey: Map<string, Obj>;
  readFailures: Map<string, unknown>;
}

/** The namespaces the desired objects live in that do not exist and are not created by the manifest (an error outside plan mode). */
async function missingNamespacesOf(kube: KubeSession, desired: KubeObject[], owned: Obj[], toCreate: Set<string>, plan: boolean): Promise<Set<string>> {
  // A namespace holding one of our objects exists; the others are read, a few at a time.
  const known = new Set(owned.map((o) => (o.kind === 'Namespace' ? o.metadata?.name : o.metadata?.namespace)).filter((n): n is string => Boolean(n)));
  const toCheck = [...new Set(desired.map((o) => o.metadata.namespace).filter((n): n is string => Boolean(n)))].sort().filter((ns) => !toCreate.has(ns) && !known.has(ns));
  const exists = await mapUntilError(toCheck, KUBE_CONCURRENCY, (ns) => namespaceExists(kube, ns));
  const missing = new Set(toCheck.filter((_ns, i) => !exists[i]));
  if (missing.size && !plan) {
    throw new Error(
      `namespace${missing.size > 1 ? 's' : ''} ${[...missing].join(', ')} do${missing.size > 1 ? '' : 'es'} not exist: create ${missing.size > 1 ? 'them' : 'it'} or set createNamespace: true on the target`,
    );
  }
  return missing;
}

/** Reads the declared objects this manifest has not applied yet, before anything is written, so an object of another manifest is refused with nothing applied. */
async function readUnapplied(run: ApplyRun, desired: KubeObject[]): Promise<void> {
  const unread = desired.filter((o) => !run.existingByKey.has(key(o)) && !(o.metadata.namespace && run.missingNamespaces.has(o.metadata.namespace)));
  const reads = await mapUntilError(unread, KUBE_CONCURRENCY, (o) =>
    run
      .request(() => readObject(run.kube, o))
      .catch((err: unknown) => {
        run.readFailures.set(key(o), err);
        return undefined;
      }),
  );
  unread.forEach((o, i) => {
    const found = reads[i];
    if (found) run.existingByKey.set(key(o), found);
  });
  const conflicts = desired.flatMap((o) => {
    const other = o.kind === 'Namespace' ? undefined : otherOwner(run.existingByKey.get(key(o)), run.instance, run.legacy);
    return other ? [`${o.kind} ${itemName(o)} belongs to ${other}`] : [];
  });
  if (conflicts.length && !run.plan) {
    throw new Error(`refusing to apply Kubernetes objects; nothing was applied: ${conflicts.join('; ')}. Two manifests must not declare one object: rename it in one of them`);
  }
}

/** Server-side apply (or its dry run); undefined when a plan meets a field another manager owns. */
async function applyOrRefuse(run: ApplyRun, o: KubeObject, applied: KubeObject, force: boolean): Promise<Obj | undefined> {
  try {
    return await run.request(() => serverSideApply(run.kube, applied, run.plan, force));
  } catch (err) {
    const name = itemName(o);
    if (kubeStatusOf(err) === 409) {
      if (run.plan) return undefined;
      throw new Error(
        `${o.kind} ${name} exists with fields another manager owns (${errorSummary(err)}); the action does not overwrite objects it does not own: remove the conflicting fields or add the labels ${MANAGED_BY_LABEL}=${ACTION_NAME} and ${INSTANCE_LABEL}=${run.instance} to hand it over`,
      );
    }
    throw new Error(`cannot apply ${o.kind} ${name}: ${crdHint(o, err)}`);
  }
}

async function applyOne(run: ApplyRun, o: KubeObject): Promise<PlanItem> {
  const kind = KIND_TO_PLAN[o.kind] ?? 'secret-provider-class';
  const name = itemName(o);
  const base = { kind, name, namespace: o.metadata.namespace ?? (o.kind === 'Namespace' ? o.metadata.name : undefined) };
  const item = (action: PlanAction, reason?: string): PlanItem => (reason ? { ...base, action, reason } : { ...base, action });
  const ns = o.metadata.namespace;
  if (ns && run.missingNamespaces.has(ns)) return item('refuse', `namespace ${ns} does not exist and createNamespace is false`);
  const existing = run.existingByKey.get(key(o));
  if (run.readFailures.has(key(o))) {
    const err = run.readFailures.get(key(o));
    if (run.plan && o.kind === 'SecretProviderClass') return item('refuse', crdHint(o, err));
    throw new Error(`cannot read ${o.kind} ${name}: ${crdHint(o, err)}`);
  }
  // A namespace the action did not create (or another manifest did) is left exactly as it is.
  if (o.kind === 'Namespace' && existing && !ownedBy(existing, run.instance)) return item('unchanged', 'exists, not created by this manifest');
  // Another manifest's object is never taken over: two manifests would apply it back and forth.
  const other = otherOwner(existing, run.instance, run.legacy);
  if (other) return item('refuse', `belongs to another manifest: ${other}`);
  // Ours, or ours under the pre-ownership label (this apply moves it to the instance label).
  const ours = existing !== undefined && (ownedBy(existing, run.instance) || ownedBy(existing, run.legacy));
  // The namespace does not exist yet, so a dry run of its content cannot be asked for.
  if (run.plan && ns && run.toCreate.has(ns) && run.createdNamespaces.has(ns)) return item('create', `in new namespace ${ns}`);
  // Keep (or set) the adoption mark: server-side apply would drop a field the manager stops sending.
  const applied: KubeObject = existing && (adopted(existing) || !ours) ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [ADOPTED_ANNOTATION]: 'true' } } } : o;
  // Already applied exactly so by the action: the apply (or its dry run) would change nothing.
  if (existing && ownedBy(existing, run.instance) && applyIsNoop(applied, existing)) return item('unchanged');
  const after = await applyOrRefuse(run, o, applied, existing === undefined || ours);
  if (!after) return item('refuse', 'owned by another field manager');
  if (!existing) {
    if (o.kind === 'Namespace') run.createdNamespaces.add(o.metadata.name);
    if (!run.plan) runner.info(`created ${o.kind} ${name}`);
    return item('create');
  }
  const paths = changedPaths(applied, existing, after);
  const adopting = !ours;
  if (!run.plan && paths.length) runner.info(`${adopting ? 'adopted' : 'updated'} ${o.kind} ${name} (${paths.join(', ')})`);
  if (paths.length === 0) return item('unchanged');
  return item(adopting ? 'adopt' : 'update', `changed: ${paths.join(', ')}`);
}

/** The owned objects the manifest no longer declares: kept (namespaces, adopted objects, prune: false) or pruned. */
async function pruneUndeclared(kube: KubeSession, manifest: Manifest, desired: KubeObject[], owned: Obj[], instance: string, plan: boolean): Promise<PlanItem[]> {
  const items: PlanItem[] = [];
  const wanted = new Set(desired.map(key));
  for (const o of owned) {
    if (wanted.has(key(o)) || !ownedBy(o, instance)) continue;
    const kind = KIND_TO_PLAN[o.kind ?? ''] ?? 'secret-provider-class';
    const name = itemName(o);
    const namespace = o.metadata?.namespace ?? (o.kind === 'Namespace' ? o.metadata?.name : undefined);
    const keep = (reason: string): void => {
      items.push({ kind, name, namespace, action: 'keep', reason });
    };
    if (o.kind === 'Namespace') keep('namespaces are never deleted by the action');
    else if (!manifest.prune) keep('no longer declared (prune: false)');
    else if (adopted(o)) keep('existed before the action (adopted): never deleted');
    else {
      items.push({ kind, name, namespace, action: 'prune', reason: 'no longer declared' });
      if (!plan) await deleteObject(kube, o, name);
    }
  }
  return items;
}

async function deleteObject(kube: KubeSession, o: Obj, name: string): Promise<void> {
  try {
    await kube.objects.delete({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace } });
    runner.info(`pruned ${o.kind} ${name}`);
  } catch (err) {
    if (kubeStatusOf(err) !== 404) throw new Error(`cannot prune ${o.kind} ${name}: ${errorSummary(err)}`);
  }
}

/**
 * The labelled lists applyKubeObjects starts from, read now: they depend on the manifest only, so the
 * pipeline starts them beside the secret sync. A failure surfaces where the step awaits them.
 */
export function startOwnedObjects(kube: KubeSession, manifest: Manifest): Promise<Obj[]> {
  return startedEarly(ownedObjects(kube, manifest));
}

export async function applyKubeObjects(kube: KubeSession, manifest: Manifest, facts: RenderFacts, opts: { mode: 'plan' | 'apply'; owned?: Promise<Obj[]> }): Promise<PlanItem[]> {
  // The renderer gives kubelet-mode targets no ServiceAccount and Namespaces only for createNamespace.
  const desired = renderAll(manifest, facts);
  const instance = instanceId(manifest);
  const plan = opts.mode === 'plan';
  const toCreate = new Set(desired.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  // One labelled list per kind finds every object this manifest already applied (they carry its
  // labels): no read per object on a re-run. The same lists decide what to prune at the end.
  const owned = await (opts.owned ?? ownedObjects(kube, manifest));
  const run: ApplyRun = {
    kube,
    plan,
    instance,
    legacy: legacyInstanceId(manifest),
    request: semaphore(KUBE_CONCURRENCY),
    missingNamespaces: await missingNamespacesOf(kube, desired, owned, toCreate, plan),
    toCreate,
    createdNamespaces: new Set(),
    existingByKey: new Map(owned.map((o) => [key(o), o])),
    readFailures: new Map(),
  };
  await readUnapplied(run, desired);
  // Namespaces first (renderAll puts them first), then their content: independent objects run a few
  // at a time; the items keep the rendered order.
  const namespaceObjects = desired.filter((o) => o.kind === 'Namespace');
  const rest = desired.filter((o) => o.kind !== 'Namespace');
  const one = (o: KubeObject): Promise<PlanItem> => applyOne(run, o);
  const items: PlanItem[] = [...(await mapUntilError(namespaceObjects, KUBE_CONCURRENCY, one)), ...(await mapUntilError(rest, KUBE_CONCURRENCY, one))];
  items.push(...(await pruneUndeclared(kube, manifest, desired, owned, instance, plan)));
  return items;
}
