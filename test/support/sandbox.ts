// Test-side access to a running sandbox: its environment and its control API.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

export function sandboxEnv(): Record<string, string> {
  return JSON.parse(readFileSync(join(root, '.sandbox', 'env.json'), 'utf8')) as Record<string, string>;
}

/** Calls the sandbox control API (plain HTTP on loopback) and returns the parsed JSON answer. */
export async function control<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const base = sandboxEnv().AKV_AKS_SANDBOX_CONTROL;
  if (!base) throw new Error('sandbox control endpoint missing from .sandbox/env.json');
  const res = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * A mark in the sandbox's request records: every record with `seq >= mark` came after this call.
 * Tests use it rather than `Date.now()`, which ties with the previous step's last answer within a millisecond.
 */
export async function recordMark(): Promise<number> {
  return (await control<{ seq: number }>('GET', '/stats/mark')).seq;
}
