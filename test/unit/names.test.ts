// The names of the action's interface agree in the four places they live: action.yml and
// verify/action.yml (what users write), src/names.ts (the constants), the input parser
// (src/context.ts) and the outputs writer (src/report/publish.ts).
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { getSettings } from '../../src/context.ts';
import { auditSection } from '../../src/audit/model.ts';
import { INPUT, OUTPUT } from '../../src/names.ts';
import { emptyReport } from '../../src/report/model.ts';
import { setOutputs } from '../../src/report/publish.ts';
import { parseCommandFile } from '../support/runner.ts';

const root = resolve(import.meta.dirname, '..', '..');
interface ActionYaml {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, unknown>;
}
const action = (path: string): ActionYaml => parse(readFileSync(join(root, path), 'utf8')) as ActionYaml;
const main = action('action.yml');
const verify = action('verify/action.yml');
const sorted = (names: Iterable<string>): string[] => [...names].sort();
const ids = { 'INPUT_CLIENT-ID': '11111111-1111-1111-1111-111111111111', 'INPUT_TENANT-ID': '22222222-2222-2222-2222-222222222222', 'INPUT_SUBSCRIPTION-ID': '33333333-3333-3333-3333-333333333333' };

describe('action interface names', () => {
  let saved: NodeJS.ProcessEnv;
  beforeEach(() => {
    saved = process.env;
    process.env = Object.fromEntries(Object.entries(saved).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('AZURE_') && k !== 'GITHUB_OUTPUT'));
  });
  afterEach(() => {
    process.env = saved;
  });

  it('action.yml declares exactly the inputs and outputs of src/names.ts; verify/action.yml a subset', () => {
    expect(sorted(Object.keys(main.inputs))).toEqual(sorted(Object.values(INPUT)));
    expect(sorted(Object.keys(main.outputs))).toEqual(sorted(Object.values(OUTPUT)));
    expect(Object.keys(verify.inputs).filter((n) => !(n in main.inputs))).toEqual([]);
    expect(Object.keys(verify.outputs).filter((n) => !(n in main.outputs))).toEqual([]);
  });

  it('the input parser reads every input of action.yml and no other (audit mode with an issue reads them all)', () => {
    const read = new Set<string>();
    // `issue` and `github-token` are read only in audit mode, the token only with `issue: true`.
    const env: NodeJS.ProcessEnv = { ...process.env, ...ids, INPUT_MODE: 'audit', INPUT_ISSUE: 'true', GITHUB_TOKEN: 'ghs_example' };
    process.env = new Proxy(env, {
      get: (target, key) => {
        if (typeof key === 'string' && key.startsWith('INPUT_')) read.add(key.slice('INPUT_'.length).toLowerCase());
        return target[key as string];
      },
    });
    getSettings(env);
    expect(sorted(read)).toEqual(sorted(Object.keys(main.inputs)));
  });

  it("the parser's fallbacks are action.yml's defaults", () => {
    process.env = { ...process.env, ...ids };
    const fallback = getSettings(process.env);
    for (const [name, { default: value }] of Object.entries(main.inputs)) if (value !== undefined) process.env[`INPUT_${name.toUpperCase()}`] = value;
    expect(getSettings(process.env)).toEqual(fallback);
  });

  it('the outputs writer sets every output of action.yml and no other', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'names-')), 'output');
    writeFileSync(file, '');
    process.env.GITHUB_OUTPUT = file;
    // `audit` is written only when the run audited (audit mode, or plan beside its changes).
    setOutputs({ ...emptyReport('audit', 'akv-aks.yaml'), audit: auditSection('0123456789abcdef', new Date(0), [], 'any', []) });
    expect(sorted(Object.keys(parseCommandFile(readFileSync(file, 'utf8'))))).toEqual(sorted(Object.keys(main.outputs)));
  });
});
