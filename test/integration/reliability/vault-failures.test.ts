// Reliability suite, Key Vault data plane: the whole action (dist/index.js, as a runner runs it)
// under each injected failure, each scenario in its own fresh vault and namespace. Each ends in
// success or a precise message, with nothing lost (every secret holds its value) and no duplicate
// versions (checked through the SDK and through the sandbox's request records).
import { expect, it, jest } from '@jest/globals';
import { artifacts, expectExit, expectedIntact, intactState, leaks, requestRecords, runBundle, secretValue, usedValues, valueIs, versionsOf, type RequestRecord, type Scenario } from './helpers.ts';
import { reliabilitySuite } from './suite.ts';

jest.setTimeout(4 * 60_000);

const suite = await reliabilitySuite();
const { d, restorer } = suite;

async function scenario(tag: string, n = 3): Promise<Scenario> {
  return suite.scenario(tag, { secrets: n });
}

// The vault step is under test here: the proof of access is not (it has its own scenarios).
const INPUTS = { 'prove-access': 'false' };

async function expectIntact(s: Scenario, count = 1): Promise<void> {
  expect(await intactState(s)).toEqual(expectedIntact(s, count));
}

/** Key Vault records of this scenario's secrets (their names are unique to it) since `mark`. */
async function kvRecords(s: Scenario, mark: number): Promise<RequestRecord[]> {
  return (await requestRecords()).filter((r) => r.service === 'keyvault' && r.seq >= mark && r.path.includes(`r${s.id}-`));
}

/** Successful writes (PUT /secrets/<name>) per secret: exactly one each on a first sync. */
function successfulSets(recs: RequestRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of recs) {
    const m = /^\/secrets\/([^/]+)\/?$/.exec(r.path);
    if (r.method === 'PUT' && m && r.status >= 200 && r.status < 300) out[m[1]!] = (out[m[1]!] ?? 0) + 1;
  }
  return out;
}

const once = (s: Scenario): Record<string, number> => Object.fromEntries(s.names.map((n) => [n, 1]));

