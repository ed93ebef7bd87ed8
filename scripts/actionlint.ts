// `npm run actionlint`: lints the repository's workflows (.github/workflows) and the workflow
// examples users copy (workflows-examples) with actionlint, a Go module installed on first use into
// .cache/bin from the Go module proxy. `--install` only installs (CI does it before the tests, with
// network). shellcheck and pyflakes are off so the result is the same wherever it runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Pinned here (the Go module is not in a go.mod, so Dependabot cannot bump it: update by hand). */
export const ACTIONLINT_VERSION = 'v1.7.12';
const MODULE = 'github.com/rhysd/actionlint/cmd/actionlint';

const root = resolve(import.meta.dirname, '..');
const binDir = join(root, '.cache', 'bin');
const exe = join(binDir, `actionlint-${ACTIONLINT_VERSION}${process.platform === 'win32' ? '.exe' : ''}`);

function install(): void {
  if (existsSync(exe)) return;
  process.stderr.write(`installing actionlint ${ACTIONLINT_VERSION} (go install ${MODULE}) into ${binDir}\n`);
  mkdirSync(binDir, { recursive: true });
  const tmp = join(binDir, `.install-${process.pid}`);
  const r = spawnSync('go', ['install', `${MODULE}@${ACTIONLINT_VERSION}`], { stdio: 'inherit', env: { ...process.env, GOBIN: tmp } });
  if (r.error || r.status !== 0) {
    process.stderr.write(`actionlint: go install failed (${r.error?.message ?? `exit ${r.status}`}); Go 1.24+ and the Go module proxy are needed\n`);
    process.exit(1);
  }
  // One rename, so a concurrent run never sees a half-written binary.
  const built = join(tmp, `actionlint${process.platform === 'win32' ? '.exe' : ''}`);
  renameSync(built, exe);
  rmSync(tmp, { recursive: true, force: true });
}

function workflowFiles(): string[] {
  const out: string[] = [];
  for (const dir of ['.github/workflows', 'workflows-examples']) {
    const abs = join(root, dir);
    if (!existsSync(abs)) continue;
    out.push(
      ...readdirSync(abs)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(dir, f)),
    );
  }
  return out;
}

install();
if (process.argv.includes('--install')) process.exit(0);
const files = workflowFiles();
if (files.length === 0) {
  process.stderr.write('actionlint: no workflow found\n');
  process.exit(1);
}
const r = spawnSync(exe, ['-shellcheck=', '-pyflakes=', ...files], { cwd: root, stdio: 'inherit' });
if (r.status === 0) process.stderr.write(`actionlint ${ACTIONLINT_VERSION}: ${files.length} workflow files clean\n`);
process.exit(r.status ?? 1);
