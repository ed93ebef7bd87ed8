// The ARM calls of identity bindings (no SDK of Microsoft.ContainerService is bundled: four REST
// calls through the same pipeline options as the SDK clients, bearer token for the session's cloud).
// Shapes: azure-rest-api-specs specification/containerservice/resource-manager/Microsoft.ContainerService/
// aks/stable/2026-05-01 (managedClusters.json, examples/IdentityBindings_Create_Or_Update.json @ 1fb9409a).
import type { HttpClient, Pipeline } from '@azure/core-rest-pipeline';
import type { AzureSession } from '../auth/login.ts';
import { azureStatusOf, sdkClientOptions } from '../auth/http.ts';
import { sleep } from '../util/concurrency.ts';
import { IDENTITY_BINDING_API_VERSION } from './bindings.ts';
import type { LiveBinding } from './bindings.ts';

interface ArmBinding {
  name?: string;
  properties?: { managedIdentity?: { resourceId?: string; clientId?: string }; oidcIssuer?: { oidcIssuerUrl?: string }; provisioningState?: string };
}

type RestPipeline = typeof import('@azure/core-rest-pipeline');

/**
 * A minimal ARM client: JSON in, JSON out, a RestError (status, body) on a refusal. Its pipeline
 * (core-rest-pipeline) loads on the first call: a run without bindings never loads it.
 */
export class ArmRest {
  private ready?: Promise<{ rp: RestPipeline; pipeline: Pipeline; http: HttpClient }>;
  private readonly session: AzureSession;
  constructor(session: AzureSession) {
    this.session = session;
  }

  private connect(): Promise<{ rp: RestPipeline; pipeline: Pipeline; http: HttpClient }> {
    this.ready ??= import('@azure/core-rest-pipeline').then((rp) => {
      const options = sdkClientOptions();
      const pipeline = rp.createPipelineFromOptions({ retryOptions: options.retryOptions, userAgentOptions: options.userAgentOptions });
      // As core-client places `perRetry` policies: after signing, so they see every attempt's answer.
      for (const p of options.additionalPolicies) pipeline.addPolicy(p.policy, { afterPhase: 'Sign' });
      pipeline.addPolicy(rp.bearerTokenAuthenticationPolicy({ credential: this.session.credential, scopes: [this.session.cloud.armScope] }));
      return { rp, pipeline, http: rp.createDefaultHttpClient() };
    });
    return this.ready;
  }

  async send(method: 'GET' | 'PUT' | 'DELETE', pathOrUrl: string, body?: unknown): Promise<{ status: number; body: unknown; retryAfterMs?: number }> {
    const url = /^https:/.test(pathOrUrl)
      ? pathOrUrl
      : `${this.session.cloud.armEndpoint.replace(/\/$/, '')}${pathOrUrl}${pathOrUrl.includes('?') ? '&' : '?'}api-version=${IDENTITY_BINDING_API_VERSION}`;
    const { rp, pipeline, http } = await this.connect();
    const request = rp.createPipelineRequest({
      url,
      method,
      headers: rp.createHttpHeaders({ accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) }),
      body: body ? JSON.stringify(body) : undefined,
    });
    const res = await pipeline.sendRequest(http, request);
    const text = res.bodyAsText ?? '';
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.status >= 400) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new rp.RestError(`${err?.code ?? res.status}: ${err?.message ?? text.slice(0, 300)}`, { statusCode: res.status, code: err?.code, request, response: res });
    }
    const after = Number(res.headers.get('retry-after'));
    return { status: res.status, body: parsed, ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: after * 1000 } : {}) };
  }
}

const live = (b: ArmBinding): LiveBinding => ({ name: b.name ?? '', identityResourceId: b.properties?.managedIdentity?.resourceId, provisioningState: b.properties?.provisioningState });

