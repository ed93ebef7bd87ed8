// Pure helpers of the benchmark (test/bench/format.ts): arguments, vault counters, records, table.
import { describe, expect, it } from '@jest/globals';
import {
  burstFloorMs,
  countersOf,
  diffCounters,
  firstRecord,
  fmtBytes,
  fmtMs,
  fmtRatio,
  machineLine,
  markdownTable,
  median,
  parseArgs,
  rowsTable,
  speedup,
  textTable,
  verdict,
  writeFloorMs,
} from '../../bench/format.ts';
import type { Row } from '../../bench/format.ts';

describe('parseArgs', () => {
  it('defaults to the issue sizes and --quick shrinks them', () => {
    const full = parseArgs([]);
    expect(full).toMatchObject({ quick: false, secrets: 500, namespaces: 20, scaleSecrets: 5000, scaleNamespaces: 100, gatePods: 200, smallSecrets: 10 });
    expect(parseArgs(['--quick', '--scale-secrets', '0']).scaleSecrets).toBe(0);
    const quick = parseArgs(['--quick']);
    expect(quick.quick).toBe(true);
    expect(quick.secrets).toBeLessThan(full.secrets);
    expect(quick.latencyMs).toBe(0);
  });

  it('reads numeric flags in both spellings and caps gate namespaces at the namespaces', () => {
    const a = parseArgs(['--secrets', '42', '--namespaces=3', '--gate-namespaces', '9', '--keep']);
    expect(a).toMatchObject({ secrets: 42, namespaces: 3, gateNamespaces: 3, keep: true });
  });

  it('rejects unknown flags and bad numbers', () => {
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument --fast/);
    expect(() => parseArgs(['--secrets', 'many'])).toThrow(/whole number/);
    expect(() => parseArgs(['--secrets', '0'])).toThrow(/at least 1/);
    expect(() => parseArgs(['--secrets'])).toThrow(/whole number/);
  });
});

describe('vault counters', () => {
  const stats = {
    'kv-Bench1': { requests: 10, reads: 7, writes: 3, throttled: 1, byStatus: { '200': 8, '429': 1, '401': 1 } },
    other: { requests: 99, reads: 99, writes: 0, throttled: 0, byStatus: {} },
  };

  it('finds one vault case-insensitively and fails loudly on a missing one', () => {
    expect(countersOf(stats, 'kv-bench1')).toEqual({ requests: 10, reads: 7, writes: 3, throttled: 1, byStatus: { '200': 8, '429': 1, '401': 1 } });
    expect(() => countersOf(stats, 'kv-none')).toThrow(/no entry for kv-none/);
    expect(() => countersOf(null, 'x')).toThrow(/not an object/);
  });

  it('diffs field by field, keeping only changed status codes', () => {
    const before = countersOf(stats, 'kv-bench1');
    const after = { requests: 25, reads: 9, writes: 16, throttled: 3, byStatus: { '200': 20, '429': 3, '401': 1, '404': 1 } };
    expect(diffCounters(before, after)).toEqual({ requests: 15, reads: 2, writes: 13, throttled: 2, byStatus: { '200': 12, '429': 2, '404': 1 } });
  });
});

describe('firstRecord', () => {
  const records = [
    { service: 'github', method: 'GET', path: '/jobs/a/idtoken', status: 200, at: 1_000 },
    { service: 'github', method: 'GET', path: '/jobs/b/idtoken', status: 200, at: 3_000 },
    { service: 'github', method: 'GET', path: '/jobs/b/idtoken', status: 200, at: 2_500 },
    { service: 'entra', method: 'POST', path: '/t/token', status: 200, at: 2_000 },
    { garbage: true },
  ];

  it('returns the earliest matching record at or after the start', () => {
    expect(firstRecord(records, 0, (r) => r.path.includes('/jobs/b/'))?.at).toBe(2_500);
    expect(firstRecord(records, 2_600, (r) => r.path.includes('/jobs/b/'))?.at).toBe(3_000);
    expect(firstRecord(records, 1_500, () => true)?.service).toBe('entra');
    expect(firstRecord(records, 0, (r) => r.service === 'arm')).toBeUndefined();
  });
});

