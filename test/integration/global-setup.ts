// Starts the sandbox (local Azure + local cluster) once for the integration and e2e projects,
// unless one is already running (`npm run sandbox`), in which case it is reused and left up.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const stateDir = join(root, '.sandbox');
const startedMarker = join(stateDir, 'started-by-jest');

export default async function globalSetup(): Promise<void> {
  const cli = join(root, 'test', 'sandbox', 'cli.ts');
  const status = execFileSync(process.execPath, [cli, 'status'], { encoding: 'utf8' });
  if (status.startsWith('running')) {
    rmSync(startedMarker, { force: true }); // a marker left by a crashed run must not stop a sandbox started by hand
    return;
  }
  const args = [cli, 'up', '--detach'];
  if (process.env.AKV_AKS_SANDBOX_NO_KUBE === '1') args.push('--no-kube');
  execFileSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (existsSync(stateDir)) writeFileSync(startedMarker, String(Date.now()));
}
