// The Kubernetes calls the action makes, named and shaped as client-node's generated clients name
// them (so the steps read as before), over KubeHttp: plain JSON in and out, no model classes.
import type {
  AuthenticationV1TokenRequest,
  CoreV1Event,
  KubernetesObject,
  V1DaemonSet,
  V1Deployment,
  V1Namespace,
  V1Pod,
  V1ReplicaSet,
  V1Secret,
  V1ServiceAccount,
  V1StatefulSet,
  V1SubjectAccessReview,
} from '@kubernetes/client-node';
import type { KubeHttp, Query } from './http.ts';

/** A list answer as the apiserver sends it. */
export interface ListOf<T> {
  items: T[];
  metadata?: { continue?: string; remainingItemCount?: number; resourceVersion?: string };
}

interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  /** The continue token of the previous page (client-node's name for it). */
  _continue?: string;
}

const selectorQuery = (s: Selectors): Query => ({ labelSelector: s.labelSelector, fieldSelector: s.fieldSelector, limit: s.limit, continue: s._continue });
const seg = encodeURIComponent;

/** The API base of an apiVersion: `/api/v1` for the core group, `/apis/{group}/{version}` otherwise. */
const apiBase = (apiVersion: string): string => (apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

/** A collection's path under its API base (`/api/v1`, `/apis/apps/v1`): in one namespace, or across all. */
function collectionPath(base: string, resource: string, namespace: string | undefined): string {
  return namespace === undefined ? `${base}/${resource}` : `${base}/namespaces/${seg(namespace)}/${resource}`;
}

function listAt<T>(http: KubeHttp, base: string, resource: string, namespace: string | undefined, s: Selectors): Promise<ListOf<T>> {
  return http.json<ListOf<T>>({ method: 'GET', path: collectionPath(base, resource, namespace), query: selectorQuery(s) });
}

/** The core/v1 calls. Types are client-node's (type-only: nothing of it is loaded). */
export class CoreApi {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  private list<T>(resource: string, namespace: string | undefined, s: Selectors): Promise<ListOf<T>> {
    return listAt<T>(this.http, '/api/v1', resource, namespace, s);
  }

  listNamespace = (s: Selectors = {}) => this.list<V1Namespace>('namespaces', undefined, s);
  readNamespace = (p: { name: string }) => this.http.json<V1Namespace>({ method: 'GET', path: `/api/v1/namespaces/${seg(p.name)}` });
  listNamespacedPod = (p: { namespace: string } & Selectors) => this.list<V1Pod>('pods', p.namespace, p);
  listPodForAllNamespaces = (s: Selectors = {}) => this.list<V1Pod>('pods', undefined, s);
  listNamespacedServiceAccount = (p: { namespace: string } & Selectors) => this.list<V1ServiceAccount>('serviceaccounts', p.namespace, p);
  listServiceAccountForAllNamespaces = (s: Selectors = {}) => this.list<V1ServiceAccount>('serviceaccounts', undefined, s);
  readNamespacedServiceAccount = (p: { name: string; namespace: string }) =>
    this.http.json<V1ServiceAccount>({ method: 'GET', path: `/api/v1/namespaces/${seg(p.namespace)}/serviceaccounts/${seg(p.name)}` });
  listNamespacedSecret = (p: { namespace: string } & Selectors) => this.list<V1Secret>('secrets', p.namespace, p);
  listNamespacedEvent = (p: { namespace: string } & Selectors) => this.list<CoreV1Event>('events', p.namespace, p);
  listEventForAllNamespaces = (s: Selectors = {}) => this.list<CoreV1Event>('events', undefined, s);
  createNamespacedServiceAccountToken = (p: { name: string; namespace: string; body: unknown }) =>
    this.http.json<AuthenticationV1TokenRequest>({
      method: 'POST',
      path: `/api/v1/namespaces/${seg(p.namespace)}/serviceaccounts/${seg(p.name)}/token`,
      body: p.body,
    });
}

/** The apps/v1 calls. */
export class AppsApi {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  private list<T>(resource: string, namespace: string | undefined, s: Selectors): Promise<ListOf<T>> {
    return listAt<T>(this.http, '/apis/apps/v1', resource, namespace, s);
  }

  listNamespacedDeployment = (p: { namespace: string } & Selectors) => this.list<V1Deployment>('deployments', p.namespace, p);
  listDeploymentForAllNamespaces = (s: Selectors = {}) => this.list<V1Deployment>('deployments', undefined, s);
  listNamespacedStatefulSet = (p: { namespace: string } & Selectors) => this.list<V1StatefulSet>('statefulsets', p.namespace, p);
  listStatefulSetForAllNamespaces = (s: Selectors = {}) => this.list<V1StatefulSet>('statefulsets', undefined, s);
  listNamespacedDaemonSet = (p: { namespace: string } & Selectors) => this.list<V1DaemonSet>('daemonsets', p.namespace, p);
  listDaemonSetForAllNamespaces = (s: Selectors = {}) => this.list<V1DaemonSet>('daemonsets', undefined, s);
  listNamespacedReplicaSet = (p: { namespace: string } & Selectors) => this.list<V1ReplicaSet>('replicasets', p.namespace, p);
  listReplicaSetForAllNamespaces = (s: Selectors = {}) => this.list<V1ReplicaSet>('replicasets', undefined, s);
}

/** authorization.k8s.io/v1: the question the AKS token proxy asks (identity bindings). */
export class AuthorizationApi {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  createSubjectAccessReview = (p: { body: V1SubjectAccessReview }) =>
    this.http.json<V1SubjectAccessReview>({ method: 'POST', path: '/apis/authorization.k8s.io/v1/subjectaccessreviews', body: p.body });
}

interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/** Custom resources (the CSI driver's SecretProviderClasses and their pod statuses). */
export class CustomApi {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  listNamespacedCustomObject = (p: CustomResource & { namespace: string } & Selectors) => listAt<unknown>(this.http, apiBase(`${p.group}/${p.version}`), p.plural, p.namespace, p);
  listClusterCustomObject = (p: CustomResource & Selectors) => listAt<unknown>(this.http, apiBase(`${p.group}/${p.version}`), p.plural, undefined, p);
  getNamespacedCustomObject = (p: CustomResource & { namespace: string; name: string }) =>
    this.http.json<unknown>({ method: 'GET', path: `${collectionPath(apiBase(`${p.group}/${p.version}`), p.plural, p.namespace)}/${seg(p.name)}` });
}

/** How a PATCH body is read (client-node's PatchStrategy values, the content types themselves). */
export const PatchStrategy = {
  MergePatch: 'application/merge-patch+json',
  ServerSideApply: 'application/apply-patch+yaml',
} as const;
export type PatchStrategy = (typeof PatchStrategy)[keyof typeof PatchStrategy];

interface Resource {
  plural: string;
  namespaced: boolean;
}

/** The kinds the action reads, applies or deletes, so no discovery request is needed for them. */
const KNOWN: Record<string, Resource> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'apps/v1/DaemonSet': { plural: 'daemonsets', namespaced: true },
  'apps/v1/ReplicaSet': { plural: 'replicasets', namespaced: true },
  'batch/v1/Job': { plural: 'jobs', namespaced: true },
  'batch/v1/CronJob': { plural: 'cronjobs', namespaced: true },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { plural: 'clusterrolebindings', namespaced: false },
  'networking.k8s.io/v1/Ingress': { plural: 'ingresses', namespaced: true },
  'secrets-store.csi.x-k8s.io/v1/SecretProviderClass': { plural: 'secretproviderclasses', namespaced: true },
  'secrets-store.csi.x-k8s.io/v1/SecretProviderClassPodStatus': { plural: 'secretproviderclasspodstatuses', namespaced: true },
};

