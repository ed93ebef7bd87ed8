// A manifest's instance: who it is (owner) on which cluster. Everything the action writes is marked
// with its key, so the key must tell apart exactly what the ownership model says are different manifests.
import { describe, expect, test } from '@jest/globals';
import { describeInstance, manifestInstance } from '../../../src/manifest/instance.ts';
import { parseManifest } from '../../../src/manifest/load.ts';

const base = { repository: 'contoso/team-a', path: 'akv-aks.yaml', cluster: 'aks-prod' };

describe('manifestInstance', () => {
  test('the default owner is repository + path; the key is 16 hex characters', () => {
    const i = manifestInstance(base);
    expect(i.owner).toBe('contoso/team-a:akv-aks.yaml');
    expect(i.key).toMatch(/^[0-9a-f]{16}$/);
    expect(describeInstance(i)).toBe('contoso/team-a:akv-aks.yaml @ aks-prod');
  });

  test('two repositories with the default path are two instances', () => {
    expect(manifestInstance({ ...base, repository: 'contoso/team-b' }).key).not.toBe(manifestInstance(base).key);
  });

  test('one manifest on two clusters is two instances; cluster names are compared exactly', () => {
    expect(manifestInstance({ ...base, cluster: 'aks-dr' }).key).not.toBe(manifestInstance(base).key);
    // No resource group in the manifest: AKS-PROD and aks-prod may be two clusters.
    expect(manifestInstance({ ...base, cluster: 'AKS-PROD' }).key).not.toBe(manifestInstance(base).key);
    // Distinct AKS names that a label-safe normalisation would fold together stay distinct.
    expect(manifestInstance({ ...base, cluster: 'aks_prod' }).key).not.toBe(manifestInstance(base).key);
  });

  test('paths compare as written: ./ and backslashes do not make another manifest; another path does', () => {
    expect(manifestInstance({ ...base, path: './akv-aks.yaml' }).key).toBe(manifestInstance(base).key);
    expect(manifestInstance({ ...base, path: 'deploy\\akv-aks.yaml' }).key).toBe(manifestInstance({ ...base, path: 'deploy/akv-aks.yaml' }).key);
    expect(manifestInstance({ ...base, path: 'deploy/akv-aks.yaml' }).key).not.toBe(manifestInstance(base).key);
  });

  test('an explicit owner survives a rename or a move to another repository', () => {
    const a = manifestInstance({ ...base, owner: 'payments-api' });
    const b = manifestInstance({ repository: 'contoso/monorepo', path: 'apps/payments/akv-aks.yaml', cluster: 'aks-prod', owner: 'payments-api' });
    expect(a.key).toBe(b.key);
    expect(a.owner).toBe('payments-api');
  });

  test('repository names are case-insensitive, as on GitHub', () => {
    expect(manifestInstance({ ...base, repository: 'Contoso/Team-A' }).key).toBe(manifestInstance(base).key);
  });
});

describe('the loader sets the instance', () => {
  const text = (extra = ''): string => `apiVersion: akv-aks/v1\n${extra}vault: { name: kv-app, resourceGroup: rg }\ncluster: { name: aks-prod }\n`;

  test('from the repository option and the file name as given', () => {
    const m = parseManifest(text(), 'deploy/akv-aks.yaml', { repository: 'contoso/team-a' }).manifest;
    expect(m.instance).toEqual(manifestInstance({ repository: 'contoso/team-a', path: 'deploy/akv-aks.yaml', cluster: 'aks-prod' }));
  });

  test('from `owner:` when the manifest sets it', () => {
    const m = parseManifest(text('owner: payments-api\n'), 'deploy/akv-aks.yaml', { repository: 'contoso/team-a' }).manifest;
    expect(m.instance.owner).toBe('payments-api');
  });

  test('an owner outside the allowed characters is refused with its position', () => {
    expect(() => parseManifest(text('owner: "a b"\n'), 'm.yaml')).toThrow(/^m\.yaml:2:8: error: owner: /);
  });
});
