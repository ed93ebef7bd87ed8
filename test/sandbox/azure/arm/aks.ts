// Microsoft.ContainerService/managedClusters (GET/list, for `az aks show` and the action) and its
// identityBindings (PUT/GET/DELETE/list, provisioned asynchronously), plus the exchange the AKS token
// proxy makes for a bound identity (used by the CSI stand-in, test/sandbox/kube/token-proxy.ts).
// Shapes: github.com/Azure/azure-rest-api-specs specification/containerservice/resource-manager/
// Microsoft.ContainerService/aks/stable/2026-05-01 (managedClusters.json @ 0298cf44,
// examples/IdentityBindings_Create_Or_Update.json @ 1fb9409abcdbde788589d1982606c911554d03a4).
// Clusters are made through the control API (`POST /aks/clusters`), not ARM's PUT: the sandbox has
// one kube-apiserver, and a cluster record only says which ARM name presents it.
// Sandbox choices where no source says (docs/identity-bindings.md lists them): the shared credential's
// per-identity issuer URL `https://127.0.0.1:27011/identitybinding/<tenant>/<clientId>`, its subject
// `aks-identity-binding` and audience `api://AzureADTokenExchange`; the name pattern is enforced.
import { randomUUID } from 'node:crypto';
import type { ControlRequest, ControlResponse } from '../world-api.ts';
import { lowerId } from '../world.ts';
import type { FicEntry, IdentityRecord, World } from '../world.ts';
import { armError, authorizeArm, checkApiVersion } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';
import type { Reply } from '../http.ts';
import { PORTS } from '../../ports.ts';

/** The sandbox kube-apiserver's service-account issuer (test/sandbox/kube/controlplane.ts). */
const KUBE_ISSUER = `https://127.0.0.1:${PORTS.kubeApiserver}`;

/**
 * api-versions with identityBindings, each with its example in azure-rest-api-specs
 * specification/containerservice/resource-manager/Microsoft.ContainerService/aks/: stable/2026-05-01
 * (1fb9409a), stable/2026-04-01 (6a526fd1), preview/2026-02-02-preview (f98176ac),
 * preview/2025-{06,07,08,09,10}-02-preview/examples/IdentityBindings_Get.json (f5ec6141, 6e3a2325,
 * 60389555, b16a50a7, 11b1961e).
 */
export const IDENTITY_BINDING_VERSIONS = [
  '2026-05-01',
  '2026-04-01',
  '2026-02-02-preview',
  '2025-10-02-preview',
  '2025-09-02-preview',
  '2025-08-02-preview',
  '2025-07-02-preview',
  '2025-06-02-preview',
] as const;
/**
 * managedClusters GET is answered for those and the earlier stable folders checked to hold
 * managedClusters.json: stable/2026-03-01 (76acc6e2), 2026-02-01 (43b53db0), 2026-01-01 (66f53a4f),
 * 2025-10-01 (425a4d04). Older versions are not served (NoRegisteredProviderFound).
 */
export const MANAGED_CLUSTER_VERSIONS = [...IDENTITY_BINDING_VERSIONS, '2026-03-01', '2026-02-01', '2026-01-01', '2025-10-01'] as const;

const CLUSTER_TYPE = 'Microsoft.ContainerService/managedClusters';
const BINDING_TYPE = 'Microsoft.ContainerService/managedClusters/identityBindings';
export const AKS_MANAGED_CREDENTIAL = 'aks-identity-binding';
const BINDING_NAME = /^[a-z][a-z0-9]{0,62}$/;
const MI_RESOURCE_ID = /^\/subscriptions\/[a-zA-Z0-9-]+\/resourceGroups\/[a-zA-Z0-9-]+\/providers\/Microsoft.ManagedIdentity\/userAssignedIdentities\/[a-zA-Z0-9-]+$/i;

const RE_CLUSTERS = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters$/i;
const RE_CLUSTER = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters\/([^/]+)$/i;
const RE_BINDINGS = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerService\/managedClusters\/[^/]+)\/identityBindings$/i;
const RE_BINDING = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerService\/managedClusters\/[^/]+)\/identityBindings\/([^/]+)$/i;

