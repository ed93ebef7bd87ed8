// Bad input through the bundle: `node dist/index.js` on the invalid-manifest corpus
// (test/fixtures/manifests/invalid/*.yaml, each with its exact errors in a sibling .expected file).
// Each run must fail with every expected error in the log (as `::error` lines, or plain) and be
// rejected before any request: the sandbox's request records show no GitHub ID-token request from the
// step's runner job (every Azure request needs one first). Requests of other tests sharing the sandbox
// cannot be told apart from ours, so a request of any kind in the step's window is only counted.
// AKV_AKS_E2E_INVALID_SAMPLE=N runs every N-th manifest instead of all of them.
// The hostile-input corpus (issue 12: test/fixtures/manifests/hostile/) runs last, through the
// bundle's action entry and its CLI (test/unit/hostile runs it through the sources).
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostileSuite } from '../fixtures/manifests/hostile/suite.ts';
import { errorLines, logLines, root, Runner, type Step } from '../support/e2e.ts';
import { requestRecords } from '../support/sandbox.ts';

jest.setTimeout(5 * 60_000);

const dir = join(root, 'test', 'fixtures', 'manifests', 'invalid');
const every = Math.max(1, Number(process.env.AKV_AKS_E2E_INVALID_SAMPLE ?? '1') || 1);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const sample = all.filter((f, i) => i % every === 0 || f === 'many-problems-at-once.yaml' || f.startsWith('env-source'));

// The corpus expects exactly DB_PASSWORD to be set (a source naming another variable is an error).
const DB_PASSWORD = `bad-input-${Math.random().toString(36).slice(2)}-value`;
const runner = new Runner();
runner.leaks.addSecret('DB_PASSWORD', DB_PASSWORD);

/** `::error` lines carry multi-line messages with %0A / %0D / %25 escapes: decode them back into lines. */
function reportedLines(s: Step): string[] {
  const out: string[] = [];
  for (const line of logLines(s)) {
    const m = /^::error(?: [^:]*)?::(.*)$/.exec(line);
    const text = m ? m[1]!.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%') : line;
    out.push(...text.split(/\r?\n/));
  }
  return out;
}

const quietWindows: number[] = [];

afterAll(() => {
  // Information for the report: how many runs happened while nobody else used the sandbox.
  process.stderr.write(`bad input: ${sample.length} manifests through the bundle; ${quietWindows.length} runs in a quiet sandbox saw no request of any kind in their window\n`);
});

describe('invalid manifests through dist/index.js', () => {
  it('has a corpus to run', () => {
    expect(sample.length).toBeGreaterThanOrEqual(Math.min(20, all.length));
  });

  it.each(sample)('%s: fails with exactly its expected errors, before any request', async (file) => {
    const expected = readFileSync(join(dir, file.replace(/\.yaml$/, '.expected')), 'utf8')
      .trimEnd()
      .split('\n');
    const workspace = mkdtempSync(join(tmpdir(), 'akv-aks-e2e-bad-'));
    writeFileSync(join(workspace, file), readFileSync(join(dir, file)));
    const s = await runner.run({ label: file, mode: 'apply', workspace, env: { DB_PASSWORD }, inputs: { manifest: file } });
    const after = await requestRecords();

    expect(s.exitCode).toBe(1);
    // Every expected line, with the manifest named as given or by its path in the workspace.
    const lines = reportedLines(s);
    for (const want of expected) {
      const found = lines.some((l) => l === want || l === `${workspace}/${want}` || l.endsWith(` ${want}`));
      if (!found) throw new Error(`${file}: expected error not in the log:\n  ${want}\nlog:\n${lines.join('\n')}`);
    }
    // Reported once as the step's failure (an ::error command), and nothing past the manifest step.
    expect(errorLines(s).length).toBeGreaterThanOrEqual(1);
    expect(logLines(s).some((l) => l.startsWith('::group::Login'))).toBe(false);
    expect(s.outputs.verified).toBe('false');
    expect(JSON.parse(s.outputs['changed-secrets'] ?? 'null')).toEqual([]);
    expect(s.report.plan).toEqual([]);
    expect(s.report.error).toBeDefined();
    for (const want of expected) expect(s.report.error).toContain(want.slice(want.indexOf(': error: ') + 2));

    // No request: none of the step's own (the runner job id is unique to it) ...
    const ours = after.filter((r) => r.path.includes(s.jobId));
    expect(ours).toEqual([]);
    // ... and none at all in the step's time window when nobody else was using the shared sandbox
    // (other engineers' tests run against it concurrently; their requests cannot be told from ours).
    const inWindow = after.filter((r) => r.seq >= s.records.from && r.seq < s.records.to);
    if (!inWindow.length) quietWindows.push(s.endedAt - s.startedAt);
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBe(sample.length);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});

hostileSuite({ action: 'dist/index.js', cli: 'dist/cli/index.js' });
