// What a no-op deploy costs, end to end through the bundle with default inputs (prove-access:
// changed): after a first deploy of two namespaces (one granted at vault scope, one per secret), the
// same deploy again reads no secret value, by anyone, pods' identities included, and exchanges no
// pod token at Entra; judged from the sandbox's own request records. `prove-access: always` on the
// same unchanged deploy does read and exchange (the records would show it), so the check can fail.
import { describe, expect, it, jest } from '@jest/globals';
import { e2eScenario, expectExit, fixture, logLines, SANDBOX_ISSUER, stepRecords, type Step } from '../support/e2e.ts';
import { DEPLOYER_CLIENT_ID } from '../support/azure.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control, type RequestRecord } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS_A = `e2e-na-${id}`;
const NS_B = `e2e-nb-${id}`;
const P = `n${id}`;
const ID_A = `id-sandbox-${NS_A}`;
const ID_B = `id-e2e-noop-${id}`;
const DECLARED = [`${P}-shared`, `${P}-a-only`, `${P}-b-only`];

let podClients: string[] = [];
const env: Record<string, string> = { SHARED: secretValue('shared'), A_ONLY: secretValue('a') };

const sc = e2eScenario({
  tag: 'noop',
  vaultPrefix: 'kv-e2o-',
  namespaces: [NS_A, NS_B],
  identities: [ID_A, ID_B],
  env,
  manifest: (vault) => fixture('two-namespaces.yaml', { VAULT: vault.name, NS_A, NS_B, P, ID_B }),
});
const { runner } = sc;

const apply = (label: string, inputs: Record<string, string> = {}): Promise<Step> => runner.run({ label, mode: 'apply', workspace: sc.workspace, env, inputs });

/** GET /secrets/{name} or /secrets/{name}/{version} of a declared secret, by anyone (`/versions` lists metadata, no value). */
function valueReads(records: RequestRecord[]): string[] {
  return records
    .filter((r) => r.service === 'keyvault' && r.method === 'GET')
    .map((r) => /^\/secrets\/([^/]+)(?:\/(?!versions\/?$)[^/]+)?\/?$/.exec(r.path)?.[1])
    .filter((name): name is string => name !== undefined && DECLARED.includes(decodeURIComponent(name)));
}

/**
 * Entra token requests as this scenario's pod identities with a client assertion from the cluster's
 * issuer (other suites' pods may exchange their own tokens meanwhile: they are not ours).
 */
function podExchanges(records: RequestRecord[]): RequestRecord[] {
  return records.filter(
    (r) => r.service === 'entra' && r.method === 'POST' && /\/oauth2\/v2\.0\/token(\?|$)/.test(r.path) && r.assertionIssuer === SANDBOX_ISSUER && podClients.includes(r.clientId ?? ''),
  );
}

describe('a no-op deploy through the bundle (default inputs)', () => {
  it('first deploy: the proof reads once per grant scope (vault scope: one object; per secret: each new one)', async () => {
    const s = await apply('first deploy');
    expectExit(s, 0);
    const lines = logLines(s);
    expect(lines.some((l) => l.includes(`proof: ${NS_A}/api read 1 object(s)`))).toBe(true);
    expect(lines.some((l) => l.includes(`proof: ${NS_B}/reports read 2 object(s)`))).toBe(true);
    const w = await control<{ identities: Array<{ name: string; clientId: string }> }>('GET', '/world');
    podClients = w.identities.filter((i) => i.name === ID_A || i.name === ID_B).map((i) => i.clientId);
    expect(podClients).toHaveLength(2);
    // The first deploy did exchange pod tokens: the records can tell.
    expect(podExchanges(await stepRecords(s)).length).toBeGreaterThan(0);
  });

  it('the same deploy again: no write, no secret value read by anyone, no pod token exchanged, the proof skipped', async () => {
    const s = await apply('no-op');
    expectExit(s, 0);
    expect(s.report.plan.filter((i) => !['unchanged', 'keep'].includes(i.action))).toEqual([]);
    expect(logLines(s).some((l) => l.includes('proof of access: skipped'))).toBe(true);
    const records = await stepRecords(s);
    expect(valueReads(records)).toEqual([]);
    expect(podExchanges(records)).toEqual([]);
    // One login: at most one GitHub ID token and one Entra token per audience (ARM, Key Vault).
    const idTokens = records.filter((r) => r.service === 'github' && r.path.includes(`/jobs/${s.jobId}/idtoken`));
    expect(idTokens.length).toBeGreaterThanOrEqual(1);
    expect(idTokens.length).toBeLessThanOrEqual(3);
    const deployerTokens = records.filter((r) => r.service === 'entra' && r.method === 'POST' && r.clientId === DEPLOYER_CLIENT_ID);
    expect(deployerTokens.length).toBeGreaterThanOrEqual(1);
    expect(deployerTokens.length).toBeLessThanOrEqual(3);
    // ARM reads bounded: the vault, the role definition, the identities of rg-ids, the role
    // assignments at the vault, one federated-credential list per identity (e2e runs in band, so
    // the step's ARM records are its own). A list's further pages (`$skiptoken`) are not counted: a
    // long-lived sandbox's rg-ids passes one page of identities; what is bounded is one list each.
    const arm = records.filter((r) => r.service === 'arm' && !r.path.includes('skiptoken=')).map((r) => `${r.method} ${r.path.split('?')[0]}`);
    expect(arm.length <= 4 + podClients.length ? [] : arm).toEqual([]);
  });

  it('prove-access: always on the same unchanged deploy reads every mounted object as each pod identity (the records show it)', async () => {
    const s = await apply('always', { 'prove-access': 'always' });
    expectExit(s, 0);
    const records = await stepRecords(s);
    expect([...new Set(valueReads(records).map(decodeURIComponent))].sort()).toEqual([...DECLARED].sort());
    expect(new Set(podExchanges(records).map((r) => r.clientId)).size).toBe(2);
  });
});
