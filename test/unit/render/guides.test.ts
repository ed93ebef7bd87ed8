// Each setup of five public guides on Azure Key Vault + AKS is expressible as a manifest that
// renders the SecretProviderClass the guide shows. The guides' facts (their SecretProviderClasses,
// ServiceAccount, Namespace) are the project's copy in test/fixtures/guides/facts.yaml; placeholders
// in them (<tenant-id>, ${MI_CLIENT_ID}, ...) are passed as render facts so parameters match exactly.
// When the guides themselves are beside the repository (../shared/reference-guides), the last suite
// checks the copy still says what they say.
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadManifest, parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError } from '../../../src/manifest/types.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { renderAll } from '../../../src/render/render.ts';
import type { KubeObject, RenderFacts } from '../../../src/render/render.ts';
import { withReferenceData } from '../../support/guard.ts';
import { mounts, readGuideFacts, type GuideFacts, type Params } from './guide-facts.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const validDir = join(repo, 'test', 'fixtures', 'manifests', 'valid');
const invalidDir = join(repo, 'test', 'fixtures', 'manifests', 'invalid');
const factsFile = join(repo, 'test', 'fixtures', 'guides', 'facts.yaml');
const facts = parse(readFileSync(factsFile, 'utf8')) as GuideFacts;

function params(spc: KubeObject): Params {
  return (spc.spec as { parameters: Params }).parameters;
}

function comparable(p: Params): Record<string, unknown> {
  const { objects, ...rest } = p;
  return { ...rest, objects: objects === undefined ? undefined : mounts(objects) };
}

/** Parameters the action always sets even where a guide leaves them implicit (their defaults). */
const ALWAYS = { usePodIdentity: 'false' };

function renderSpc(manifest: Manifest, renderFacts: RenderFacts, name: string): KubeObject {
  const spc = renderAll(manifest, renderFacts).find((o) => o.kind === 'SecretProviderClass' && o.metadata.name === name);
  expect(spc).toBeDefined();
  return spc!;
}

const load = (file: string): Manifest => loadManifest(join(validDir, file)).manifest;

describe('guide: VM managed identity and user-assigned identity', () => {
  const spcs = facts.vmIdentities.secretProviderClasses;

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

describe('guide: Microsoft Entra Workload ID', () => {
  const { parameters: guideParams, objects: guideObjects } = facts.workloadId;

  test('same parameters with the identity the action creates and federates', () => {
    expect(Object.keys(guideParams).sort()).toEqual(['clientID', 'keyvaultName', 'tenantId', 'usePodIdentity', 'useVMManagedIdentity']);
    const m = load('workload-identity.yaml');
    const renderFacts = { tenantId: guideParams.tenantId!, clientIds: { payments: guideParams.clientID! } };
    const r = renderSpc(m, renderFacts, 'azure-kv-name');
    const { objects, ...rest } = params(r);
    expect(rest).toEqual({ ...guideParams, keyvaultName: m.vault.name });
    expect(mounts(objects!)).toEqual(guideObjects);
    expect(m.targets[0]!.identity.mode).toBe('managed');
    expect(m.targets[0]!.access.role).toBe('Key Vault Secrets User');
    const sa = renderAll(m, renderFacts).find((o) => o.kind === 'ServiceAccount')!;
    expect(sa.metadata.annotations?.['azure.workload.identity/client-id']).toBe(guideParams.clientID);
  });
});

describe('guide: aad-pod-identity is refused, its migration renders the same mounts', () => {
  const g = facts.podIdentity;

  test('the guide uses pod identity', () => {
    expect(g.usePodIdentity).toBe('true');
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
    expect(p.keyvaultName).toBe(g.keyvaultName);
    expect(p.usePodIdentity).toBe('false');
    expect(p.clientID).toMatch(/^[0-9a-f-]{36}$/);
    expect(mounts(p.objects!)).toEqual([g.object]);
    expect((r.spec as { secretObjects: unknown }).secretObjects).toEqual([{ secretName: g.secretName, type: 'Opaque', data: [{ objectName: g.secretData.objectName, key: g.secretData.key }] }]);
  });
});

describe('guide: Workload ID with secretObjects for environment variables', () => {
  const g = facts.secretObjects.secretProviderClass;
  const guideSa = facts.secretObjects.serviceAccount;

  test('same SecretProviderClass: parameters, secretObjects, name and namespace', () => {
    const m = load('sync-env-vars.yaml');
    const gp = params(g);
    const renderFacts = { tenantId: gp.tenantId!, clientIds: { 'secret-lab': gp.clientID! } };
    const r = renderSpc(m, renderFacts, g.metadata.name);
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
    expect(objects.find((o) => o.kind === 'Namespace')!.metadata.name).toBe(facts.secretObjects.namespace);
    expect(m.targets[0]!.access.role).toBe('Key Vault Secrets User');
  });
});

describe('guide: VM identity with userAssignedIdentityID, a secret and a key', () => {
  const g = facts.secretAndKey.secretProviderClass;

  test('same parameters (objectVersion "" is the latest version)', () => {
    const m = load('kubelet-secret-and-key.yaml');
    const r = renderSpc(m, { tenantId: params(g).tenantId }, g.metadata.name);
    expect(r.metadata.namespace).toBe(g.metadata.namespace);
    const clientId = m.targets[0]!.identity.mode === 'kubelet' ? m.targets[0]!.identity.clientId : '';
    expect(comparable(params(r))).toEqual(comparable({ ...params(g), userAssignedIdentityID: clientId }));
    expect(m.targets[0]!.access.role).toBe('Key Vault Administrator');
  });
});

const guides = withReferenceData('reference-guides');
guides.describe('test/fixtures/guides/facts.yaml still matches the reference guides', () => {
  test('the facts read from the five guides equal the project copy', () => {
    const texts = readdirSync(guides.dir).map((f) => readFileSync(join(guides.dir, f), 'utf8'));
    expect(texts).toHaveLength(5);
    expect(readGuideFacts(texts)).toEqual(facts);
  });
});
