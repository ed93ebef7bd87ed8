// The sandbox driven by an independent client: the Azure SDK for Python (pinned in
// test/sandbox/python/requirements.txt, installed into .cache/pyenv by
// test/sandbox/python/install.sh, which .ci/run calls before `npm test`).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, test } from '@jest/globals';
import { sandboxEnv } from '../../support/sandbox.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');
const python = join(root, '.cache', 'pyenv', 'bin', 'python');
const script = join(root, 'test', 'sandbox', 'python', 'conformance.py');

interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

function runPython(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(python, [script], { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

test('the Azure SDK for Python logs in, manages identities, roles, vaults and secrets', async () => {
  // A missing venv fails the suite: a skipped conformance run would pass unnoticed in CI.
  expect({ venv: existsSync(python), hint: 'run: bash test/sandbox/python/install.sh' }).toEqual({ venv: true, hint: expect.any(String) });
  const env = sandboxEnv();
  const ca = env.NODE_EXTRA_CA_CERTS!;
  const run = await runPython({ ...env, REQUESTS_CA_BUNDLE: ca, SSL_CERT_FILE: ca });
  const checks = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Check);
  expect(checks.map((c) => c.check)).toEqual([
    'login: token for ARM',
    'subscriptions list / get, tenants list',
    'identity create + federated credential create / list',
    'role definition by name, role assignment create twice',
    'vault get, vault list, resources list with $filter',
    'set-policy: vault access policy add, then full vault PUT',
    'secret set / get / list / delete / recover',
  ]);
  expect(checks.filter((c) => !c.ok)).toEqual([]);
  expect(checks.find((c) => c.check.startsWith('role'))!.detail).toBe('second create: 409 RoleAssignmentExists');
  expect(run.code).toBe(0);
}, 180_000);
