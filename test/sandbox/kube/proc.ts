// Child processes of the kube part: started with their output in a log file, stopped with SIGTERM,
// a grace period, then SIGKILL. A process that exits on its own is reported.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: a supervisor that dies without stopping its parts takes its children with it.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: { logPath: string; cwd?: string; env?: NodeJS.ProcessEnv; onUnexpectedExit?: (code: number | string) => void },
): ManagedProcess {
  installExitHook();
  const out = createWriteStream(opts.logPath, { flags: 'a' });
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  live.add(child);
  let stopping = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      const result = code ?? signal ?? 'unknown';
      if (!stopping) opts.onUnexpectedExit?.(result);
      resolve(result);
    });
    child.on('error', (err) => {
      live.delete(child);
      out.write(`\n[spawn error] ${err.message}\n`);
      if (!stopping) opts.onUnexpectedExit?.(`spawn error: ${err.message}`);
      resolve(`spawn error: ${err.message}`);
    });
  });
  exited.finally(() => out.end()).catch(() => {});
  return {
    name,
    child,
    logPath: opts.logPath,
    exited,
    async stop(graceMs = 10_000) {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null || !live.has(child)) return;
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Polls `check` until it returns true, the process dies, or the timeout passes. */
export async function waitUntil(what: string, check: () => Promise<boolean>, opts: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let dead: number | string | undefined;
  void opts.proc?.exited.then((c) => {
    dead = c;
  });
  while (Date.now() < deadline) {
    if (dead !== undefined) throw new Error(`${opts.proc!.name} exited (${dead}) while waiting for ${what}; see ${opts.proc!.logPath}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 300));
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${opts.proc ? `; see ${opts.proc.logPath}` : ''}`);
}
