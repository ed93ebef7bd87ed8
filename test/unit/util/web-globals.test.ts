// The action's entries drop the lazy FormData global so the Azure SDKs' per-request multipart check
// does not load Node's bundled undici: checked in a fresh Node (the one running the tests, 24 as the
// action) by its own module list.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(resolve(import.meta.dirname, '../../../src/util/web-globals.ts')).href;

/** `typeof FormData` as the SDK reads it, and whether undici got loaded, in a child Node. */
function multipartCheck(drop: boolean): string {
  const script = `
    ${drop ? `(await import(${JSON.stringify(MODULE)})).dropFormDataGlobal();` : ''}
    const kind = typeof FormData;
    process.stdout.write(kind + ' ' + process.moduleLoadList.some((m) => m.includes('undici')));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe('dropFormDataGlobal', () => {
  test('the multipart check reads undefined and loads no undici; without it, it loads undici', () => {
    expect(multipartCheck(true)).toBe('undefined false');
    expect(multipartCheck(false)).toBe('function true');
  });
});
