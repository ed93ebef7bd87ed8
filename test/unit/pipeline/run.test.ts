import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestError } from '../../../src/manifest/types.ts';
import { PlannedStepError, type PlanItem } from '../../../src/plan/types.ts';
import { maskEnvValues, readManifest, withPlannedItems } from '../../../src/pipeline/run.ts';
import { emptyReport } from '../../../src/report/model.ts';

let out: string[];
beforeEach(() => {
  out = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  jest.restoreAllMocks();
});

const valid = `apiVersion: akv-aks/v1
vault: { name: kv-one, resourceGroup: rg }
cluster: { name: c1 }
identityDefaults: { resourceGroup: rg-ids, location: westeurope }
secrets:
  - name: db-password
    from: { env: DB_PASSWORD }
targets:
  - namespace: app
    serviceAccount: app
    secretProviderClass: app-secrets
    objects:
      - { secret: db-password }
`;

describe('readManifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'akv-aks-pipeline-'));

  it('names the manifest as the workflow wrote it and annotates every problem on its line', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, valid.replace('kv-one', 'kv--one').replace('secretProviderClass: app-secrets', 'secretProviderClass: App_Secrets'));
    let error: unknown;
    try {
      readManifest(file, 'deploy/bad.yaml', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const issues = (error as ManifestError).issues;
    expect(issues.length).toBeGreaterThanOrEqual(2);
    expect((error as Error).message).not.toContain(dir);
    for (const i of issues) {
      expect(i.file).toBe('deploy/bad.yaml');
      expect(out.join('')).toContain(`::error title=akv-aks manifest,file=deploy/bad.yaml,line=${i.line},col=${i.col}::`);
    }
  });

  it('says a missing manifest is looked up relative to the workspace', () => {
    expect(() => readManifest(join(dir, 'nope.yaml'), 'nope.yaml', undefined)).toThrow('nope.yaml: error: no such file (the `manifest` input is relative to the workspace)');
  });

  it('reports a missing value source by name only when values are needed', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, valid);
    expect(() => readManifest(file, 'ok.yaml', {})).toThrow(/DB_PASSWORD/);
    expect(readManifest(file, 'ok.yaml', undefined).manifest.secrets).toHaveLength(1);
  });

  it('masks every env value and each of its lines', () => {
    const file = join(dir, 'mask.yaml');
    writeFileSync(file, valid);
    const doc = readManifest(file, 'mask.yaml', { DB_PASSWORD: 'line-one\nline-two' });
    maskEnvValues(doc.manifest, { DB_PASSWORD: 'line-one\nline-two' });
    const text = out.join('');
    expect(text).toContain('::add-mask::line-one');
    expect(text).toContain('::add-mask::line-two');
  });
});

describe('withPlannedItems', () => {
  it('keeps what a failing step planned in the report, then rethrows', async () => {
    const report = emptyReport('apply', 'm.yaml');
    const items: PlanItem[] = [{ kind: 'secret', name: 'legacy', action: 'refuse', reason: 'not managed by akv-aks-action' }];
    const failure = new PlannedStepError('refused', items);
    await expect(withPlannedItems(report, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(report.plan).toEqual(items);
  });

  it('adds nothing for an ordinary error or a success', async () => {
    const report = emptyReport('apply', 'm.yaml');
    await expect(withPlannedItems(report, () => Promise.reject(Object.assign(new Error('untyped'), { items: [{ kind: 'secret', name: 'x', action: 'create' }] })))).rejects.toThrow('untyped');
    await expect(withPlannedItems(report, () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(withPlannedItems(report, () => Promise.resolve(7))).resolves.toBe(7);
    expect(report.plan).toEqual([]);
  });
});
