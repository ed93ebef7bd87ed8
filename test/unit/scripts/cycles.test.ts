import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cycles, fileGraph, folderGraph, leafViolations, loopThrough, type Graph } from '../../../scripts/cycles.ts';

const graphOf = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cycles-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('import cycle check', () => {
  it('finds no cycle in a layered graph', () => {
    expect(cycles(graphOf({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });

  it('names a two-node cycle and a self-import', () => {
    expect(cycles(graphOf({ a: ['b'], b: ['a'], c: ['c'] }))).toEqual([['a', 'b'], ['c']]);
  });

  it('walks one concrete loop through a larger component', () => {
    const g = graphOf({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] });
    const [component] = cycles(g);
    expect(component).toEqual(['a', 'b', 'c']);
    expect(loopThrough(g, component!)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('lets the shared leaves import only each other', () => {
    expect(leafViolations(graphOf({ 'names.ts': [], plan: ['util'], util: [], vault: ['plan', 'names.ts'] }))).toEqual([]);
    expect(leafViolations(graphOf({ 'names.ts': [], plan: ['vault'], util: [], vault: [] }))).toEqual(['plan -> vault']);
  });

  it('resolves real imports, type-only ones included, and lifts them to folders', () => {
    const dir = tree({
      'vault/plan.ts': "import type { X } from '../identity/model.ts';\nexport const p = 1;\n",
      'identity/model.ts': 'export type X = number;\n',
      'identity/index.ts': "import { p } from '../vault/plan.ts';\nexport const i = p;\n",
      'main.ts': "import { i } from './identity/index.ts';\nimport 'node:fs';\nexport const m = i;\n",
    });
    const files = fileGraph(dir);
    expect(cycles(files)).toEqual([]);
    expect([...files.get(join('vault', 'plan.ts'))!]).toEqual([join('identity', 'model.ts')]);
    const folders = folderGraph(files);
    expect(cycles(folders)).toEqual([['identity', 'vault']]);
    expect([...folders.get('main.ts')!]).toEqual(['identity']);
  });
});