export interface ClusterRecord {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  /** oidcIssuerProfile.issuerUrl: the sandbox kube-apiserver's issuer (all clusters share the one apiserver). */
  issuerUrl: string;
}

interface BindingRecord {
  id: string;
  name: string;
  clusterId: string;
  identity: IdentityRecord;
  /** ms epoch at which provisioning ends (Creating until then). */
  readyAt: number;
  eTag: string;
}

interface AksState {
  clusters: Map<string, ClusterRecord>;
  bindings: Map<string, BindingRecord>;
  /** Provisioning time of a binding (`PATCH /aks/config { bindingProvisioningMs }`), default 300 ms. */
  provisioningMs: number;
}

const states = new WeakMap<World, AksState>();

export function aksState(w: World): AksState {
  let s = states.get(w);
  if (!s) {
    s = { clusters: new Map(), bindings: new Map(), provisioningMs: 300 };
    states.set(w, s);
    const state = s;
    w.onReset(() => {
      state.clusters.clear();
      state.bindings.clear();
      state.provisioningMs = 300;
    });
  }
  return s;
}

/** The per-identity issuer AKS keeps for bound identities (format of the docs' sample: `.../<tenantId>/<clientId>`). */
export function bindingIssuer(w: World, identity: IdentityRecord): string {
  return `${w.authorityHost.replace(/\/$/, '')}/identitybinding/${identity.tenantId}/${identity.clientId}`;
}

function provisioningState(b: BindingRecord): string {
  return Date.now() >= b.readyAt ? 'Succeeded' : 'Creating';
}

/** Once provisioned, the identity carries the shared credential (created or reused, never duplicated). */
function settle(w: World, b: BindingRecord): void {
  if (provisioningState(b) !== 'Succeeded') return;
  if (w.fics.some((f) => f.identityId && lowerId(f.identityId) === lowerId(b.identity.id) && f.name === AKS_MANAGED_CREDENTIAL)) return;
  const f: FicEntry = {
    clientId: b.identity.clientId,
    identityId: b.identity.id,
    name: AKS_MANAGED_CREDENTIAL,
    issuer: bindingIssuer(w, b.identity),
    subject: AKS_MANAGED_CREDENTIAL,
    audiences: ['api://AzureADTokenExchange'],
    effectiveAt: Date.now() + w.config.ficPropagationMs,
    createdAt: Date.now(),
  };
  w.fics.push(f);
}

function clusterBody(c: ClusterRecord): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    type: CLUSTER_TYPE,
    location: c.location,
    properties: {
      provisioningState: 'Succeeded',
      kubernetesVersion: '1.34',
      oidcIssuerProfile: { enabled: true, issuerUrl: c.issuerUrl },
      securityProfile: { workloadIdentity: { enabled: true } },
    },
  };
}

function bindingBody(w: World, b: BindingRecord): Record<string, unknown> {
  settle(w, b);
  const i = b.identity;
  return {
    id: b.id,
    name: b.name,
    type: BINDING_TYPE,
    eTag: b.eTag,
    properties: {
      managedIdentity: { resourceId: i.id, clientId: i.clientId, objectId: i.principalId, tenantId: i.tenantId },
      oidcIssuer: { oidcIssuerUrl: bindingIssuer(w, i) },
      provisioningState: provisioningState(b),
    },
  };
}

