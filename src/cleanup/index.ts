// Clean-up mode: reads what exists in the cluster and in Azure for the manifest's targets, plans
// purely in plan.ts (what is deleted, in which order, what is kept and why), and in apply mode
// deletes exactly what was planned, in that order. Plan mode only reads.
//
// Action modes (the choice): `mode: cleanup` deletes, `mode: plan-cleanup` prints the same list and
// writes nothing. A separate mode rather than a `dry-run` input keeps `plan` what it already is
// everywhere in the action (a mode that never writes), so `plan-cleanup` is to `cleanup` what `plan`
// is to `apply`. Neither needs secret values (load the manifest without the env check, as verify does)
// nor runs proof, rotation or the gate. Key Vault secrets stay unless the manifest says
// `cleanup: { deleteSecrets: true }` (soft delete), and are purged only with `purge: true` as well.
import * as runner from '../runner/index.ts';
import type { KubernetesObject, V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { authorizationClient, keyVaultManagementClient, msiClient, scopeParam } from '../auth/arm.ts';
import { ledgerBook, readLedgers } from '../ledger/store.ts';
import type { LedgerBook } from '../ledger/store.ts';
import { deleteSecret, getDeleted, listLive, vaultGateway } from '../keyvault/gateway.ts';
import type { VaultGateway } from '../keyvault/gateway.ts';
import { hasCode, messageOf, retryWhile, azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import { groupIdentities } from '../identity/plan.ts';
import type { IdentityGroup } from '../identity/plan.ts';
import type { KubeSession } from '../kube/client.ts';
import { errorSummary, kubeStatusOf } from '../kube/client.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from '../kube/spcps.ts';
import type { Manifest } from '../manifest/types.ts';
import { PlannedStepError, type PlanItem } from '../plan/types.ts';
import { ArmRest, bindingFailure, deleteBinding, listBindings } from '../identity/binding-arm.ts';
import { ownBindingRbac } from '../kube/apply.ts';
import type { GrantLedger } from '../ledger/model.ts';
import { bindingClusterId, planBindingCleanup, withBindingSteps } from './bindings.ts';
import type { BindingCleanupInput } from './bindings.ts';
import { instanceId } from '../render/labels.ts';
import { declaredKubeObjects, kubeKeepReason, planCleanup } from './plan.ts';
import type { CleanupOp, CleanupStep, FoundRoleAssignment, IdentityFound, KubeFound, KubeKind, KubeState, NamespaceEntry, RbacKind, SecretsState } from './plan.ts';
import { ACTION_NAME, CLEANUP_PROPAGATION_MS, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../names.ts';
import type { VaultInfo } from '../keyvault/model.ts';

export { planCleanup } from './plan.ts';
export type { CleanupInput, CleanupOp, CleanupStep } from './plan.ts';

export interface CleanupOptions {
  mode: 'plan' | 'apply';
  /** The cluster's service-account issuer; federated credentials with another issuer are kept. */
  issuer?: string;
  /** The run's ledger book (one read of each ledger per run); made here when absent. */
  ledger?: LedgerBook;
}

/** Thrown when a deletion fails; `items` holds the whole plan (what ran, what failed, what did not run). */
export class CleanupError extends PlannedStepError {
  constructor(message: string, items: PlanItem[], cause?: unknown) {
    super(message, items, cause);
    this.name = 'CleanupError';
  }
}

type Obj = KubernetesObject & { metadata?: KubernetesObject['metadata'] & { managedFields?: V1ManagedFieldsEntry[]; deletionTimestamp?: unknown } };

function toFound(kind: KubeKind, o: Obj): KubeFound {
  const md = o.metadata ?? {};
  const managed = md.managedFields;
  return {
    kind,
    name: md.name ?? '',
    namespace: kind === 'Namespace' ? undefined : md.namespace,
    labels: { ...(md.labels ?? {}) },
    managers: managed ? managed.filter((m) => !m.subresource).map((m) => m.manager ?? '') : undefined,
    deleting: md.deletionTimestamp !== undefined && md.deletionTimestamp !== null,
    uid: md.uid,
    resourceVersion: md.resourceVersion,
  };
}

async function readOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (kubeStatusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Kinds listed in a namespace the action may delete, to tell whether anything else lives there. */
const CONTENT_KINDS: { apiVersion: string; kind: string }[] = [
  { apiVersion: 'v1', kind: 'Pod' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: 'apps/v1', kind: 'ReplicaSet' },
  { apiVersion: 'batch/v1', kind: 'Job' },
  { apiVersion: 'batch/v1', kind: 'CronJob' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
  { apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass' },
];

async function namespaceContent(kube: KubeSession, namespace: string): Promise<NamespaceEntry[]> {
  const out: NamespaceEntry[] = [];
  for (const k of CONTENT_KINDS) {
    try {
      let cont: string | undefined;
      do {
        const list = await kube.objects.list(k.apiVersion, k.kind, namespace, { limit: 500, _continue: cont });
        for (const i of list.items) out.push({ kind: k.kind, name: i.metadata?.name ?? '' });
        cont = list.metadata?.continue || undefined;
      } while (cont);
    } catch (err) {
      const s = kubeStatusOf(err);
      if (s === 404) continue; // kind not served by this cluster
      // Unknown content: the namespace must stay.
      out.push({ kind: k.kind, name: `(cannot list: ${s ? `HTTP ${s}` : 'error'})` });
    }
  }
  return out;
}

/** The declared objects (by name) and every object carrying this manifest's labels. */
export async function readKubeState(kube: KubeSession, manifest: Manifest): Promise<KubeState> {
  const selector = `${MANAGED_BY_LABEL}=${ACTION_NAME},${INSTANCE_LABEL}=${instanceId(manifest)}`;
  const namespaces = [...new Set(manifest.targets.map((t) => t.namespace))];
  const found = new Map<string, KubeFound>();
  const add = (kind: KubeKind, o: Obj): void => {
    const f = toFound(kind, o);
    found.set(`${kind}/${f.namespace ?? ''}/${f.name}`, f);
  };

  for (const d of declaredKubeObjects(manifest)) {
    let o: Obj | undefined;
    try {
      if (d.kind === 'Namespace') o = (await readOrUndefined(() => kube.core.readNamespace({ name: d.name }))) as Obj | undefined;
      else if (d.kind === 'ServiceAccount') o = (await readOrUndefined(() => kube.core.readNamespacedServiceAccount({ name: d.name, namespace: d.namespace ?? '' }))) as Obj | undefined;
      else {
        o = (await readOrUndefined(() => kube.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace: d.namespace ?? '', plural: SPC_PLURAL, name: d.name }))) as
          Obj | undefined;
      }
    } catch (err) {
      throw new Error(`cannot read ${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name}: ${errorSummary(err)}`);
    }
    if (o) add(d.kind, o);
  }

  // Labelled objects cluster-wide (or, without the permission, in the manifest's namespaces).
  try {
    for (const i of (await kube.core.listServiceAccountForAllNamespaces({ labelSelector: selector })).items) add('ServiceAccount', i as Obj);
  } catch (err) {
    if (kubeStatusOf(err) !== 403) throw new Error(`cannot list ServiceAccounts: ${errorSummary(err)}`);
    for (const namespace of namespaces) {
      for (const i of (await kube.core.listNamespacedServiceAccount({ namespace, labelSelector: selector })).items) add('ServiceAccount', i as Obj);
    }
  }
  try {
    const spcs = (await kube.custom.listClusterCustomObject({ group: SPC_GROUP, version: SPC_VERSION, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] };
    for (const i of spcs.items ?? []) add('SecretProviderClass', i);
  } catch (err) {
    const s = kubeStatusOf(err);
    if (s !== 404 && s !== 403) throw new Error(`cannot list SecretProviderClasses: ${errorSummary(err)}`);
    for (const namespace of s === 403 ? namespaces : []) {
      const spcs = (await kube.custom.listNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPC_PLURAL, labelSelector: selector })) as { items?: Obj[] };
      for (const i of spcs.items ?? []) add('SecretProviderClass', i);
    }
  }
  try {
    for (const i of (await kube.core.listNamespace({ labelSelector: selector })).items) add('Namespace', i as Obj);
  } catch (err) {
    if (kubeStatusOf(err) !== 403) throw new Error(`cannot list Namespaces: ${errorSummary(err)}`);
  }

  // What else lives in the namespaces the action could delete.
  const instance = instanceId(manifest);
  const content: Record<string, NamespaceEntry[]> = {};
  for (const f of found.values()) {
    if (f.kind !== 'Namespace' || f.deleting || kubeKeepReason(f, instance)) continue;
    content[f.name] = await namespaceContent(kube, f.name);
  }
  return { objects: [...found.values()], content };
}

type Authorization = Awaited<ReturnType<typeof authorizationClient>>;

/** Identities of the manifest with their federated credentials and role assignments. */
export async function readIdentities(session: AzureSession, vault: VaultInfo, manifest: Manifest): Promise<{ identities: IdentityFound[]; roleNames: Map<string, string> }> {
  const vaultSub = vault.subscriptionId ?? session.subscriptionId;
  const auth = vault.rbac ? await authorizationClient(session, vaultSub) : undefined;
  const roleNames = auth ? await manifestRoleNames(auth, vault, manifest) : new Map<string, string>();
  const identities: IdentityFound[] = [];
  for (const g of groupIdentities(manifest, session.subscriptionId)) {
    const found = await findGroupIdentity(session, g);
    if (found.exists && auth && found.principalId) found.roleAssignments = await principalAssignments(auth, vaultSub, found.principalId);
    identities.push(found);
  }
  if (auth) await nameOtherRoles(auth, vault, identities, roleNames);
  return { identities, roleNames };
}

/** Role definition GUID (lower case) -> name, for the roles the manifest's targets name. */
async function manifestRoleNames(auth: Authorization, vault: VaultInfo, manifest: Manifest): Promise<Map<string, string>> {
  const roleNames = new Map<string, string>();
  for (const role of new Set(manifest.targets.map((t) => t.access.role))) {
    const filter = `roleName eq '${role.replace(/'/g, "''")}'`;
    for await (const d of auth.roleDefinitions.list(scopeParam(vault.id), { filter })) {
      if (d.id && d.roleName) roleNames.set((d.id.split('/').pop() ?? d.id).toLowerCase(), d.roleName);
    }
  }
  return roleNames;
}

/** The group's identity: a managed one as Azure holds it (with its credentials), others as declared. */
async function findGroupIdentity(session: AzureSession, g: IdentityGroup): Promise<IdentityFound> {
  const spec = g.spec;
  const found: IdentityFound = { key: g.key, spec, targets: g.targets, exists: true, subscriptionId: session.subscriptionId, credentials: [], roleAssignments: [] };
  if (spec.mode === 'external') {
    found.principalId = spec.principalId;
    return found;
  }
  if (spec.mode === 'kubelet') {
    found.principalId = spec.principalId ?? (await kubeletPrincipal(session, spec.clientId));
    return found;
  }
  const sub = spec.subscriptionId ?? session.subscriptionId;
  found.subscriptionId = sub;
  const msi = await msiClient(session, sub);
  let live;
  try {
    live = await msi.userAssignedIdentities.get(spec.resourceGroup, spec.name);
  } catch (e) {
    if (azureStatusOf(e) !== 404) throw e;
  }
  if (!live) return { ...found, exists: false };
  found.tags = { ...(live.tags ?? {}) };
  found.principalId = live.principalId;
  found.clientId = live.clientId;
  for await (const c of msi.federatedIdentityCredentials.list(spec.resourceGroup, spec.name)) {
    found.credentials.push({ name: c.name ?? '', issuer: c.issuer, subject: c.subject, audiences: c.audiences });
  }
  return found;
}

/** Every assignment of the principal at, above and below the subscription (principalId filter). */
async function principalAssignments(auth: Authorization, subscriptionId: string, pid: string): Promise<FoundRoleAssignment[]> {
  const ras: FoundRoleAssignment[] = [];
  for await (const a of auth.roleAssignments.listForScope(`subscriptions/${subscriptionId}`, { filter: `principalId eq '${pid}'` })) {
    if (a.name && a.scope && a.roleDefinitionId && a.principalId && a.principalId.toLowerCase() === pid.toLowerCase()) {
      ras.push({ name: a.name, scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId });
    }
  }
  return ras;
}

/** Names of the other roles the principals hold (display only; a failed lookup shows the GUID). */
async function nameOtherRoles(auth: Authorization, vault: VaultInfo, identities: IdentityFound[], roleNames: Map<string, string>): Promise<void> {
  const unknown = new Set(identities.flatMap((i) => i.roleAssignments.map((a) => (a.roleDefinitionId.split('/').pop() ?? a.roleDefinitionId).toLowerCase())).filter((g) => !roleNames.has(g)));
  for (const guid of unknown) {
    try {
      const d = await auth.roleDefinitions.get(scopeParam(vault.id), guid);
      if (d.roleName) roleNames.set(guid, d.roleName);
    } catch (e) {
      runner.debug(`role definition ${guid}: ${messageOf(e).split('\n')[0] ?? ''}`);
    }
  }
}

/** The principal id of a kubelet identity given by client id (undefined when not visible). */
async function kubeletPrincipal(session: AzureSession, clientId: string): Promise<string | undefined> {
  const msi = await msiClient(session);
  for await (const i of msi.userAssignedIdentities.listBySubscription()) {
    if (i.clientId?.toLowerCase() === clientId.toLowerCase() && i.principalId) return i.principalId;
  }
  return undefined;
}

async function readSecrets(gw: VaultGateway, vault: VaultInfo, manifest: Manifest): Promise<SecretsState | undefined> {
  const opts = manifest.cleanup;
  if (!opts?.deleteSecrets) return undefined;
  const wanted = manifest.secrets.filter((s) => s.source.kind !== 'existing');
  if (!wanted.length) return undefined;
  const state: SecretsState = { live: new Map(), deleted: new Map() };
  for (const [k, l] of await listLive(gw.client, gw.limiter, vault.name)) state.live.set(k, { name: l.name, tags: l.tags });
  if (opts.purge) {
    for (const s of wanted) {
      if (state.live.has(s.name.toLowerCase())) continue;
      const d = await getDeleted(gw.client, gw.limiter, s.name);
      if (d) state.deleted.set(s.name.toLowerCase(), d);
    }
  }
  return state;
}

interface Executors {
  session: AzureSession;
  vault: VaultInfo;
  kube: KubeSession;
  gw: VaultGateway;
}

type OpOf<K extends CleanupOp['kind']> = Extract<CleanupOp, { kind: K }>;

async function deleteKubeObject(kube: KubeSession, op: OpOf<'kube'>): Promise<void> {
  const preconditions = op.uid ? { uid: op.uid, resourceVersion: op.resourceVersion } : undefined;
  try {
    await kube.objects.delete({ apiVersion: op.apiVersion, kind: op.objectKind, metadata: { name: op.name, namespace: op.namespace } }, { propagationPolicy: 'Background', preconditions });
  } catch (err) {
    const s = kubeStatusOf(err);
    if (s === 404) return;
    if (s === 409) throw new Error(`${op.objectKind} ${op.namespace ? `${op.namespace}/` : ''}${op.name} changed since it was read (${errorSummary(err)}); run the clean-up again`);
    throw new Error(`cannot delete ${op.objectKind} ${op.namespace ? `${op.namespace}/` : ''}${op.name}: ${errorSummary(err)}`);
  }
}

async function removeAccessPolicy(session: AzureSession, vault: VaultInfo, op: OpOf<'access-policy'>): Promise<void> {
  if (!vault.resourceGroup) throw new Error(`the resource group of ${vault.name} is unknown`);
  const kvm = await keyVaultManagementClient(session, vault.subscriptionId ?? session.subscriptionId);
  await retryWhile(
    () =>
      kvm.vaults.updateAccessPolicy(vault.resourceGroup!, vault.name, 'remove', {
        properties: { accessPolicies: [{ tenantId: op.tenantId, objectId: op.objectId, applicationId: op.applicationId, permissions: op.permissions }] },
      }),
    (e) => azureStatusOf(e) === 409,
    { timeoutMs: CLEANUP_PROPAGATION_MS },
  );
}

async function deleteCredential(session: AzureSession, op: OpOf<'federated-credential'>): Promise<void> {
  const msi = await msiClient(session, op.subscriptionId);
  await retryWhile(
    async () => {
      try {
        await msi.federatedIdentityCredentials.delete(op.resourceGroup, op.identity, op.name);
      } catch (e) {
        if (azureStatusOf(e) === 404) return;
        throw e;
      }
    },
    (e) => hasCode(e, 'ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity') || azureStatusOf(e) === 409,
    { timeoutMs: CLEANUP_PROPAGATION_MS },
  );
}

async function removeSecret(gw: VaultGateway, op: OpOf<'secret'>): Promise<void> {
  if (op.alreadyDeleted) {
    await retryWhile(
      () => gw.limiter.run('write', () => gw.client.purgeDeletedSecret(op.name)),
      (e) => hasCode(e, 'ObjectIsBeingDeleted') || azureStatusOf(e) === 409,
      { timeoutMs: CLEANUP_PROPAGATION_MS },
    );
    return;
  }
  await ignoreNotFound(() => deleteSecret(gw, op.name, op.purge));
}

async function ignoreNotFound(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (azureStatusOf(e) !== 404) throw e;
  }
}

async function execute(x: Executors, op: CleanupOp): Promise<void> {
  const { session, vault } = x;
  switch (op.kind) {
    case 'identity-binding':
      return deleteBinding(new ArmRest(session), op.clusterId, op.name);
    case 'kube':
      return deleteKubeObject(x.kube, op);
    case 'role-assignment':
      return ignoreNotFound(async () => (await authorizationClient(session, vault.subscriptionId ?? session.subscriptionId)).roleAssignments.delete(scopeParam(op.scope), op.name));
    case 'access-policy':
      return removeAccessPolicy(session, vault, op);
    case 'federated-credential':
      return deleteCredential(session, op);
    case 'identity':
      return ignoreNotFound(async () => (await msiClient(session, op.subscriptionId)).userAssignedIdentities.delete(op.resourceGroup, op.name));
    case 'secret':
      return removeSecret(x.gw, op);
  }
}

/** Reads everything clean-up decides on (never a secret value), then plans. No writes. */
export async function planCleanupRun(session: AzureSession, vault: VaultInfo, kube: KubeSession, manifest: Manifest, opts: { issuer?: string; ledger?: LedgerBook }): Promise<CleanupStep[]> {
  const kubeState = await readKubeState(kube, manifest);
  const { identities, roleNames } = await readIdentities(session, vault, manifest);
  const secrets = await readSecrets(vaultGateway(session, vault), vault, manifest);
  const ledgers = await readLedgers(opts.ledger ?? ledgerBook(session, vault, manifest.instance));
  const own = ledgers.find((l) => l.instance === manifest.instance.key);
  const bindingSteps = planBindingCleanup({ ...(await readBindingState(session, kube, manifest, own)), manifest, subscriptionId: session.subscriptionId, ledgers });
  return withBindingSteps(
    planCleanup({
      ledgers,
      manifest,
      vault: { id: vault.id, name: vault.name, rbac: vault.rbac, tenantId: vault.tenantId || session.tenantId, accessPolicies: vault.accessPolicies },
      kube: kubeState,
      identities,
      secrets,
      issuer: opts.issuer || undefined,
      roleNames,
    }),
    bindingSteps,
  );
}

/** What clean-up of identity bindings decides on: the instance's RBAC and the cluster's bindings (only when the manifest binds or its ledger records bindings). */
async function readBindingState(session: AzureSession, kube: KubeSession, manifest: Manifest, own: GrantLedger | undefined): Promise<Pick<BindingCleanupInput, 'clusterId' | 'rbac' | 'bindings'>> {
  const clusterId = bindingClusterId(manifest, session.subscriptionId, own);
  if (!clusterId) return { clusterId: '', rbac: [] };
  const selector = `${MANAGED_BY_LABEL}=${ACTION_NAME},${INSTANCE_LABEL}=${instanceId(manifest)}`;
  const rbac = (await ownBindingRbac(kube, selector)).map((o) => ({ kind: o.kind as RbacKind, name: o.metadata?.name ?? '', labels: o.metadata?.labels ?? {} }));
  const bindings = await listBindings(new ArmRest(session), clusterId).catch((e: unknown) => {
    if (azureStatusOf(e) === 404) return [];
    runner.info(`warning: ${bindingFailure(e, clusterId, 'listing identity bindings').message}`);
    return undefined;
  });
  return { clusterId, rbac, bindings };
}

/**
 * Clean-up mode. `plan`: the list of what would be deleted and kept (reads only). `apply`: deletes
 * exactly the planned `delete` items, in the planned order (Kubernetes objects, vault grants,
 * federated credentials, identities, then secrets when the manifest asks). Items are value-free.
 * A failed deletion stops the run with a CleanupError carrying the items.
 */
export async function runCleanup(session: AzureSession, vault: VaultInfo, kube: KubeSession, manifest: Manifest, opts: CleanupOptions): Promise<{ items: PlanItem[] }> {
  const steps = await planCleanupRun(session, vault, kube, manifest, { issuer: opts.issuer, ledger: opts.ledger });
  const items = steps.map((s) => s.item);
  if (opts.mode === 'plan') return { items };
  for (const [i, s] of steps.entries()) {
    if (!s.op) continue;
    try {
      await execute({ session, vault, kube, gw: vaultGateway(session, vault) }, s.op);
    } catch (e) {
      const done = steps.slice(0, i).filter((x) => x.op).length;
      const left = steps.slice(i + 1).filter((x) => x.op).length;
      throw new CleanupError(
        `clean-up stopped at ${s.item.kind} ${s.item.name}: ${messageOf(e).split('\n')[0]} (${done} deletion(s) done, ${left} not run; run the clean-up again after fixing the cause)`,
        items,
        e,
      );
    }
    runner.info(`deleted ${s.item.kind} ${s.item.name}${s.item.reason ? ` (${s.item.reason})` : ''}`);
  }
  return { items };
}
