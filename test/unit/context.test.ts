import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { getSettings } from '../../src/context.ts';
import { parseCommandFile } from '../support/runner.ts';

const ids = {
  'CLIENT-ID': '11111111-1111-1111-1111-111111111111',
  'TENANT-ID': '72F988BF-86F1-41AF-91AB-2D7CD011DB47',
  'SUBSCRIPTION-ID': '00000000-0000-0000-0000-00000000aaaa',
};

function setInputs(inputs: Record<string, string>): void {
  for (const [k, v] of Object.entries(inputs)) process.env[`INPUT_${k}`] = v;
}

describe('getSettings', () => {
  let saved: NodeJS.ProcessEnv;
  beforeEach(() => {
    saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_') || k.startsWith('AZURE_')) delete process.env[k];
  });
  afterEach(() => {
    process.env = saved;
  });

  it('applies defaults and normalises ids', () => {
    setInputs(ids);
    const s = getSettings();
    expect(s).toMatchObject({
      manifestPath: 'akv-aks.yaml',
      mode: 'apply',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      environment: 'AzureCloud',
      audience: 'api://AzureADTokenExchange',
      timeoutMs: 600_000,
      prove: 'changed',
      gate: true,
    });
  });

  it('reads prove-access as always | changed | never, the former booleans as always / never', () => {
    const cases: [string, string][] = [
      ['always', 'always'],
      ['Changed', 'changed'],
      ['never', 'never'],
      ['true', 'always'],
      ['yes', 'always'],
      ['false', 'never'],
      ['0', 'never'],
    ];
    for (const [raw, want] of cases) {
      setInputs({ ...ids, 'PROVE-ACCESS': raw });
      expect(getSettings().prove).toBe(want);
    }
    setInputs({ ...ids, 'PROVE-ACCESS': 'sometimes' });
    expect(() => getSettings()).toThrow(/input 'prove-access': expected always, changed, never \(or true \/ false\), got 'sometimes'/);
  });

  it('reads every input', () => {
    setInputs({ ...ids, MODE: 'Verify', MANIFEST: 'deploy/a.yaml', TIMEOUT: '90s', 'PROVE-ACCESS': 'false', GATE: 'no', CONTEXT: 'prod', 'OIDC-ISSUER': 'https://issuer/x/' });
    const s = getSettings();
    expect(s.mode).toBe('verify');
    expect(s.manifestPath).toBe('deploy/a.yaml');
    expect(s.timeoutMs).toBe(90_000);
    expect(s.prove).toBe('never');
    expect(s.gate).toBe(false);
    expect(s.kubeContext).toBe('prod');
    expect(s.oidcIssuer).toBe('https://issuer/x/');
  });

  it('reads the audit inputs: fail-on (default any), issue with its token and the API URL', () => {
    setInputs({ ...ids, MODE: 'audit' });
    expect(getSettings({})).toMatchObject({ mode: 'audit', failOn: 'any', issue: false, githubApiUrl: 'https://api.github.com' });
    expect(getSettings({}).githubToken).toBeUndefined();
    setInputs({ ...ids, MODE: 'audit', 'FAIL-ON': 'Expiry', ISSUE: 'true', 'GITHUB-TOKEN': 'ghs_example' });
    expect(getSettings({ GITHUB_API_URL: 'https://ghe.example/api/v3' })).toMatchObject({ failOn: 'expiry', issue: true, githubToken: 'ghs_example', githubApiUrl: 'https://ghe.example/api/v3' });
    // issue applies to mode: audit only: no token is asked for elsewhere.
    setInputs({ ...ids, MODE: 'apply', ISSUE: 'true', 'GITHUB-TOKEN': '' });
    expect(getSettings({}).issue).toBe(false);
  });

  it('falls back to the AZURE_* variables azure/login users already set', () => {
    const s = getSettings({ AZURE_CLIENT_ID: ids['CLIENT-ID'], AZURE_TENANT_ID: ids['TENANT-ID'], AZURE_SUBSCRIPTION_ID: ids['SUBSCRIPTION-ID'] });
    expect(s.clientId).toBe(ids['CLIENT-ID']);
  });

  it.each([
    [{ MODE: 'deploy' }, "input 'mode': must be one of plan, apply, rotate, verify, plan-cleanup, cleanup, audit; got 'deploy'"],
    [{ MODE: 'audit', 'FAIL-ON': 'sometimes' }, "input 'fail-on': expected never, drift, expiry, any; got 'sometimes'"],
    [{ MODE: 'audit', ISSUE: 'true' }, "input 'github-token': is required with `issue: true`"],
    [{ TIMEOUT: 'soon' }, "input 'timeout': expected seconds or a duration such as 90s, 10m, 1h; got 'soon'"],
    [{ GATE: 'maybe' }, "input 'gate': expected true or false, got 'maybe'"],
    [{ 'CLIENT-ID': 'not-a-guid' }, "input 'client-id': must be a GUID"],
    [{ 'TENANT-ID': '' }, "input 'tenant-id': is required (the same value as azure/login's input of that name)"],
  ])('rejects %p', (bad, message) => {
    setInputs({ ...ids, ...bad });
    expect(() => getSettings({})).toThrow(message);
  });
});

describe('parseCommandFile', () => {
  it('reads plain and heredoc entries', () => {
    const text = 'verified=true\nreport<<ghadelimiter_1\n{"a":1}\nline two\nghadelimiter_1\nchanged-secrets=["x"]\n';
    expect(parseCommandFile(text)).toEqual({ verified: 'true', report: '{"a":1}\nline two', 'changed-secrets': '["x"]' });
  });
});

describe('input bounds (issue 12)', () => {
  let saved: NodeJS.ProcessEnv;
  beforeEach(() => {
    saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_') || k.startsWith('AZURE_')) delete process.env[k];
  });
  afterEach(() => {
    process.env = saved;
  });

  it('bounds the timeout to what a timer can wait (2^31-1 ms)', () => {
    setInputs({ ...ids, TIMEOUT: '2147483s' });
    expect(getSettings().timeoutMs).toBe(2_147_483_000);
    for (const t of ['2147484s', '99999999999999999999d', '25d']) {
      setInputs({ ...ids, TIMEOUT: t });
      expect(() => getSettings()).toThrow("input 'timeout': must be at most 2147483647 ms (about 24 days): longer waits cannot be timed");
    }
  });

  it('refuses line breaks and control characters in text inputs, and unknown clouds', () => {
    for (const [name, value] of [
      ['AUDIENCE', 'api://x\n::warning::y'],
      ['MANIFEST', 'a\rb.yaml'],
      ['CONTEXT', 'ctx\u001b[31m'],
      ['MANIFEST', 'a\u202eb.yaml'],
    ] as const) {
      setInputs({ ...ids, [name]: value });
      expect(() => getSettings()).toThrow(/must not contain line breaks, control, bidirectional or invisible characters/);
      delete process.env[`INPUT_${name}`];
    }
    setInputs({ ...ids, AUDIENCE: 'has space' });
    expect(() => getSettings()).toThrow(/input 'audience': must be 1-256 printable characters/);
    delete process.env.INPUT_AUDIENCE;
    setInputs({ ...ids, ENVIRONMENT: 'constructor' });
    expect(() => getSettings()).toThrow(/input 'environment': unknown Azure cloud "constructor"/);
  });
});
