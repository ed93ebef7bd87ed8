// src/manifest and src/render stay pure: no SDK imports, no I/O except loadManifest's one read
// (src/names.ts, the shared constants, imports nothing).
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(repo, dir, f));
}

/** Every module specifier in import/export-from/dynamic import/require. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\s)import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

const files = [...sources('src/manifest'), ...sources('src/render')];

describe('manifest and render modules', () => {
  test('exist', () => {
    expect(files.map((f) => relative(repo, f))).toEqual(expect.arrayContaining(['src/manifest/load.ts', 'src/render/render.ts', 'src/render/labels.ts']));
  });

  test.each(files.map((f) => [relative(repo, f), f]))('%s imports no SDK and no I/O module', (name, file) => {
    const specs = specifiers(readFileSync(file, 'utf8'));
    for (const s of specs) {
      expect(s).not.toMatch(/^@(azure|kubernetes|actions)\//);
      const allowed = s.startsWith('./') || s.startsWith('../manifest/') || s.startsWith('../util/') || s === '../names.ts' || s === 'yaml' || s.startsWith('ajv/');
      const io = (name === 'src/manifest/read.ts' && (s === 'node:fs' || s === 'node:path')) || (name === 'src/manifest/instance.ts' && s === 'node:crypto');
      expect({ name, s, ok: allowed || io }).toEqual({ name, s, ok: true });
    }
  });

  test("the only file read is readManifestText's (bounded, regular files only)", () => {
    const reads = files.filter((f) => /\bread(File)?(Sync)?\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(repo, f));
    expect(reads).toEqual(['src/manifest/read.ts']);
  });

  test('the scanner finds imports (it is not vacuous)', () => {
    expect(specifiers("import { a } from '@azure/identity';\nimport type { B } from './b.ts';\nconst c = await import('node:fs');")).toEqual(['@azure/identity', './b.ts', 'node:fs']);
  });
});
