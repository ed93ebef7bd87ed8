// Each setup of the reference guides (/work/shared/reference-guides, read from ../shared relative to
// the repository) is expressible as a manifest that renders the SecretProviderClass the guide shows.
// The guides' SPCs are parsed from the guide text itself; placeholders in them (<tenant-id>,
// ${MI_CLIENT_ID}, ...) are passed as render facts so the parameters must match exactly.
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadManifest, parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError } from '../../../src/manifest/types.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { renderAll } from '../../../src/render/render.ts';
import type { KubeObject, RenderFacts } from '../../../src/render/render.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const guidesDir = join(repo, '..', 'shared', 'reference-guides');
const validDir = join(repo, 'test', 'fixtures', 'manifests', 'valid');
const invalidDir = join(repo, 'test', 'fixtures', 'manifests', 'invalid');
const guides = readdirSync(guidesDir).map((f) => readFileSync(join(guidesDir, f), 'utf8'));

/** The guide whose text contains `marker` (the files have opaque names). */
function guide(marker: string): string {
  const found = guides.filter((g) => g.includes(marker));
  if (found.length !== 1) throw new Error(`${found.length} guides contain ${marker}`);
  return found[0]!;
}

/** Fenced code blocks of a markdown guide. */
function codeBlocks(text: string): string[] {
  return [...text.matchAll(/```[a-zA-Z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** SecretProviderClasses in YAML fenced blocks and in `cat <<EOF | kubectl apply -f -` heredocs. */
function guideSpcs(text: string): KubeObject[] {
  const sources: string[] = [];
  for (const block of codeBlocks(text)) {
    const heredocs = [...block.matchAll(/<<EOF[^\n]*\n([\s\S]*?)\nEOF/g)].map((m) => m[1]!);
    sources.push(...(heredocs.length > 0 ? heredocs : [block]));
  }
  const out: KubeObject[] = [];
  for (const src of sources) {
    if (!src.includes('kind: SecretProviderClass')) continue;
    for (const doc of parseAllDocuments(src)) {
      const o = doc.toJS() as KubeObject | null;
      if (o?.kind === 'SecretProviderClass') out.push(o);
    }
  }
  return out;
}

interface MountSpec {
  [field: string]: string;
}

/** The objects parameter as a list of maps, empty values dropped (`objectVersion: ""` = latest). */
function mounts(objects: string): MountSpec[] {
  const outer = parse(objects) as { array: string[] };
  return outer.array.map((s) => Object.fromEntries(Object.entries(parse(s) as MountSpec).filter(([, v]) => v !== '')));
}

type Params = Record<string, string>;

function params(spc: KubeObject): Params {
  return (spc.spec as { parameters: Params }).parameters;
}

function comparable(p: Params): Record<string, unknown> {
  const { objects, ...rest } = p;
  return { ...rest, objects: objects === undefined ? undefined : mounts(objects) };
}

/** Parameters the action always sets even where a guide leaves them implicit (their defaults). */
const ALWAYS = { usePodIdentity: 'false' };

function renderSpc(manifest: Manifest, facts: RenderFacts, name: string): KubeObject {
  const spc = renderAll(manifest, facts).find((o) => o.kind === 'SecretProviderClass' && o.metadata.name === name);
  expect(spc).toBeDefined();
  return spc!;
}

const load = (file: string): Manifest => loadManifest(join(validDir, file)).manifest;

describe('guide 000: VM managed identity and user-assigned identity', () => {
  const text = guide('azure-keyvault-provider-vm');
  const spcs = guideSpcs(text);

  test('the guide has two SecretProviderClasses', () => {
    expect(spcs.map((s) => s.metadata.name)).toEqual(['azure-keyvault-provider-vm', 'azure-keyvault-provider-user']);
  });

  test('method 1 (system-assigned VM identity): same parameters', () => {
    const g = spcs[0]!;
    const r = renderSpc(load('kubelet-system-assigned.yaml'), { tenantId: params(g).tenantId }, g.metadata.name);
    expect(comparable(params(r))).toEqual(comparable({ ...ALWAYS, ...params(g) }));
    expect(r.apiVersion).toBe(g.apiVersion);
    expect((r.spec as { provider: string }).provider).toBe('azure');
  });

  test('method 2 (user-assigned identity on the VMs): same parameters, with the identity selected', () => {
    const g = spcs[1]!;
    const m = load('kubelet-user-assigned.yaml');
    const r = renderSpc(m, { tenantId: params(g).tenantId }, g.metadata.name);
    // The guide writes useVMManagedIdentity "false", but the Azure provider reads
    // userAssignedIdentityID only in VM-identity mode; "true" is what makes this setup work.
    const clientId = m.targets[0]!.identity.mode === 'kubelet' ? m.targets[0]!.identity.clientId : '';
    expect(comparable(params(r))).toEqual(comparable({ ...ALWAYS, ...params(g), useVMManagedIdentity: 'true', userAssignedIdentityID: clientId }));
  });
});

describe('guide 001: Microsoft Entra Workload ID', () => {
  // This guide's YAML lost its line breaks; read the parameters from the flattened text.
  const text = guide('azure-kv-name');
  const flat = /parameters:(.*?)-\s*Mount to Pod/s.exec(text)![1]!;
  // Words run together here ("objectType: secrettenantId:"), so match the provider's parameter names.
  const names = 'usePodIdentity|useVMManagedIdentity|userAssignedIdentityID|clientID|keyvaultName|cloudName|tenantId';
  const guideParams: Params = Object.fromEntries([...flat.matchAll(new RegExp(`(${names}): "([^"]*)"`, 'g'))].map((m) => [m[1]!, m[2]!]));
  const guideObjects = [...flat.matchAll(/objectName: ([\w-]+?)objectType: (secret|key|cert)/g)].map((m) => ({ objectName: m[1]!, objectType: m[2]! }));

  test('same parameters with the identity the action creates and federates', () => {
    expect(Object.keys(guideParams).sort()).toEqual(['clientID', 'keyvaultName', 'tenantId', 'usePodIdentity', 'useVMManagedIdentity']);
    const m = load('workload-identity.yaml');
    const facts = { tenantId: guideParams.tenantId!, clientIds: { payments: guideParams.clientID! } };
    const r = renderSpc(m, facts, 'azure-kv-name');
    const { objects, ...rest } = params(r);
    expect(rest).toEqual({ ...guideParams, keyvaultName: m.vault.name });
    expect(mounts(objects!)).toEqual(guideObjects);
    expect(m.targets[0]!.identity.mode).toBe('managed');
    expect(m.targets[0]!.access.role).toBe('Key Vault Secrets User');
    const sa = renderAll(m, facts).find((o) => o.kind === 'ServiceAccount')!;
    expect(sa.metadata.annotations?.['azure.workload.identity/client-id']).toBe(guideParams.clientID);
  });
});