function clusterNotFound(rg: string, name: string): Reply {
  return armError(404, 'ResourceNotFound', `The Resource '${CLUSTER_TYPE}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}

function findCluster(w: World, id: string): ClusterRecord | undefined {
  return aksState(w).clusters.get(lowerId(id));
}

function putBinding(ctx: ArmContext, cluster: ClusterRecord, name: string): Reply {
  const w = ctx.world;
  const s = aksState(w);
  if (!BINDING_NAME.test(name)) {
    return armError(400, 'InvalidParameter', `The identity binding name '${name}' is invalid: it must match ^[a-z][a-z0-9]{0,63}$ and be at most 63 characters.`);
  }
  const resourceId = ((ctx.body ?? {}) as { properties?: { managedIdentity?: { resourceId?: unknown } } }).properties?.managedIdentity?.resourceId;
  if (typeof resourceId !== 'string' || !MI_RESOURCE_ID.test(resourceId)) {
    return armError(400, 'InvalidParameter', `properties.managedIdentity.resourceId must be the resource id of a user-assigned managed identity, got '${String(resourceId)}'.`);
  }
  const identity = w.identities.get(lowerId(resourceId));
  if (!identity) return armError(400, 'InvalidParameter', `The user-assigned managed identity '${resourceId}' was not found.`);
  const id = `${cluster.id}/identityBindings/${name}`;
  const existing = s.bindings.get(lowerId(id));
  if (existing) {
    if (lowerId(existing.identity.id) !== lowerId(identity.id)) {
      return armError(400, 'PropertyChangeNotAllowed', `Changing property 'properties.managedIdentity' is not allowed: identity binding '${name}' binds '${existing.identity.id}'.`);
    }
    return { status: 200, body: bindingBody(w, existing) };
  }
  const others = w.fics.filter((f) => f.identityId && lowerId(f.identityId) === lowerId(identity.id));
  if (!others.some((f) => f.name === AKS_MANAGED_CREDENTIAL) && others.length >= 20) {
    return armError(400, 'BadRequest', `Too many Federated Identity Credentials are written to Managed Identity '${identity.id}'.`);
  }
  const b: BindingRecord = { id, name, clusterId: cluster.id, identity, readyAt: Date.now() + s.provisioningMs, eTag: randomUUID() };
  s.bindings.set(lowerId(id), b);
  return { status: 201, body: bindingBody(w, b), headers: { 'azure-asyncoperation': `${w.armEndpoint}${id}/operations/${randomUUID()}` } };
}

export const aksRoute: ArmRoute = (ctx) => {
  const w = ctx.world;
  const s = aksState(w);
  let m = RE_CLUSTER.exec(ctx.path);
  if (m && ctx.method === 'GET') {
    const bad = checkApiVersion(ctx, MANAGED_CLUSTER_VERSIONS, CLUSTER_TYPE);
    if (bad) return bad;
    const c = findCluster(w, ctx.path);
    if (!c) return clusterNotFound(m[2]!, m[3]!);
    return authorizeArm(ctx, c.id, `${CLUSTER_TYPE}/read`) ?? { status: 200, body: clusterBody(c) };
  }
  m = RE_CLUSTERS.exec(ctx.path);
  if (m && ctx.method === 'GET') {
    const bad = checkApiVersion(ctx, MANAGED_CLUSTER_VERSIONS, CLUSTER_TYPE);
    if (bad) return bad;
    const prefix = lowerId(ctx.path) + '/';
    return { status: 200, body: { value: [...s.clusters.values()].filter((c) => lowerId(c.id).startsWith(prefix)).map(clusterBody) } };
  }
  m = RE_BINDINGS.exec(ctx.path) ?? RE_BINDING.exec(ctx.path);
  if (!m) return undefined;
  const bad = checkApiVersion(ctx, IDENTITY_BINDING_VERSIONS, BINDING_TYPE);
  if (bad) return bad;
  const cluster = findCluster(w, m[1]!);
  const parts = RE_CLUSTER.exec(m[1]!)!;
  if (!cluster) return clusterNotFound(parts[2]!, parts[3]!);
  const name = m[2];
  if (name === undefined) {
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', `The method '${ctx.method}' is not allowed.`);
    const denied = authorizeArm(ctx, cluster.id, `${BINDING_TYPE}/read`);
    if (denied) return denied;
    return { status: 200, body: { value: [...s.bindings.values()].filter((b) => lowerId(b.clusterId) === lowerId(cluster.id)).map((b) => bindingBody(w, b)) } };
  }
  const id = lowerId(`${cluster.id}/identityBindings/${name}`);
  if (ctx.method === 'GET') {
    const denied = authorizeArm(ctx, cluster.id, `${BINDING_TYPE}/read`);
    if (denied) return denied;
    const b = s.bindings.get(id);
    return b ? { status: 200, body: bindingBody(w, b) } : armError(404, 'NotFound', `Identity binding '${name}' of managed cluster '${cluster.name}' was not found.`);
  }
  if (ctx.method === 'PUT') return authorizeArm(ctx, cluster.id, `${BINDING_TYPE}/write`) ?? putBinding(ctx, cluster, name);
  if (ctx.method === 'DELETE') {
    const denied = authorizeArm(ctx, cluster.id, `${BINDING_TYPE}/delete`);
    if (denied) return denied;
    // The shared credential stays: AKS does not garbage-collect it with the last binding.
    return s.bindings.delete(id) ? { status: 202 } : { status: 204 };
  }
  return armError(405, 'MethodNotAllowed', `The method '${ctx.method}' is not allowed.`);
};

/**
 * What the AKS token proxy hands a pod whose service account RBAC allows the identity: a vault token
 * for the identity, when one of `clusterIds` binds it (Succeeded) and its shared credential has
 * propagated; otherwise the reason, worded by the sandbox (no source gives the proxy's own words).
 */
export function identityBindingExchange(w: World, clusterIds: string[], clientId: string, resource: string): { ok: true; token: string } | { ok: false; status: number; error: string } {
  const wanted = new Set(clusterIds.map(lowerId));
  const binding = [...aksState(w).bindings.values()].find((b) => wanted.has(lowerId(b.clusterId)) && b.identity.clientId === clientId);
  if (!binding) return { ok: false, status: 403, error: `no identity binding of this cluster binds the managed identity with client id ${clientId}` };
  settle(w, binding);
  if (provisioningState(binding) !== 'Succeeded') return { ok: false, status: 503, error: `identity binding ${binding.name} is still ${provisioningState(binding)}` };
  const fic = w.fics.find((f) => f.identityId && lowerId(f.identityId) === lowerId(binding.identity.id) && f.name === AKS_MANAGED_CREDENTIAL);
  if (!fic || Date.now() < fic.effectiveAt)
    return { ok: false, status: 400, error: `AADSTS70021: No matching federated identity record found for presented assertion issuer '${bindingIssuer(w, binding.identity)}'.` };
  const token = w.managedIdentityToken(clientId, resource);
  return token ? { ok: true, token } : { ok: false, status: 400, error: `AADSTS700016: Application with identifier '${clientId}' was not found in the directory.` };
}

/** Control API: `POST /aks/clusters { name, resourceGroup, location? }` (201), `GET /aks/clusters`, `PATCH /aks/config { bindingProvisioningMs }`. */
export function aksControl(w: World, req: ControlRequest): ControlResponse {
  const s = aksState(w);
  if (req.method === 'GET' && req.path === '/aks/clusters') return { status: 200, body: [...s.clusters.values()] };
  if (req.method === 'PATCH' && req.path === '/aks/config') {
    const ms = (req.body as { bindingProvisioningMs?: unknown } | undefined)?.bindingProvisioningMs;
    if (typeof ms === 'number' && ms >= 0) s.provisioningMs = ms;
    return { status: 200, body: { bindingProvisioningMs: s.provisioningMs } };
  }
  if (req.method === 'POST' && req.path === '/aks/clusters') {
    const b = (req.body ?? {}) as { name?: unknown; resourceGroup?: unknown; location?: unknown };
    if (typeof b.name !== 'string' || typeof b.resourceGroup !== 'string') return { status: 400, body: { error: 'name and resourceGroup are required' } };
    w.resourceGroups.add(b.resourceGroup.toLowerCase());
    const id = `/subscriptions/${w.subscriptionId}/resourcegroups/${b.resourceGroup}/providers/${CLUSTER_TYPE}/${b.name}`;
    const c: ClusterRecord = { id, name: b.name, resourceGroup: b.resourceGroup, location: typeof b.location === 'string' ? b.location : w.defaultLocation, issuerUrl: KUBE_ISSUER };
    s.clusters.set(lowerId(id), c);
    return { status: 201, body: c };
  }
  return { status: 404, body: { error: `no control route ${req.method} ${req.path}` } };
}
