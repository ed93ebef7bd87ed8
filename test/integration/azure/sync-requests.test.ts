// syncSecrets / currentVersions judged by the requests the vault served (the sandbox's records of a
// vault of each test's own, the SDK's 401 challenges left out): the version index's request counts,
// its fallback when a secret changes behind the action's back, the search for soft-deleted secrets,
// existing keys, a failing LIST page and the planned items carried by VaultSyncError.
import { afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';
import { objectReader } from '../../../src/keyvault/objects.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { ACTION_NAME, LEASE_SECRET, OWNER_TAG } from '../../../src/names.ts';
import { mapAll } from '../../../src/util/concurrency.ts';
import { VaultSyncError, currentVersions, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { stateShardName } from '../../../src/vault/versions.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';
import { control, requestRecords, settledMark } from '../../support/sandbox.ts';
import { createKey, createTestVault, dataClient, grantDeployer, sandboxSession, type SessionVault } from '../../support/session.ts';
import { pastSecondOf, waitFor } from '../../support/wait.ts';

jest.setTimeout(180_000);

const N = 60;
const specs = (): SecretSpec[] =>
  Array.from({ length: N }, (_, i) => ({ name: `app-${String(i).padStart(2, '0')}`, source: { kind: 'env', env: `APP_${String(i).padStart(2, '0')}` }, tags: {}, adopt: false }));
const env: Record<string, string> = {};
for (let i = 0; i < N; i++) env[`APP_${String(i).padStart(2, '0')}`] = `value-${i}-${randomBytes(6).toString('hex')}`;

let session: AzureSession;
/** Each test's own vault (as the fake vault each unit case had), its ARM description and an SDK client. */
let tv: SessionVault;
let vault: VaultInfo;
let client: SecretClient;

const m = (secrets = specs()): Manifest =>
  vaultManifest(
    tv.name,
    secrets,
    [0, 1, 2].map((t) => testTarget(`ns${t}`, `id-sandbox-ns${t}`, { secretProviderClass: `ns${t}-secrets`, objects: secrets.filter((_, i) => i % 3 === t).map((s) => mounted(s.name)) })),
  );
const sync = (mode: 'plan' | 'apply' | 'rotate' = 'apply', man = m()) => syncSecrets(session, vault, man, { mode, env, now: new Date() });

/** A request of the vault in the unit tests' words: LIST, VERSIONS x, GET x, GET deleted x, LIST deleted, SET x, PATCH x, KEY x. */
function call(method: string, path: string): string {
  const [collection, name, rest] = path.split('/').slice(1).map(decodeURIComponent);
  if (collection === 'secrets' && !name) return method === 'GET' ? 'LIST' : `${method} ${path}`;
  if (collection === 'secrets' && rest === 'versions') return `VERSIONS ${name}`;
  if (collection === 'secrets' && method === 'GET') return `GET ${name}`;
  if (collection === 'secrets' && method === 'PUT') return `SET ${name}`;
  if (collection === 'secrets' && method === 'PATCH') return `PATCH ${name}`;
  if (collection === 'deletedsecrets') return name ? `GET deleted ${name}` : 'LIST deleted';
  if (collection === 'keys' && method === 'GET') return `KEY ${name}`;
  return `${method} ${path}`;
}

/** The requests the test's vault served while `op` ran, in order. */
async function callsDuring(op: () => Promise<unknown>): Promise<string[]> {
  const from = await settledMark();
  await op();
  const to = await settledMark();
  return (await requestRecords()).filter((r) => r.seq >= from && r.seq < to && r.service === 'keyvault' && r.vault === tv.name && r.status !== 401).map((r) => call(r.method, r.path));
}

/** Runs `op`, expecting it to fail; the error and the vault's requests meanwhile. */
async function failureOf(op: () => Promise<unknown>): Promise<{ err: unknown; calls: string[] }> {
  let err: unknown;
  const calls = await callsDuring(() =>
    op().then(
      () => {
        throw new Error('expected a failure, the operation succeeded');
      },
      (e: unknown) => void (err = e),
    ),
  );
  return { err, calls };
}

const counts = (calls: string[]) => ({
  list: calls.filter((c) => c === 'LIST').length,
  versions: calls.filter((c) => c.startsWith('VERSIONS')).length,
  gets: calls.filter((c) => c.startsWith('GET ')).length,
  sets: calls.filter((c) => c.startsWith('SET') || c.startsWith('PATCH')).length,
});

const current = async (name: string) => (await client.getSecret(name)).properties;
/** Another version of `name` with the current one's value, tags and content type (`az keyvault secret set` behind the action's back). */
async function rewrite(name: string): Promise<string> {
  const cur = await client.getSecret(name);
  return (await client.setSecret(name, cur.value ?? '', { tags: cur.properties.tags, contentType: cur.properties.contentType })).properties.version!;
}

/** A soft-deleted secret `name` with `tags`. */
async function deleted(name: string, tags: Record<string, string>): Promise<void> {
  await client.setSecret(name, `gone-${randomBytes(6).toString('hex')}`, { tags });
  await (await client.beginDeleteSecret(name)).pollUntilDone();
}

beforeAll(async () => {
  session = await sandboxSession();
});

beforeEach(async () => {
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-req-' });
  vault = await describeVault(session, m());
  client = await dataClient(session, tv);
});

afterEach(async () => {
  await control('DELETE', '/vault/faults', { vault: tv.name }).catch(() => undefined);
  await tv?.remove();
});

describe('syncSecrets with the version index', () => {
  it('a no-op re-run reads LIST pages, the digest key and the index: no lookup per secret, no write', async () => {
    let first!: Awaited<ReturnType<typeof sync>>;
    const firstCalls = await callsDuring(async () => void (first = await sync()));
    expect(first.items.every((i) => i.action === 'create')).toBe(true);
    // the secrets, the digest key, the manifest ledger, the index, and the vault's write lease (taken, released)
    expect(counts(firstCalls).sets).toBe(N + 5);
    let again!: Awaited<ReturnType<typeof sync>>;
    const calls = await callsDuring(async () => void (again = await sync()));
    expect(again.items.every((i) => i.action === 'unchanged')).toBe(true);
    // 62 secrets in pages of 25: 3 pages; GETs: digest key + manifest ledger + index
    expect(counts(calls)).toEqual({ list: 3, versions: 0, gets: 3, sets: 0 });
    for (const s of again.secrets) expect(s.version).toBe((await current(s.name)).version);
    expect(again.secrets.map((s) => s.version)).toEqual(first.secrets.map((s) => s.version));
  });

  it('verify (currentVersions) answers from the index too', async () => {
    await sync();
    let v!: Awaited<ReturnType<typeof currentVersions>>;
    const calls = await callsDuring(async () => void (v = await currentVersions(session, vault, m())));
    expect(counts(calls)).toEqual({ list: 3, versions: 0, gets: 1, sets: 0 });
    for (const s of v) expect(s.version).toBe((await current(s.name)).version);
  });

  it('a version written behind the action’s back (same value and tags, a second later) is looked up, reported, and indexed once', async () => {
    await sync();
    await pastSecondOf(undefined);
    const behind = await rewrite('app-07');
    let r!: Awaited<ReturnType<typeof sync>>;
    const calls = await callsDuring(async () => void (r = await sync()));
    expect(r.items.find((i) => i.name === 'app-07')?.action).toBe('unchanged');
    expect(r.secrets.find((s) => s.name === 'app-07')).toEqual({ name: 'app-07', version: behind, changed: false });
    expect(counts(calls)).toEqual({ list: 3, versions: 1, gets: 3, sets: 1 });
    expect(calls).toContain(`SET ${stateShardName(0, m().instance.key)}`);
    expect(counts(await callsDuring(() => sync()))).toEqual({ list: 3, versions: 0, gets: 3, sets: 0 });
  });

  it('two versions within one second with equal attributes: the current one is read, not guessed', async () => {
    await sync();
    await pastSecondOf(undefined);
    // versions in one second until the current one's id sorts below an older one of that second
    let last = '';
    let tie = false;
    for (let i = 0; i < 50 && !tie; i++) {
      last = await rewrite('app-01');
      const props = await current('app-01');
      const second = Math.floor(props.createdOn!.getTime() / 1000);
      const same: string[] = [];
      for await (const p of client.listPropertiesOfSecretVersions('app-01')) if (Math.floor(p.createdOn!.getTime() / 1000) === second) same.push(p.version!);
      tie = same.some((v) => v > last);
    }
    expect(tie).toBe(true);
    let v!: Awaited<ReturnType<typeof currentVersions>>;
    const calls = await callsDuring(async () => void (v = await currentVersions(session, vault, m())));
    expect(v.find((s) => s.name === 'app-01')?.version).toBe(last);
    expect(calls).toEqual(expect.arrayContaining(['VERSIONS app-01', 'GET app-01']));
  });

  it('plan mode uses the index but never writes it', async () => {
    await sync();
    await pastSecondOf(undefined);
    await rewrite('app-02');
    const calls = await callsDuring(() => sync('plan'));
    expect(counts(calls).sets).toBe(0);
    expect(counts(calls).versions).toBe(1);
  });

  it('a changed value: one new version, its id straight from the write, the index rewritten', async () => {
    await sync();
    const was = env.APP_05;
    env.APP_05 = `changed-${randomBytes(6).toString('hex')}`;
    try {
      let r!: Awaited<ReturnType<typeof sync>>;
      const calls = await callsDuring(async () => void (r = await sync()));
      expect(calls.filter((c) => c.startsWith('SET'))).toEqual([`SET ${LEASE_SECRET}`, 'SET app-05', `SET ${stateShardName(0, m().instance.key)}`]);
      // no lookup per secret: the only versions listing is the write lease's
      expect(calls.filter((c) => c.startsWith('VERSIONS'))).toEqual([`VERSIONS ${LEASE_SECRET}`]);
      expect(r.secrets.find((s) => s.name === 'app-05')).toEqual({ name: 'app-05', version: (await current('app-05')).version, changed: true });
    } finally {
      env.APP_05 = was!;
    }
  });

  it('refuses a manifest secret named like an index shard', async () => {
    await expect(sync('apply', m([...specs(), { name: 'akv-aks-state-2', source: { kind: 'env', env: 'AKV_AKS_STATE_2' }, tags: {}, adopt: false }]))).rejects.toThrow(/akv-aks-state-2 is reserved/);
  });

  it('an index shard the action does not own is neither used nor overwritten', async () => {
    const shard = stateShardName(0, m().instance.key);
    await client.setSecret(shard, 'someone else', { tags: { owner: 'x' } });
    await sync();
    let r!: Awaited<ReturnType<typeof sync>>;
    const calls = await callsDuring(async () => void (r = await sync()));
    expect((await client.getSecret(shard)).value).toBe('someone else');
    expect(counts(calls).versions).toBe(N);
    expect(counts(calls).sets).toBe(0);
    for (const s of r.secrets) expect(s.version).toBe((await current(s.name)).version);
  });
});

describe('looking for soft-deleted secrets on a first sync', () => {
  const OWNED = { [OWNER_TAG]: ACTION_NAME };
  const perName = (calls: string[]): number => calls.filter((c) => c.startsWith('GET deleted ')).length;
  const listed = (calls: string[]): number => calls.filter((c) => c === 'LIST deleted').length;
  const plan = async (man: Manifest): Promise<{ r: Awaited<ReturnType<typeof sync>>; calls: string[] }> => {
    let r!: Awaited<ReturnType<typeof sync>>;
    const calls = await callsDuring(async () => void (r = await sync('plan', man)));
    return { r, calls };
  };

  it('many missing names: the LIST of deleted secrets (pages of 25), no GET per name; a deleted one is recovered', async () => {
    await deleted('app-07', OWNED);
    await deleted('someone-else', {});
    const { r, calls } = await plan(m());
    expect(listed(calls)).toBe(1);
    expect(perName(calls)).toBe(0);
    expect(r.items.find((i) => i.name === 'app-07')?.action).toBe('recover');
    expect(r.items.filter((i) => i.action === 'create')).toHaveLength(N - 1);
  });

  it('few missing names: a GET each, no listing', async () => {
    await sync('apply', m(specs().slice(0, 3)));
    const { calls } = await plan(m(specs().slice(0, 6)));
    expect(perName(calls)).toBe(3);
    expect(listed(calls)).toBe(0);
  });

  it('a listing longer than the GETs it replaces stops there, and the names not seen yet are probed one by one', async () => {
    const few = specs().slice(0, 30);
    // 1,000 deleted secrets that list before app-29 (the vault lists by name), seeded with the throttle off
    // `enabled` is sandbox-wide (world config), not per vault: it is switched back on at once.
    await control('PUT', '/vault/throttle', { vault: tv.name, enabled: false });
    try {
      await mapAll(
        Array.from({ length: 1_000 }, (_, i) => `aa-old-${String(i).padStart(4, '0')}`),
        32,
        (name) => deleted(name, {}),
      );
    } finally {
      await control('PUT', '/vault/throttle', { vault: tv.name, enabled: true });
    }
    await deleted('app-29', OWNED); // last in the listing: not reached within the budget
    const { r, calls } = await plan(m(few));
    expect(listed(calls)).toBe(30);
    expect(perName(calls)).toBe(30);
    expect(r.items.find((i) => i.name === 'app-29')?.action).toBe('recover');
  });

  it('no permission to list deleted secrets (403): probed by name instead', async () => {
    await deleted('app-03', OWNED);
    await control('POST', '/vault/faults', { vault: tv.name, method: 'GET', pathPattern: '^/deletedsecrets\\?', times: 1, effect: { kind: 'status', status: 403 } });
    const { r, calls } = await plan(m());
    expect(listed(calls)).toBe(1);
    expect(perName(calls)).toBe(N);
    expect(r.items.find((i) => i.name === 'app-03')?.action).toBe('recover');
  });
});

describe('existing keys', () => {
  const withKey = (): SecretSpec[] => [...specs().slice(0, 2), { name: 'signing', source: { kind: 'existing', objectType: 'key' }, tags: {}, adopt: false }];
  const keyRequests = (calls: string[]): string[] => calls.filter((c) => c.startsWith('KEY ')).map((c) => c.slice(4));

  /** The deployer may read (and create) keys once its new role has reached the data plane. */
  async function deployerReadsKeys(): Promise<void> {
    await grantDeployer(session, tv.id, 'Key Vault Crypto Officer');
    const reader = objectReader(session.credential, session.cloud, tv.uri);
    await waitFor('the deployer to read keys', async () => (await reader.lookup('keys', 'probe-absent')).state !== 'unreadable', 60_000, 500);
  }

  it('a present key: its current version goes to the gate, with one keys request and no secrets request for it', async () => {
    await deployerReadsKeys();
    const k1 = await createKey(session, tv, 'signing');
    let r!: Awaited<ReturnType<typeof sync>>;
    const calls = await callsDuring(async () => void (r = await sync('apply', m(withKey()))));
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: k1, changed: false });
    expect(keyRequests(calls)).toEqual(['signing']);
    expect(calls.filter((c) => !c.startsWith('KEY ') && c.includes('signing'))).toEqual([]);
    const k2 = await createKey(session, tv, 'signing');
    expect((await currentVersions(session, vault, m(withKey()))).find((s) => s.name === 'signing')?.version).toBe(k2);
  });

  it('a missing key stops apply before any write and fails verify naming it', async () => {
    await deployerReadsKeys();
    const { err, calls } = await failureOf(() => sync('apply', m(withKey())));
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as Error).message).toContain('signing: declared existing key but missing from the vault');
    expect(counts(calls).sets).toBe(0);
    await expect(currentVersions(session, vault, m(withKey()))).rejects.toThrow(`Key Vault ${tv.name} lacks object(s) the manifest declares: app-00, app-01, signing`);
  });

  it('a deployer that may not read keys: unchecked, no version, no failure', async () => {
    const r = await sync('apply', m(withKey()));
    expect(r.items.find((i) => i.name === 'signing')?.reason).toBe('existing key (not checked: the deployer may not read keys, HTTP 403)');
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: undefined, changed: false });
  });

  it('no existing key in the manifest: no keys request', async () => {
    expect(keyRequests(await callsDuring(() => sync()))).toEqual([]);
  });
});

