// Golden renders: each valid fixture renders byte-for-byte to test/fixtures/manifests/golden/<name>.yaml.
// Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { parseManifest } from '../../../src/manifest/load.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION, WORKLOAD_IDENTITY_TENANT_ID_ANNOTATION, WORKLOAD_IDENTITY_USE_LABEL, instanceId, legacyInstanceId } from '../../../src/render/labels.ts';
import { renderAll, renderObjectsParameter, renderTarget, toYaml } from '../../../src/render/render.ts';
import type { KubeObject } from '../../../src/render/render.ts';
import { ACTION_NAME, INSTANCE_LABEL, MANAGED_BY_LABEL, OWNER_ANNOTATION } from '../../../src/names.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/manifests/', import.meta.url));
const validDir = join(fixtures, 'valid');
const goldenDir = join(fixtures, 'golden');
const names = readdirSync(validDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
// Named as a workspace-relative path, as the action names it: the default owner (and so the
// instance label) must not depend on where the repository is checked out.
const load = (name: string): Manifest => parseManifest(readFileSync(join(validDir, name), 'utf8'), `test/fixtures/manifests/valid/${name}`, { repository: 'contoso/app' }).manifest;

describe.each(names)('%s', (name) => {
  test('renders to its golden file', () => {
    const out = toYaml(renderAll(load(name), { tenantId: TENANT }));
    const golden = join(goldenDir, name);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, out);
    expect(existsSync(golden)).toBe(true);
    expect(out).toBe(readFileSync(golden, 'utf8'));
  });

  test('the YAML parses back to the rendered objects', () => {
    const objects = renderAll(load(name), { tenantId: TENANT });
    const docs = parseAllDocuments(toYaml(objects)).map((d) => d.toJS());
    expect(docs).toEqual(JSON.parse(JSON.stringify(objects)));
  });

  test('every object is labelled as managed by the action', () => {
    const m = load(name);
    for (const o of renderAll(m)) {
      expect(o.metadata.labels?.[MANAGED_BY_LABEL]).toBe(ACTION_NAME);
      expect(o.metadata.labels?.[INSTANCE_LABEL]).toBe(instanceId(m));
    }
  });
});

function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reverseKeys(x)]),
    );
  }
  return v;
}

describe('byte stability', () => {
  test('the same manifest with its keys in another order gives the same bytes', () => {
    for (const name of names) {
      const m = load(name);
      expect(toYaml(renderAll(reverseKeys(m) as Manifest, { tenantId: TENANT }))).toBe(toYaml(renderAll(m, { tenantId: TENANT })));
    }
  });

  test('rendering does not modify the manifest', () => {
    const m = load('multi-namespace.yaml');
    const before = JSON.stringify(m);
    renderAll(m, { tenantId: TENANT, clientIds: { payments: 'x' } });
    expect(JSON.stringify(m)).toBe(before);
  });
});

