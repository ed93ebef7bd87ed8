// Kubernetes access for the action: the kubeconfig azure/aks-set-context leaves in KUBECONFIG (or
// a `kubeconfig` / `context` input for several clusters), plus the two identity helpers the Azure
// side needs: the cluster's service-account issuer (byte-exact) and a TokenRequest token.
import { TOKEN_EXCHANGE_AUDIENCE } from '../names.ts';
import { AppsApi, AuthorizationApi, CoreApi, CustomApi, ObjectsApi } from './api.ts';
import { KubeHttp } from './http.ts';
import { KubeConfigError, loadClusterAccess } from './kubeconfig.ts';

export { KubeConfigError } from './kubeconfig.ts';

export interface KubeSession {
  http: KubeHttp;
  core: CoreApi;
  apps: AppsApi;
  custom: CustomApi;
  objects: ObjectsApi;
  authorization: AuthorizationApi;
  context: string;
  server: string;
}

/**
 * Loads the kubeconfig (file given, else `KUBECONFIG` / ~/.kube/config / in-cluster) and selects the
 * context. The calls go through the action's own client (src/kube/http.ts): docs/architecture.md,
 * "Kubernetes connections", says why.
 */
export function connectKube(opts: { kubeconfig?: string; context?: string } = {}): KubeSession {
  const access = loadClusterAccess(opts);
  if (!access.server.startsWith('https://')) throw new KubeConfigError(`kubeconfig cluster "${access.cluster}" has a server that is not https:// (${access.server})`);
  const http = new KubeHttp(access);
  return {
    http,
    core: new CoreApi(http),
    apps: new AppsApi(http),
    custom: new CustomApi(http),
    objects: new ObjectsApi(http),
    authorization: new AuthorizationApi(http),
    context: access.context,
    server: access.server,
  };
}

/** Issuer byte-exact from the cluster's /.well-known/openid-configuration. */
export async function readServiceAccountIssuer(kube: KubeSession): Promise<string> {
  let doc: { issuer?: unknown };
  try {
    doc = await kube.http.json<{ issuer?: unknown }>({ method: 'GET', path: '/.well-known/openid-configuration' });
  } catch (err) {
    throw new Error(`cannot read the service-account issuer from ${kube.server}/.well-known/openid-configuration: ${errorSummary(err)}`);
  }
  if (typeof doc.issuer !== 'string' || doc.issuer === '') {
    throw new Error(`the cluster's openid-configuration at ${kube.server} has no issuer`);
  }
  return doc.issuer;
}

/**
 * A projected-style service-account token through the TokenRequest API, as the kubelet requests one
 * for a pod (audience default api://AzureADTokenExchange). The token is a credential: never log it.
 */
export async function serviceAccountToken(kube: KubeSession, namespace: string, serviceAccount: string, audience: string = TOKEN_EXCHANGE_AUDIENCE): Promise<string> {
  let res;
  try {
    res = await kube.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      // 600 s is the API server's minimum expiry.
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds: 600 } },
    });
  } catch (err) {
    throw new Error(`TokenRequest for ${namespace}/${serviceAccount} failed: ${errorSummary(err)}`);
  }
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return token;
}

/** HTTP status of a client-node error, if it carries one. */
export function kubeStatusOf(err: unknown): number | undefined {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === 'number') return e.code;
    if (typeof e.statusCode === 'number') return e.statusCode;
  }
  return undefined;
}

/** A short, value-free description of a Kubernetes API error (status + the API's message). */
export function errorSummary(err: unknown): string {
  const status = kubeStatusOf(err);
  const body = (err as { body?: unknown } | undefined)?.body;
  let message: string | undefined;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      message = undefined;
    }
  } else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    message = (body as { message: string }).message;
  }
  if (!message) message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return status ? `HTTP ${status}: ${message}` : (message ?? 'unknown error');
}