d('Key Vault failures through the bundle', () => {
  it('429 with Retry-After on writes: waited out, one version per secret', async () => {
    const s = await scenario('t429ra');
    await restorer.vaultFault(s.vault.name, { method: 'PUT', pathPattern: `^/secrets/r${s.id}-`, times: 2, effect: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const r = await runBundle('kv-429-retry-after', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    expect(recs.filter((x) => x.status === 429)).toHaveLength(2);
    expect(successfulSets(recs)).toEqual(once(s));
    await expectIntact(s);
  });

  it('429 without Retry-After: backed off and retried, one version per secret', async () => {
    const s = await scenario('t429');
    await restorer.vaultFault(s.vault.name, { method: 'PUT', pathPattern: `^/secrets/r${s.id}-`, times: 2, effect: { kind: 'status', status: 429 } });
    const r = await runBundle('kv-429', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    expect(recs.filter((x) => x.status === 429)).toHaveLength(2);
    expect(successfulSets(recs)).toEqual(once(s));
    await expectIntact(s);
  });

  it('a failing LIST page (second page, 500) neither loses secrets nor rewrites them', async () => {
    const s = await scenario('list', 30);
    const first = await runBundle('kv-list-first', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(first, 0);
    await restorer.listPageFault(s.vault.name, 2, 500, 2);
    const r = await runBundle('kv-list-page', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    expect(recs.filter((x) => x.class === 'write')).toEqual([]);
    expect(JSON.parse(r.outputs['changed-secrets'] ?? 'null')).toEqual([]);
    await expectIntact(s);
  });

  it('a failing LIST page that does not recover fails precisely and writes nothing', async () => {
    const s = await scenario('listhard', 30);
    const first = await runBundle('kv-list-hard-first', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(first, 0);
    // More failures than any retry policy tries: the run must stop, not conclude secrets are missing.
    await restorer.listPageFault(s.vault.name, 2, 500, 50);
    const r = await runBundle('kv-list-page-hard', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 1);
    // Precise: which vault, which operation, what the service answered.
    const error = r.report?.error ?? '';
    expect(error).toContain('500');
    expect(error).toContain(s.vault.name);
    expect(error).toMatch(/list/i);
    expect((await kvRecords(s, r.mark)).filter((x) => x.class === 'write')).toEqual([]);
    await restorer.restore();
    await expectIntact(s);
  });

  it('a soft-deleted secret (ObjectIsBeingDeleted, then ObjectIsDeletedButRecoverable, then 404 after recovery) is recovered without a new version', async () => {
    const s = await scenario('softdel');
    expectExit(await runBundle('kv-softdel-first', { workspace: s.workspace, env: s.env, inputs: INPUTS }), 0);
    await restorer.settle(s.vault.name, { deleteMs: 1_500, recoverMs: 2_500 });
    const victim = s.names[0]!;
    await (await s.vault.client.beginDeleteSecret(victim)).pollUntilDone().catch(() => undefined);
    const r = await runBundle('kv-softdel', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    // It went through the settling windows (409 ObjectIsBeingDeleted / 404 after recovery) and recovered.
    expect(recs.some((x) => x.method === 'POST' && x.path.includes(`/deletedsecrets/${victim}/recover`) && x.status < 300)).toBe(true);
    const recovered = recs.find((x) => x.method === 'POST' && x.path.includes(`/deletedsecrets/${victim}/recover`) && x.status < 300)!;
    // After the recovery, the secret still answered 404 for a while (recoverMs), and the run waited.
    expect(recs.some((x) => x.seq > recovered.seq && x.method === 'GET' && x.path.startsWith(`/secrets/${victim}`) && x.status === 404)).toBe(true);
    expect(r.report?.plan.find((p) => p.kind === 'secret' && p.name === victim)?.action).toBe('recover');
    await expectIntact(s);
  });

  it('a secret deleted moments before the run (ObjectIsBeingDeleted while the deletion settles): waited out, recovered, nothing lost', async () => {
    const s = await scenario('beingdel');
    expectExit(await runBundle('kv-beingdel-first', { workspace: s.workspace, env: s.env, inputs: INPUTS }), 0);
    await restorer.settle(s.vault.name, { deleteMs: 6_000 });
    const victim = s.names[2]!;
    // Only the DELETE itself: polling until the deleted secret shows would wait the window out.
    await s.vault.client.beginDeleteSecret(victim);
    const r = await runBundle('kv-beingdel', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    // The write or the recovery met ObjectIsBeingDeleted (409) and was retried until the deletion settled.
    expect(recs.some((x) => x.path.includes(victim) && x.status === 409)).toBe(true);
    expect(recs.some((x) => x.method === 'POST' && x.path.includes(`/deletedsecrets/${victim}/recover`) && x.status < 300)).toBe(true);
    await expectIntact(s);
  });

  it('a secret soft-deleted and changed: recovered, then exactly one new version', async () => {
    const s = await scenario('softchg');
    expectExit(await runBundle('kv-softchg-first', { workspace: s.workspace, env: s.env, inputs: INPUTS }), 0);
    await restorer.settle(s.vault.name, { recoverMs: 2_000 });
    const victim = s.names[1]!;
    await (await s.vault.client.beginDeleteSecret(victim)).pollUntilDone().catch(() => undefined);
    s.env.V_1 = secretValue('softchg1b');
    usedValues.set(`${victim}#2`, s.env.V_1);
    const r = await runBundle('kv-softchg', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    expect(JSON.parse(r.outputs['changed-secrets'] ?? 'null')).toEqual([victim]);
    expect((await versionsOf(s.vault.client, victim)).length).toBe(2);
    expect(await valueIs(s.vault.client, victim, s.env.V_1)).toBe(true);
    for (const name of [s.names[0]!, s.names[2]!]) expect((await versionsOf(s.vault.client, name)).length).toBe(1);
  });

  it('a connection reset AFTER the vault applied a write (answer lost, the SDK re-sends the PUT): read back instead, still one version each', async () => {
    const s = await scenario('lost');
    await restorer.vaultFault(s.vault.name, { method: 'PUT', pathPattern: `^/secrets/r${s.id}-`, times: 2, effect: { kind: 'drop-response' } });
    const r = await runBundle('kv-lost', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const recs = await kvRecords(s, r.mark);
    const dropped = recs.filter((x) => x.dropped);
    expect(dropped.map((x) => x.method)).toEqual(['PUT', 'PUT']);
    // Each dropped write was applied by the vault, then answered by a read of it, not a second PUT.
    expect(successfulSets(recs)).toEqual(once(s));
    for (const x of dropped) expect(recs.some((y) => y.method === 'GET' && y.path === x.path && y.seq > x.seq && y.status === 200)).toBe(true);
    expect(r.log.match(/the answer to its write was lost, but the vault already holds that write/g)?.length).toBe(2);
    expect((JSON.parse(r.outputs['changed-secrets'] ?? '[]') as string[]).sort()).toEqual([...s.names].sort());
    await expectIntact(s);
  });

  it('a vault that refuses the grant ledger (403 on its write): the run still succeeds, with a warning naming it', async () => {
    const s = await scenario('ledger403');
    await restorer.vaultFault(s.vault.name, {
      method: 'PUT',
      pathPattern: '^/secrets/akv-aks-grants-',
      times: 1,
      effect: { kind: 'status', status: 403, code: 'Forbidden', message: 'The user, group or application does not have secrets set permission on key vault.' },
    });
    const r = await runBundle('kv-ledger403', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    // The ledger is written first by the secret sync (declarations), then by the identity step (grants).
    expect(r.log).toMatch(/::warning::(manifest|grant) ledger akv-aks-grants-\S+ not written \(.*does not have secrets set permission/);
    expect((await kvRecords(s, r.mark)).length).toBeGreaterThan(0);
    await expectIntact(s);
  });

  it('connection resets on a write and on a read: retried, one version per secret', async () => {
    const s = await scenario('reset');
    await restorer.vaultFault(s.vault.name, { method: 'PUT', pathPattern: `^/secrets/r${s.id}-`, times: 1, effect: { kind: 'reset' } });
    await restorer.vaultFault(s.vault.name, { method: 'GET', pathPattern: '^/secrets', times: 1, effect: { kind: 'reset' } });
    const r = await runBundle('kv-reset', { workspace: s.workspace, env: s.env, inputs: INPUTS });
    expectExit(r, 0);
    const all = (await requestRecords()).filter((x) => x.service === 'keyvault' && x.seq >= r.mark && x.status === 0);
    expect(all.length).toBeGreaterThanOrEqual(1);
    expect(successfulSets(await kvRecords(s, r.mark))).toEqual(once(s));
    await expectIntact(s);
  });
});

d('leak scan (this file)', () => {
  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
