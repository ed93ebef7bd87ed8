import { describe, expect, it } from '@jest/globals';
import { applyIsNoop } from '../../../src/kube/apply.ts';
import type { KubeObject } from '../../../src/render/index.ts';
import { mapUntilError, semaphore } from '../../../src/util/concurrency.ts';

const labels = { 'app.kubernetes.io/managed-by': 'akv-aks-action', 'akv-aks-action/instance': 'kv--c' };
const spc: KubeObject = {
  apiVersion: 'secrets-store.csi.x-k8s.io/v1',
  kind: 'SecretProviderClass',
  metadata: { name: 's', namespace: 'ns', labels },
  spec: { provider: 'azure', parameters: { objects: 'a', clientID: 'c' }, secretObjects: [{ secretName: 'env', type: 'Opaque', data: [{ key: 'K', objectName: 'o' }] }] },
};
// What the API server records for that apply (FieldsV1: maps by key, atomic lists whole).
const fields = {
  'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/managed-by': {}, 'f:akv-aks-action/instance': {} } },
  'f:spec': { 'f:provider': {}, 'f:parameters': { 'f:objects': {}, 'f:clientID': {} }, 'f:secretObjects': {} },
};
function live(over: { spec?: unknown; labels?: Record<string, string>; managedFields?: unknown[] } = {}) {
  return {
    apiVersion: spc.apiVersion,
    kind: spc.kind,
    metadata: {
      name: 's',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
      labels: { ...labels, other: 'x', ...over.labels },
      managedFields: over.managedFields ?? [
        { manager: 'akv-aks-action', operation: 'Apply', apiVersion: spc.apiVersion, fieldsType: 'FieldsV1', fieldsV1: fields },
        { manager: 'kubectl', operation: 'Update', apiVersion: spc.apiVersion, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:other': {} } } } },
      ],
    },
    spec: over.spec ?? JSON.parse(JSON.stringify(spc.spec)),
  } as never;
}

describe('applyIsNoop', () => {
  it('is true only when the live object holds the applied fields and the manager owns exactly them', () => {
    expect(applyIsNoop(spc, live())).toBe(true);
  });
  it('sees a changed value, a changed list item, a missing field', () => {
    expect(applyIsNoop(spc, live({ spec: { provider: 'azure', parameters: { objects: 'b', clientID: 'c' }, secretObjects: (spc.spec as { secretObjects: unknown }).secretObjects } }))).toBe(false);
    expect(
      applyIsNoop(
        spc,
        live({ spec: { provider: 'azure', parameters: { objects: 'a', clientID: 'c' }, secretObjects: [{ secretName: 'env', type: 'Opaque', data: [{ key: 'K2', objectName: 'o' }] }] } }),
      ),
    ).toBe(false);
    expect(applyIsNoop(spc, live({ labels: { 'akv-aks-action/instance': 'other' } }))).toBe(false);
    expect(applyIsNoop(spc, undefined)).toBe(false);
  });
  it('applies when the manager owned other fields (they would be released) or lost one to another manager', () => {
    const more = { ...fields, 'f:spec': { ...fields['f:spec'], 'f:extra': {} } };
    expect(applyIsNoop(spc, live({ managedFields: [{ manager: 'akv-aks-action', operation: 'Apply', apiVersion: spc.apiVersion, fieldsType: 'FieldsV1', fieldsV1: more }] }))).toBe(false);
    const fewer = { ...fields, 'f:spec': { 'f:provider': {}, 'f:parameters': { 'f:objects': {} }, 'f:secretObjects': {} } };
    expect(applyIsNoop(spc, live({ managedFields: [{ manager: 'akv-aks-action', operation: 'Apply', apiVersion: spc.apiVersion, fieldsType: 'FieldsV1', fieldsV1: fewer }] }))).toBe(false);
  });
  it('applies when the action never applied it, under another apiVersion, or as an Update', () => {
    expect(applyIsNoop(spc, live({ managedFields: [] }))).toBe(false);
    expect(
      applyIsNoop(spc, live({ managedFields: [{ manager: 'akv-aks-action', operation: 'Apply', apiVersion: 'secrets-store.csi.x-k8s.io/v1alpha1', fieldsType: 'FieldsV1', fieldsV1: fields }] })),
    ).toBe(false);
    expect(applyIsNoop(spc, live({ managedFields: [{ manager: 'akv-aks-action', operation: 'Update', apiVersion: spc.apiVersion, fieldsType: 'FieldsV1', fieldsV1: fields }] }))).toBe(false);
  });
  it('an added annotation (the adoption mark) is a change', () => {
    const marked: KubeObject = { ...spc, metadata: { ...spc.metadata, annotations: { 'akv-aks-action/adopted': 'true' } } };
    expect(applyIsNoop(marked, live())).toBe(false);
  });
});

describe('mapUntilError / semaphore', () => {
  it('keeps order, never exceeds the limit, and throws the earliest failure', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapUntilError([5, 1, 4, 2, 3, 0, 6], 3, async (x) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, x));
      active--;
      return x * 2;
    });
    expect(out).toEqual([10, 2, 8, 4, 6, 0, 12]);
    expect(peak).toBe(3);
    await expect(
      mapUntilError([1, 2, 3], 3, async (x) => {
        await new Promise((r) => setTimeout(r, 10 - x));
        if (x > 1) throw new Error(`fail ${x}`);
        return x;
      }),
    ).rejects.toThrow('fail 2');
  });
  it('limiter hands slots over without exceeding its limit', async () => {
    const run = semaphore(2);
    let active = 0;
    let peak = 0;
    const task = async (): Promise<void> => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
    };
    await Promise.all(Array.from({ length: 9 }, () => run(task)));
    expect(peak).toBe(2);
  });
});
