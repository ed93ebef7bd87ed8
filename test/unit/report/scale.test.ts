import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summary } from '../../../src/runner/index.ts';
import type { PlanItem } from '../../../src/plan/types.ts';
import { gateLogLines, planLogLines, SUMMARY_MAX_ROWS } from '../../../src/report/format.ts';
import { emptyReport } from '../../../src/report/model.ts';
import type { GatePodRow } from '../../../src/report/model.ts';
import { writeSummary } from '../../../src/report/publish.ts';

const SECRETS = 5_000;
const NAMESPACES = 100;

/** The plan of a run over 5,000 secrets x 100 namespaces, `changed` of the secrets updated. */
function scalePlan(changed: number): PlanItem[] {
  const items: PlanItem[] = [];
  for (let i = 0; i < SECRETS; i++)
    items.push({ kind: 'secret', name: `app-secret-${String(i).padStart(4, '0')}`, action: i < changed ? 'update' : 'unchanged', reason: i < changed ? 'value changed' : undefined });
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `team-${n}`;
    items.push({ kind: 'identity', name: `rg-ids/id-${ns}`, namespace: ns, action: 'unchanged' });
    items.push({ kind: 'federated-credential', name: `id-${ns}/aks-${ns}-app`, namespace: ns, action: 'unchanged' });
    items.push({ kind: 'role-assignment', name: `Key Vault Secrets User for id-${ns} at vaults/kv`, namespace: ns, action: 'unchanged' });
    items.push({ kind: 'service-account', name: `${ns}/app`, namespace: ns, action: 'unchanged' });
    items.push({ kind: 'secret-provider-class', name: `${ns}/app`, namespace: ns, action: 'unchanged' });
  }
  return items;
}

const pod = (i: number, ok: boolean): GatePodRow => ({
  namespace: `team-${i % NAMESPACES}`,
  pod: `app-${i}`,
  node: 'node-0',
  phase: 'Running',
  ready: true,
  ok,
  objects: [{ object: 'secret/app-secret-0000', expected: 'a'.repeat(32), mounted: ok ? 'a'.repeat(32) : 'b'.repeat(32), ok }],
});

describe('the step summary and the log at 5,000 secrets x 100 namespaces', () => {
  // One summary file, emptied per test, with the buffer.
  let dir: string;
  let saved: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'akv-aks-summary-'));
    saved = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary.md');
  });
  beforeEach(() => {
    writeFileSync(join(dir, 'summary.md'), '');
    summary.emptyBuffer();
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
    else process.env.GITHUB_STEP_SUMMARY = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  async function summaryOf(plan: PlanItem[], pods: GatePodRow[] = []): Promise<string> {
    const r = { ...emptyReport('apply', 'akv-aks.yaml'), plan, gate: { passed: pods.every((p) => p.ok), waitedMs: 1200, pods, diagnoses: [] } };
    await writeSummary(r);
    return readFileSync(join(dir, 'summary.md'), 'utf8');
  }

  it('a no-op: the unchanged as counts per kind in a collapsed <details>, no row per item, well under 64 KB', async () => {
    const text = await summaryOf(
      scalePlan(0),
      Array.from({ length: 200 }, (_, i) => pod(i, true)),
    );
    expect(Buffer.byteLength(text)).toBeLessThan(64 * 1024);
    expect(text).toMatch(/<details><summary>5500 unchanged<\/summary>/);
    expect(text).toContain('<tr><td>secret</td><td>5000</td></tr>');
    expect(text).not.toContain('app-secret-0001');
    expect(text).toContain('200 pods mounted the expected versions');
  });

  it('every secret changed: rows up to the cap, then a count; the failing pods listed; still under 64 KB', async () => {
    const text = await summaryOf(scalePlan(SECRETS), [...Array.from({ length: 199 }, (_, i) => pod(i, true)), pod(199, false)]);
    expect(Buffer.byteLength(text)).toBeLessThan(64 * 1024);
    expect(text).toContain('app-secret-0000');
    expect(text).toContain(`…and ${SECRETS - SUMMARY_MAX_ROWS} more`);
    expect(text).toContain('team-99/app-199');
    expect(text).toContain('mismatch');
    expect(text).not.toContain('team-0/app-0<');
  });

  it('the log: one line per change and one line of counts for the unchanged', () => {
    const lines = planLogLines(scalePlan(2));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^~ update +secret +app-secret-0000 +value changed$/);
    expect(lines[2]).toBe('= unchanged: 4998 secret, 100 federated-credential, 100 identity, 100 role-assignment, 100 secret-provider-class, 100 service-account');
    expect(gateLogLines(Array.from({ length: 200 }, (_, i) => pod(i, i !== 7)))).toEqual([
      expect.stringMatching(/^Pod/),
      expect.stringMatching(/^-/),
      expect.stringMatching(/^team-7\/app-7 .*mismatch/),
      '199 pods mounted the expected versions',
    ]);
  });
});
