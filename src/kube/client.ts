// Kubernetes access for the action: the kubeconfig azure/aks-set-context leaves in KUBECONFIG (or
// a `kubeconfig` / `context` input for several clusters), plus the two identity helpers the Azure
// side needs: the cluster's service-account issuer (byte-exact) and a TokenRequest token.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, HttpMethod, KubeConfig, KubernetesObjectApi, RequestContext, WellKnownApi } from '@kubernetes/client-node';
import type { Cluster } from '@kubernetes/client-node';
import type https from 'node:https';
import { createHash } from 'node:crypto';
import { TOKEN_EXCHANGE_AUDIENCE } from '../names.ts';

export interface KubeSession {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
  context: string;
  server: string;
}

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

type Dispatcher = ReturnType<RequestContext['getDispatcher']>;

/**
 * client-node 2.0 gives every request a new undici Agent (a new TLS connection each): this KubeConfig
 * overrides the public auth hook every API client and Watch calls to reuse one dispatcher per cluster
 * + TLS material; headers still per request. Design note: docs/architecture.md, Kubernetes connections.
 */
class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, Promise<Dispatcher>>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const options: https.RequestOptions = {};
    await this.applyToHTTPSOptions(options);
    if (options.auth) context.setHeaderParam('Authorization', `Basic ${Buffer.from(options.auth).toString('base64')}`);
    for (const [name, value] of Object.entries(options.headers ?? {})) context.setHeaderParam(name, `${value}`);
    const shared = await this.dispatcherFor(connectionKey(this.getCurrentCluster(), options), context.getUrl());
    if (shared) context.setDispatcher(shared);
  }

  private dispatcherFor(key: string, url: string): Promise<Dispatcher> {
    let dispatcher = this.dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = this.libraryDispatcher(url);
      this.dispatchers.set(key, dispatcher);
      // A failed build (say, an exec plugin's hiccup) is retried on the next request, not kept.
      dispatcher.catch(() => this.dispatchers.delete(key));
    }
    return dispatcher;
  }

  /** The dispatcher client-node builds for the current TLS material (proxy, SOCKS and keep-alive as it does). */
  private async libraryDispatcher(url: string): Promise<Dispatcher> {
    const probe = new RequestContext(url, HttpMethod.GET);
    await super.applySecurityAuthentication(probe);
    return probe.getDispatcher();
  }
}

/** What a connection depends on: the cluster endpoint and the TLS material client-node hands its dispatcher. */
function connectionKey(cluster: Cluster | null, options: https.RequestOptions): string {
  const h = createHash('sha256');
  for (const part of [cluster?.name, cluster?.server, cluster?.proxyUrl]) h.update(`${part ?? ''}\0`);
  const tls = {
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    pfx: options.pfx,
    passphrase: options.passphrase,
    rejectUnauthorized: options.rejectUnauthorized,
    servername: options.servername,
  };
  for (const [name, value] of Object.entries(tls)) {
    if (value === undefined) continue;
    h.update(`${name}=`);
    for (const part of Array.isArray(value) ? value : [value]) h.update(typeof part === 'string' || Buffer.isBuffer(part) ? part : (JSON.stringify(part) ?? ''));
    h.update('\0');
  }
  return h.digest('hex');
}

/** Loads the kubeconfig (file given, else `KUBECONFIG` / ~/.kube/config) and selects the context. */
export function connectKube(opts: { kubeconfig?: string; context?: string } = {}): KubeSession {
  const kc = new PooledKubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const where = opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new KubeConfigError(`cannot load kubeconfig ${where}: ${(err as Error).message}`);
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new KubeConfigError(`kubeconfig has no context "${opts.context}" (known: ${known.length ? known.join(', ') : 'none'})`);
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubeConfigError('kubeconfig has no current cluster: run azure/aks-set-context first or give the kubeconfig / context inputs');
  }
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
    context: kc.getCurrentContext(),
    server: cluster.server,
  };
}

/** Issuer byte-exact from the cluster's /.well-known/openid-configuration. */
export async function readServiceAccountIssuer(kube: KubeSession): Promise<string> {
  const api = kube.kc.makeApiClient(WellKnownApi);
  let raw: unknown;
  try {
    raw = await api.getServiceAccountIssuerOpenIDConfiguration();
  } catch (err) {
    throw new Error(`cannot read the service-account issuer from ${kube.server}/.well-known/openid-configuration: ${errorSummary(err)}`);
  }
  // The generated client types this as string; depending on the content type it may arrive parsed.
  const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { issuer?: unknown };
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