/** Generic objects by apiVersion and kind (client-node's KubernetesObjectApi, for the calls the action makes). */
export class ObjectsApi {
  private readonly discovered = new Map<string, Promise<Map<string, Resource>>>();

  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  private async resource(apiVersion: string, kind: string): Promise<Resource> {
    const known = KNOWN[`${apiVersion}/${kind}`];
    if (known) return known;
    let kinds = this.discovered.get(apiVersion);
    if (!kinds) {
      kinds = this.http.json<{ resources?: Array<{ name: string; kind: string; namespaced: boolean }> }>({ method: 'GET', path: apiBase(apiVersion) }).then((d) => {
        const m = new Map<string, Resource>();
        for (const r of d.resources ?? []) if (!r.name.includes('/')) m.set(r.kind, { plural: r.name, namespaced: r.namespaced });
        return m;
      });
      this.discovered.set(apiVersion, kinds);
      kinds.catch(() => this.discovered.delete(apiVersion));
    }
    const found = (await kinds).get(kind);
    if (!found) throw new Error(`the cluster serves no ${kind} in ${apiVersion}`);
    return found;
  }

  private async collection(apiVersion: string, kind: string, namespace: string | undefined): Promise<string> {
    const r = await this.resource(apiVersion, kind);
    return collectionPath(apiBase(apiVersion), r.plural, r.namespaced && namespace ? namespace : undefined);
  }

  private async path(o: KubernetesObject): Promise<string> {
    const name = o.metadata?.name;
    if (!o.apiVersion || !o.kind || !name) throw new Error('an object needs apiVersion, kind and metadata.name');
    return `${await this.collection(o.apiVersion, o.kind, o.metadata?.namespace)}/${seg(name)}`;
  }

  async read<T extends KubernetesObject>(o: KubernetesObject): Promise<T> {
    return this.http.json<T>({ method: 'GET', path: await this.path(o) });
  }

  /** A PATCH of the object: server-side apply (`force` takes fields over) or a JSON merge patch. */
  async patch<T extends KubernetesObject>(o: KubernetesObject, opts: { strategy: PatchStrategy; fieldManager?: string; force?: boolean; dryRun?: boolean }): Promise<T> {
    return this.http.json<T>({
      method: 'PATCH',
      path: await this.path(o),
      query: { fieldManager: opts.fieldManager, force: opts.force || undefined, dryRun: opts.dryRun ? 'All' : undefined },
      body: o,
      contentType: opts.strategy,
    });
  }

  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, s: Selectors = {}): Promise<ListOf<T>> {
    return this.http.json<ListOf<T>>({ method: 'GET', path: await this.collection(apiVersion, kind, namespace), query: selectorQuery(s) });
  }

  /** Deletes the object; `preconditions` make the apiserver refuse it if the object changed since it was read. */
  async delete(o: KubernetesObject, opts: { preconditions?: { uid?: string; resourceVersion?: string }; propagationPolicy?: string } = {}): Promise<unknown> {
    const body = opts.preconditions || opts.propagationPolicy ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: opts.preconditions, propagationPolicy: opts.propagationPolicy } : undefined;
    return this.http.json<unknown>({ method: 'DELETE', path: await this.path(o), body });
  }
}
