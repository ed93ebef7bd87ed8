// syncSecrets / currentVersions on an in-memory fake of the SecretClient (no server): the version
// index's request counts, its fallback when a secret changes behind the action's back, and the
// planned items carried by VaultSyncError.
import { beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { SecretSpec } from '../../../src/manifest/types.ts';
import { manifest, secret, target } from './fixtures.ts';
import { stateShardName } from '../../../src/vault/versions.ts';
import { ACTION_NAME, OWNER_TAG } from '../../../src/names.ts';
import { LEASE_SECRET } from '../../../src/names.ts';

interface Version {
  version: string;
  value: string;
  tags: Record<string, string>;
  contentType?: string;
  enabled: boolean;
  created: number;
  updated: number;
}

/** The vault's secrets with their versions (last = current), and the calls made. */
class FakeVault {
  secrets = new Map<string, { name: string; versions: Version[] }>();
  /** Soft-deleted secrets by lower-cased name. */
  deleted = new Map<string, { name: string; tags: Record<string, string> }>();
  /** An error the LIST of deleted secrets answers with (e.g. 403), instead of pages. */
  deletedListError?: Error;
  calls: string[] = [];
  clock = 1_795_460_000;

  private props(name: string, v: Version, withVersion: boolean): Record<string, unknown> {
    return {
      name,
      version: withVersion ? v.version : undefined,
      enabled: v.enabled,
      tags: { ...v.tags },
      contentType: v.contentType,
      createdOn: new Date(v.created * 1000),
      updatedOn: new Date(v.updated * 1000),
    };
  }

  private pages<T>(call: string, items: T[]): { byPage: (o: { maxPageSize: number }) => AsyncIterableIterator<T[]> } {
    return {
      byPage: ({ maxPageSize }) => {
        let i = 0;
        let first = true;
        const it = {
          next: async (): Promise<IteratorResult<T[]>> => {
            if (!first && i >= items.length) return { done: true, value: undefined };
            first = false;
            this.calls.push(call);
            const page = items.slice(i, i + maxPageSize);
            i += maxPageSize;
            if (!page.length) return { done: true, value: undefined };
            return { done: false, value: page };
          },
          [Symbol.asyncIterator]() {
            return it;
          },
        };
        return it as AsyncIterableIterator<T[]>;
      },
    };
  }

  private notFound(name: string): Error {
    return Object.assign(new Error(`secret ${name} not found`), { statusCode: 404, code: 'SecretNotFound' });
  }

  put(name: string, value: string, o: { tags?: Record<string, string>; contentType?: string } = {}): Version {
    const key = name.toLowerCase();
    const s = this.secrets.get(key) ?? { name, versions: [] };
    const v: Version = { version: randomBytes(16).toString('hex'), value, tags: { ...(o.tags ?? {}) }, contentType: o.contentType, enabled: true, created: this.clock, updated: this.clock };
    s.versions.push(v);
    this.secrets.set(key, s);
    return v;
  }

  current(name: string): Version | undefined {
    return this.secrets.get(name.toLowerCase())?.versions.at(-1);
  }

  client(): unknown {
    return {
      listPropertiesOfSecrets: () =>
        this.pages(
          'LIST',
          [...this.secrets.values()].map((s) => this.props(s.name, s.versions.at(-1) as Version, false)),
        ),
      listPropertiesOfSecretVersions: (name: string) =>
        this.pages(
          `VERSIONS ${name}`,
          (this.secrets.get(name.toLowerCase())?.versions ?? []).map((v) => this.props(name, v, true)),
        ),
      getSecret: async (name: string) => {
        this.calls.push(`GET ${name}`);
        const s = this.secrets.get(name.toLowerCase());
        const v = s?.versions.at(-1);
        if (!s || !v) throw this.notFound(name);
        return { name: s.name, value: v.value, properties: this.props(s.name, v, true) };
      },
      getDeletedSecret: async (name: string) => {
        this.calls.push(`GET deleted ${name}`);
        const d = this.deleted.get(name.toLowerCase());
        if (!d) throw this.notFound(name);
        return { name: d.name, properties: { name: d.name, tags: { ...d.tags } } };
      },
      listDeletedSecrets: () => {
        const pages = this.pages(
          'LIST deleted',
          [...this.deleted.values()].map((d) => ({ name: d.name, properties: { name: d.name, tags: { ...d.tags } } })),
        );
        const failure = this.deletedListError;
        if (!failure) return pages;
        return {
          byPage: () => ({
            next: async () => {
              this.calls.push('LIST deleted');
              throw failure;
            },
          }),
        };
      },
      setSecret: async (name: string, value: string, o: { tags?: Record<string, string>; contentType?: string }) => {
        this.calls.push(`SET ${name}`);
        const v = this.put(name, value, o);
        return { name, value, properties: this.props(name, v, true) };
      },
      updateSecretProperties: async (name: string, version: string, o: { tags?: Record<string, string>; contentType?: string; enabled?: boolean }) => {
        this.calls.push(`PATCH ${name}`);
        const v = this.secrets.get(name.toLowerCase())?.versions.find((x) => x.version === version);
        if (!v) throw this.notFound(name);
        if (o.tags) v.tags = { ...o.tags };
        if (o.enabled !== undefined) v.enabled = o.enabled;
        if (o.contentType !== undefined) v.contentType = o.contentType;
        v.updated = this.clock;
        return this.props(name, v, true);
      },
    };
  }
}

let fake = new FakeVault();
jest.unstable_mockModule('../../../src/auth/arm.ts', () => ({
  KEYVAULT_API_VERSION: '2025-07-01',
  secretClient: () => fake.client(),
  keyVaultManagementClient: () => {
    throw new Error('not used');
  },
}));
/** The keys API as the fake vault's keys: name -> current version (absent: 404); `keysForbidden`: 403. */
let fakeKeys = new Map<string, string>();
let keysForbidden = false;
const keyRequests: string[] = [];
jest.unstable_mockModule('../../../src/keyvault/objects.ts', () => ({
  objectReader: () => ({
    lookup: async (_collection: string, name: string) => {
      keyRequests.push(name);
      if (keysForbidden) return { state: 'unreadable', status: 403 };
      const v = fakeKeys.get(name);
      return v ? { state: 'found', version: v } : { state: 'missing' };
    },
  }),
}));

let vaultIndex: typeof import('../../../src/vault/index.ts');
beforeAll(async () => {
  vaultIndex = await import('../../../src/vault/index.ts');
});

/** A new login per test: the engine keeps one client per session and vault, and each test has its own fake vault. */
let session = {} as AzureSession;
const vault = { id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv', name: 'kv', uri: 'https://kv.vault.azure.net/', rbac: true, tenantId: 't' };
const N = 60;
const specs = (): SecretSpec[] => Array.from({ length: N }, (_, i) => secret(`app-${String(i).padStart(2, '0')}`));
const env: Record<string, string> = {};
for (let i = 0; i < N; i++) env[`APP_${String(i).padStart(2, '0')}`] = `value-${i}-${randomBytes(6).toString('hex')}`;
const m = (secrets = specs()) =>
  manifest({
    secrets,
    targets: [0, 1, 2].map((t) => target(`ns${t}`, { objects: secrets.filter((_, i) => i % 3 === t).map((s) => ({ secret: s.name, objectType: 'secret' as const })) })),
  });
const sync = (mode: 'plan' | 'apply' | 'rotate' = 'apply', man = m()) => vaultIndex.syncSecrets(session, vault, man, { mode, env, now: new Date() });

const counts = (calls: string[]) => ({
  list: calls.filter((c) => c === 'LIST').length,
  versions: calls.filter((c) => c.startsWith('VERSIONS')).length,
  gets: calls.filter((c) => c.startsWith('GET ')).length,
  sets: calls.filter((c) => c.startsWith('SET') || c.startsWith('PATCH')).length,
});

beforeEach(() => {
  fake = new FakeVault();
  session = {} as AzureSession;
  fakeKeys = new Map();
  keysForbidden = false;
  keyRequests.length = 0;
});

describe('syncSecrets with the version index', () => {
  it('a no-op re-run reads LIST pages, the digest key and the index: no lookup per secret, no write', async () => {
    const first = await sync();
    expect(first.items.every((i) => i.action === 'create')).toBe(true);
    // the secrets, the digest key, the manifest ledger, the index, and the vault's write lease (taken, released)
    expect(counts(fake.calls).sets).toBe(N + 5);
    fake.clock += 5;
    fake.calls = [];
    const again = await sync();
    expect(again.items.every((i) => i.action === 'unchanged')).toBe(true);
    // 62 secrets in pages of 25: 3 pages; GETs: digest key + manifest ledger + index
    expect(counts(fake.calls)).toEqual({ list: 3, versions: 0, gets: 3, sets: 0 });
    for (const s of again.secrets) expect(s.version).toBe(fake.current(s.name)?.version);
    expect(again.secrets.map((s) => s.version)).toEqual(first.secrets.map((s) => s.version));
  });

  it('verify (currentVersions) answers from the index too', async () => {
    await sync();
    fake.calls = [];
    const v = await vaultIndex.currentVersions(session, vault, m());
    expect(counts(fake.calls)).toEqual({ list: 3, versions: 0, gets: 1, sets: 0 });
    for (const s of v) expect(s.version).toBe(fake.current(s.name)?.version);
  });

  it('a version written behind the action’s back (same value and tags, a second later) is looked up, reported, and indexed once', async () => {
    await sync();
    fake.clock += 2;
    const cur = fake.current('app-07') as Version;
    const behind = fake.put('app-07', cur.value, { tags: cur.tags, contentType: cur.contentType });
    fake.calls = [];
    const r = await sync();
    expect(r.items.find((i) => i.name === 'app-07')?.action).toBe('unchanged');
    expect(r.secrets.find((s) => s.name === 'app-07')).toEqual({ name: 'app-07', version: behind.version, changed: false });
    expect(counts(fake.calls)).toEqual({ list: 3, versions: 1, gets: 3, sets: 1 });
    expect(fake.calls).toContain(`SET ${stateShardName(0, m().instance.key)}`);
    fake.calls = [];
    await sync();
    expect(counts(fake.calls)).toEqual({ list: 3, versions: 0, gets: 3, sets: 0 });
  });

  it('two versions within one second with equal attributes: the current one is read, not guessed', async () => {
    await sync();
    fake.clock += 2;
    const cur = fake.current('app-01') as Version;
    let last = cur;
    let tie = false;
    // versions in one second until the current one's id sorts below an older one of that second
    for (let i = 0; i < 50 && !tie; i++) {
      last = fake.put('app-01', cur.value, { tags: cur.tags });
      const same = fake.secrets.get('app-01')?.versions.filter((v) => v.created === fake.clock) ?? [];
      tie = same.some((v) => v.version > last.version);
    }
    expect(tie).toBe(true);
    fake.calls = [];
    const v = await vaultIndex.currentVersions(session, vault, m());
    expect(v.find((s) => s.name === 'app-01')?.version).toBe(last.version);
    expect(fake.calls).toEqual(expect.arrayContaining(['VERSIONS app-01', 'GET app-01']));
  });

  it('plan mode uses the index but never writes it', async () => {
    await sync();
    fake.clock += 2;
    const cur = fake.current('app-02') as Version;
    fake.put('app-02', cur.value, { tags: cur.tags });
    fake.calls = [];
    await sync('plan');
    expect(counts(fake.calls).sets).toBe(0);
    expect(counts(fake.calls).versions).toBe(1);
  });

  it('a changed value: one new version, its id straight from the write, the index rewritten', async () => {
    await sync();
    env.APP_05 = `changed-${randomBytes(6).toString('hex')}`;
    fake.clock += 2;
    fake.calls = [];
    const r = await sync();
    expect(fake.calls.filter((c) => c.startsWith('SET'))).toEqual([`SET ${LEASE_SECRET}`, 'SET app-05', `SET ${stateShardName(0, m().instance.key)}`]);
    // no lookup per secret: the only versions listing is the write lease's
    expect(fake.calls.filter((c) => c.startsWith('VERSIONS'))).toEqual([`VERSIONS ${LEASE_SECRET}`]);
    expect(r.secrets.find((s) => s.name === 'app-05')).toEqual({ name: 'app-05', version: fake.current('app-05')?.version, changed: true });
  });

  it('refuses a manifest secret named like an index shard', async () => {
    await expect(sync('apply', m([...specs(), secret('akv-aks-state-2')]))).rejects.toThrow(/akv-aks-state-2 is reserved/);
  });

  it('an index shard the action does not own is neither used nor overwritten', async () => {
    const shard = stateShardName(0, m().instance.key);
    fake.put(shard, 'someone else', { tags: { owner: 'x' } });
    await sync();
    fake.calls = [];
    const r = await sync();
    expect(fake.current(shard)?.value).toBe('someone else');
    expect(counts(fake.calls).versions).toBe(N);
    expect(counts(fake.calls).sets).toBe(0);
    for (const s of r.secrets) expect(s.version).toBe(fake.current(s.name)?.version);
  });
});

describe('looking for soft-deleted secrets on a first sync', () => {
  const OWNED = { [OWNER_TAG]: ACTION_NAME };
  const perName = (calls: string[]): number => calls.filter((c) => c.startsWith('GET deleted ')).length;
  const listed = (calls: string[]): number => calls.filter((c) => c === 'LIST deleted').length;

  it('many missing names: the LIST of deleted secrets (pages of 25), no GET per name; a deleted one is recovered', async () => {
    fake.deleted.set('app-07', { name: 'app-07', tags: OWNED });
    fake.deleted.set('someone-else', { name: 'someone-else', tags: {} });
    const r = await vaultIndex.syncSecrets(session, vault, m(), { mode: 'plan', env, now: new Date() });
    expect(listed(fake.calls)).toBe(1);
    expect(perName(fake.calls)).toBe(0);
    expect(r.items.find((i) => i.name === 'app-07')?.action).toBe('recover');
    expect(r.items.filter((i) => i.action === 'create')).toHaveLength(N - 1);
  });

  it('few missing names: a GET each, no listing', async () => {
    await sync('apply', m(specs().slice(0, 3)));
    fake.calls = [];
    await vaultIndex.syncSecrets(session, vault, m(specs().slice(0, 6)), { mode: 'plan', env, now: new Date() });
    expect(perName(fake.calls)).toBe(3);
    expect(listed(fake.calls)).toBe(0);
  });

  it('a listing longer than the GETs it replaces stops there, and the names not seen yet are probed one by one', async () => {
    const few = specs().slice(0, 30);
    for (let i = 0; i < 1_000; i++) fake.deleted.set(`old-${i}`, { name: `old-${i}`, tags: {} });
    fake.deleted.set('app-29', { name: 'app-29', tags: OWNED }); // last in the listing: not reached within the budget
    const r = await vaultIndex.syncSecrets(session, vault, m(few), { mode: 'plan', env, now: new Date() });
    expect(listed(fake.calls)).toBe(30);
    expect(perName(fake.calls)).toBe(30);
    expect(r.items.find((i) => i.name === 'app-29')?.action).toBe('recover');
  });

  it('no permission to list deleted secrets (403): probed by name instead', async () => {
    fake.deletedListError = Object.assign(new Error('Forbidden'), { statusCode: 403, code: 'Forbidden' });
    fake.deleted.set('app-03', { name: 'app-03', tags: OWNED });
    const r = await vaultIndex.syncSecrets(session, vault, m(), { mode: 'plan', env, now: new Date() });
    expect(listed(fake.calls)).toBe(1);
    expect(perName(fake.calls)).toBe(N);
    expect(r.items.find((i) => i.name === 'app-03')?.action).toBe('recover');
  });
});

describe('existing keys', () => {
  const withKey = (): SecretSpec[] => [...specs().slice(0, 2), { name: 'signing', source: { kind: 'existing', objectType: 'key' }, tags: {}, adopt: false }];

  it('a present key: its current version goes to the gate, with one keys request and no secrets request for it', async () => {
    fakeKeys.set('signing', 'k1');
    const r = await sync('apply', m(withKey()));
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: 'k1', changed: false });
    expect(keyRequests).toEqual(['signing']);
    expect(fake.calls.filter((c) => c.includes('signing'))).toEqual([]);
    fakeKeys.set('signing', 'k2');
    expect((await vaultIndex.currentVersions(session, vault, m(withKey()))).find((s) => s.name === 'signing')?.version).toBe('k2');
  });

  it('a missing key stops apply before any write and fails verify naming it', async () => {
    const err = await sync('apply', m(withKey())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(vaultIndex.VaultSyncError);
    expect((err as Error).message).toContain('signing: declared existing key but missing from the vault');
    expect(counts(fake.calls).sets).toBe(0);
    await expect(vaultIndex.currentVersions(session, vault, m(withKey()))).rejects.toThrow('Key Vault kv lacks object(s) the manifest declares: app-00, app-01, signing');
  });

  it('a deployer that may not read keys: unchecked, no version, no failure', async () => {
    keysForbidden = true;
    const r = await sync('apply', m(withKey()));
    expect(r.items.find((i) => i.name === 'signing')?.reason).toBe('existing key (not checked: the deployer may not read keys, HTTP 403)');
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: undefined, changed: false });
  });

  it('no existing key in the manifest: no keys request', async () => {
    await sync();
    expect(keyRequests).toEqual([]);
  });
});