describe('numbers and verdicts', () => {
  it('median of odd and even counts; NaN when empty', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('formats durations, sizes and ratios', () => {
    expect(fmtMs(12.4)).toBe('12 ms');
    expect(fmtMs(1234)).toBe('1.23 s');
    expect(fmtMs(16_666)).toBe('16.7 s');
    expect(fmtMs(NaN)).toBe('n/a');
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(2048)).toBe('2.0 KiB');
    expect(fmtBytes(7_082_931)).toBe('6.75 MiB');
    expect(fmtRatio(speedup(20_000, 800))).toBe('25.0x');
    expect(fmtRatio(speedup(1_000, 800))).toBe('1.25x');
    expect(fmtRatio(speedup(1_000, 0))).toBe('n/a');
  });

  it('throttle floors: the rate reading and the burst reading', () => {
    expect(Math.round(writeFloorMs(500, 300, 10_000))).toBe(16_667);
    expect(burstFloorMs(300, 300, 10_000)).toBe(0);
    expect(burstFloorMs(501, 300, 10_000)).toBe(10_000);
    expect(burstFloorMs(601, 300, 10_000)).toBe(20_000);
  });

  it('verdicts: met, NOT met, n/a', () => {
    expect(verdict(true)).toBe('met');
    expect(verdict(false)).toBe('NOT met');
    expect(verdict(undefined)).toBe('n/a');
  });
});

describe('tables', () => {
  const rows: Row[] = [
    { scenario: 'no-op', metric: 'writes', action: '0', baseline: '500', ratio: '', target: '0', verdict: 'met' },
    { scenario: 'first sync', metric: 'wall | time', action: '11.2 s', baseline: '11.9 s', ratio: '1.06x', target: '>= 8x', verdict: 'NOT met' },
  ];

  it('aligns text columns under a dashed rule', () => {
    const t = textTable(
      ['a', 'bb'],
      [
        ['long', 'x'],
        ['y', 'z'],
      ],
    );
    expect(t).toEqual(['a     bb', '----  --', 'long  x', 'y     z']);
    const lines = rowsTable(rows);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^scenario\s+metric\s+action\s+baseline\s+ratio\s+target\s+result$/);
    const col = (lines[0] ?? '').indexOf('result');
    expect((lines[3] ?? '').slice(col)).toBe('NOT met');
  });

  it('renders Markdown with escaped pipes', () => {
    const md = markdownTable(rows);
    expect(md[0]).toBe('| scenario | metric | action | baseline | ratio | target | result |');
    expect(md[1]).toBe('|---|---|---|---|---|---|---|');
    expect(md[3]).toContain('wall \\| time');
  });

  it('machine line', () => {
    expect(machineLine({ cpuModel: 'CPU X', cores: 2, memoryBytes: 4 * 1024 ** 3, node: 'v24.9.0', platform: 'linux-x64' })).toBe(
      'machine: CPU X | 2 cores | 4096.00 MiB RAM | Node v24.9.0 | linux-x64',
    );
    expect(machineLine({ cpuModel: 'C', cores: 1, memoryBytes: 1024, node: 'v24', platform: 'p', load: { start: 5.041, end: 3.5 } })).toMatch(/\| load avg \(1 min\) 5\.04 at start, 3\.50 at end$/);
  });
});

describe('--markdown', () => {
  it('takes a file in both spellings and refuses a missing one', () => {
    expect(parseArgs(['--markdown', '/tmp/b.md']).markdown).toBe('/tmp/b.md');
    expect(parseArgs(['--quick', '--markdown=/tmp/q.md']).markdown).toBe('/tmp/q.md');
    expect(() => parseArgs(['--markdown'])).toThrow(/needs a file path/);
    expect(() => parseArgs(['--markdown', '--quick'])).toThrow(/needs a file path/);
  });
});
