// Key Vault sync through the real SDKs against the sandbox's vault (authorization proxy + engine),
// on a private vault so the proxy's request counts are this file's alone.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { VaultSyncError, currentVersions, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { stateShardName } from '../../../src/vault/versions.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { createTestVault, dataClient, sandboxSession, type SessionVault } from '../../support/session.ts';
import { control, recordMark, vaultStats } from '../../support/sandbox.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';
import { ACTION_NAME, OWNER_TAG } from '../../../src/names.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';
import { DIGEST_KEY_SECRET, TAG_DIGEST } from '../../../src/names.ts';
import { pastSecondOf } from '../../support/wait.ts';

jest.setTimeout(120_000);

const DB_PASSWORD = `pw-${Math.random().toString(36).slice(2)}-Zq9!`;
const DB_PASSWORD_2 = `pw2-${Math.random().toString(36).slice(2)}-Kx7%`;
const MULTI = `-----BEGIN PRIVATE KEY-----\nline-one-${Math.random().toString(36).slice(2)}\nline-two-${Math.random().toString(36).slice(2)}\n-----END PRIVATE KEY-----`;
const FOREIGN_VALUE = `foreign-${Math.random().toString(36).slice(2)}`;
const TLS_VALUE = `tls-${Math.random().toString(36).slice(2)}`;

const env: Record<string, string> = { DB_PASSWORD, MULTI, LEGACY_TOKEN: `legacy-new-${Math.random().toString(36).slice(2)}` };
const knownValues = (): string[] => [DB_PASSWORD, DB_PASSWORD_2, MULTI, ...MULTI.split('\n').filter((l) => l.length > 8), FOREIGN_VALUE, TLS_VALUE, env.LEGACY_TOKEN ?? ''];
const generated: string[] = [];

let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let client: SecretClient;
let capture: ReturnType<typeof captureStdout>;

const envSecret = (name: string, variable: string, over: Partial<SecretSpec> = {}): SecretSpec => ({ name, source: { kind: 'env', env: variable }, tags: {}, adopt: false, ...over });

function manifestWith(secrets: SecretSpec[], over: Partial<Manifest> = {}): Manifest {
  const target = testTarget('payments', 'id-sandbox-payments', { serviceAccount: 'payments-api', secretProviderClass: 'payments-secrets', objects: [mounted('db-password'), mounted('api-key')] });
  return vaultManifest(tv.name, secrets, [target], over);
}

const baseSecrets = (): SecretSpec[] => [
  envSecret('db-password', 'DB_PASSWORD', { contentType: 'text/plain', tags: { team: 'payments' } }),
  { name: 'api-key', source: { kind: 'generate', length: 40, charset: 'alphanumeric', rotateAfterSeconds: 1 }, tags: {}, adopt: false },
  envSecret('multi-line', 'MULTI'),
  { name: 'tls-cert', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false },
];

const run = (m: Manifest, mode: 'plan' | 'apply' | 'rotate' = 'apply') => syncSecrets(session, vault, m, { mode, env, now: new Date(), commit: 'c0ffee' });

const summary = (items: { name: string; action: string }[]): string[] => items.map((i) => `${i.name}:${i.action}`);

async function versionsOf(name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) if (p.version) out.push(p.version);
  return out;
}

beforeAll(async () => {
  capture = captureStdout();
  session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true });
  client = await dataClient(session, tv);
  await client.setSecret('tls-cert', TLS_VALUE, { tags: { owner: 'platform-team' } });
  vault = await describeVault(session, manifestWith([]));
});

afterAll(async () => {
  capture?.stop();
  await tv?.remove();
});

