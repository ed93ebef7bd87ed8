// The benchmark's access to the sandbox: start or reuse it (as jest's global setup does), its
// environment, the control API, fresh vaults the deployer can write, and per-vault counters.
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { authorizationClient, scopeParam, secretClient } from '../../src/auth/arm.ts';
import { resolveCloud } from '../../src/auth/cloud.ts';
import { login } from '../../src/auth/login.ts';
import type { AzureSession } from '../../src/auth/login.ts';
import { roleAssignmentName } from '../../src/identity/plan.ts';
import { countersOf } from './format.ts';
import type { VaultCounters } from './format.ts';

export const root = resolve(import.meta.dirname, '..', '..');
/**
 * The repository the bench's runs act for (GITHUB_REPOSITORY of the spawned bundle, and the
 * in-process steps' manifest instance): one instance, so the bundle's runs own what the in-process
 * steps applied (another repository would be another manifest, and refused).
 */
export const BENCH_REPOSITORY = 'contoso/payments';
const stateDir = join(root, '.sandbox');

/** Starts the sandbox in the background unless one is running; returns whether this call started it. */
export function ensureSandbox(log: (m: string) => void): boolean {
  const cli = join(root, 'test', 'sandbox', 'cli.ts');
  const status = execFileSync(process.execPath, [cli, 'status'], { encoding: 'utf8' });
  if (status.startsWith('running')) {
    log(`reusing the running sandbox (${status.trim()})`);
    return false;
  }
  log('starting the sandbox (test/sandbox/cli.ts up --detach)');
  execFileSync(process.execPath, [cli, 'up', '--detach'], { stdio: ['ignore', 'inherit', 'inherit'] });
  return true;
}

export function stopSandbox(): void {
  execFileSync(process.execPath, [join(root, 'test', 'sandbox', 'cli.ts'), 'down'], { stdio: ['ignore', 'inherit', 'inherit'] });
}

export function sandboxEnv(): Record<string, string> {
  return JSON.parse(readFileSync(join(stateDir, 'env.json'), 'utf8')) as Record<string, string>;
}

/** The cluster's kubeconfig: from the full sandbox's env, else from the kube dev driver's. */
export function kubeconfigPath(): string | undefined {
  const env = sandboxEnv();
  if (env.KUBECONFIG) return env.KUBECONFIG;
  const dev = join(stateDir, 'kube', 'env.json');
  if (!existsSync(dev)) return undefined;
  const k = (JSON.parse(readFileSync(dev, 'utf8')) as Record<string, string>).KUBECONFIG;
  return k && existsSync(k) ? k : undefined;
}

/** A plain client-node client on the sandbox cluster, for the bench's own set-up and watches (not the action's session). */
export function adminKube(): { kc: KubeConfig; core: CoreV1Api; apps: AppsV1Api } {
  const path = kubeconfigPath();
  if (!path) throw new Error('no cluster in the sandbox');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

export async function control<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const base = sandboxEnv().AKV_AKS_SANDBOX_CONTROL;
  if (!base) throw new Error('sandbox control endpoint missing from .sandbox/env.json');
  const res = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Exports the runner variables the action reads from process.env and logs in as the deployer. */
export async function deployerSession(): Promise<AzureSession> {
  const env = sandboxEnv();
  for (const k of ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'AKV_AKS_AUTHORITY_HOST', 'AKV_AKS_ARM_ENDPOINT']) {
    const v = env[k];
    if (v) process.env[k] = v;
  }
  return login({
    clientId: env.AKV_AKS_SANDBOX_CLIENT_ID ?? '',
    tenantId: env.AKV_AKS_SANDBOX_TENANT_ID ?? '',
    subscriptionId: env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? '',
    cloud: resolveCloud('AzureCloud', process.env),
  });
}

export interface BenchVault {
  name: string;
  id: string;
  uri: string;
}

export function benchName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

interface VaultListing {
  name: string;
  listening: boolean;
  throttle: { enabled: boolean; limits: { create: number; other: number; windowMs: number } };
}

export async function vaultListing(name: string): Promise<VaultListing | undefined> {
  const all = await control<VaultListing[]>('GET', '/vault/vaults');
  return all.find((v) => v.name.toLowerCase() === name.toLowerCase());
}

/**
 * A fresh RBAC vault (POST /vault/vaults) in rg-sandbox with Key Vault Secrets Officer for the
 * deployer, its throttle set to the documented limits, ready on the data plane.
 */
export async function createVault(session: AzureSession, prefix: string): Promise<BenchVault> {
  const name = benchName(prefix);
  let rec: { id: string; vaultUri: string };
  try {
    rec = await control<{ id: string; vaultUri: string }>('POST', '/vault/vaults', { name, resourceGroup: 'rg-sandbox', enableRbacAuthorization: true });
  } catch (e) {
    // The sandbox's background sync may open the port first; the vault is then up all the same.
    await new Promise((r) => setTimeout(r, 500));
    const world = await control<{ vaults: { name: string; id: string; vaultUri: string }[] }>('GET', '/world');
    const found = world.vaults.find((v) => v.name === name);
    if (!found || !(await vaultListing(name))?.listening) throw e;
    rec = found;
  }
  await control('PUT', '/vault/throttle', { vault: name, create: 300, other: 4000, windowMs: 10_000 });
  const who = await control<{ principals: { clientId: string; objectId: string }[] }>('GET', '/world');
  const oid = who.principals.find((p) => p.clientId === session.clientId)?.objectId;
  if (!oid) throw new Error('the deployer principal is missing from the sandbox world');
  const auth = await authorizationClient(session);
  let officer: string | undefined;
  for await (const d of auth.roleDefinitions.list(scopeParam(rec.id), { filter: "roleName eq 'Key Vault Secrets Officer'" })) officer = d.id;
  if (!officer) throw new Error('Key Vault Secrets Officer role definition missing');
  await auth.roleAssignments.create(scopeParam(rec.id), roleAssignmentName(rec.id, oid, officer), { roleDefinitionId: officer, principalId: oid, principalType: 'ServicePrincipal' });
  const client = await secretClient(session.credential, session.cloud, rec.vaultUri);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return { name, id: rec.id, uri: rec.vaultUri };
}

export async function removeVault(name: string): Promise<void> {
  await control('DELETE', `/vault/vaults/${encodeURIComponent(name)}`).catch(() => undefined);
}

export async function vaultCounters(name: string): Promise<VaultCounters> {
  return countersOf(await control('GET', '/vault/stats'), name);
}

/** The throttle as the vault applies it now (enabled is sandbox-wide, limits are the vault's). */
export async function throttleOf(name: string): Promise<VaultListing['throttle'] | undefined> {
  return (await vaultListing(name))?.throttle;
}

/** Waits until a vault's sliding windows hold no request of an earlier phase (as a pause would). */
export async function waitWindowEmpty(name: string, windowMs: number, lastRequestAt: number): Promise<void> {
  const wait = lastRequestAt + windowMs + 100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
