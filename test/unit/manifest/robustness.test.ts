// Whatever shape the YAML has, the loader answers with a manifest or a ManifestError whose issues
// all carry a position: never a TypeError. Mutations are deterministic (seeded).
import { expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import type { Node } from 'yaml';
import { parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError } from '../../../src/manifest/types.ts';
import { renderAll, toYaml } from '../../../src/render/render.ts';

const dir = fileURLToPath(new URL('../../fixtures/manifests/valid/', import.meta.url));
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const REPLACEMENTS: unknown[] = [null, 0, -1, 3.5, true, '', 'x', 'UPPER_case', '../..', [], ['a'], {}, { a: 1 }, 'a'.repeat(300)];

/** A mutated text, or undefined when the mutation cannot be written back (an anchor was removed). */
function mutate(text: string, rand: () => number): string | undefined {
  const doc = parseDocument(text, { merge: true });
  const nodes: Node[] = [];
  visit(doc, {
    Node(_key, node) {
      nodes.push(node as Node);
    },
  });
  const target = nodes[Math.floor(rand() * nodes.length)];
  const replacement = REPLACEMENTS[Math.floor(rand() * REPLACEMENTS.length)];
  const dropKey = rand() < 0.3;
  visit(doc, {
    Pair(_key, pair) {
      if (pair.value === target || pair.key === target) return dropKey ? visit.REMOVE : undefined;
      return undefined;
    },
    Node(_key, node) {
      if (node === target && !dropKey && (isScalar(node) || isMap(node) || isSeq(node))) return doc.createNode(replacement);
      return undefined;
    },
  });
  try {
    return doc.toString();
  } catch {
    return undefined;
  }
}

test.each(fixtures)('%s: 150 mutations never crash the loader', (file) => {
  const original = readFileSync(join(dir, file), 'utf8');
  const rand = prng(file.length * 7919);
  let rejected = 0;
  for (let i = 0; i < 150; i++) {
    const text = mutate(original, rand);
    if (text === undefined) continue;
    try {
      const doc = parseManifest(text, 'm.yaml', { env: {} });
      expect(typeof toYaml(renderAll(doc.manifest))).toBe('string');
    } catch (e) {
      if (!(e instanceof ManifestError)) throw new Error(`mutation crashed the loader: ${String(e)}\n${text}`);
      rejected++;
      for (const issue of e.issues) {
        expect(issue.line).toBeGreaterThanOrEqual(1);
        expect(issue.col).toBeGreaterThanOrEqual(1);
        expect(issue.message.length).toBeGreaterThan(0);
      }
    }
  }
  expect(rejected).toBeGreaterThan(0);
});
