// docs/sandbox-cli.md works as written: its bash blocks run verbatim, in order, against the running
// sandbox with the Azure CLI (pinned in test/sandbox/python/azure-cli.txt). Only the steps that
// need a package registry are left out (npm install, prepare.ts, the CLI's pip install), which the
// test setup did before. The CLI is an optional install (about 5 minutes): without
// .cache/azcli (`bash test/sandbox/python/install.sh --with-azure-cli`) this test is skipped, and
// fails in CI (which installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from '@jest/globals';
import { itUnless } from '../../support/guard.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');
const doc = readFileSync(join(root, 'docs', 'sandbox-cli.md'), 'utf8');
/** A developer's CLI elsewhere (e.g. a venv outside the repo), searched after .cache/azcli/bin. */
const extraBin = process.env.AKV_AKS_AZURE_CLI_BIN;
const cli = existsSync(join(root, '.cache', 'azcli', 'bin', 'az')) || (extraBin !== undefined && existsSync(join(extraBin, 'az')));

const REGISTRY_STEPS = [/^npm install\b/, /^node test\/sandbox\/prepare\.ts\b/, /^python3 -m venv \.cache\/azcli\b/];

/** The doc's bash blocks as one script; the sandbox start reuses the running sandbox. */
function docScript(): string {
  const blocks = [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const lines = blocks.flatMap((b) => b.split('\n')).filter((l) => !REGISTRY_STEPS.some((re) => re.test(l)));
  return ['set -euo pipefail', ...lines].join('\n');
}

itUnless(cli ? undefined : 'the Azure CLI is not installed (bash test/sandbox/python/install.sh --with-azure-cli)')(
  'the Azure CLI and kubectl steps of docs/sandbox-cli.md run as written',
  () => {
    rmSync(join(root, '.sandbox', 'azure-cli'), { recursive: true, force: true }); // the doc's AZURE_CONFIG_DIR, as on a fresh clone
    const env = { ...process.env, PATH: `${extraBin ? `${extraBin}:` : ''}${process.env.PATH ?? ''}` };
    const r = spawnSync('bash', ['-c', docScript()], { cwd: root, env, encoding: 'utf8', timeout: 240_000 });
    const out = r.stdout;
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ status: 0, stderr: '' });
    expect(out).toMatch(/AzureSandbox\s+72f988bf-86f1-41af-91ab-2d7cd011db47\s+True\s+Sandbox Subscription\s+Enabled/); // az login
    expect(out.split('\n')).toEqual(expect.arrayContaining(['kv-sandbox', 'kv-legacy'])); // az keyvault list
    // az identity create, then both role assignment creates print the same principal
    const ids = out.split('\n').filter((l) => /^[0-9a-f-]{36}$/.test(l));
    expect(ids.length).toBe(3);
    expect(new Set(ids).size).toBe(1);
    expect(out).toMatch(/^aks-nodepool1-0\s+Ready\b/m); // kubectl get nodes
  },
  300_000,
);
