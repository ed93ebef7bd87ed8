import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { isReservedSecretName } from '../../../src/vault/plan.ts';
import { MAX_SHARD_CHARS, STATE_PREFIX, VersionIndex, attributesFingerprint, decodeShard, encodeShard, entryFor, entryMatches, stateShardName, stateShardOf } from '../../../src/vault/versions.ts';
import type { IndexEntry } from '../../../src/vault/versions.ts';
import { ACTION_NAME, OWNER_TAG } from '../../../src/names.ts';
import type { LiveSecret } from '../../../src/keyvault/model.ts';

const T0 = new Date('2026-11-23T12:00:00Z');
const version = (): string => randomBytes(16).toString('hex');

function live(name: string, over: Partial<LiveSecret> = {}): LiveSecret {
  return { name, enabled: true, tags: { [OWNER_TAG]: ACTION_NAME, team: 'payments' }, contentType: 'text/plain', createdOn: T0, updatedOn: T0, ...over };
}

function liveMap(list: LiveSecret[]): Map<string, LiveSecret> {
  return new Map(list.map((l) => [l.name.toLowerCase(), l]));
}

/** An index as a later run reads it back from the shard values an earlier run wrote. */
function readBack(writes: { shard: number; value: string }[], before?: VersionIndex): VersionIndex {
  const shards = new Map<number, Map<string, IndexEntry> | undefined>(before ? [...before.shards] : []);
  for (const w of writes) shards.set(w.shard, decodeShard(w.value));
  return new VersionIndex(shards);
}

describe('version index shard names', () => {
  it('reserves akv-aks-state and its numbered shards, and the digest key', () => {
    expect(stateShardName(0)).toBe('akv-aks-state');
    expect(stateShardName(3)).toBe('akv-aks-state-3');
    expect(stateShardOf('akv-aks-state')).toBe(0);
    expect(stateShardOf('AKV-AKS-STATE-12')).toBe(12);
    expect(stateShardOf('akv-aks-state-0')).toBeUndefined();
    expect(stateShardOf('akv-aks-state-x')).toBeUndefined();
    expect(stateShardOf('my-akv-aks-state')).toBeUndefined();
    expect(isReservedSecretName('akv-aks-state-1')).toBe(true);
    // Per manifest instance since the ownership model: `akv-aks-state-<key>`, then `-<n>`.
    expect(stateShardName(0, '0123456789abcdef')).toBe('akv-aks-state-0123456789abcdef');
    expect(stateShardName(2, '0123456789abcdef')).toBe('akv-aks-state-0123456789abcdef-2');
    expect(stateShardOf('akv-aks-state-0123456789abcdef-2', '0123456789abcdef')).toBe(2);
    expect(stateShardOf('akv-aks-state-0123456789abcdef', 'fedcba9876543210')).toBeUndefined();
    expect(stateShardOf('akv-aks-state', '0123456789abcdef')).toBeUndefined();
    expect(isReservedSecretName('akv-aks-state-0123456789abcdef-2')).toBe(true);
    expect(isReservedSecretName('akv-aks-digest-key')).toBe(true);
    expect(isReservedSecretName('db-password')).toBe(false);
  });
});

describe('entries are trusted only while LIST still shows the same version', () => {
  const v = version();
  const base = live('db-password');
  const e = entryFor(v, base) as IndexEntry;

  it('matches the unchanged LIST properties', () => {
    expect(e).toEqual({ version: v, updated: Math.floor(T0.getTime() / 1000), fp: expect.any(String) });
    expect(entryMatches(e, live('db-password'))).toBe(true);
  });

  it('a newer version or a properties update (updated moves) invalidates it', () => {
    expect(entryMatches(e, live('db-password', { updatedOn: new Date(T0.getTime() + 1_000), createdOn: new Date(T0.getTime() + 1_000) }))).toBe(false);
    expect(entryMatches(e, live('db-password', { updatedOn: new Date(T0.getTime() + 5_000) }))).toBe(false);
  });

  it('a write within the same second with other tags, content type or state invalidates it', () => {
    expect(entryMatches(e, live('db-password', { tags: { [OWNER_TAG]: ACTION_NAME, team: 'other' } }))).toBe(false);
    expect(entryMatches(e, live('db-password', { tags: {} }))).toBe(false);
    expect(entryMatches(e, live('db-password', { contentType: undefined }))).toBe(false);
    expect(entryMatches(e, live('db-password', { enabled: false }))).toBe(false);
    expect(entryMatches(e, live('db-password', { expiresOn: new Date('2027-01-01T00:00:00Z') }))).toBe(false);
  });

  it('ignores sub-second parts and tag order (Key Vault times have whole seconds)', () => {
    expect(entryMatches(e, live('db-password', { updatedOn: new Date(T0.getTime() + 400), tags: { team: 'payments', [OWNER_TAG]: ACTION_NAME } }))).toBe(true);
    expect(attributesFingerprint({ tags: { a: '1', b: '2' } })).toBe(attributesFingerprint({ tags: { b: '2', a: '1' } }));
  });

  it('needs an updated time and a version', () => {
    expect(entryFor(v, live('x', { updatedOn: undefined }))).toBeUndefined();
    expect(entryFor(undefined, live('x'))).toBeUndefined();
  });
});

