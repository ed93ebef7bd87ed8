// The young-generation limit takes effect when set at run time, on the Node that runs the tests (24,
// as the action): a child process keeps a survivor-heavy workload and reports its new space.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const HEAP_MODULE = pathToFileURL(resolve(import.meta.dirname, '../../../src/util/heap.ts')).href;
const MiB = 1024 * 1024;

/**
 * New-space size (bytes) after a workload that keeps every tenth of 2,000,000 objects, and the child's
 * stderr; `before` is a call of the heap module's exports (as `heap`) made before the workload.
 */
function newSpaceAfterWorkload(before?: string): { bytes: number; stderr: string } {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    ${before ? `const heap = await import(${JSON.stringify(HEAP_MODULE)}); ${before};` : ''}
    const kept = [];
    for (let i = 0; i < 2_000_000; i++) { const o = { i, s: 'x' + i, a: [i, i] }; if (i % 10 === 0) kept.push(o); }
    process.stdout.write(String(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size) + ' ' + kept.length);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { bytes: Number(r.stdout.split(' ')[0]), stderr: r.stderr };
}

describe('keepYoungGenerationSmall', () => {
  test('keeps the new space at its starting size through a workload that grows it otherwise', () => {
    const limited = newSpaceAfterWorkload('heap.keepYoungGenerationSmall()');
    const free = newSpaceAfterWorkload();
    expect(limited.stderr).toBe(''); // V8 prints "unrecognized flag" there for an option it lacks
    expect(limited.bytes).toBeGreaterThan(0);
    expect(limited.bytes).toBeLessThanOrEqual(4 * MiB);
    // The workload does grow it without the option (else the first assertion proves nothing).
    expect(free.bytes).toBeGreaterThan(limited.bytes * 2);
  });
});

describe('keepYoungGenerationSmallFor', () => {
  test('keeps it small for a manifest of LARGE_MANIFEST_CHARS, not for a shorter one', () => {
    const large = newSpaceAfterWorkload('if (!heap.keepYoungGenerationSmallFor(heap.LARGE_MANIFEST_CHARS)) throw new Error("not applied")');
    const short = newSpaceAfterWorkload('if (heap.keepYoungGenerationSmallFor(heap.LARGE_MANIFEST_CHARS - 1)) throw new Error("applied")');
    expect(large.bytes).toBeLessThanOrEqual(4 * MiB);
    expect(short.bytes).toBeGreaterThan(large.bytes * 2);
  });
});
