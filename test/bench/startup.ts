// Process start to first request: `node dist/index.js` spawned as a runner spawns a node24 action,
// with a per-spawn ID-token URL (the sandbox's runner endpoint accepts any plan/job id) so the
// request the sandbox records for this very process can be found among everyone else's.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { firstRecord } from './format.ts';
import { BENCH_REPOSITORY, control, root } from './sandbox.ts';

export interface StartRun {
  /** Spawn to the sandbox's timestamp of this process' ID-token request (ms); NaN when not seen. */
  firstRequestMs: number;
  exitCode: number | null;
  wallMs: number;
  errors: string[];
}

export interface StartInput {
  sandbox: Record<string, string>;
  kubeconfig?: string;
  vault: string;
  cluster: string;
  namespace: string;
  identity: string;
  /** Environment variable name → value of the one env-sourced secret (never printed). */
  secretEnv: Record<string, string>;
}

export async function spawnOnce(input: StartInput): Promise<StartRun> {
  const ws = mkdtempSync(join(tmpdir(), 'akv-aks-bench-'));
  try {
    const [envVar] = Object.keys(input.secretEnv);
    const manifest = {
      apiVersion: 'akv-aks/v1',
      vault: { name: input.vault, resourceGroup: 'rg-sandbox' },
      cluster: { name: input.cluster },
      identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope' },
      secrets: [{ name: 'bench-start', from: { env: envVar } }],
      targets: [
        {
          namespace: input.namespace,
          serviceAccount: 'bench-app',
          identity: { create: true, name: input.identity },
          secretProviderClass: 'bench-start',
          objects: [{ secret: 'bench-start' }],
        },
      ],
    };
    writeFileSync(join(ws, 'akv-aks.yaml'), stringify(manifest));
    for (const f of ['output', 'summary', 'env', 'state']) writeFileSync(join(ws, `${f}.txt`), '');
    const job = randomUUID();
    const plan = randomUUID();
    const idTokenUrl = (input.sandbox.ACTIONS_ID_TOKEN_REQUEST_URL ?? '').replace(/\/plans\/[^/]+\/jobs\/[^/]+\/idtoken/, `/plans/${plan}/jobs/${job}/idtoken`);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('INPUT_')) env[k] = v;
    Object.assign(env, {
      NODE_EXTRA_CA_CERTS: input.sandbox.NODE_EXTRA_CA_CERTS ?? '',
      AKV_AKS_AUTHORITY_HOST: input.sandbox.AKV_AKS_AUTHORITY_HOST ?? '',
      AKV_AKS_ARM_ENDPOINT: input.sandbox.AKV_AKS_ARM_ENDPOINT ?? '',
      ACTIONS_ID_TOKEN_REQUEST_URL: idTokenUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: input.sandbox.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: ws,
      GITHUB_REPOSITORY: BENCH_REPOSITORY,
      GITHUB_SHA: 'bench',
      GITHUB_OUTPUT: join(ws, 'output.txt'),
      GITHUB_STEP_SUMMARY: join(ws, 'summary.txt'),
      GITHUB_ENV: join(ws, 'env.txt'),
      GITHUB_STATE: join(ws, 'state.txt'),
      RUNNER_TEMP: ws,
      INPUT_MANIFEST: 'akv-aks.yaml',
      INPUT_MODE: 'plan',
      'INPUT_CLIENT-ID': input.sandbox.AKV_AKS_SANDBOX_CLIENT_ID ?? '',
      'INPUT_TENANT-ID': input.sandbox.AKV_AKS_SANDBOX_TENANT_ID ?? '',
      'INPUT_SUBSCRIPTION-ID': input.sandbox.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? '',
      INPUT_GATE: 'false',
      'INPUT_PROVE-ACCESS': 'false',
      ...input.secretEnv,
    });
    if (input.kubeconfig) env['INPUT_KUBECONFIG'] = input.kubeconfig;
    else delete env.KUBECONFIG;

    const started = Date.now();
    const child = spawn(process.execPath, [join(root, 'dist', 'index.js')], { cwd: ws, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const errors: string[] = [];
    // The log carries ::add-mask:: commands (secret values): only ::error:: lines are kept.
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.startsWith('::error')) errors.push(line.slice(0, 300));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGTERM'), 90_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    const wallMs = Date.now() - started;
    const stats = await control<{ records: unknown[] }>('GET', '/stats');
    const rec = firstRecord(stats.records, started, (r) => r.service === 'github' && r.path.includes(`/jobs/${job}/idtoken`));
    return { firstRequestMs: rec ? rec.at - started : NaN, exitCode, wallMs, errors };
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

export interface BundleSize {
  libIndex: number;
  total: number;
  files: number;
}

function walk(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const w = walk(p);
      bytes += w.bytes;
      files += w.files;
    } else if (e.isFile()) {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

export function bundleSize(): BundleSize {
  const dist = join(root, 'dist');
  const t = walk(dist);
  return { libIndex: statSync(join(dist, 'lib', 'index.js')).size, total: t.bytes, files: t.files };
}

/** Spawn to exit of `node -e 0`: the runtime's own start-up on this machine, for context. */
export async function bareNodeMs(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return performance.now() - started;
}
