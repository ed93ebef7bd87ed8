// Development driver: starts only the kube part next to an already running Azure supervisor
// (`npm run sandbox -- up --no-kube`), reading its `.sandbox/env.json`; stays up until SIGTERM or
// Ctrl-C. Writes `.sandbox/kube/env.json` (KUBECONFIG, AKV_AKS_SANDBOX_KUBELET). Vault lookups go
// through the control API; useVMManagedIdentity mounts need the in-process world (full `up`).
//   node test/sandbox/kube/dev.ts
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureCa } from '../pki.ts';
import type { SandboxContext } from '../types.ts';
import { startKube } from './index.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');
const stateDir = join(root, '.sandbox');
const envPath = join(stateDir, 'env.json');
const base = existsSync(envPath) ? (JSON.parse(readFileSync(envPath, 'utf8')) as Record<string, string>) : {};
const pkiDir = join(stateDir, 'pki');
const ctx: SandboxContext = {
  root,
  stateDir,
  pkiDir,
  cacheDir: join(root, '.cache'),
  log: (c, m) => process.stderr.write(`[sandbox:${c}] ${m}\n`),
  env: { ...base, NODE_EXTRA_CA_CERTS: ensureCa(pkiDir).cert },
  shared: {},
};
const part = await startKube(ctx);
writeFileSync(join(stateDir, 'kube', 'env.json'), JSON.stringify(ctx.env, null, 2) + '\n');
ctx.log('kube-dev', `up; environment in ${join(stateDir, 'kube', 'env.json')}`);
const stop = (): void => {
  part.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
