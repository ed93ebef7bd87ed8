import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifest, parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError } from '../../../src/manifest/types.ts';
import type { Manifest } from '../../../src/manifest/types.ts';

const validDir = fileURLToPath(new URL('../../fixtures/manifests/valid/', import.meta.url));
const load = (name: string): Manifest => loadManifest(join(validDir, name)).manifest;

function errors(text: string, env?: Record<string, string | undefined>): string[] {
  try {
    parseManifest(text, 'm.yaml', env ? { env } : {});
  } catch (e) {
    if (e instanceof ManifestError) return e.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

const BASE = `apiVersion: akv-aks/v1
vault: { name: kv-sandbox, resourceGroup: rg-sandbox }
cluster: { name: sandbox }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
secrets:
  - name: db-password
    from: { env: DB_PASSWORD }
targets:
  - namespace: payments
    serviceAccount: payments-api
    secretProviderClass: payments-secrets
    objects:
      - { secret: db-password }
`;

describe('normalisation applies every default', () => {
  test('the issue example', () => {
    const m = load('issue-example.yaml');
    expect(m.vault).toEqual({ name: 'kv-payments-prod', resourceGroup: 'rg-payments' });
    expect(m.prune).toBe(false);
    expect(m.purge).toBe(false);
    expect(m.identityDefaults).toEqual({ resourceGroup: 'rg-ids', location: 'westeurope', tags: {} });
    const [db, api, tls] = m.secrets;
    expect(db).toEqual({ name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, contentType: 'text/plain', tags: {}, adopt: false });
    expect(api!.source).toEqual({ kind: 'generate', length: 48, charset: 'alphanumeric', rotateAfterSeconds: 30 * 86400 });
    expect(tls!.source).toEqual({ kind: 'existing', objectType: 'cert' });
    const t = m.targets[0]!;
    expect(t.identity).toEqual({ mode: 'managed', name: 'id-aks-prod-payments', resourceGroup: 'rg-ids', location: 'westeurope' });
    expect(t.access).toEqual({ scope: 'vault', role: 'Key Vault Secrets User' });
    expect(t.rotation).toBe('restart');
    expect(t.createNamespace).toBe(false);
    expect(t.objects).toEqual([
      { secret: 'db-password', alias: 'DB_PASSWORD', objectType: 'secret' },
      { secret: 'api-key', objectType: 'secret' },
    ]);
    expect(t.syncTo).toEqual({
      secretName: 'payments-env',
      type: 'Opaque',
      labels: {},
      annotations: {},
      keys: [
        { key: 'DB_PASSWORD', object: 'DB_PASSWORD' },
        { key: 'api-key', object: 'api-key' },
      ],
    });
  });

  test('generate defaults, expiry forms, targets of a namespace share the declared identity', () => {
    const m = load('multi-namespace.yaml');
    expect(m.secrets[1]!.source).toEqual({ kind: 'generate', length: 32, charset: 'alphanumeric' });
    expect(m.secrets[2]).toMatchObject({ expires: '2027-01-31T00:00:00Z', notBefore: '2026-01-01T00:00:00Z' });
    expect(m.secrets[0]).toMatchObject({ adopt: true, tags: { owner: 'payments' } });
    const [api, worker, reports] = m.targets;
    expect(worker!.identity).toEqual(api!.identity);
    expect(api!.access.scope).toBe('secret');
    expect(reports!.identity).toEqual({ mode: 'managed', name: 'id-reports', resourceGroup: 'rg-ids', location: 'northeurope' });
    expect(m.vault.subscriptionId).toBe('00000000-0000-0000-0000-00000000aaaa');
    expect(m.cluster.oidcIssuer).toBe('https://127.0.0.1:27643');
    expect(m.prune).toBe(true);
    const wi = load('workload-identity.yaml');
    expect(wi.secrets[0]!.expiresAfterSeconds).toBe(90 * 86400);
    expect(wi.secrets[0]!.expires).toBeUndefined();
  });

  test('a namespace whose first target declares no identity inherits a later declaration', () => {
    const text =
      BASE.replace('    serviceAccount: payments-api\n', '    serviceAccount: payments-api\n') +
      `  - namespace: payments
    serviceAccount: payments-worker
    identity: { name: id-shared, resourceGroup: rg-shared }
    secretProviderClass: worker
    objects: [{ secret: db-password }]
`;
    const m = parseManifest(text, 'm.yaml').manifest;
    expect(m.targets.map((t) => t.identity)).toEqual([
      { mode: 'existing', name: 'id-shared', resourceGroup: 'rg-shared' },
      { mode: 'existing', name: 'id-shared', resourceGroup: 'rg-shared' },
    ]);
  });

  test('kubelet identities have no service account; object types follow the secret', () => {
    const k = load('kubelet-secret-and-key.yaml').targets[0]!;
    expect(k.serviceAccount).toBeUndefined();
    expect(k.identity).toEqual({ mode: 'kubelet', clientId: '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f' });
    expect(k.access.role).toBe('Key Vault Administrator');
    expect(k.createNamespace).toBe(true);
    expect(k.objects.map((o) => o.objectType)).toEqual(['secret', 'key']);
    expect(load('kubelet-system-assigned.yaml').targets[0]!.identity).toMatchObject({ mode: 'kubelet', systemAssigned: true });
    const ext = load('pod-identity-migrated.yaml').targets[0]!;
    expect(ext.identity).toEqual({ mode: 'external', clientId: '3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a', principalId: '4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b' });
    expect(ext.syncTo!.keys).toEqual([{ key: 'key', object: 'ExamplePassword' }]);
  });

  test('the default role reads what the target mounts: Certificate User once a key or certificate is mounted', () => {
    const withKey = BASE.replace('    from: { env: DB_PASSWORD }\n', '    from: { env: DB_PASSWORD }\n  - name: signing\n    existing: { objectType: key }\n').replace(
      '      - { secret: db-password }\n',
      '      - { secret: db-password }\n      - { secret: signing }\n',
    );
    expect(parseManifest(withKey, 'm.yaml').manifest.targets[0]!.access).toEqual({ scope: 'vault', role: 'Key Vault Certificate User' });
    expect(parseManifest(BASE, 'm.yaml').manifest.targets[0]!.access).toEqual({ scope: 'vault', role: 'Key Vault Secrets User' });
    // A certificate fetched as a secret (its private key) is a secret read: Secrets User suffices.
    const certAsSecret = BASE.replace('    from: { env: DB_PASSWORD }\n', '    from: { env: DB_PASSWORD }\n  - name: tls\n    existing: { objectType: cert }\n').replace(
      '      - { secret: db-password }\n',
      '      - { secret: db-password }\n      - { secret: tls, objectType: secret, format: pfx, encoding: base64 }\n',
    );
    expect(parseManifest(certAsSecret, 'm.yaml').manifest.targets[0]!.access.role).toBe('Key Vault Secrets User');
    expect(load('object-types.yaml').targets[0]!.access.role).toBe('Key Vault Certificate User');
    expect(load('kubelet-secret-and-key.yaml').targets[0]!.access.role).toBe('Key Vault Administrator'); // explicit wins
  });

  test('empty generate/existing take their defaults; merged anchors fill targets', () => {
    const m = load('anchors-and-defaults.yaml');
    expect(m.secrets.map((s) => s.source)).toEqual([
      { kind: 'generate', length: 32, charset: 'alphanumeric' },
      { kind: 'existing', objectType: 'secret' },
    ]);
    expect(m.targets.map((t) => [t.namespace, t.serviceAccount, t.secretProviderClass, t.objects.length, t.rotation])).toEqual([
      ['blue', 'api', 'api-secrets', 2, 'restart'],
      ['green', 'api', 'api-secrets', 2, 'csi'],
    ]);
    expect(m.targets.map((t) => (t.identity.mode === 'managed' ? t.identity.name : ''))).toEqual(['id-sandbox-blue', 'id-sandbox-green']);
  });

  test('the default identity name is cut to 128 characters, with a hash of the whole name', () => {
    const cluster = 'c'.repeat(63);
    const ns = 'n'.repeat(63);
    const text = BASE.replace('cluster: { name: sandbox }', `cluster: { name: ${cluster} }`).replace('namespace: payments', `namespace: ${ns}`);
    const id = parseManifest(text, 'm.yaml').manifest.targets[0]!.identity;
    expect(id.mode).toBe('managed');
    const name = (id as { name: string }).name;
    expect(name).toHaveLength(128);
    expect(name).toMatch(new RegExp(`^id-${cluster}-n+-[0-9a-f]{8}$`));
    // Two namespaces that differ only past the cut get two identities.
    const other = parseManifest(text.replace(`namespace: ${ns}`, `namespace: ${'n'.repeat(62)}m`), 'm.yaml').manifest.targets[0]!.identity as { name: string };
    expect(other.name).toHaveLength(128);
    expect(other.name).not.toBe(name);
  });
});

describe('environment sources', () => {
  test('not checked without opts.env, checked with it, never printing values', () => {
    expect(errors(BASE)).toEqual([]);
    expect(errors(BASE, { DB_PASSWORD: 'hunter2-value' })).toEqual([]);
    const missing = errors(BASE, { OTHER: 'hunter2-value' });
    expect(missing).toEqual(['7:18 secrets[0].from.env: environment variable DB_PASSWORD is not set or empty (the value of secret `db-password` comes from it)']);
    expect(errors(BASE, { DB_PASSWORD: '' })).toHaveLength(1);
    expect(missing.join('\n')).not.toContain('hunter2');
  });
});

describe('positions and paths', () => {
  test('locate() maps field paths to the value position', () => {
    const doc = parseManifest(BASE, 'm.yaml');
    expect(doc.locate(['targets', 0, 'objects', 0, 'secret'])).toEqual({ line: 13, col: 19 });
    expect(doc.locate(['vault', 'name'])).toEqual({ line: 2, col: 16 });
    expect(doc.locate(['secrets', 0])).toEqual({ line: 6, col: 5 });
    expect(doc.locate(['targets', 3])).toBeUndefined();
    expect(doc.file).toBe('m.yaml');
  });

  test('errors in block style point at the key or value on its own line', () => {
    const text = BASE.replace('      - { secret: db-password }\n', '      - secret: db-password\n        alias: a/b\n        bogus: 1\n');
    expect(errors(text)).toEqual([
      "14:16 targets[0].objects[0].alias: must be a plain file name: no '/' or '\\', not '.' or '..' (got \"a/b\")",
      '15:9 targets[0].objects[0].bogus: unknown field `bogus`',
    ]);
  });

  test('ManifestError lists every issue, sorted by position', () => {
    const text = BASE.replace('name: kv-sandbox', 'name: k').replace('rotation', '').replace('namespace: payments', 'namespace: Pay');
    const lines = errors(text);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^2:16 vault.name: /);
    expect(lines[1]).toMatch(/^9:16 targets\[0\].namespace: /);
  });

  test('an empty file and a YAML scalar are refused', () => {
    expect(errors('')).toEqual(['1:1 : the manifest must be a YAML mapping (starting with `apiVersion: akv-aks/v1`)']);
    expect(errors('just text\n')).toHaveLength(1);
  });
});

describe('loadManifest', () => {
  test('reads the file and reports positions with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'akv-aks-'));
    const file = join(dir, 'akv-aks.yaml');
    writeFileSync(file, BASE.replace('kv-sandbox', 'kv--sandbox'));
    expect(() => loadManifest(file)).toThrow(`${file}:2:16: error: vault.name: must be a Key Vault name`);
    writeFileSync(file, BASE);
    expect(loadManifest(file).manifest.secrets).toHaveLength(1);
  });
});
