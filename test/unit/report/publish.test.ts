// The step summary and annotations with hostile names: HTML-escaped, no raw control characters.
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotateDiagnoses, writeSummary } from '../../../src/report/publish.ts';
import { emptyReport } from '../../../src/report/model.ts';
import { auditSection } from '../../../src/audit/model.ts';

const saved = process.env.GITHUB_STEP_SUMMARY;
afterAll(() => {
  process.env.GITHUB_STEP_SUMMARY = saved;
});

function hostileReport(): ReturnType<typeof emptyReport> {
  const r = emptyReport('apply', '<img src=x onerror=alert(1)>.yaml');
  r.error = 'm.yaml:1:1: error: x\n<script>alert(1)</script>\u001b[31m\u202e';
  r.warnings.push('warn <b>bold</b>\n::stop-commands::x');
  r.plan.push({ kind: 'secret', name: '<i>n</i>', action: 'create', reason: 'a|b`c`' });
  return r;
}

describe('writeSummary', () => {
  it('escapes HTML and control characters in every part', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'akv-aks-summary-')), 'summary.md');
    writeFileSync(file, '');
    process.env.GITHUB_STEP_SUMMARY = file;
    await writeSummary(hostileReport());
    const summary = readFileSync(file, 'utf8');
    expect(summary).not.toMatch(/<script|<img|<b>|<i>|[\u001b\u202e]/);
    expect(summary).toContain('&lt;script&gt;alert(1)&lt;/script&gt;\\u001b[31m\\u202e');
    expect(summary).toContain('<code>&lt;img src=x onerror=alert(1)&gt;.yaml</code>');
  });
});

describe('annotateDiagnoses', () => {
  it('warnings and diagnoses reach the log as inert text', () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const r = hostileReport();
      r.gate = { passed: false, waitedMs: 1, pods: [], diagnoses: [{ cause: 'c\n::x', namespace: 'ns', message: 'm\u001b', fix: 'f\r::stop-commands::y' } as never] };
      annotateDiagnoses(r);
    } finally {
      spy.mockRestore();
    }
    const text = writes.join('');
    for (const line of text.split('\n').filter(Boolean)) expect(line).toMatch(/^::(error|warning) /);
    expect(text).not.toMatch(/\u001b|::stop-commands/);
  });
});

describe('the audit in the summary and annotations', () => {
  function auditReport(): ReturnType<typeof emptyReport> {
    const r = emptyReport('audit', 'm.yaml');
    r.audit = auditSection(
      'k',
      new Date(0),
      [
        { kind: 'pod-stale', object: 'ns/<img src=x>', message: 'old\n::stop-commands::x', fix: 'a|b' },
        { kind: 'secret-expiring', object: 's', message: 'soon', fix: 'renew' },
      ],
      'expiry',
      ['ledger <b>'],
    );
    return r;
  }

  it('a table of the findings, every cell escaped, and what was not checked', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'akv-aks-summary-')), 'summary.md');
    writeFileSync(file, '');
    process.env.GITHUB_STEP_SUMMARY = file;
    await writeSummary(auditReport());
    const summary = readFileSync(file, 'utf8');
    expect(summary).toContain('Audit: 2 findings (1 drift, 1 expiry)');
    expect(summary).toContain('<th>Fix</th>');
    expect(summary).toContain('ns/&lt;img src=x&gt;');
    expect(summary).toContain('a&#124;b');
    expect(summary).toContain('ledger &lt;b&gt;');
    expect(summary).not.toMatch(/<img|<b>/);
  });

  it('one annotation per finding: an error when fail-on fails on it, else a warning; all inert', () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      annotateDiagnoses(auditReport());
    } finally {
      spy.mockRestore();
    }
    const lines = writes.join('').split('\n').filter(Boolean);
    expect(lines.map((l) => /^::(error|warning) title=akv-aks audit%3A ([a-z-]+)/.exec(l)?.slice(1, 3).join(' '))).toEqual(['warning pod-stale', 'error secret-expiring']);
    expect(lines.join('\n')).not.toMatch(/::stop-commands/);
  });
});
