// Fetches and builds what the sandbox needs before the first start, with progress, so CI (and a
// fresh machine) pays for it in one visible step: the control plane from the Go module proxy and,
// where the Maven registry serves it, the lowkey-vault jar. Both are cached under .cache/.
import { join, resolve } from 'node:path';
import { ensureLowkeyJar } from './azure/vault/lowkey.ts';
import { ensureKubeBinaries } from './kube/build.ts';

const root = resolve(import.meta.dirname, '..', '..');
const cacheDir = join(root, '.cache');
const log =
  (part: string) =>
  (message: string): void => {
    process.stderr.write(`[prepare:${part}] ${message}\n`);
  };

const started = Date.now();
const jar = await ensureLowkeyJar(cacheDir, log('vault'));
log('vault')(jar ? `lowkey-vault ready: ${jar}` : 'lowkey-vault not served here: the sandbox uses its built-in Key Vault engine');
const bins = await ensureKubeBinaries({ cacheDir, log: log('kube') });
log('kube')(`control plane ready: ${Object.values(bins).join(', ')}`);
log('all')(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
