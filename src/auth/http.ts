// Shared HTTP behaviour of every Azure SDK client the action builds (and the retry options its own
// reads share, src/auth/rest.ts), and error classification of both.
//
// The SDKs' default retry policy already retries 429/503 that carry Retry-After (throttlingRetryStrategy,
// honouring the header) and 408/5xx/connection errors (exponentialRetryStrategy, with jitter), but it
// gives up at once on a 429 *without* Retry-After. Rather than stacking a second retry loop on top, one
// per-retry policy gives such a response a synthetic `retry-after-ms` (exponential, jittered), so the
// SDK's own retry loop, with the count configured here, handles every throttle the same way.
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { ACTION_NAME } from '../names.ts';
import { sleep } from '../util/concurrency.ts';

export const RETRY_OPTIONS = { maxRetries: 6, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 } as const;

/** How Azure asks a client to wait: `retry-after` in seconds or as an HTTP date, the others in milliseconds. */
export const RETRY_AFTER_HEADER = 'retry-after';
export const RETRY_AFTER_MS_HEADERS = ['retry-after-ms', 'x-ms-retry-after-ms'] as const;
const RETRY_AFTER_HEADERS = [RETRY_AFTER_HEADER, ...RETRY_AFTER_MS_HEADERS];

/** Backoff for the n-th throttled attempt (0-based): 1 s, 2 s, 4 s ... capped at 30 s, plus up to 20% jitter. */
export function throttleBackoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1_000 * 2 ** attempt);
  return Math.round(base + base * 0.2 * random());
}

export function throttleWithoutRetryAfterPolicy(): PipelinePolicy {
  const attempts = new WeakMap<PipelineRequest, number>();
  return {
    name: 'akvAksThrottleBackoff',
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      const response = await next(request);
      if (response.status === 429 && !RETRY_AFTER_HEADERS.some((h) => response.headers.get(h))) {
        const n = attempts.get(request) ?? 0;
        attempts.set(request, n + 1);
        response.headers.set('retry-after-ms', String(throttleBackoffMs(n)));
      }
      return response;
    },
  };
}

/** Options common to every SDK client (core-client and core-rest-pipeline based ones). */
export function sdkClientOptions(): {
  retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
  additionalPolicies: { policy: PipelinePolicy; position: 'perRetry' }[];
  userAgentOptions: { userAgentPrefix: string };
} {
  return {
    retryOptions: { ...RETRY_OPTIONS },
    additionalPolicies: [{ policy: throttleWithoutRetryAfterPolicy(), position: 'perRetry' }],
    userAgentOptions: { userAgentPrefix: ACTION_NAME },
  };
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  statusCode?: unknown;
  details?: unknown;
  response?: { status?: number; bodyAsText?: string | null };
  errorResponse?: { error?: string; errorDescription?: string; errorCodes?: number[] };
  errors?: unknown[];
  cause?: unknown;
}

function collectCodes(body: unknown, into: Set<string>): void {
  if (!body || typeof body !== 'object') return;
  const b = body as { code?: unknown; error?: unknown; innererror?: unknown; innerError?: unknown };
  if (typeof b.code === 'string') into.add(b.code);
  if (typeof b.error === 'string') into.add(b.error);
  else collectCodes(b.error, into);
  collectCodes(b.innererror, into);
  collectCodes(b.innerError, into);
}

/**
 * Every error code an Azure error carries: the RestError code, codes in its body (error.code and
 * innererror.code: Key Vault's `Forbidden` + `ForbiddenByRbac`), and AADSTS codes from Entra errors.
 */
export function errorCodes(e: unknown): string[] {
  const codes = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (x: unknown): void => {
    if (!x || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const err = x as ErrorLike;
    if (typeof err.code === 'string') codes.add(err.code);
    collectCodes(err.details, codes);
    const text = err.response?.bodyAsText;
    if (text) {
      try {
        collectCodes(JSON.parse(text), codes);
      } catch {
        // not JSON
      }
    }
    const descr = [typeof err.message === 'string' ? err.message : '', err.errorResponse?.errorDescription ?? ''].join(' ');
    for (const m of descr.matchAll(/AADSTS\d+/g)) codes.add(m[0]);
    if (err.errorResponse?.error) codes.add(err.errorResponse.error);
    for (const c of err.errorResponse?.errorCodes ?? []) codes.add(`AADSTS${c}`);
    for (const inner of err.errors ?? []) visit(inner);
    visit(err.cause);
  };
  visit(e);
  return [...codes];
}

export function hasCode(e: unknown, ...codes: string[]): boolean {
  const found = errorCodes(e).map((c) => c.toLowerCase());
  return codes.some((c) => found.includes(c.toLowerCase()));
}

export function azureStatusOf(e: unknown): number | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const err = e as ErrorLike;
  if (typeof err.statusCode === 'number') return err.statusCode;
  return err.response?.status;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Retries `fn` while `retryable(error)` holds, with exponential backoff, until `timeoutMs` elapsed.
 * For conditions the SDK does not retry itself (eventual consistency: 404 after create,
 * PrincipalNotFound, ObjectIsBeingDeleted), never for throttling (the pipeline does that).
 */
export async function retryWhile<T>(
  fn: () => Promise<T>,
  retryable: (e: unknown) => boolean,
  opts: { timeoutMs: number; firstDelayMs?: number; maxDelayMs?: number; onRetry?: (e: unknown, attempt: number) => void },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = opts.firstDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!retryable(e) || Date.now() + delay > deadline) throw e;
      opts.onRetry?.(e, attempt);
      await sleep(delay);
      delay = Math.min(opts.maxDelayMs ?? 8_000, delay * 2);
    }
  }
}
