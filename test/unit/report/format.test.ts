import { describe, expect, it } from '@jest/globals';
import type { PlanItem } from '../../../src/plan/types.ts';
import { countByAction, gateRows, headline, planLines, planRows } from '../../../src/report/format.ts';
import { textTable } from '../../../src/util/table.ts';
import { emptyReport } from '../../../src/report/model.ts';

const items: PlanItem[] = [
  { kind: 'secret', name: 'db-password', action: 'update', reason: 'value changed' },
  { kind: 'secret', name: 'api-key', action: 'unchanged' },
  { kind: 'identity', name: 'id-sandbox-payments', action: 'create', namespace: 'payments' },
  { kind: 'service-account', name: 'payments-api', namespace: 'payments', action: 'unchanged' },
  { kind: 'secret', name: 'legacy', action: 'refuse', reason: 'exists and is not managed by akv-aks-action' },
];

describe('countByAction', () => {
  it('counts in a fixed action order', () => {
    expect(countByAction(items)).toBe('1 create, 1 update, 2 unchanged, 1 refuse');
  });
  it('says when there is nothing', () => {
    expect(countByAction([])).toBe('nothing to do');
  });
});

describe('planLines', () => {
  it('aligns columns and qualifies namespaced names once', () => {
    const lines = planLines(items);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^~ update +secret +db-password +value changed$/);
    expect(lines[3]).toContain('payments/payments-api');
    expect(lines[2]).toContain('payments/id-sandbox-payments');
    // Columns line up: the kind and the name start at the same offset on every line.
    const kinds = ['secret', 'secret', 'identity', 'service-account', 'secret'];
    expect(new Set(lines.map((l, i) => l.indexOf(` ${kinds[i]} `))).size).toBe(1);
    const names = ['db-password', 'api-key', 'payments/id-sandbox-payments', 'payments/payments-api', 'legacy'];
    expect(new Set(lines.map((l, i) => l.indexOf(names[i]!))).size).toBe(1);
  });
  it('planRows mirrors the items', () => {
    expect(planRows(items)[4]).toEqual(['refuse', 'secret', 'legacy', 'exists and is not managed by akv-aks-action']);
  });
});

describe('gateRows', () => {
  it('one row per pod and object, long versions shortened, mismatches marked', () => {
    const rows = gateRows([
      {
        namespace: 'payments',
        pod: 'api-1',
        node: 'aks-nodepool1-0',
        phase: 'Running',
        ready: true,
        ok: false,
        objects: [
          { object: 'secret/db-password', expected: '0123456789abcdef0123', mounted: '0123456789abcdef0123', ok: true },
          { object: 'secret/api-key', expected: 'bbbb', mounted: 'aaaa', ok: false },
        ],
      },
      { namespace: 'payments', pod: 'api-2', phase: 'Pending', ready: false, ok: false, objects: [], lastEvent: 'FailedMount: AADSTS70021' },
    ]);
    expect(rows).toEqual([
      ['payments/api-1', 'aks-nodepool1-0', 'secret/db-password', '0123456789ab…', '0123456789ab…', 'ok', ''],
      ['payments/api-1', 'aks-nodepool1-0', 'secret/api-key', 'bbbb', 'aaaa', 'mismatch', ''],
      ['payments/api-2', '—', '—', '—', '—', 'Pending', 'FailedMount: AADSTS70021'],
    ]);
  });
});

describe('textTable', () => {
  it('pads every column to its widest cell', () => {
    expect(textTable(['A', 'Bee'], [['long cell', 'x']])).toEqual(['A          Bee', '---------  ---', 'long cell  x']);
  });
});

describe('headline', () => {
  it('reflects mode, errors and the gate', () => {
    const r = emptyReport('plan', 'akv-aks.yaml');
    r.plan = items;
    expect(headline(r)).toBe('📝 plan: 1 create, 1 update, 2 unchanged, 1 refuse (nothing was written)');
    r.mode = 'apply';
    r.gate = { passed: false, waitedMs: 10, pods: [], diagnoses: [] };
    expect(headline(r)).toBe('❌ apply: the gate failed');
    r.error = 'boom\nmore';
    expect(headline(r)).toBe('❌ apply failed: boom');
  });
});

describe('hostile names in the log (issue 12)', () => {
  it('plan lines and text tables escape line breaks, controls and workflow commands', () => {
    const hostile: PlanItem[] = [{ kind: 'secret', name: 'a\n::warning title=x::pwned', action: 'create', reason: 'r\r::stop-commands::t\u001b[31m' }];
    const lines = [...planLines(hostile), ...textTable(['Object'], [['ok\n::error::x\u202e']])];
    for (const l of lines) {
      expect(l).not.toMatch(/[\n\r\u001b\u202e]/);
      expect(l).not.toContain('::');
    }
    expect(lines[0]).toContain('a\\n:\\u003awarning title=x:\\u003apwned');
  });
});
