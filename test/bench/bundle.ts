// The run as users run it: `node dist/index.js` spawned as a runner spawns a node24 action (INPUT_*
// variables, GITHUB_* command files, the OIDC request variables), its requests counted per service
// from the sandbox's own records: Key Vault (the vault's counters), ARM, Entra (token requests by
// client, metadata discovery), GitHub (ID-token requests of this spawn's job id), and the Kubernetes
// API (the apiserver's audit log of the kubeconfig's user). Peak RSS comes from the child itself: a
// preload writes process.resourceUsage().maxRSS on exit.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { diffCounters } from './format.ts';
import type { VaultCounters } from './format.ts';
import { BENCH_REPOSITORY, control, root, vaultCounters } from './sandbox.ts';

/** What one spawn of the bundle asked of each service. */
export interface ServiceCounts {
  keyvault: number;
  keyvaultWrites: number;
  /** GET /secrets/{name}[/{version}] of a secret the manifest declares, by anyone. */
  secretValueReads: number;
  arm: number;
  /** Token requests by the deployer (client id of the login). */
  entraTokens: number;
  /** Entra GETs: OpenID metadata, instance discovery, keys. */
  entraDiscovery: number;
  /** Token requests by any other client (the pods' identities the proof reads as). */
  podTokenExchanges: number;
  githubIdTokens: number;
  /** Requests of the kubeconfig's user in the apiserver's audit log; undefined without an audit log. */
  kube?: number;
}

export interface BundleRun {
  exitCode: number | null;
  wallMs: number;
  /** Peak resident set of the action process (bytes); NaN when not reported. */
  peakRssBytes: number;
  counts: ServiceCounts;
  summaryBytes: number;
  logBytes: number;
  /** Log bytes by kind of line: `::add-mask::` (the runner's masks), `::debug::`, other workflow commands, text. */
  logByKind: Record<string, number>;
  /** ::error:: lines of the log (value-free; the log itself carries ::add-mask:: commands). */
  errors: string[];
  /** Lines of the log matching `keep` (for the proof's skip line, for instance). */
  kept: string[];
}

export interface BundleInput {
  sandbox: Record<string, string>;
  kubeconfig?: string;
  /** The manifest as the user-facing YAML object (akv-aks/v1). */
  manifest: unknown;
  /** Secret values by environment variable (the step's env); never printed. */
  env: Record<string, string>;
  inputs?: Record<string, string>;
  /** The manifest's vault (its counters are diffed). */
  vault: string;
  /** Declared secret names (for the secret-value reads). */
  secretNames: readonly string[];
  keep?: RegExp;
  timeoutMs?: number;
}

interface RecordLike {
  seq: number;
  service: string;
  method: string;
  path: string;
  status: number;
  class?: string;
  clientId?: string;
}

const AUDIT = join(root, '.sandbox', 'kube', 'logs', 'audit.log');
const CLUSTER_USER = 'clusterUser';

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** Audit events of the cluster user received in [from, to] (ms), from the bytes appended since `offset`. */
function kubeRequests(offset: number | undefined, from: number, to: number): number | undefined {
  const size = fileSize(AUDIT);
  if (offset === undefined || size === undefined) return undefined;
  if (size < offset) return undefined; // rotated meanwhile
  const fd = openSync(AUDIT, 'r');
  let text: string;
  try {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    text = buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { user?: { username?: string }; requestReceivedTimestamp?: string; stage?: string };
      if (e.user?.username !== CLUSTER_USER || (e.stage !== 'ResponseComplete' && e.stage !== 'Panic')) continue;
      const at = Date.parse(e.requestReceivedTimestamp ?? '');
      if (at >= from - 5 && at <= to + 5) n++;
    } catch {
      // a line being written
    }
  }
  return n;
}

const PRELOAD = `import { writeFileSync } from 'node:fs';
process.on('exit', () => { try { writeFileSync(process.env.AKV_AKS_BENCH_RSS_FILE, String(process.resourceUsage().maxRSS * 1024)); } catch {} });
`;

