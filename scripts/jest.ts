// Runs jest on Node 24 with ESM enabled and the sandbox CA trusted. Node reads NODE_EXTRA_CA_CERTS
// only at process start, so the trust bundle is made before jest (and its workers) start.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { trustBundle } from '../test/sandbox/pki.ts';

const root = resolve(import.meta.dirname, '..');
const trust = trustBundle(join(root, '.sandbox', 'pki'));
const result = spawnSync(process.execPath, ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', join(root, 'node_modules', 'jest', 'bin', 'jest.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, NODE_EXTRA_CA_CERTS: trust },
});
process.exit(result.status ?? 1);