describe('LIST failures', () => {
  it('a LIST page failing past the SDK retries stops the run naming the vault, the page and the answer', async () => {
    await sync();
    const c = fake.client() as Record<string, unknown>;
    const list = c.listPropertiesOfSecrets as () => { byPage: (o: { maxPageSize: number }) => AsyncIterableIterator<unknown[]> };
    c.listPropertiesOfSecrets = () => ({
      byPage: (o: { maxPageSize: number }) => {
        const it = list().byPage(o);
        let n = 0;
        return {
          next: async () => {
            if (++n === 2) throw Object.assign(new Error('Pagination failed with unexpected statusCode 500'), { statusCode: 500 });
            return it.next();
          },
        };
      },
    });
    fake.client = () => c;
    session = {} as AzureSession; // a new run: its client is the failing one
    fake.calls = [];
    const err = await sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(vaultIndex.VaultSyncError);
    expect((err as Error).message).toBe('Key Vault kv: listing its secrets failed at page 2 (HTTP 500): Pagination failed with unexpected statusCode 500');
    expect(counts(fake.calls).sets).toBe(0);
    await expect(vaultIndex.currentVersions(session, vault, m())).rejects.toThrow(/Key Vault kv: listing its secrets failed at page 2/);
  });
});

describe('VaultSyncError carries the planned items', () => {
  it('an unowned secret refused in apply: the error holds the whole plan', async () => {
    fake.put('app-03', 'foreign', { tags: { owner: 'someone-else' } });
    const err = await sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(vaultIndex.VaultSyncError);
    const e = err as InstanceType<typeof vaultIndex.VaultSyncError>;
    expect(e.secrets).toEqual(['app-03']);
    expect(e.items).toHaveLength(N);
    expect(e.items.find((i) => i.name === 'app-03')).toMatchObject({ action: 'refuse' });
    expect(e.items.filter((i) => i.action === 'create')).toHaveLength(N - 1);
    expect(counts(fake.calls).sets).toBe(0); // nothing written, not even the new digest key
  });

  it('a missing existing object: the error holds the plan', async () => {
    const err = await sync('apply', m([...specs().slice(0, 2), { name: 'tls', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false }])).catch((e: unknown) => e);
    const e = err as InstanceType<typeof vaultIndex.VaultSyncError>;
    expect(e).toBeInstanceOf(vaultIndex.VaultSyncError);
    expect(e.items.map((i) => `${i.name}:${i.action}`)).toEqual(['app-00:create', 'app-01:create', 'tls:refuse']);
  });

  it('a failure before planning has no items', async () => {
    const err = await vaultIndex.syncSecrets(session, vault, m(), { mode: 'apply', env: {}, now: new Date() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(vaultIndex.VaultSyncError);
    expect((err as InstanceType<typeof vaultIndex.VaultSyncError>).items).toEqual([]);
  });

  it('an SDK error during the writes still carries the plan (a VaultSyncError caused by it)', async () => {
    const c = fake.client() as Record<string, unknown>;
    const failing = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    const set = c.setSecret as (name: string, ...rest: unknown[]) => Promise<unknown>;
    // the digest key is written before planning; the manifest's secrets after it
    c.setSecret = async (name: string, ...rest: unknown[]) => {
      if (name === 'akv-aks-digest-key') return set(name, ...rest);
      throw failing;
    };
    fake.client = () => c;
    const err = await sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(vaultIndex.VaultSyncError);
    expect((err as Error).cause).toBe(failing);
    expect((err as Error).message).toBe('Forbidden');
    expect((err as InstanceType<typeof vaultIndex.VaultSyncError>).items).toHaveLength(N);
  });
});
