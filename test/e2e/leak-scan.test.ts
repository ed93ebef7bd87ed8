// The leak scan itself (test/support/leaks.ts), which every e2e scenario relies on: it must find a
// value in each form it claims to, wherever it sits in an artifact, and say where without the value.
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeakScan, valueForms, visibleLog } from '../support/leaks.ts';

const VALUE = 'p4ss+w/rd=%&? with space\nsecond-line-of-it';

function scanOne(text: string, value = VALUE): string[] {
  const s = new LeakScan();
  s.addSecret('db', value);
  s.addArtifact('artifact', text);
  return s.scan().map((l) => l.form);
}

describe('leak scan', () => {
  it('finds the raw value and each line of a multi-line value', () => {
    expect(scanOne(`log: ${VALUE} end`)).toContain('raw');
    expect(scanOne('second-line-of-it appears alone')).toEqual(['line']);
  });

  it('finds base64 and base64url at every byte alignment inside a longer blob', () => {
    for (const prefix of ['', 'a', 'ab', 'abc', 'abcd']) {
      for (const suffix of ['', 'z', 'zz']) {
        const blob = Buffer.from(`${prefix}${VALUE}${suffix}`).toString('base64');
        expect(scanOne(`data: ${blob}`).some((f) => f.startsWith('base64@'))).toBe(true);
        const url = Buffer.from(`${prefix}${VALUE}${suffix}`).toString('base64url');
        expect(scanOne(`token=${url}`).some((f) => f.startsWith('base64'))).toBe(true);
      }
    }
  });

  it('finds URL-encoded, form-encoded and JSON-escaped forms', () => {
    expect(scanOne(`?q=${encodeURIComponent(VALUE)}`)).toContain('url');
    expect(scanOne(`body=${new URLSearchParams({ v: VALUE }).toString()}`)).toContain('form');
    expect(scanOne(JSON.stringify({ report: VALUE }))).toContain('json');
  });

  it('finds nothing in clean artifacts, masked logs and ::add-mask:: commands the runner consumes', () => {
    expect(scanOne('nothing here *** at all')).toEqual([]);
    const log = `::add-mask::${VALUE.split('\n')[0]}\n::add-mask::second-line-of-it\nsecret db: update (value changed)\n`;
    expect(scanOne(visibleLog(log))).toEqual([]);
    const s = new LeakScan();
    s.addSecret('db', VALUE);
    const dir = mkdtempSync(join(tmpdir(), 'leaks-'));
    writeFileSync(join(dir, 'env'), '');
    writeFileSync(join(dir, 'state'), `leaked=${VALUE.split('\n')[1]}\n`);
    s.addRun('apply#1', { log, outputs: { report: '{}' }, summary: '## ok', summaryPath: join(dir, 'step_summary.md') });
    // The runner's command files next to the summary are scanned too.
    expect(s.scan().map((l) => `${l.artifact}:${l.form}`)).toEqual(['apply#1 state file:line']);
  });

  it('reports where, never what', () => {
    const s = new LeakScan();
    s.addSecret('db', VALUE);
    s.addArtifact('apply#2 summary', `| x | ${VALUE} |`);
    let message = '';
    try {
      s.assertNoLeaks();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('secret db (raw) in apply#2 summary');
    for (const f of valueForms(VALUE)) expect(message).not.toContain(f.text);
  });

  it('refuses to prove nothing: no secrets, no artifacts, or values too short to scan', () => {
    expect(() => new LeakScan().assertNoLeaks()).toThrow(/no secrets/);
    const s = new LeakScan();
    s.addSecret('db', VALUE);
    expect(() => s.assertNoLeaks()).toThrow(/no artifacts/);
    expect(() => s.addSecret('short', 'abc')).toThrow(/shorter/);
  });
});
