// Cost follows the manifest, not the vault: a 10-secret manifest in a vault holding 5,000 secrets of
// other manifests. Its first sync lists the vault (nothing recorded yet) and records the vault's
// size in its ledger; its no-op then reads its secrets by name, with no LIST, no value read and no
// write: at most 15 Key Vault requests, counted by the vault's proxy. The ownership rules hold in
// that mode too: prune of a dropped secret, a shared secret kept for its other declarer, conflicting
// values refused. Through the pipeline's own steps and the real SDK against the sandbox.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSession } from '../../../src/auth/login.ts';
import { decodeLedger, ledgerName } from '../../../src/ledger/model.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { mapAll } from '../../../src/util/concurrency.ts';
import { currentVersions, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { ledgerBook } from '../../../src/ledger/store.ts';
import type { VaultInfo } from '../../../src/vault/index.ts';
import { ACTION_NAME as OWNER, OWNER_TAG as TAG_OWNER, TAG_INSTANCE } from '../../../src/names.ts';
import type { RequestRecord } from '../../sandbox/azure/world-api.ts';
import { createTestVault, dataClient, sandboxSession, type SessionVault } from '../../support/session.ts';
import { control, recordMark, vaultStats } from '../../support/sandbox.ts';

jest.setTimeout(600_000);

const OTHERS = 5_000;
const run = randomBytes(3).toString('hex');
const names = Array.from({ length: 10 }, (_, i) => `t${run}-${i}`);
const SHARED = `t${run}-shared`;
const value = (tag: string): string => `${tag}-${randomBytes(9).toString('base64url')}`;
const values = new Map<string, string>([...names, SHARED].map((n) => [n, value(n)]));
const variable = (name: string): string => name.replace(/-/g, '_').toUpperCase();

let tv: SessionVault;
let vault: VaultInfo;
let client: SecretClient;

function manifest(cluster: string, declared: string[], over: Partial<Manifest> = {}): Manifest {
  const spec = (name: string): SecretSpec => ({ name, source: { kind: 'env', env: variable(name) }, tags: {}, adopt: false });
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/small', path: 'akv-aks.yaml', cluster }),
    vault: { name: tv.name, resourceGroup: 'rg-sandbox' },
    cluster: { name: cluster },
    identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope', tags: {} },
    secrets: declared.map(spec),
    // Mounted, so the sync reports their current versions (for the gate).
    targets: [
      {
        namespace: 'small',
        createNamespace: true,
        serviceAccount: 'small-sa',
        identity: { mode: 'managed', name: `id-${cluster}`, resourceGroup: 'rg-ids', location: 'westeurope' },
        access: { scope: 'vault', role: 'Key Vault Secrets User' },
        secretProviderClass: 'small-secrets',
        objects: declared.map((secret) => ({ secret, objectType: 'secret' as const })),
        rotation: 'restart',
      },
    ],
    prune: false,
    purge: false,
    ...over,
  };
}

const M = (declared = names, over: Partial<Manifest> = {}): Manifest => manifest('aks-small', declared, over);
const N = (): Manifest => manifest('aks-other', [SHARED]);
const envOf = (m: Manifest, over: Record<string, string> = {}): Record<string, string> => ({
  ...Object.fromEntries(m.secrets.map((s) => [variable(s.name), values.get(s.name) ?? ''])),
  ...over,
});

/** Each run is its own login session, as separate runner processes are. */
async function sync(m: Manifest, env: Record<string, string>, mode: 'plan' | 'apply' = 'apply') {
  const session: AzureSession = await sandboxSession();
  return syncSecrets(session, vault, m, { mode, env, now: new Date(), leaseTimeoutMs: 240_000 });
}

/** What a sync asked of the vault: the proxy's counters and the request records (this test runs alone). */
async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; requests: number; writes: number; records: RequestRecord[] }> {
  const before = await vaultStats(tv.name);
  const mark = await recordMark();
  const result = await fn();
  const after = await vaultStats(tv.name);
  const { records } = await control<{ records: RequestRecord[] }>('GET', '/stats');
  return { result, requests: after.requests - before.requests, writes: after.writes - before.writes, records: records.filter((r) => r.seq >= mark && r.service === 'keyvault') };
}

const listings = (records: RequestRecord[]): RequestRecord[] => records.filter((r) => r.method === 'GET' && /^\/secrets\/?(\?|$)/.test(r.path));
/** GET /secrets/{name}[/{version}] (a value) of one of the manifest's secrets; `/versions` is metadata. */
const valueReads = (records: RequestRecord[]): string[] =>
  records
    .filter((r) => r.method === 'GET')
    .map((r) => /^\/secrets\/([^/?]+)(?:\/(?!versions\/?(?:\?|$))[^/?]+)?\/?(?:\?|$)/.exec(r.path)?.[1])
    .filter((n): n is string => n !== undefined && values.has(decodeURIComponent(n)));

async function ledgerOf(m: Manifest) {
  return decodeLedger((await client.getSecret(ledgerName(m.instance.key))).value);
}

