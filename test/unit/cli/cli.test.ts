// The CLI as a user runs it: `node src/cli/main.ts ...` on the project's Node 24.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const node = join(repo, 'node_modules', '.bin', 'node');
const valid = (f: string): string => `test/fixtures/manifests/valid/${f}`;
const invalid = (f: string): string => `test/fixtures/manifests/invalid/${f}`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(node, ['src/cli/main.ts', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('validate', () => {
  test('a valid manifest: exit 0 and a summary, without needing env values', () => {
    const r = cli(['validate', valid('issue-example.yaml')]);
    expect(r).toEqual({ status: 0, stdout: `${valid('issue-example.yaml')}: valid (3 secrets, 1 target)\n`, stderr: '' });
  });

  test('an invalid manifest: exit 1, every error on stderr in FILE:LINE:COL form', () => {
    const file = invalid('many-problems-at-once.yaml');
    const r = cli(['validate', file]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const expected = readFileSync(join(repo, file.replace(/\.yaml$/, '.expected')), 'utf8').replaceAll('many-problems-at-once.yaml:', `${file}:`);
    expect(r.stderr).toBe(expected);
  });

  test('several files: each reported, exit 1 if any is invalid', () => {
    const r = cli(['validate', valid('multi-namespace.yaml'), invalid('alias-empty.yaml')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`${valid('multi-namespace.yaml')}: valid (3 secrets, 3 targets)\n`);
    expect(r.stderr).toMatch(/^test\/fixtures\/manifests\/invalid\/alias-empty\.yaml:13:39: error: /);
  });

  test('--check-env names missing variables and never prints values', () => {
    const file = valid('multi-namespace.yaml');
    const missing = cli(['validate', '--check-env', file], { DB_PASSWORD: 'pa55-word-value' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('environment variable REPORTS_TOKEN is not set or empty');
    expect(missing.stderr).not.toContain('DB_PASSWORD is');
    expect(missing.stderr + missing.stdout).not.toContain('pa55-word-value');
    const ok = cli(['validate', '--check-env', file], { DB_PASSWORD: 'pa55-word-value', REPORTS_TOKEN: 't0ken-value' });
    expect(ok.status).toBe(0);
    expect(ok.stdout + ok.stderr).not.toMatch(/pa55-word-value|t0ken-value/);
  });

  test('an unreadable file: exit 2', () => {
    const r = cli(['validate', 'does-not-exist.yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('does-not-exist.yaml: error: no such file\n');
  });
});

describe('render', () => {
  test('prints the golden multi-document YAML for the given facts', () => {
    // The golden renders are made as the action names the manifest: repository contoso/app, this path.
    const r = cli(['render', valid('sync-env-vars.yaml'), '--tenant-id', '72f988bf-86f1-41af-91ab-2d7cd011db47'], { GITHUB_REPOSITORY: 'contoso/app' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(readFileSync(join(repo, 'test/fixtures/manifests/golden/sync-env-vars.yaml'), 'utf8'));
  });

  test('placeholders unless ids are given; --client-id per namespace and --cloud', () => {
    const file = valid('multi-namespace.yaml');
    const bare = cli(['render', file]).stdout;
    expect(bare).toContain('clientID: <client-id:id-sandbox-payments>');
    expect(bare).toContain('tenantId: <tenant-id>');
    const r = cli(['render', file, '--client-id', 'payments=11111111-2222-3333-4444-555555555555', '--client-id', 'reports=c2', '--cloud', 'AzureChinaCloud']);
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; spec?: { parameters: Record<string, string> } });
    const spcs = docs.filter((d) => d.kind === 'SecretProviderClass').map((d) => d.spec!.parameters);
    expect(spcs.map((p) => p.clientID)).toEqual(['11111111-2222-3333-4444-555555555555', '11111111-2222-3333-4444-555555555555', 'c2']);
    expect(spcs.every((p) => p.cloudName === 'AzureChinaCloud')).toBe(true);
    expect(docs).toHaveLength(7);
  });

  test('the same input gives the same bytes', () => {
    const a = cli(['render', valid('object-types.yaml')]).stdout;
    const b = cli(['render', valid('object-types.yaml')]).stdout;
    expect(a.length).toBeGreaterThan(0);
    expect(a).toBe(b);
  });

  test('an invalid manifest: exit 1, nothing on stdout', () => {
    const r = cli(['render', invalid('pod-identity-use-pod-identity.yaml')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('move to Microsoft Entra Workload ID');
  });

  test('a manifest from a temporary directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'akv-aks-cli-'));
    const file = join(dir, 'akv-aks.yaml');
    writeFileSync(file, readFileSync(join(repo, valid('kubelet-system-assigned.yaml'))));
    const r = cli(['render', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('useVMManagedIdentity: "true"');
  });
});

describe('usage errors exit 2 with help', () => {
  test.each([
    [[]],
    [['frobnicate']],
    [['validate']],
    [['render']],
    [['render', 'a.yaml', 'b.yaml']],
    [['render', valid('issue-example.yaml'), '--client-id', 'no-equals-sign']],
    [['render', valid('issue-example.yaml'), '--client-id', 'nosuchns=abc']],
    [['render', valid('issue-example.yaml'), '--cloud', 'Mars']],
    [['validate', '--bogus', valid('issue-example.yaml')]],
  ])('%j', (args) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^akv-aks: .+\n\nUsage:\n/);
  });

  test('help prints the usage on stdout', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('akv-aks validate [--check-env] FILE...');
    expect(r.stdout).toContain('akv-aks render FILE');
  });
});