/** The bindings of a cluster (IdentityBindings_ListByManagedCluster, following nextLink). */
export async function listBindings(arm: ArmRest, clusterId: string): Promise<LiveBinding[]> {
  const out: LiveBinding[] = [];
  let next: string | undefined = `${clusterId}/identityBindings`;
  while (next) {
    const page = (await arm.send('GET', next)).body as { value?: ArmBinding[]; nextLink?: string };
    out.push(...(page.value ?? []).map(live));
    next = page.nextLink;
  }
  return out;
}

const TERMINAL = new Set(['Succeeded', 'Failed', 'Canceled']);

/**
 * PUT a binding (IdentityBindings_CreateOrUpdate, long-running) and wait until its provisioningState
 * is terminal by reading the resource (honouring Retry-After); throws unless it Succeeded.
 */
export async function putBinding(arm: ArmRest, clusterId: string, name: string, identityResourceId: string, timeoutMs: number): Promise<LiveBinding> {
  const path = `${clusterId}/identityBindings/${name}`;
  let res = await arm.send('PUT', path, { properties: { managedIdentity: { resourceId: identityResourceId } } });
  const deadline = Date.now() + timeoutMs;
  let delay = 1_000;
  for (;;) {
    const b = live(res.body as ArmBinding);
    if (b.provisioningState && TERMINAL.has(b.provisioningState)) {
      if (b.provisioningState !== 'Succeeded') throw new Error(`identity binding ${name} ended ${b.provisioningState}`);
      return b;
    }
    if (Date.now() + delay > deadline) throw new Error(`identity binding ${name} still ${b.provisioningState ?? 'provisioning'} after ${Math.round(timeoutMs / 1000)} s`);
    await sleep(res.retryAfterMs ?? delay);
    delay = Math.min(8_000, delay * 2);
    res = await arm.send('GET', path);
  }
}

/** DELETE a binding (IdentityBindings_Delete); a binding already gone counts as deleted. */
export async function deleteBinding(arm: ArmRest, clusterId: string, name: string): Promise<void> {
  try {
    await arm.send('DELETE', `${clusterId}/identityBindings/${name}`);
  } catch (e) {
    if (azureStatusOf(e) !== 404) throw e;
  }
}

/** The identity bindings of one cluster, as the identity step uses them: listed once, written one at a time. */
export interface BindingDeps {
  /** ARM id of the AKS managed cluster ('' when the manifest binds nothing). */
  clusterId: string;
  list(): Promise<LiveBinding[]>;
  put(name: string, identityResourceId: string): Promise<void>;
}

/** What ARM's refusal of a binding call means, and its fix. */
export function bindingFailure(e: unknown, clusterId: string, what: string): Error {
  const status = azureStatusOf(e);
  const why = e instanceof Error ? e.message : String(e);
  const fix =
    status === 404
      ? `the AKS cluster ${clusterId} was not found: check cluster.name, cluster.resourceGroup and cluster.subscriptionId`
      : status === 403
        ? 'the workflow identity needs Microsoft.ContainerService/managedClusters/identityBindings/read and /write on the cluster (and federatedIdentityCredentials/write on the identity: AKS creates the shared credential as the caller)'
        : undefined;
  return new Error(`${what} on ${clusterId} was refused: ${why}${fix ? `; ${fix}` : ''}`, { cause: e });
}

export function clusterBindings(session: AzureSession, clusterId: string, timeoutMs: number): BindingDeps {
  const arm = new ArmRest(session);
  let listed: Promise<LiveBinding[]> | undefined;
  return {
    clusterId,
    list: () =>
      (listed ??= listBindings(arm, clusterId).catch((e: unknown) => {
        throw bindingFailure(e, clusterId, 'listing identity bindings');
      })),
    put: async (name, identityResourceId) => {
      await putBinding(arm, clusterId, name, identityResourceId, timeoutMs).catch((e: unknown) => {
        throw bindingFailure(e, clusterId, `identity binding ${name}`);
      });
    },
  };
}
