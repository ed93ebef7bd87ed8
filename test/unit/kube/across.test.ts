import { describe, expect, it } from '@jest/globals';
import { ACROSS_PAGE, listAcross, listsClusterWide, pagesWorthReading } from '../../../src/kube/across.ts';

const obj = (namespace: string, name: string) => ({ metadata: { namespace, name } });

describe('one cluster-wide page', () => {
  it("keeps the target namespaces' items, in page order, and an empty list for a namespace with none", async () => {
    const page = { items: [obj('a', '1'), obj('other', '2'), obj('b', '3'), obj('a', '4')] };
    const got = await listAcross(['a', 'b', 'c'], { cluster: async () => page, namespaced: async () => Promise.reject(new Error('not asked')) });
    expect(Object.fromEntries(got)).toEqual({ a: [obj('a', '1'), obj('a', '4')], b: [obj('b', '3')], c: [] });
  });
});

describe('listAcross', () => {
  type Page = { items: ReturnType<typeof obj>[]; metadata?: { _continue?: string; continue?: string; remainingItemCount?: number } };
  const setup = (cluster: (limit: number, after?: string) => Promise<Page>) => {
    const calls: string[] = [];
    const lists = {
      cluster: (limit: number, after?: string) => {
        calls.push(after ? `cluster ${limit} after ${after}` : `cluster ${limit}`);
        return cluster(limit, after);
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
  it('a first page with few items left: the remaining pages, fewer than the namespaces', async () => {
    const pages: Record<string, Page> = {
      '': { items: [obj('a', '1'), obj('x', '2')], metadata: { _continue: 'p2', remainingItemCount: 3 } },
      p2: { items: [obj('c', '3'), obj('b', '4')], metadata: { continue: 'p3', remainingItemCount: 1 } },
      p3: { items: [obj('a', '5')] },
    };
    const { calls, lists } = setup(async (_limit, after) => pages[after ?? '']!);
    const got = await listAcross(['a', 'b', 'c', 'd'], lists, undefined, 2);
    expect(Object.fromEntries(got)).toEqual({ a: [obj('a', '1'), obj('a', '5')], b: [obj('b', '4')], c: [obj('c', '3')], d: [] });
    expect(calls).toEqual(['cluster 2', 'cluster 2 after p2', 'cluster 2 after p3']);
  });
  it('as many pages left as namespaces, no count, a later page failing, or a list growing past its count: the per-namespace lists', async () => {
    const cases: Array<{ pages: Record<string, Page | Error>; calls: string[] }> = [
      { pages: { '': { items: [], metadata: { _continue: 'p2', remainingItemCount: 3 } } }, calls: ['cluster 2'] },
      { pages: { '': { items: [], metadata: { _continue: 'p2' } } }, calls: ['cluster 2'] },
      { pages: { '': { items: [], metadata: { _continue: 'p2', remainingItemCount: 1 } }, p2: new Error('410 Gone: continue token expired') }, calls: ['cluster 2', 'cluster 2 after p2'] },
      {
        pages: { '': { items: [], metadata: { _continue: 'p2', remainingItemCount: 1 } }, p2: { items: [], metadata: { _continue: 'p3' } }, p3: { items: [], metadata: { _continue: 'p4' } } },
        calls: ['cluster 2', 'cluster 2 after p2', 'cluster 2 after p3'],
      },
    ];
    for (const c of cases) {
      const { calls, lists } = setup(async (_limit, after) => {
        const page = c.pages[after ?? '']!;
        if (page instanceof Error) throw page;
        return page;
      });
      expect(Object.fromEntries(await listAcross(['a', 'b'], lists, undefined, 2))).toEqual({ a: [obj('a', 'own')], b: [obj('b', 'own')] });
      expect(calls).toEqual([...c.calls, 'ns a', 'ns b']);
    }
  });
  it('pagesWorthReading: the pages left, when fewer than the namespaces', () => {
    expect(pagesWorthReading(4_500, 500, 100)).toBe(9);
    expect(pagesWorthReading(4_501, 500, 10)).toBeUndefined();
    expect(pagesWorthReading(4_500, 500, 9)).toBeUndefined();
    expect(pagesWorthReading(undefined, 500, 100)).toBeUndefined();
    expect(pagesWorthReading(-1, 500, 100)).toBeUndefined();
  });
  it('a failed per-namespace list fails the read', async () => {
    const lists = { cluster: async () => Promise.reject(new Error('no')), namespaced: async (ns: string) => (ns === 'b' ? Promise.reject(new Error(`boom ${ns}`)) : { items: [] }) };
    await expect(listAcross(['a', 'b'], lists)).rejects.toThrow('boom b');
  });
});