describe('syncSecrets against the sandbox vault', () => {
  it('describeVault reads the data-plane URI and the permission model from ARM', () => {
    expect(vault.uri).toBe(tv.uri);
    expect(vault.rbac).toBe(true);
    expect(vault.id.toLowerCase()).toBe(tv.id.toLowerCase());
  });

  it('plan mode writes nothing and lists what apply would do', async () => {
    const before = await vaultStats(tv.name);
    const r = await run(manifestWith(baseSecrets()), 'plan');
    expect(summary(r.items)).toEqual(['db-password:create', 'api-key:create', 'multi-line:create', 'tls-cert:unchanged']);
    expect((await vaultStats(tv.name)).writes - before.writes).toBe(0);
    await expect(client.getSecret('db-password')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('a first apply creates what the manifest declares, owned and tagged', async () => {
    const r = await run(manifestWith(baseSecrets()));
    expect(summary(r.items)).toEqual(['db-password:create', 'api-key:create', 'multi-line:create', 'tls-cert:unchanged']);
    const db = await client.getSecret('db-password');
    expect(db.value).toBe(DB_PASSWORD);
    expect(db.properties.contentType).toBe('text/plain');
    expect(db.properties.tags).toMatchObject({
      [OWNER_TAG]: ACTION_NAME,
      team: 'payments',
      'akv-aks-instance': manifestWith([]).instance.key,
      'akv-aks-manifest': 'contoso/tests:akv-aks.yaml',
      'akv-aks-repository': 'contoso/tests',
      'akv-aks-cluster': 'sandbox',
      'akv-aks-commit': 'c0ffee',
    });
    expect(db.properties.tags?.[TAG_DIGEST]).toMatch(/^hmac-sha256-v1:/);
    const key = await client.getSecret('api-key');
    expect(key.value).toMatch(/^[A-Za-z0-9]{40}$/);
    generated.push(key.value ?? '');
    expect((await client.getSecret('multi-line')).value).toBe(MULTI);
    // the digest key lives in the vault as a secret, owned by the action
    expect((await client.getSecret(DIGEST_KEY_SECRET)).properties.tags?.[OWNER_TAG]).toBe(ACTION_NAME);
    // versions for the gate: what the vault now serves
    const byName = Object.fromEntries(r.secrets.map((s) => [s.name, s]));
    expect(byName['db-password']).toEqual({ name: 'db-password', version: db.properties.version, changed: true });
    expect(byName['api-key']?.version).toBe(key.properties.version);
    expect(byName['tls-cert']?.changed).toBe(false);
  });

  it('a second apply writes nothing (zero write requests at the vault)', async () => {
    const before = await vaultStats(tv.name);
    const r = await run(manifestWith(baseSecrets()));
    const after = await vaultStats(tv.name);
    expect(summary(r.items)).toEqual(['db-password:unchanged', 'api-key:unchanged', 'multi-line:unchanged', 'tls-cert:unchanged']);
    expect(after.writes - before.writes).toBe(0);
    expect(r.secrets.every((s) => !s.changed)).toBe(true);
    const db = await client.getSecret('db-password');
    expect(r.secrets.find((s) => s.name === 'db-password')?.version).toBe(db.properties.version);
    // one LIST page + the manifest ledger + the digest key + the version index: no lookup per mounted
    // secret, no value read, and no new auth challenge (the session's client already holds its token)
    expect(after.requests - before.requests).toBe(4);
  });

  it('currentVersions reports the same versions without writing', async () => {
    const before = await vaultStats(tv.name);
    const v = await currentVersions(session, vault, manifestWith(baseSecrets()));
    expect(v.find((s) => s.name === 'db-password')?.version).toBe((await client.getSecret('db-password')).properties.version);
    expect(v.find((s) => s.name === 'api-key')?.version).toBe((await client.getSecret('api-key')).properties.version);
    expect((await vaultStats(tv.name)).writes - before.writes).toBe(0);
  });

  it('a changed value creates exactly one new version (and one of the version index)', async () => {
    const STATE_SECRET = stateShardName(0, manifestWith([]).instance.key);
    const names = ['db-password', 'api-key', 'multi-line', 'tls-cert', DIGEST_KEY_SECRET, STATE_SECRET];
    const counts = async (): Promise<number[]> => Promise.all(names.map(async (n) => (await versionsOf(n)).length));
    const oldVersions = await versionsOf('db-password');
    const oldCounts = await counts();
    env.DB_PASSWORD = DB_PASSWORD_2;
    const before = await vaultStats(tv.name);
    const r = await run(manifestWith(baseSecrets()));
    const after = await vaultStats(tv.name);
    expect(summary(r.items)).toEqual(['db-password:update', 'api-key:unchanged', 'multi-line:unchanged', 'tls-cert:unchanged']);
    expect(r.items[0]).toMatchObject({ reason: 'value changed' });
    // the vault's write lease (taken, released), the secret's new version, then the index recording it
    expect(after.writes - before.writes).toBe(4);
    expect(await counts()).toEqual(oldCounts.map((c, i) => (names[i] === 'db-password' || names[i] === STATE_SECRET ? c + 1 : c)));
    const newVersions = await versionsOf('db-password');
    expect(newVersions).toHaveLength(oldVersions.length + 1);
    const db = await client.getSecret('db-password');
    expect(db.value).toBe(DB_PASSWORD_2);
    expect(r.secrets.find((s) => s.name === 'db-password')).toEqual({ name: 'db-password', version: db.properties.version, changed: true });
  });

  it('rotate mode regenerates a generated secret older than rotateAfter', async () => {
    const generatedAt = (await client.getSecret('api-key')).properties.createdOn;
    await pastSecondOf(generatedAt, 1_000); // older than rotateAfter (1s), counted in whole seconds
    const before = (await client.getSecret('api-key')).properties.version;
    const r = await run(manifestWith(baseSecrets()), 'rotate');
    expect(r.items.find((i) => i.name === 'api-key')).toMatchObject({ action: 'update', reason: 'rotateAfter 1s elapsed' });
    const key = await client.getSecret('api-key');
    generated.push(key.value ?? '');
    expect(key.properties.version).not.toBe(before);
    expect(key.value).not.toBe(generated[0]);
  });

  it('refuses an existing secret it does not own (nothing written), and adopts it when told', async () => {
    await client.setSecret('legacy-token', FOREIGN_VALUE, { tags: { owner: 'someone-else' } });
    const secrets = [...baseSecrets(), envSecret('legacy-token', 'LEGACY_TOKEN')];
    const plan = await run(manifestWith(secrets), 'plan');
    expect(plan.items.find((i) => i.name === 'legacy-token')).toMatchObject({ action: 'refuse' });
    const before = await vaultStats(tv.name);
    const err = await run(manifestWith(secrets)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as VaultSyncError).secrets).toEqual(['legacy-token']);
    expect((err as Error).message).toMatch(/legacy-token.*adopt: true/);
    expect((await vaultStats(tv.name)).writes - before.writes).toBe(0);
    expect((await client.getSecret('legacy-token')).value).toBe(FOREIGN_VALUE);

    const adopted = [...baseSecrets(), envSecret('legacy-token', 'LEGACY_TOKEN', { adopt: true })];
    const r = await run(manifestWith(adopted));
    expect(r.items.find((i) => i.name === 'legacy-token')).toMatchObject({ action: 'adopt' });
    const s = await client.getSecret('legacy-token');
    expect(s.value).toBe(env.LEGACY_TOKEN);
    expect(s.properties.tags).toMatchObject({ [OWNER_TAG]: ACTION_NAME });
  });

  it('recovers a soft-deleted secret, waiting through ObjectIsBeingDeleted and the 404 after recovery, with no new version when its value is unchanged', async () => {
    await control('PUT', '/vault/settle', { vault: tv.name, deleteMs: 1_500, recoverMs: 1_500 });
    try {
      const versionsBefore: string[] = [];
      for await (const v of client.listPropertiesOfSecretVersions('multi-line')) versionsBefore.push(v.version!);
      const poller = await client.beginDeleteSecret('multi-line');
      await poller.pollUntilDone();
      const r = await run(manifestWith(baseSecrets()));
      expect(r.items.find((i) => i.name === 'multi-line')).toMatchObject({ action: 'recover', reason: 'soft-deleted: recover (value unchanged)' });
      const s = await client.getSecret('multi-line');
      expect(s.value).toBe(MULTI);
      const versionsAfter: string[] = [];
      for await (const v of client.listPropertiesOfSecretVersions('multi-line')) versionsAfter.push(v.version!);
      expect(versionsAfter.sort()).toEqual(versionsBefore.sort());
      // The version pods mounted before the deletion is current again: nothing to restart.
      expect(r.secrets.find((x) => x.name === 'multi-line')).toMatchObject({ changed: false, version: s.properties.version });
    } finally {
      await control('PUT', '/vault/settle', { vault: tv.name, deleteMs: 0, recoverMs: 0 });
    }
  });

  it('keeps dropped secrets unless prune, and prune deletes without purging', async () => {
    const without = baseSecrets().filter((s) => s.name !== 'multi-line');
    const keep = await run(manifestWith(without));
    expect(keep.items.find((i) => i.name === 'multi-line')).toMatchObject({ action: 'keep' });
    expect((await client.getSecret('multi-line')).value).toBe(MULTI);
    const pruned = await run(manifestWith(without, { prune: true }));
    expect(pruned.items.find((i) => i.name === 'multi-line')).toMatchObject({ action: 'prune' });
    // only what this manifest owns and dropped (legacy-token was adopted above, then dropped): never the
    // digest key, nor the unowned tls-cert
    expect(pruned.items.filter((i) => i.action === 'prune' || i.action === 'keep').map((i) => `${i.name}:${i.action}`)).toEqual(['legacy-token:prune', 'multi-line:prune']);
    expect(pruned.items.map((i) => i.name)).not.toContain(DIGEST_KEY_SECRET);
    expect((await client.getSecret('tls-cert')).value).toBe(TLS_VALUE);
    const deadline = Date.now() + 10_000;
    let deleted;
    while (!deleted && Date.now() < deadline) deleted = await client.getDeletedSecret('multi-line').catch(() => undefined);
    expect(deleted?.name).toBe('multi-line');
  });

  it('purges only when prune and purge are both set', async () => {
    const extra = [...baseSecrets().filter((s) => s.name !== 'multi-line'), envSecret('short-lived', 'DB_PASSWORD')];
    await run(manifestWith(extra));
    expect((await client.getSecret('short-lived')).properties.tags?.[OWNER_TAG]).toBe(ACTION_NAME);
    const dropped = baseSecrets().filter((s) => s.name !== 'multi-line');
    const r = await run(manifestWith(dropped, { prune: true, purge: true }));
    expect(r.items.find((i) => i.name === 'short-lived')).toMatchObject({ action: 'prune', reason: 'dropped from the manifest: delete and purge' });
    await expect(client.getSecret('short-lived')).rejects.toMatchObject({ statusCode: 404 });
    await expect(client.getDeletedSecret('short-lived')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('fails naming an existing secret the vault lacks', async () => {
    const m = manifestWith([...baseSecrets(), { name: 'not-there', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false }]);
    await expect(run(m)).rejects.toThrow(/not-there/);
    await expect(currentVersions(session, vault, m)).rejects.toThrow(/not-there/);
  });

  it('honours 429 with Retry-After and backs off on 429 without it', async () => {
    env.DB_PASSWORD = `${DB_PASSWORD}-third`;
    await control('POST', '/vault/faults', { vault: tv.name, method: 'PUT', pathPattern: '/secrets/db-password', times: 2, effect: { kind: 'status', status: 429 } });
    await control('POST', '/vault/faults', { vault: tv.name, method: 'GET', pathPattern: '^/secrets\\?', times: 1, effect: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const before = await vaultStats(tv.name);
    const started = Date.now();
    const r = await run(manifestWith(baseSecrets()));
    expect((await vaultStats(tv.name)).throttled - before.throttled).toBe(3);
    expect(r.items.find((i) => i.name === 'db-password')).toMatchObject({ action: 'update' });
    expect((await client.getSecret('db-password')).value).toBe(env.DB_PASSWORD);
    // 1 s Retry-After + 1 s and 2 s backoff at least
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_900);
    knownValues().push(env.DB_PASSWORD ?? '');
  });

  it('reads through a failing LIST page (the SDK retries 5xx) and still writes nothing', async () => {
    await control('POST', '/vault/faults/list-page', { vault: tv.name, page: 1, status: 503, times: 1 });
    const before = await vaultStats(tv.name);
    const r = await run(manifestWith(baseSecrets()));
    expect(r.items.filter((i) => i.action !== 'unchanged' && i.action !== 'keep')).toEqual([]);
    const after = await vaultStats(tv.name);
    expect(after.writes - before.writes).toBe(0);
  });

  it('a LIST page that keeps failing stops the run precisely (vault, page, status) and writes nothing', async () => {
    await control('POST', '/vault/faults/list-page', { vault: tv.name, page: 1, status: 500, times: 50 });
    try {
      const before = await vaultStats(tv.name);
      const err = await run(manifestWith(baseSecrets())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VaultSyncError);
      expect((err as Error).message).toMatch(new RegExp(`^Key Vault ${tv.name}: listing its secrets failed at page 1 \\(HTTP 500\\)`));
      expect((await vaultStats(tv.name)).writes - before.writes).toBe(0);
    } finally {
      await control('DELETE', '/vault/faults', { vault: tv.name });
    }
  });

  it('writes 30 secrets through a vault throttled to 10 writes per 2 s, then reads them back in LIST pages of 25', async () => {
    const many = Array.from({ length: 30 }, (_, i) => envSecret(`bulk-${String(i).padStart(2, '0')}`, `BULK_${i}`));
    for (let i = 0; i < 30; i++) env[`BULK_${i}`] = `bulk-value-${i}-${Math.random().toString(36).slice(2)}`;
    const m = manifestWith([...baseSecrets().filter((x) => x.name !== 'multi-line'), ...many]);
    await control('PUT', '/vault/throttle', { vault: tv.name, enabled: true, create: 10, windowMs: 2_000 });
    try {
      const before = await vaultStats(tv.name);
      const r = await run(m);
      const after = await vaultStats(tv.name);
      expect(r.items.filter((i) => i.action === 'create')).toHaveLength(30);
      expect(after.throttled - before.throttled).toBeGreaterThan(0);
      const mark = capture.text().length;
      // The page count is a debug line: written only with the runner's debug logging on.
      process.env.RUNNER_DEBUG = '1';
      const again = await run(m).finally(() => delete process.env.RUNNER_DEBUG);
      expect(again.items.filter((i) => i.action !== 'unchanged' && i.action !== 'keep')).toEqual([]);
      expect((await vaultStats(tv.name)).writes - after.writes).toBe(0);
      expect(capture.text().slice(mark)).toMatch(/listed 3\d secrets in 2 page\(s\)/);
      expect((await client.getSecret('bulk-29')).value).toBe(env.BULK_29);
    } finally {
      await control('PUT', '/vault/throttle', { vault: tv.name, create: 300, other: 4_000, windowMs: 10_000 });
    }
  });

  it('a first sync of many names looks for soft-deleted ones in one LIST of deleted secrets, not a GET per name, and recovers them', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `dl-${String(i).padStart(2, '0')}`);
    for (let i = 0; i < 30; i++) env[`DL_${i}`] = `dl-value-${i}-${Math.random().toString(36).slice(2)}`;
    const specs = names.map((n, i) => envSecret(n, `DL_${i}`));
    const keep = baseSecrets().filter((x) => x.name !== 'multi-line');
    await run(manifestWith([...keep, ...specs.slice(0, 2)]));
    for (const n of names.slice(0, 2)) await (await client.beginDeleteSecret(n)).pollUntilDone();
    const since = await recordMark();
    const r = await run(manifestWith([...keep, ...specs]));
    const byName = new Map(r.items.map((i) => [i.name, i.action]));
    expect(names.map((n) => byName.get(n))).toEqual([...names.slice(0, 2).map(() => 'recover'), ...names.slice(2).map(() => 'create')]);
    const recs = (await control<{ records: Array<{ service: string; method: string; path: string; seq: number }> }>('GET', '/stats')).records.filter(
      (x) => x.service === 'keyvault' && x.seq >= since && x.path.startsWith('/deletedsecrets'),
    );
    expect(recs.filter((x) => x.method === 'GET' && /^\/deletedsecrets\/?$/.test(x.path)).length).toBeGreaterThanOrEqual(1);
    expect(recs.filter((x) => x.method === 'GET' && /^\/deletedsecrets\/[^/]+$/.test(x.path))).toEqual([]);
    // Recovered with their value unchanged: still one version each.
    for (const n of names.slice(0, 2)) expect(await versionsOf(n)).toHaveLength(1);
  });

  it('never prints a secret value (masks aside, which the runner consumes)', () => {
    const log = visibleLog(capture.text());
    expect(log.length).toBeGreaterThan(0);
    for (const v of [...knownValues(), ...Object.values(env), ...generated]) {
      if (v) expect(log).not.toContain(v);
    }
    // every value was masked, multi-line values line by line
    const masks = capture.text();
    expect(masks).toContain(`::add-mask::${DB_PASSWORD}`);
    for (const line of MULTI.split('\n')) expect(masks).toContain(`::add-mask::${line}`);
    for (const g of generated) expect(masks).toContain(`::add-mask::${g}`);
  });
});