beforeAll(async () => {
  const session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-cr-' });
  vault = await describeVault(session, M());
  client = await dataClient(session, tv);
  // Other manifests' secrets, seeded fast with the throttle off; the runs below have it on.
  await control('PUT', '/vault/throttle', { vault: tv.name, enabled: false });
  const tags = { [TAG_OWNER]: OWNER, [TAG_INSTANCE]: '0123456789abcdef' };
  await mapAll(
    Array.from({ length: OTHERS }, (_, i) => `other-${String(i).padStart(4, '0')}`),
    32,
    (name) => client.setSecret(name, 'x', { tags }),
  );
  await control('PUT', '/vault/throttle', { vault: tv.name, enabled: true, create: 300, other: 4_000, windowMs: 10_000 });
  await control('POST', '/vault/throttle/reset', { vault: tv.name });
});

afterAll(async () => {
  await tv?.remove();
});

describe(`a 10-secret manifest in a vault holding ${OTHERS} other secrets`, () => {
  it('first sync: lists the vault (no size on record yet) and records its size in the ledger', async () => {
    const m = await measured(() => sync(M(), envOf(M())));
    expect(m.result.items.map((i) => i.action)).toEqual(names.map(() => 'create'));
    expect(listings(m.records).length).toBeGreaterThanOrEqual(OTHERS / 25);
    expect((await ledgerOf(M()))?.vaultSecrets).toBeGreaterThanOrEqual(OTHERS);
  });

  it('no-op: reads its secrets by name, at most 15 Key Vault requests, no LIST, no write, no value read, the versions known', async () => {
    const m = await measured(() => sync(M(), envOf(M())));
    expect(m.result.items.filter((i) => i.action !== 'unchanged')).toEqual([]);
    expect({ requests: m.requests <= 15 ? 'at most 15' : m.requests, writes: m.writes }).toEqual({ requests: 'at most 15', writes: 0 });
    expect(listings(m.records)).toEqual([]);
    expect(valueReads(m.records)).toEqual([]);
    for (const s of m.result.secrets) expect(s.version).toMatch(/^[0-9a-f]{32}$/);
    // The versions it reports are the vault's current ones.
    const current = await client.getSecret(names[3]!);
    expect(m.result.secrets.find((s) => s.name === names[3])?.version).toBe(current.properties.version);
  });

  it('verify: reads the declared secrets by name as the sync does (no LIST, no value read, no write), the versions current', async () => {
    const session: AzureSession = await sandboxSession();
    const m = await measured(() => currentVersions(session, vault, M(), ledgerBook(session, vault, M().instance)));
    expect({ requests: m.requests <= 15 ? 'at most 15' : m.requests, writes: m.writes }).toEqual({ requests: 'at most 15', writes: 0 });
    expect(listings(m.records)).toEqual([]);
    expect(valueReads(m.records)).toEqual([]);
    const current = await client.getSecret(names[5]!);
    expect(m.result.map((s) => s.name)).toEqual(names);
    expect(m.result.find((s) => s.name === names[5])?.version).toBe(current.properties.version);
    // Without a ledger to read it lists, as before the ledger kept the vault's size.
    const listed = await measured(() => currentVersions(session, vault, M()));
    expect(listings(listed.records).length).toBeGreaterThanOrEqual(OTHERS / 25);
    expect(listed.result).toEqual(m.result);
  });

  it('a value changed behind its back is still seen (digest tag) and written, once', async () => {
    const changed = value('new');
    const m = await measured(() => sync(M(), envOf(M(), { [variable(names[1]!)]: changed })));
    expect(m.result.items.filter((i) => i.action !== 'unchanged').map((i) => [i.name, i.action])).toEqual([[names[1], 'update']]);
    expect(listings(m.records)).toEqual([]);
    expect((await client.getSecret(names[1]!)).value).toBe(changed);
    values.set(names[1]!, changed);
  });

  it('a shared secret another manifest wrote: unchanged when equal, refused naming it when the value differs, nothing written', async () => {
    await sync(N(), envOf(N()));
    const withShared = [...names, SHARED];
    const equal = await measured(() => sync(M(withShared), envOf(M(withShared))));
    expect(equal.result.items.find((i) => i.name === SHARED)?.action).toBe('unchanged');
    expect(listings(equal.records)).toEqual([]);
    expect((await ledgerOf(M()))?.secrets).toContain(SHARED.toLowerCase());

    const refused = await measured(() => sync(M(withShared), envOf(M(withShared), { [variable(SHARED)]: value('conflict') }), 'plan'));
    expect(refused.result.items.find((i) => i.name === SHARED)).toMatchObject({ action: 'refuse', reason: expect.stringContaining('conflicting values: contoso/small:akv-aks.yaml @ aks-other') });
    expect(refused.writes).toBe(0);
  });

  it('prune reads the dropped secrets its ledger records: deletes its own, keeps the one still declared elsewhere', async () => {
    const kept = names.slice(1);
    const m = await measured(() => sync(M(kept, { prune: true }), envOf(M(kept))));
    const acted = m.result.items.filter((i) => i.action !== 'unchanged').map((i) => [i.name, i.action, i.reason]);
    expect(acted).toEqual([
      [names[0], 'prune', 'dropped from the manifest: delete (recoverable)'],
      [SHARED, 'keep', expect.stringContaining('still declared by contoso/small:akv-aks.yaml @ aks-other')],
    ]);
    await expect(client.getSecret(names[0]!)).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.getSecret(SHARED)).value).toBe(values.get(SHARED));
    expect((await ledgerOf(M()))?.secrets).toEqual(kept.map((n) => n.toLowerCase()).sort());
  });
});