describe('shard encoding', () => {
  it('round-trips, carries no names beyond the entries, and rejects foreign values', () => {
    const entries = new Map<string, IndexEntry>([
      ['a', { version: version(), updated: 1, fp: 'f1' }],
      ['b', { version: version(), updated: 2, fp: 'f2' }],
    ]);
    const value = encodeShard(0, 1, entries);
    expect(value.startsWith(STATE_PREFIX)).toBe(true);
    expect(decodeShard(value)).toEqual(entries);
    expect(decodeShard('plain text')).toBeUndefined();
    expect(decodeShard(`${STATE_PREFIX}not-deflate`)).toBeUndefined();
    expect(decodeShard(undefined)).toBeUndefined();
  });

  it('fits 500 secrets in one 24,000-character shard and shards beyond (how many fit is measured here)', () => {
    const entries = new Map<string, IndexEntry>();
    for (let i = 0; i < 500; i++) entries.set(`bench-s-${String(i).padStart(4, '0')}`, { version: version(), updated: 1795460000 + (i % 7), fp: randomBytes(8).toString('base64url').slice(0, 11) });
    const one = encodeShard(0, 1, entries);
    expect(one.length).toBeLessThan(MAX_SHARD_CHARS);
    // about 45 characters per entry: random version ids and fingerprints do not compress
    expect(one.length / entries.size).toBeLessThan(48);

    const many = new Map<string, LiveSecret>();
    const idx = new VersionIndex();
    for (let i = 0; i < 1_500; i++) {
      const l = live(`app-secret-${i}`);
      many.set(l.name, l);
      idx.learn(l.name, entryFor(version(), l));
    }
    const writes = idx.shardWrites(many);
    expect(writes.length).toBeGreaterThan(1);
    for (const w of writes) expect(w.value.length).toBeLessThanOrEqual(MAX_SHARD_CHARS);
    const back = readBack(writes);
    for (const l of many.values()) expect(back.lookup(l)).toBe(idx.lookup(l));
    expect(back.shardWrites(many)).toEqual([]);
  });
});

describe('VersionIndex', () => {
  const a = live('a');
  const b = live('b');
  const va = version();
  const vb = version();

  it('learns from this run, writes once, then a no-op re-run writes nothing', () => {
    const first = new VersionIndex();
    first.learn('a', entryFor(va, a));
    first.learn('b', entryFor(vb, b));
    const writes = first.shardWrites(liveMap([a, b]));
    expect(writes.map((w) => w.name)).toEqual(['akv-aks-state']);
    const second = readBack(writes);
    expect(second.lookup(live('a'))).toBe(va);
    expect(second.lookup(live('b'))).toBe(vb);
    expect(second.shardWrites(liveMap([a, b]))).toEqual([]);
  });

  it('a secret changed behind its back is not answered from the index, and the lookup result replaces it', () => {
    const idx = new VersionIndex();
    idx.learn('a', entryFor(va, a));
    idx.learn('b', entryFor(vb, b));
    const read = readBack(idx.shardWrites(liveMap([a, b])));
    const a2 = live('a', { createdOn: new Date(T0.getTime() + 60_000), updatedOn: new Date(T0.getTime() + 60_000), tags: {} });
    expect(read.lookup(a2)).toBeUndefined();
    expect(read.lookup(b)).toBe(vb);
    const va2 = version();
    read.learn('a', entryFor(va2, a2));
    const writes = read.shardWrites(liveMap([a2, b]));
    expect(writes).toHaveLength(1);
    const again = readBack(writes);
    expect(again.lookup(a2)).toBe(va2);
    expect(again.lookup(b)).toBe(vb);
  });

  it('drops entries of deleted or forgotten secrets, and keeps other manifests’ valid entries', () => {
    const other = live('other-team-secret');
    const vo = version();
    const idx = new VersionIndex();
    idx.learn('a', entryFor(va, a));
    idx.learn('b', entryFor(vb, b));
    idx.learn(other.name, entryFor(vo, other));
    const read = readBack(idx.shardWrites(liveMap([a, b, other])));
    read.forget('b');
    // `a` is gone from the vault (deleted elsewhere)
    const next = readBack(read.shardWrites(liveMap([b, other])));
    expect(next.lookup(a)).toBeUndefined();
    expect(next.lookup(b)).toBeUndefined();
    expect(next.lookup(other)).toBe(vo);
  });

  it('ignores an unreadable shard and rewrites it', () => {
    const idx = new VersionIndex(new Map([[0, undefined]]));
    expect(idx.lookup(a)).toBeUndefined();
    idx.learn('a', entryFor(va, a));
    const writes = idx.shardWrites(liveMap([a]));
    expect(writes.map((w) => w.shard)).toEqual([0]);
    expect(readBack(writes).lookup(a)).toBe(va);
  });

  it('two shards that disagree (an interrupted resharding) still answer with the entry LIST validates', () => {
    const a2 = live('a', { updatedOn: new Date(T0.getTime() + 2_000) });
    const va2 = version();
    const s0 = new Map([['a', entryFor(va, a) as IndexEntry]]);
    const s1 = new Map([['a', entryFor(va2, a2) as IndexEntry]]);
    const idx = new VersionIndex(
      new Map([
        [0, s0],
        [1, s1],
      ]),
    );
    expect(idx.lookup(a2)).toBe(va2);
    expect(idx.lookup(a)).toBe(va);
  });

  it('writes nothing when there is nothing to index and no index exists', () => {
    expect(new VersionIndex().shardWrites(liveMap([a]))).toEqual([]);
  });
});