/** Spawns `node dist/index.js` once, as the runner does, and counts what it asked of whom. */
export async function runBundle(input: BundleInput): Promise<BundleRun> {
  const ws = mkdtempSync(join(tmpdir(), 'akv-aks-bench-run-'));
  try {
    writeFileSync(join(ws, 'akv-aks.yaml'), stringify(input.manifest));
    for (const f of ['output', 'summary', 'env', 'state', 'path']) writeFileSync(join(ws, `${f}.txt`), '');
    writeFileSync(join(ws, 'rss-preload.mjs'), PRELOAD);
    const job = randomUUID();
    const idTokenUrl = (input.sandbox.ACTIONS_ID_TOKEN_REQUEST_URL ?? '').replace(/\/plans\/[^/]+\/jobs\/[^/]+\/idtoken/, `/plans/${randomUUID()}/jobs/${job}/idtoken`);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      NODE_EXTRA_CA_CERTS: input.sandbox.NODE_EXTRA_CA_CERTS ?? '',
      NODE_OPTIONS: `--import=${join(ws, 'rss-preload.mjs')}`,
      AKV_AKS_BENCH_RSS_FILE: join(ws, 'rss.txt'),
      AKV_AKS_AUTHORITY_HOST: input.sandbox.AKV_AKS_AUTHORITY_HOST ?? '',
      AKV_AKS_ARM_ENDPOINT: input.sandbox.AKV_AKS_ARM_ENDPOINT ?? '',
      ACTIONS_ID_TOKEN_REQUEST_URL: idTokenUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: input.sandbox.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: ws,
      GITHUB_REPOSITORY: BENCH_REPOSITORY,
      GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
      GITHUB_OUTPUT: join(ws, 'output.txt'),
      GITHUB_STEP_SUMMARY: join(ws, 'summary.txt'),
      GITHUB_ENV: join(ws, 'env.txt'),
      GITHUB_STATE: join(ws, 'state.txt'),
      GITHUB_PATH: join(ws, 'path.txt'),
      RUNNER_TEMP: ws,
      INPUT_MANIFEST: 'akv-aks.yaml',
      'INPUT_CLIENT-ID': input.sandbox.AKV_AKS_SANDBOX_CLIENT_ID ?? '',
      'INPUT_TENANT-ID': input.sandbox.AKV_AKS_SANDBOX_TENANT_ID ?? '',
      'INPUT_SUBSCRIPTION-ID': input.sandbox.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? '',
      ...input.env,
    };
    for (const [k, v] of Object.entries(input.inputs ?? {})) env[`INPUT_${k.toUpperCase()}`] = v;
    if (input.kubeconfig) env.INPUT_KUBECONFIG = input.kubeconfig;

    const before: VaultCounters = await vaultCounters(input.vault);
    const mark = (await control<{ seq: number }>('GET', '/stats/mark')).seq;
    const auditOffset = fileSize(AUDIT);
    const started = Date.now();
    const child = spawn(process.execPath, [join(root, 'dist', 'index.js')], { cwd: ws, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const errors: string[] = [];
    const kept: string[] = [];
    let logBytes = 0;
    const logByKind: Record<string, number> = {};
    let partial = '';
    const onData = (chunk: Buffer): void => {
      logBytes += chunk.length;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const kind = line.startsWith('::add-mask::') ? 'add-mask' : line.startsWith('::debug::') ? 'debug' : line.startsWith('::') ? 'commands' : 'text';
        logByKind[kind] = (logByKind[kind] ?? 0) + Buffer.byteLength(line) + 1;
        if (line.startsWith('::error')) errors.push(line.slice(0, 300));
        else if (input.keep?.test(line) && !line.startsWith('::add-mask::')) kept.push(line.slice(0, 300));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGTERM'), input.timeoutMs ?? 15 * 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    const ended = Date.now();
    const vault = diffCounters(before, await vaultCounters(input.vault));
    const { records } = await control<{ records: RecordLike[] }>('GET', '/stats');
    const mine = records.filter((r) => r.seq >= mark);
    const deployer = (input.sandbox.AKV_AKS_SANDBOX_CLIENT_ID ?? '').toLowerCase();
    const declared = new Set(input.secretNames.map((n) => n.toLowerCase()));
    const valueRead = (r: RecordLike): boolean => {
      // GET /secrets/{name}[/{version}] returns a value; /secrets/{name}/versions lists metadata only.
      const m = /^\/secrets\/([^/]+)(?:\/(?!versions\/?$)[^/]+)?\/?$/.exec(r.path);
      return r.service === 'keyvault' && r.method === 'GET' && m !== null && declared.has(decodeURIComponent(m[1] ?? '').toLowerCase());
    };
    const token = (r: RecordLike): boolean => r.service === 'entra' && r.method === 'POST' && /\/oauth2\/v2\.0\/token(\?|$)/.test(r.path);
    const counts: ServiceCounts = {
      keyvault: vault.requests,
      keyvaultWrites: vault.writes,
      secretValueReads: mine.filter(valueRead).length,
      arm: mine.filter((r) => r.service === 'arm').length,
      entraTokens: mine.filter((r) => token(r) && (r.clientId ?? '').toLowerCase() === deployer).length,
      entraDiscovery: mine.filter((r) => r.service === 'entra' && r.method === 'GET').length,
      podTokenExchanges: mine.filter((r) => token(r) && (r.clientId ?? '').toLowerCase() !== deployer).length,
      githubIdTokens: mine.filter((r) => r.service === 'github' && r.path.includes(`/jobs/${job}/idtoken`)).length,
      kube: kubeRequests(auditOffset, started, ended),
    };
    const rssFile = join(ws, 'rss.txt');
    const peakRssBytes = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : NaN;
    return { exitCode, wallMs: ended - started, peakRssBytes, counts, summaryBytes: statSync(join(ws, 'summary.txt')).size, logBytes, logByKind, errors, kept };
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

/** A bench layout as the user-facing manifest (akv-aks/v1), env-sourced secrets spread over the namespaces. */
export function userManifest(o: {
  vault: string;
  cluster: string;
  secrets: readonly { name: string; env: string }[];
  namespaces: readonly string[];
  identity: (i: number) => string;
  serviceAccount: string;
  spc: string;
}): unknown {
  return {
    apiVersion: 'akv-aks/v1',
    vault: { name: o.vault, resourceGroup: 'rg-sandbox' },
    cluster: { name: o.cluster },
    identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope' },
    secrets: o.secrets.map((s) => ({ name: s.name, from: { env: s.env } })),
    targets: o.namespaces.map((namespace, t) => ({
      namespace,
      createNamespace: true,
      serviceAccount: o.serviceAccount,
      identity: { create: true, name: o.identity(t) },
      secretProviderClass: o.spc,
      objects: o.secrets.filter((_, i) => i % o.namespaces.length === t).map((s) => ({ secret: s.name })),
    })),
  };
}

/** Short account of a run's counts for progress lines. */
export function countsText(c: ServiceCounts): string {
  return (
    `KV ${c.keyvault} (${c.keyvaultWrites} writes, ${c.secretValueReads} value reads), ARM ${c.arm}, Entra ${c.entraTokens} tokens + ${c.entraDiscovery} discovery` +
    ` (${c.podTokenExchanges} pod exchanges), GitHub ${c.githubIdTokens}, Kubernetes ${c.kube ?? 'n/a'}`
  );
}
