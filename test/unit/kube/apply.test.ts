import { describe, expect, it } from '@jest/globals';
import { changedPaths, ownedBy } from '../../../src/kube/apply.ts';
import type { KubeObject } from '../../../src/render/index.ts';

const desired: KubeObject = {
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: 'api', namespace: 'payments', labels: { a: '1' }, annotations: { 'azure.workload.identity/client-id': 'new' } },
};

describe('changedPaths', () => {
  it('lists only the declared labels/annotations that differ, never values', () => {
    const before = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', labels: { a: '1', other: 'x' }, annotations: { 'azure.workload.identity/client-id': 'old' } } };
    const after = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', labels: { a: '1', other: 'y' }, annotations: { 'azure.workload.identity/client-id': 'new' } } };
    const paths = changedPaths(desired, before, after);
    expect(paths).toEqual(['metadata.annotations[azure.workload.identity/client-id]']);
    expect(paths.join()).not.toContain('new');
    expect(changedPaths(desired, after, after)).toEqual([]);
  });

  it('descends into spec to name changed parameters', () => {
    const spc: KubeObject = {
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: 's' },
      spec: { provider: 'azure', parameters: { objects: 'b', clientID: 'c' } },
    };
    const before = { ...spc, spec: { provider: 'azure', parameters: { objects: 'a', clientID: 'c' } } };
    expect(changedPaths(spc, before, spc as never)).toEqual(['spec.parameters.objects']);
    expect(changedPaths(spc, { ...spc, spec: { provider: 'azure', parameters: { objects: 'b', clientID: 'c' }, secretObjects: [] } }, spc as never)).toEqual(['spec.secretObjects']);
  });
});

describe('ownedBy', () => {
  it('needs both the managed-by and this instance label', () => {
    const labels = { 'app.kubernetes.io/managed-by': 'akv-aks-action', 'akv-aks-action/instance': 'kv--c' };
    expect(ownedBy({ metadata: { labels } }, 'kv--c')).toBe(true);
    expect(ownedBy({ metadata: { labels } }, 'kv--other')).toBe(false);
    expect(ownedBy({ metadata: { labels: { 'akv-aks-action/instance': 'kv--c' } } }, 'kv--c')).toBe(false);
    expect(ownedBy(undefined, 'kv--c')).toBe(false);
  });
});