describe('LIST failures', () => {
  it('a LIST page failing past the SDK retries stops the run naming the vault, the page and the answer', async () => {
    await sync();
    await control('POST', '/vault/faults/list-page', { vault: tv.name, op: 'secrets.list', page: 2, status: 500, times: 50 });
    const { err, calls } = await failureOf(() => sync());
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as Error).message).toMatch(new RegExp(`^Key Vault ${tv.name}: listing its secrets failed at page 2 \\(HTTP 500\\): \\S`));
    expect(counts(calls).sets).toBe(0);
    await expect(currentVersions(session, vault, m())).rejects.toThrow(new RegExp(`Key Vault ${tv.name}: listing its secrets failed at page 2`));
  });
});

describe('VaultSyncError carries the planned items', () => {
  it('an unowned secret refused in apply: the error holds the whole plan', async () => {
    await client.setSecret('app-03', 'foreign', { tags: { owner: 'someone-else' } });
    const { err, calls } = await failureOf(() => sync());
    expect(err).toBeInstanceOf(VaultSyncError);
    const e = err as VaultSyncError;
    expect(e.secrets).toEqual(['app-03']);
    expect(e.items).toHaveLength(N);
    expect(e.items.find((i) => i.name === 'app-03')).toMatchObject({ action: 'refuse' });
    expect(e.items.filter((i) => i.action === 'create')).toHaveLength(N - 1);
    expect(counts(calls).sets).toBe(0); // nothing written, not even the new digest key
  });

  it('a missing existing object: the error holds the plan', async () => {
    const err = await sync('apply', m([...specs().slice(0, 2), { name: 'tls', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false }])).catch((e: unknown) => e);
    const e = err as VaultSyncError;
    expect(e).toBeInstanceOf(VaultSyncError);
    expect(e.items.map((i) => `${i.name}:${i.action}`)).toEqual(['app-00:create', 'app-01:create', 'tls:refuse']);
  });

  it('a failure before planning has no items', async () => {
    const err = await syncSecrets(session, vault, m(), { mode: 'apply', env: {}, now: new Date() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as VaultSyncError).items).toEqual([]);
  });

  it('an SDK error during the writes still carries the plan (a VaultSyncError caused by it)', async () => {
    // the digest key is written before planning; the manifest's secrets after it
    await control('POST', '/vault/faults', { vault: tv.name, method: 'PUT', pathPattern: '^/secrets/app-', times: 1_000, effect: { kind: 'status', status: 403 } });
    const err = await sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultSyncError);
    const cause = (err as Error).cause as { statusCode?: number; message?: string };
    expect(cause.statusCode).toBe(403);
    expect((err as Error).message).toBe(cause.message);
    expect((err as VaultSyncError).items).toHaveLength(N);
  });
});