describe('guide 002: aad-pod-identity is refused, its migration renders the same mounts', () => {
  const text = guide('aadpodidbinding');
  // The guide's gist is printed with line numbers; strip them to read the parameters.
  const spcText = /kind: SecretProviderClass([\s\S]*?)SecretProviderClass\.yaml hosted/.exec(text)![1]!;
  const lines = spcText.split('\n').map((l) => l.replace(/^\s*\d+ {1,2}/, ''));
  const param = (k: string): string => new RegExp(`^\\s*${k}: "([^"]*)"`, 'm').exec(lines.join('\n'))?.[1] ?? '';

  test('the guide uses pod identity', () => {
    expect(param('usePodIdentity')).toBe('true');
  });

  test('a manifest asking for usePodIdentity is refused with the move to Workload ID', () => {
    const file = join(invalidDir, 'pod-identity-use-pod-identity.yaml');
    let error: unknown;
    try {
      parseManifest(readFileSync(file, 'utf8'), file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const issue = (error as ManifestError).issues[0]!;
    expect(issue.path).toBe('targets[0].usePodIdentity');
    expect(issue.message).toMatch(/aad-pod-identity .* not supported: move to Microsoft Entra Workload ID/);
    expect(issue.message).toContain('identity: { create: true }');
  });

  test('the migrated manifest mounts the same objects into the same synced Secret', () => {
    const r = renderSpc(load('pod-identity-migrated.yaml'), {}, 'spc-myk8skv');
    const p = params(r);
    expect(p.keyvaultName).toBe(param('keyvaultName'));
    expect(p.usePodIdentity).toBe('false');
    expect(p.clientID).toMatch(/^[0-9a-f-]{36}$/);
    const name = /objectName: (\w+)\s*\n\s*objectType: (\w+)/.exec(lines.join('\n'))!;
    expect(mounts(p.objects!)).toEqual([{ objectName: name[1], objectType: name[2] }]);
    const secretName = /secretName: ([\w-]+)/.exec(spcText)![1];
    const key = /- key: (\w+)\s*\n\s*objectName: (\w+)/.exec(lines.join('\n'))!;
    expect((r.spec as { secretObjects: unknown }).secretObjects).toEqual([
      { secretName, type: 'Opaque', data: [{ objectName: key[2], key: key[1] }] },
    ]);
  });
});

describe('guide 003: Workload ID with secretObjects for environment variables', () => {
  const text = guide('podinfo-csi');
  const g = guideSpcs(text)[0]!;
  const docs = codeBlocks(text)
    .flatMap((b) => [...b.matchAll(/<<EOF[^\n]*\n([\s\S]*?)\nEOF/g)].map((m) => m[1]!))
    .flatMap((src) => parseAllDocuments(src).map((d) => d.toJS() as KubeObject));
  const guideSa = docs.find((o) => o.kind === 'ServiceAccount')!;

  test('same SecretProviderClass: parameters, secretObjects, name and namespace', () => {
    const m = load('sync-env-vars.yaml');
    const gp = params(g);
    const facts = { tenantId: gp.tenantId!, clientIds: { 'secret-lab': gp.clientID! } };
    const r = renderSpc(m, facts, g.metadata.name);
    expect(r.metadata.namespace).toBe(g.metadata.namespace);
    // The guide's vault name is a shell variable (${KV_NAME}); the manifest names a real vault.
    expect(comparable(params(r))).toEqual(comparable({ ...gp, keyvaultName: m.vault.name }));
    expect((r.spec as { secretObjects: unknown }).secretObjects).toEqual((g.spec as { secretObjects: unknown }).secretObjects);
  });

  test('same Namespace and annotated ServiceAccount', () => {
    const m = load('sync-env-vars.yaml');
    const objects = renderAll(m, { tenantId: 'tenant', clientIds: { 'secret-lab': guideSa.metadata.annotations!['azure.workload.identity/client-id']! } });
    const sa = objects.find((o) => o.kind === 'ServiceAccount')!;
    expect(sa.metadata).toMatchObject({ name: guideSa.metadata.name, namespace: guideSa.metadata.namespace });
    expect(sa.metadata.annotations).toMatchObject(guideSa.metadata.annotations!);
    expect(sa.metadata.labels).toMatchObject(guideSa.metadata.labels!);
    expect(objects.find((o) => o.kind === 'Namespace')!.metadata.name).toBe(docs.find((o) => o.kind === 'Namespace')!.metadata.name);
    expect(m.targets[0]!.access.role).toBe('Key Vault Secrets User');
  });
});

describe('guide 004: VM identity with userAssignedIdentityID, a secret and a key', () => {
  const g = guideSpcs(guide('aks-demo-kv'))[0]!;

  test('same parameters (objectVersion "" is the latest version)', () => {
    const m = load('kubelet-secret-and-key.yaml');
    const r = renderSpc(m, { tenantId: params(g).tenantId }, g.metadata.name);
    expect(r.metadata.namespace).toBe(g.metadata.namespace);
    const clientId = m.targets[0]!.identity.mode === 'kubelet' ? m.targets[0]!.identity.clientId : '';
    expect(comparable(params(r))).toEqual(comparable({ ...params(g), userAssignedIdentityID: clientId }));
    expect(m.targets[0]!.access.role).toBe('Key Vault Administrator');
  });
});
