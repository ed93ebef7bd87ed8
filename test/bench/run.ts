// `npm run bench [-- --quick]`: the benchmark of the action's engine against a naive baseline, on
// the sandbox with the vault's real throttle on. Node reads NODE_EXTRA_CA_CERTS only at process
// start, so this entry re-runs itself with the sandbox CA trusted before loading anything else.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ensureCa } from '../sandbox/pki.ts';

const root = resolve(import.meta.dirname, '..', '..');
const ca = ensureCa(join(root, '.sandbox', 'pki')).cert;
if (process.env.NODE_EXTRA_CA_CERTS !== ca) {
  const r = spawnSync(process.execPath, [import.meta.filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } });
  process.exit(r.status ?? 1);
}
const { main } = await import('./main.ts');
process.exit(await main(process.argv.slice(2)));
