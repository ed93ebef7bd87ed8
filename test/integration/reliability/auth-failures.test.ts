// Reliability suite, sign-in and propagation: the whole action (dist/index.js) with short-lived or
// clock-shifted GitHub tokens, without the id-token permission, and through Entra / RBAC
// propagation delays that the proof of access has to wait out. Knobs are world-wide: each scenario
// sets them right before its run and restores them right after.
import { expect, it, jest } from '@jest/globals';
import { artifacts, expectExit, expectedIntact, intactState, leaks, requestRecords, runBundle, staleSandbox, visible, type Run, type Scenario } from './helpers.ts';
import { reliabilitySuite } from './suite.ts';
import { itUnless } from '../../support/guard.ts';

jest.setTimeout(4 * 60_000);

const suite = await reliabilitySuite();
const { d, restorer } = suite;

const NO_PROOF = { 'prove-access': 'false' };

/** GitHub ID-token requests this run made (its runner job id is in the request path). */
async function tokenRequests(r: Run): Promise<number> {
  return (await requestRecords()).filter((x) => x.service === 'github' && x.path.includes(`/jobs/${r.jobId}/idtoken`) && x.status === 200).length;
}

/** Requests that reached the scenario's vault or named its secrets or identity. */
async function touched(s: Scenario, mark: number): Promise<string[]> {
  return (await requestRecords())
    .filter((x) => x.seq >= mark && (x.path.includes(`r${s.id}-`) || x.path.toLowerCase().includes(s.identity) || x.path.includes(s.vault.name)))
    .map((x) => `${x.service} ${x.method} ${x.path} ${x.status}`);
}

/** Slows the vault lookup at ARM so the Key Vault token is asked for well after the ARM one. */
async function slowVaultLookup(s: Scenario, ms: number): Promise<void> {
  await restorer.worldFault({ service: 'arm', method: 'GET', pathPattern: `vaults/${s.vault.name}\\?`, times: 1, effect: { kind: 'latency', ms } });
}

d('GitHub tokens and sign-in', () => {
  it('survives a 2-second GitHub token lifetime: a fresh token for each assertion', async () => {
    const s = await suite.scenario('ghlife');
    await slowVaultLookup(s, 2_500);
    await restorer.config({ github: { lifetimeSeconds: 2 } });
    const r = await runBundle('gh-short-lifetime', { workspace: s.workspace, env: s.env, inputs: NO_PROOF });
    expectExit(r, 0);
    expect(visible(r)).not.toContain('AADSTS700024');
    expect(await tokenRequests(r)).toBeGreaterThanOrEqual(2);
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('survives a runner clock offset that leaves each token 3 seconds of validity', async () => {
    const s = await suite.scenario('ghclock');
    await slowVaultLookup(s, 3_500);
    await restorer.config({ github: { issuedAtOffsetSeconds: -297 } });
    const r = await runBundle('gh-clock-offset', { workspace: s.workspace, env: s.env, inputs: NO_PROOF });
    expectExit(r, 0);
    expect(await tokenRequests(r)).toBeGreaterThanOrEqual(2);
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('a GitHub token already expired when issued (AADSTS700024): precise failure, nothing touched', async () => {
    const s = await suite.scenario('ghstale');
    await restorer.config({ github: { issuedAtOffsetSeconds: -400 } });
    const r = await runBundle('gh-stale', { workspace: s.workspace, env: s.env, inputs: NO_PROOF });
    expectExit(r, 1);
    expect(r.report?.error ?? '').toContain('AADSTS700024');
    expect(r.report?.error ?? '').toMatch(/clock|validity/i);
    expect(await touched(s, r.mark)).toEqual([]);
  });

  it('rides out Entra throttling (429 with Retry-After) and a reset token request: retried with a fresh assertion', async () => {
    const s = await suite.scenario('entra429');
    const tokenPath = '/oauth2/v2\\.0/token';
    await restorer.worldFault({ service: 'entra', method: 'POST', pathPattern: tokenPath, times: 1, effect: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    await restorer.worldFault({ service: 'entra', method: 'POST', pathPattern: tokenPath, times: 1, effect: { kind: 'drop-response' } });
    const r = await runBundle('entra-throttled', { workspace: s.workspace, env: s.env, inputs: NO_PROOF });
    expectExit(r, 0);
    const tokenAnswers = (await requestRecords()).filter((x) => x.service === 'entra' && x.seq >= r.mark && x.method === 'POST' && /\/oauth2\/v2\.0\/token/.test(x.path));
    expect(tokenAnswers.some((x) => x.status === 429)).toBe(true);
    expect(tokenAnswers.some((x) => x.dropped === true)).toBe(true);
    expect(tokenAnswers.filter((x) => x.status === 200 && !x.dropped).length).toBeGreaterThanOrEqual(1);
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  it('missing `id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL unset): precise failure before any request', async () => {
    const s = await suite.scenario('noidtok');
    const r = await runBundle('gh-no-id-token', { workspace: s.workspace, env: s.env, inputs: NO_PROOF, unset: ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'] });
    expectExit(r, 1);
    expect(r.report?.error ?? '').toContain('id-token: write');
    expect(await touched(s, r.mark)).toEqual([]);
  });
});

// The proof exchanges a service-account token of the sandbox cluster at the Entra simulator: a
// sandbox started before the simulator could read the kube-apiserver's JWKS cannot pass it.
const stale = staleSandbox();
const proofIt = itUnless(stale);
if (stale) console.warn(`proof scenarios skipped: ${stale}`);

d(`propagation delays the proof of access waits out${stale ? ` (SKIPPED: ${stale})` : ''}`, () => {
  proofIt('AADSTS70021 right after a new federated credential (ficPropagationMs 4 s): waited out, the proof passes', async () => {
    const s = await suite.scenario('ficprop');
    await restorer.config({ ficPropagationMs: 4_000 });
    const r = await runBundle('prop-fic', { workspace: s.workspace, env: s.env, inputs: { timeout: '40s' } });
    expectExit(r, 0);
    const log = visible(r);
    expect(log).toMatch(/proof: [^\n]*(AADSTS70021|federat)[^\n]*retrying/i);
    expect(log).toContain(`proof: ${s.ns}/api read 1 object(s)`); // vault scope: one read (prove-access: changed)
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });

  proofIt('ForbiddenByRbac while the new role assignment propagates (rbacPropagationMs 4 s): waited out, the proof passes', async () => {
    const s = await suite.scenario('rbacprop');
    await restorer.config({ rbacPropagationMs: 4_000 });
    const r = await runBundle('prop-rbac', { workspace: s.workspace, env: s.env, inputs: { timeout: '40s' } });
    expectExit(r, 0);
    const log = visible(r);
    expect(log).toMatch(/proof: [^\n]*(ForbiddenByRbac|role|forbidden)[^\n]*retrying/i);
    expect(log).toContain(`proof: ${s.ns}/api read 1 object(s)`); // vault scope: one read (prove-access: changed)
    expect(await intactState(s)).toEqual(expectedIntact(s));
  });
});

d('leak scan (this file)', () => {
  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
