// A Key Vault secret PUT is not idempotent: every accepted PUT is a new version. When its answer is
// lost (connection reset, timeout, a gateway 5xx after the vault applied it), the SDK's retry policy
// sends it again and the vault would hold the same value twice. Before such a re-send, this per-retry
// policy reads the secret's latest version; when that version already is exactly what the PUT carries
// (value, content type, tags, dates), the read answers the PUT and nothing is written a second time.
import * as runner from '../runner/index.ts';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from '@azure/core-rest-pipeline';

export const LOST_WRITE_POLICY = 'akvAksLostWriteGuard';

interface SecretWrite {
  value?: unknown;
  contentType?: unknown;
  tags?: Record<string, unknown>;
  attributes?: { exp?: unknown; nbf?: unknown; enabled?: unknown };
}

/** The secret name of a set-secret request (`PUT /secrets/{name}`), else undefined. */
export function setSecretName(request: Pick<PipelineRequest, 'method' | 'url'>): string | undefined {
  if (request.method !== 'PUT') return undefined;
  const m = /^\/secrets\/([^/]+)\/?$/.exec(new URL(request.url).pathname);
  return m ? decodeURIComponent(m[1] as string) : undefined;
}

function sortedEntries(tags: Record<string, unknown> | undefined): string {
  return JSON.stringify(Object.entries(tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** True when the stored version is what the PUT asked for (a version the vault made from it, or one just like it). */
export function sameWrite(sent: SecretWrite, stored: SecretWrite): boolean {
  if (typeof sent.value !== 'string' || sent.value !== stored.value) return false;
  if ((sent.contentType ?? undefined) !== (stored.contentType ?? undefined)) return false;
  if (sortedEntries(sent.tags) !== sortedEntries(stored.tags)) return false;
  const a = sent.attributes ?? {};
  const b = stored.attributes ?? {};
  if ((a.exp ?? undefined) !== (b.exp ?? undefined) || (a.nbf ?? undefined) !== (b.nbf ?? undefined)) return false;
  return a.enabled === undefined || a.enabled === (b.enabled ?? true);
}

function parse(text: string | null | undefined): SecretWrite | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as SecretWrite) : undefined;
  } catch {
    return undefined;
  }
}

/** An answer that may have been lost after the vault acted on the request. */
function answerLost(response: PipelineResponse): boolean {
  return response.status === 408 || (response.status >= 500 && response.status !== 501 && response.status !== 505);
}

async function latestIfSame(request: PipelineRequest, sent: SecretWrite, next: SendRequest): Promise<PipelineResponse | undefined> {
  const headers = createHttpHeaders({ accept: 'application/json' });
  const auth = request.headers.get('authorization');
  if (auth) headers.set('authorization', auth);
  const read = createPipelineRequest({ url: request.url, method: 'GET', headers, abortSignal: request.abortSignal, tracingOptions: request.tracingOptions });
  let response: PipelineResponse;
  try {
    response = await next(read);
  } catch {
    return undefined; // the re-send decides
  }
  if (response.status !== 200 || !sameWrite(sent, parse(response.bodyAsText) ?? {})) return undefined;
  // Answer the PUT itself: the SDK deserializes by the original request's operation.
  return { ...response, request };
}

export function lostWriteGuardPolicy(): PipelinePolicy {
  const uncertain = new WeakSet<PipelineRequest>();
  return {
    name: LOST_WRITE_POLICY,
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const name = setSecretName(request);
      if (name === undefined || typeof request.body !== 'string') return next(request);
      if (uncertain.has(request)) {
        const sent = parse(request.body);
        const landed = sent ? await latestIfSame(request, sent, next) : undefined;
        if (landed) {
          runner.info(`secret ${name}: the answer to its write was lost, but the vault already holds that write; not writing it again`);
          return landed;
        }
      }
      try {
        const response = await next(request);
        if (answerLost(response)) uncertain.add(request);
        return response;
      } catch (e) {
        if ((e as { name?: string }).name !== 'AbortError') uncertain.add(request);
        throw e;
      }
    },
  };
}
