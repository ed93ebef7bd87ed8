import { describe, expect, it } from '@jest/globals';
import { ACROSS_PAGE, byNamespace, listAcross, listsClusterWide } from '../../../src/kube/across.ts';

const obj = (namespace: string, name: string) => ({ metadata: { namespace, name } });

describe('byNamespace', () => {
  it("keeps the target namespaces' items, in page order, and an empty list for a namespace with none", () => {
    const page = { items: [obj('a', '1'), obj('other', '2'), obj('b', '3'), obj('a', '4')] };
    expect(Object.fromEntries(byNamespace(['a', 'b', 'c'], page)!)).toEqual({ a: [obj('a', '1'), obj('a', '4')], b: [obj('b', '3')], c: [] });
  });
  it('answers undefined for a page that is not the whole list (typed or custom-object continue token)', () => {
    expect(byNamespace(['a'], { items: [], metadata: { _continue: 'x' } })).toBeUndefined();
    expect(byNamespace(['a'], { items: [], metadata: { continue: 'x' } })).toBeUndefined();
  });
});

describe('listAcross', () => {
  const setup = (cluster: (limit: number) => Promise<{ items: ReturnType<typeof obj>[]; metadata?: { _continue?: string } }>) => {
    const calls: string[] = [];
    const lists = {
      cluster: (limit: number) => {
        calls.push(`cluster ${limit}`);
        return cluster(limit);
      },
      namespaced: async (ns: string) => {
        calls.push(`ns ${ns}`);
        return { items: [obj(ns, 'own')] };
      },
    };
    return { calls, lists };
  };
  it('one namespace: its own list only', async () => {
    expect(listsClusterWide(1)).toBe(false);
    const { calls, lists } = setup(async () => ({ items: [] }));
    expect(Object.fromEntries(await listAcross(['a'], lists))).toEqual({ a: [obj('a', 'own')] });
    expect(calls).toEqual(['ns a']);
  });
  it('several namespaces: one cluster-wide page', async () => {
    const { calls, lists } = setup(async () => ({ items: [obj('b', 'x')] }));
    expect(Object.fromEntries(await listAcross(['a', 'b'], lists))).toEqual({ a: [], b: [obj('b', 'x')] });
    expect(calls).toEqual([`cluster ${ACROSS_PAGE}`]);
  });
  it('refused or incomplete cluster-wide: the per-namespace lists decide', async () => {
    for (const cluster of [async () => Promise.reject(Object.assign(new Error('forbidden'), { code: 403 })), async () => ({ items: [obj('a', 'x')], metadata: { _continue: 'more' } })]) {
      const { calls, lists } = setup(cluster);
      expect(Object.fromEntries(await listAcross(['a', 'b'], lists))).toEqual({ a: [obj('a', 'own')], b: [obj('b', 'own')] });
      expect(calls).toEqual([`cluster ${ACROSS_PAGE}`, 'ns a', 'ns b']);
    }
  });
  it('a failed per-namespace list fails the read', async () => {
    const lists = { cluster: async () => Promise.reject(new Error('no')), namespaced: async (ns: string) => (ns === 'b' ? Promise.reject(new Error(`boom ${ns}`)) : { items: [] }) };
    await expect(listAcross(['a', 'b'], lists)).rejects.toThrow('boom b');
  });
});
