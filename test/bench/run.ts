// `npm run bench [-- --quick]`: the benchmark of the action's engine against a naive baseline, on
// the sandbox with the vault's real throttle on. Node reads NODE_EXTRA_CA_CERTS only at process
// start, so this entry re-runs itself with the sandbox CA trusted before loading anything else.
//
// `--isolated` (Linux, root): benchmark the committed HEAD in a private sandbox of its own, in a new
// network namespace (`unshare -n`), so a sandbox other people are using (or one running older code)
// is neither reused nor disturbed. HEAD is exported to a temporary directory (node_modules and the
// control-plane build cache are linked, not copied) and removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureCa } from '../sandbox/pki.ts';

const root = resolve(import.meta.dirname, '..', '..');
const argv = process.argv.slice(2);

if (argv.includes('--isolated')) {
  const dir = mkdtempSync(join(tmpdir(), 'akv-aks-bench-head-'));
  try {
    const tar = execFileSync('git', ['-C', root, 'archive', '--format=tar', 'HEAD'], { maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    symlinkSync(join(root, '.cache'), join(dir, '.cache'));
    // A Markdown file named relative to here must not land in the temporary directory.
    const rest = argv.filter((a) => a !== '--isolated').map((a, i, all) => (all[i - 1] === '--markdown' ? resolve(a) : a.startsWith('--markdown=') ? `--markdown=${resolve(a.slice(11))}` : a));
    const quoted = [process.execPath, join(dir, 'test', 'bench', 'run.ts'), ...rest].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    process.stderr.write(`[bench] isolated: HEAD in ${dir}, own sandbox in a new network namespace\n`);
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && cd '${dir}' && exec ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, AKV_AKS_BENCH_SOURCE: `commit ${head} in a private sandbox (--isolated)` },
    });
    if (r.error) process.stderr.write(`[bench] unshare: ${r.error.message}\n`);
    process.exitCode = r.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const ca = ensureCa(join(root, '.sandbox', 'pki')).cert;
  if (process.env.NODE_EXTRA_CA_CERTS !== ca) {
    const r = spawnSync(process.execPath, [import.meta.filename, ...argv], { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } });
    process.exit(r.status ?? 1);
  }
  const { main } = await import('./main.ts');
  process.exit(await main(argv));
}
