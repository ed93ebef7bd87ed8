// Test-side access to a running sandbox: its environment and its control API.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RequestRecord } from '../sandbox/azure/world-api.ts';
import { waitFor } from './wait.ts';

export type { RequestRecord };

const root = resolve(import.meta.dirname, '..', '..');

export function sandboxEnv(): Record<string, string> {
  return JSON.parse(readFileSync(join(root, '.sandbox', 'env.json'), 'utf8')) as Record<string, string>;
}

/** A JSON request to one of the sandbox's plain-HTTP endpoints at `base` (`label` names it in errors); the parsed answer. */
export async function jsonRequest<T = unknown>(label: string, base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${label} ${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Calls the sandbox control API (plain HTTP on loopback) and returns the parsed JSON answer. */
export async function control<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const base = sandboxEnv().AKV_AKS_SANDBOX_CONTROL;
  if (!base) throw new Error('sandbox control endpoint missing from .sandbox/env.json');
  return jsonRequest<T>('control', base, method, path, body);
}

/**
 * A mark in the sandbox's request records: every record with `seq >= mark` came after this call.
 * Tests use it rather than `Date.now()`, which ties with the previous step's last answer within a millisecond.
 */
export async function recordMark(): Promise<number> {
  return (await control<{ seq: number }>('GET', '/stats/mark')).seq;
}

/**
 * A record mark taken once the sandbox has stamped every request answered so far (it stamps just
 * after answering): the mark is read until two reads in a row agree.
 */
export async function settledMark(timeoutMs = 5_000): Promise<number> {
  let last = await recordMark();
  return waitFor(
    'the sandbox to stamp the records of answered requests',
    async () => {
      const now = await recordMark();
      const same = now === last;
      last = now;
      return same ? now : undefined;
    },
    timeoutMs,
    50,
  );
}

/** `.sandbox/env.json`, completed by `.sandbox/kube/env.json` of a cluster started next to it (test/sandbox/kube/dev.ts). */
export function sandboxEnvWithKube(): Record<string, string> {
  const env = sandboxEnv();
  const dev = join(root, '.sandbox', 'kube', 'env.json');
  if (existsSync(dev)) {
    const kubeEnv = JSON.parse(readFileSync(dev, 'utf8')) as Record<string, string>;
    for (const [k, v] of Object.entries(kubeEnv)) if (env[k] === undefined) env[k] = v;
  }
  return env;
}

/** Every request the sandbox recorded so far. */
export async function requestRecords(): Promise<RequestRecord[]> {
  return (await control<{ records: RequestRecord[] }>('GET', '/stats')).records;
}

/** ARM requests since `mark` (from recordMark) whose path mentions one of `needles` (case-insensitive). */
export async function armRecords(mark: number, ...needles: string[]): Promise<RequestRecord[]> {
  const lower = needles.map((n) => n.toLowerCase());
  return (await requestRecords()).filter((r) => r.service === 'arm' && r.seq >= mark && lower.some((n) => r.path.toLowerCase().includes(n)));
}

/** What the sandbox's Azure world holds (GET /world), as far as tests read it. */
export interface WorldDump {
  principals: Array<{ clientId: string; objectId: string }>;
  identities: Array<{ name: string; resourceGroup: string; clientId: string; principalId: string; tags?: Record<string, string> }>;
  federatedCredentials: Array<{ identityName?: string; clientId?: string; name: string; issuer: string; subject: string; audiences?: string[] }>;
  roleAssignments: Array<{ name?: string; id?: string; scope: string; principalId: string; roleDefinitionId: string }>;
  vaults: Array<{ name: string; id: string; vaultUri: string; proxyPort?: number; accessPolicies?: unknown[] }>;
  config: Record<string, unknown>;
}

export async function world(): Promise<WorldDump> {
  return control<WorldDump>('GET', '/world');
}

export const isWriteMethod = (m: string): boolean => !['GET', 'HEAD'].includes(m.toUpperCase());

export interface VaultProxyStats {
  requests: number;
  reads: number;
  writes: number;
  throttled: number;
}

/** Requests one vault's authorization proxy served (that vault only). */
export async function vaultStats(name: string): Promise<VaultProxyStats> {
  const all = await control<Array<{ name: string; stats: VaultProxyStats }>>('GET', '/vault/vaults');
  const v = all.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!v) throw new Error(`vault ${name} unknown to the sandbox`);
  return v.stats;
}
