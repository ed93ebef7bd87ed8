// `npm run sandbox [up|down|status|env] [--detach] [--no-kube] [--azure-propagation]`
// up (default): start the local Azure world and the local cluster in this process, write
// .sandbox/env.json and env.sh, and stay up until Ctrl-C / SIGTERM (clean shutdown).
// up --detach: start a supervisor in the background and return once it is ready.
// up --azure-propagation: Azure-like RBAC/FIC/principal/delete delays (azure/propagation.ts), as the demo runs.
// down: stop a detached supervisor. env: print `export` lines of the running sandbox.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trustBundle } from './pki.ts';
import type { RunningPart, SandboxContext } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const stateDir = join(root, '.sandbox');
const pidFile = join(stateDir, 'supervisor.pid');
const envJson = join(stateDir, 'env.json');
const readyFile = join(stateDir, 'ready');

function log(component: string, message: string): void {
  process.stderr.write(`[sandbox:${component}] ${message}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return Number.isInteger(pid) && alive(pid) ? pid : undefined;
}

export function readEnv(): Record<string, string> {
  return JSON.parse(readFileSync(envJson, 'utf8')) as Record<string, string>;
}

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

async function up(opts: { kube: boolean; azurePropagation: boolean }): Promise<void> {
  if (runningPid() && runningPid() !== process.pid) throw new Error(`a sandbox is already running (pid ${runningPid()}); run: npm run sandbox -- down`);
  mkdirSync(stateDir, { recursive: true });
  const pkiDir = join(stateDir, 'pki');
  const trust = trustBundle(pkiDir);
  // In-process clients (the kubelet stand-in, Entra's issuer fetches) must trust the sandbox CA, and
  // Node reads NODE_EXTRA_CA_CERTS only at start: run again with it when it is not set that way.
  if (process.env.NODE_EXTRA_CA_CERTS !== trust) {
    const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: trust } });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
    child.on('exit', (code) => process.exit(code ?? 1));
    return;
  }
  rmSync(readyFile, { force: true });
  writeFileSync(pidFile, String(process.pid));
  const ctx: SandboxContext = {
    root,
    stateDir,
    pkiDir,
    cacheDir: join(root, '.cache'),
    log,
    env: { NODE_EXTRA_CA_CERTS: trust, AKV_AKS_SANDBOX_STATE: stateDir },
    shared: {},
  };
  const parts: RunningPart[] = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      for (const p of parts.reverse()) {
        try {
          await p.stop();
          log('supervisor', `stopped ${p.name}`);
        } catch (e) {
          log('supervisor', `stopping ${p.name} failed: ${(e as Error).message}`);
        }
      }
      rmSync(readyFile, { force: true });
      rmSync(pidFile, { force: true });
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  try {
    const started = Date.now();
    const { startAzure } = await import('./azure/index.ts');
    parts.push(await startAzure(ctx));
    if (opts.kube) {
      const { startKube } = await import('./kube/index.ts');
      parts.push(await startKube(ctx));
    }
    if (opts.azurePropagation) {
      const { useAzurePropagation } = await import('./azure/propagation.ts');
      await useAzurePropagation(ctx.env.AKV_AKS_SANDBOX_CONTROL!);
      log('supervisor', 'Azure-like propagation delays on (see docs/sandbox-cli.md)');
    }
    writeFileSync(envJson, JSON.stringify(ctx.env, null, 2) + '\n');
    writeFileSync(
      join(stateDir, 'env.sh'),
      Object.entries(ctx.env)
        .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
        .join('\n') + '\n',
    );
    writeFileSync(readyFile, new Date().toISOString());
    log('supervisor', `ready in ${((Date.now() - started) / 1000).toFixed(1)} s; environment in ${join(stateDir, 'env.sh')}`);
  } catch (e) {
    log('supervisor', `start failed: ${(e as Error).stack ?? String(e)}`);
    await stopAll(1);
  }
}

async function upDetached(args: string[]): Promise<void> {
  const existing = runningPid();
  if (existing && existsSync(readyFile)) {
    log('supervisor', `already running (pid ${existing})`);
    return;
  }
  mkdirSync(stateDir, { recursive: true });
  rmSync(readyFile, { force: true });
  const logPath = join(stateDir, 'supervisor.log');
  const out = openSync(logPath, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'up', ...args.filter((a) => a !== '--detach' && a !== 'up')], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: trustBundle(join(stateDir, 'pki')) },
  });
  child.unref();
  log('supervisor', `starting in the background (pid ${child.pid}), log: ${logPath}`);
  let shown = 0;
  const deadline = Date.now() + 45 * 60_000; // the first start builds the control plane
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
    if (text.length > shown) {
      process.stderr.write(text.slice(shown));
      shown = text.length;
    }
    if (existsSync(readyFile)) return;
    if (child.pid && !alive(child.pid)) throw new Error(`sandbox supervisor exited during start; see ${logPath}`);
  }
  throw new Error(`sandbox not ready after 45 minutes; see ${logPath}`);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    log('supervisor', 'not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  log('supervisor', 'stopped');
}

async function cli(argv: string[]): Promise<void> {
  const cmd = argv.find((a) => !a.startsWith('--')) ?? 'up';
  const kube = !argv.includes('--no-kube');
  switch (cmd) {
    case 'up':
      if (argv.includes('--detach')) await upDetached(argv);
      else await up({ kube, azurePropagation: argv.includes('--azure-propagation') });
      return;
    case 'down':
      return down();
    case 'status':
      console.log(runningPid() && existsSync(readyFile) ? `running (pid ${runningPid()})` : 'not running');
      return;
    case 'env':
      for (const [k, v] of Object.entries(readEnv())) console.log(`export ${k}=${shellQuote(v)}`);
      return;
    default:
      throw new Error(`unknown command ${cmd}; use up | down | status | env`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((e: unknown) => {
    log('supervisor', (e as Error).message);
    process.exit(1);
  });
}
