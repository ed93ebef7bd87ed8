// Runs a committed bundle exactly as a GitHub runner runs a node24 action: `node dist/…/index.js`
// with INPUT_* variables, the GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV / GITHUB_STATE files,
// the OIDC request variables and the sandbox endpoints, then reads back what it wrote.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

export interface RunnerResult {
  exitCode: number;
  /** stdout + stderr interleaved as the runner's log would show them. */
  log: string;
  outputs: Record<string, string>;
  summary: string;
  summaryPath: string;
  workspace: string;
  durationMs: number;
}

export interface RunnerOptions {
  /** `dist/index.js` (default) or `dist/verify/index.js`. */
  entry?: string;
  inputs: Record<string, string>;
  /** Step env (`env:` of the step), e.g. secret values. */
  env?: Record<string, string>;
  /** Files to place in the workspace (relative path → content). */
  files?: Record<string, string>;
  workspace?: string;
  /** Base environment: the sandbox's, usually. */
  baseEnv: Record<string, string>;
  timeoutMs?: number;
  /** Called with each chunk of log output as it arrives. */
  onLog?: (chunk: string) => void;
}

/** Parses the GITHUB_OUTPUT file format (`name=value` lines and `name<<DELIM … DELIM` blocks). */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) body.push(lines[i]!);
      out[name!] = body.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      out[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return out;
}

export async function runAction(opts: RunnerOptions): Promise<RunnerResult> {
  const workspace = opts.workspace ?? mkdtempSync(join(tmpdir(), 'akv-aks-ws-'));
  for (const [rel, content] of Object.entries(opts.files ?? {})) {
    const p = join(workspace, rel);
    mkdirSync(resolve(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
  const runnerDir = mkdtempSync(join(tmpdir(), 'akv-aks-runner-'));
  const files = {
    GITHUB_OUTPUT: join(runnerDir, 'output'),
    GITHUB_STEP_SUMMARY: join(runnerDir, 'step_summary.md'),
    GITHUB_ENV: join(runnerDir, 'env'),
    GITHUB_STATE: join(runnerDir, 'state'),
    GITHUB_PATH: join(runnerDir, 'path'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    // A scenario may act for a repository of its own (the manifest's default owner): set in baseEnv.
    GITHUB_REPOSITORY: 'contoso/payments',
    ...opts.baseEnv,
    ...files,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_RUN_ID: '42',
    GITHUB_JOB: 'deploy',
    RUNNER_TEMP: runnerDir,
    ...opts.env,
  };
  for (const [name, value] of Object.entries(opts.inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  const entry = join(root, opts.entry ?? 'dist/index.js');
  const started = Date.now();
  const child = spawn(process.execPath, [entry], { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (b: Buffer): void => {
    const s = b.toString();
    log += s;
    opts.onLog?.(s);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15 * 60_000);
  const exitCode = await new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
  clearTimeout(timer);
  return {
    exitCode,
    log,
    outputs: parseCommandFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
    summaryPath: files.GITHUB_STEP_SUMMARY,
    workspace,
    durationMs: Date.now() - started,
  };
}