describe('facts and placeholders', () => {
  const m = load('multi-namespace.yaml');
  const byKind = (objects: KubeObject[], kind: string): KubeObject[] => objects.filter((o) => o.kind === kind);

  test('missing facts become explicit placeholders', () => {
    const objects = renderAll(m);
    const sa = byKind(objects, 'ServiceAccount')[0]!;
    expect(sa.metadata.annotations).toEqual({
      [OWNER_ANNOTATION]: `contoso/app:test/fixtures/manifests/valid/multi-namespace.yaml @ sandbox`,
      [WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION]: '<client-id:id-sandbox-payments>',
      [WORKLOAD_IDENTITY_TENANT_ID_ANNOTATION]: '<tenant-id>',
    });
    expect(sa.metadata.labels?.[WORKLOAD_IDENTITY_USE_LABEL]).toBe('true');
    const spc = byKind(objects, 'SecretProviderClass')[2]!;
    expect(spc.spec).toMatchObject({ parameters: { clientID: '<client-id:id-reports>', tenantId: '<tenant-id>' } });
    expect((spc.spec as { parameters: Record<string, string> }).parameters.cloudName).toBeUndefined();
  });

  test('given facts replace them, per namespace', () => {
    const objects = renderAll(m, { tenantId: TENANT, cloudName: 'AzureUSGovernmentCloud', clientIds: { reports: 'c1' } });
    const params = byKind(objects, 'SecretProviderClass').map((o) => (o.spec as { parameters: Record<string, string> }).parameters);
    expect(params.map((p) => p.clientID)).toEqual(['<client-id:id-sandbox-payments>', '<client-id:id-sandbox-payments>', 'c1']);
    expect(new Set(params.map((p) => p.tenantId))).toEqual(new Set([TENANT]));
    expect(new Set(params.map((p) => p.cloudName))).toEqual(new Set(['AzureUSGovernmentCloud']));
  });

  test('shared namespaces and service accounts appear once, namespaces first', () => {
    const objects = renderAll(m);
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Namespace//payments',
      'ServiceAccount/payments/payments-api',
      'SecretProviderClass/payments/payments-api',
      'ServiceAccount/payments/payments-worker',
      'SecretProviderClass/payments/payments-worker',
      'ServiceAccount/reports/reports',
      'SecretProviderClass/reports/reports',
    ]);
    expect(renderTarget(m, m.targets[1]!).map((o) => o.kind)).toEqual(['ServiceAccount', 'SecretProviderClass']);
  });

  test('kubelet targets render no ServiceAccount and select the VM identity', () => {
    const k = load('kubelet-secret-and-key.yaml');
    const objects = renderAll(k, { tenantId: TENANT });
    expect(objects.map((o) => o.kind)).toEqual(['Namespace', 'SecretProviderClass']);
    const params = (objects[1]!.spec as { parameters: Record<string, string> }).parameters;
    expect(params).toMatchObject({ useVMManagedIdentity: 'true', usePodIdentity: 'false', userAssignedIdentityID: '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f' });
    expect(params.clientID).toBeUndefined();
    const sys = renderAll(load('kubelet-system-assigned.yaml'));
    expect((sys[0]!.spec as { parameters: Record<string, string> }).parameters.userAssignedIdentityID).toBeUndefined();
  });
});

describe('the objects parameter', () => {
  test('is YAML built by a serializer: awkward aliases survive a round trip', () => {
    const objects = [
      { secret: 'a', objectType: 'secret' as const, alias: 'token: v1 #pinned' },
      { secret: 'b', objectType: 'cert' as const, alias: 'it\'s "quoted"\n|' },
      { secret: 'c', objectType: 'secret' as const, version: '0123456789abcdef0123456789abcdef', format: 'pfx', encoding: 'base64' },
    ];
    const parsed = parse(renderObjectsParameter(objects)) as { array: string[] };
    expect(parsed.array.map((s) => parse(s))).toEqual([
      { objectName: 'a', objectType: 'secret', objectAlias: 'token: v1 #pinned' },
      { objectName: 'b', objectType: 'cert', objectAlias: 'it\'s "quoted"\n|' },
      { objectName: 'c', objectType: 'secret', objectVersion: '0123456789abcdef0123456789abcdef', objectFormat: 'pfx', objectEncoding: 'base64' },
    ]);
  });
});

describe('instance labels', () => {
  test('the instance label is the manifest instance key; the pre-ownership value stays derivable for migration', () => {
    const m = parseManifest('apiVersion: akv-aks/v1\nvault: { name: kv-Sandbox, resourceGroup: rg }\ncluster: { name: aks_prod }\n', 'deploy/akv-aks.yaml', { repository: 'contoso/team-a' }).manifest;
    expect(instanceId(m)).toBe(m.instance.key);
    expect(instanceId(m)).toMatch(/^[0-9a-f]{16}$/);
    expect(legacyInstanceId(m)).toBe('kv-sandbox--aks-prod');
    const long = legacyInstanceId({ vault: { name: 'v'.repeat(24) }, cluster: { name: 'c'.repeat(63) } });
    const other = legacyInstanceId({ vault: { name: 'v'.repeat(24) }, cluster: { name: `${'c'.repeat(62)}d` } });
    for (const id of [long, other]) {
      expect(id.length).toBeLessThanOrEqual(63);
      expect(id).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(long).not.toBe(other);
  });
});
