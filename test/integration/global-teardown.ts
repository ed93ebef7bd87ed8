import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const startedMarker = join(root, '.sandbox', 'started-by-jest');

export default async function globalTeardown(): Promise<void> {
  if (!existsSync(startedMarker)) return; // a sandbox started by hand stays up
  rmSync(startedMarker, { force: true });
  execFileSync(process.execPath, [join(root, 'test', 'sandbox', 'cli.ts'), 'down'], { stdio: 'inherit' });
}
