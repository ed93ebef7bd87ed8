// The version index: a value-free record, in the vault, of the version ids the action wrote or looked up,
// so a re-run learns versions from LIST pages plus one read (layout, trust, size: docs/architecture.md#the-version-index).
import { hash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { LiveSecret } from '../keyvault/model.ts';
import { MAX_STATE_INFLATED_BYTES, MAX_STATE_VALUE_CHARS, STATE_SECRET } from '../names.ts';

export const STATE_CONTENT_TYPE = 'application/vnd.akv-aks.version-index';
export const STATE_PREFIX = 'akv-aks-index:v1:';
/** Characters per shard value. */
export const MAX_SHARD_CHARS = MAX_STATE_VALUE_CHARS;
export const MAX_SHARDS = 64;

const LEGACY_SHARD_NAME = /^akv-aks-state(?:-([1-9][0-9]?))?$/i;
const ANY_STATE_NAME = /^akv-aks-state(?:-[0-9a-z-]+)?$/i;

/**
 * A shard's secret name. Each manifest instance keeps its own index (`akv-aks-state-<instance key>`,
 * then `-1`, `-2`...), so concurrent runs of different manifests never overwrite each other's
 * entries; without a key, the vault-wide names of releases before the ownership model.
 */
export function stateShardName(shard: number, instanceKey?: string): string {
  const base = instanceKey ? `${STATE_SECRET}-${instanceKey}` : STATE_SECRET;
  return shard === 0 ? base : `${base}-${shard}`;
}

/** The shard number a secret name stands for in that instance's index (or the legacy one), else undefined. */
export function stateShardOf(name: string, instanceKey?: string): number | undefined {
  const m = instanceKey ? new RegExp(`^${STATE_SECRET}-${instanceKey}(?:-([1-9][0-9]?))?$`, 'i').exec(name) : LEGACY_SHARD_NAME.exec(name);
  if (!m) return undefined;
  const n = m[1] === undefined ? 0 : Number(m[1]);
  return n < MAX_SHARDS ? n : undefined;
}

/** Any version index name, of any instance or release: reserved from manifests. */
export function isStateSecretName(name: string): boolean {
  return ANY_STATE_NAME.test(name);
}

export interface IndexEntry {
  version: string;
  /** The version's `updated` attribute, in whole seconds (Key Vault's resolution). */
  updated: number;
  /** Fingerprint of the other LIST-visible attributes (see attributesFingerprint). */
  fp: string;
}

const seconds = (d: Date | undefined): number | null => (d ? Math.floor(d.getTime() / 1000) : null);

/** A short digest of the LIST-visible attributes of a secret's current version, `updated` aside. */
export function attributesFingerprint(p: Pick<LiveSecret, 'createdOn' | 'enabled' | 'contentType' | 'expiresOn' | 'notBefore' | 'managed' | 'tags'>): string {
  const tags = Object.entries(p.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify([seconds(p.createdOn), p.enabled !== false, p.contentType ?? '', seconds(p.expiresOn), seconds(p.notBefore), p.managed === true, tags]);
  return hash('sha256', canonical, 'base64url').slice(0, 11);
}

/** The index entry describing `p` as version `version` (undefined without an `updated` time). */
export function entryFor(version: string | undefined, p: LiveSecret): IndexEntry | undefined {
  const updated = seconds(p.updatedOn);
  if (!version || updated === null) return undefined;
  return { version, updated, fp: attributesFingerprint(p) };
}

/** True when the entry still describes the secret's current version as LIST shows it. */
export function entryMatches(e: IndexEntry, live: LiveSecret): boolean {
  return e.updated === seconds(live.updatedOn) && e.fp === attributesFingerprint(live);
}

export function encodeShard(shard: number, shards: number, entries: Map<string, IndexEntry>): string {
  const e: Record<string, [string, number, string]> = {};
  for (const name of [...entries.keys()].sort()) {
    const x = entries.get(name) as IndexEntry;
    e[name] = [x.version, x.updated, x.fp];
  }
  return STATE_PREFIX + deflateRawSync(Buffer.from(JSON.stringify({ v: 1, i: shard, n: shards, e }), 'utf8'), { level: 9 }).toString('base64');
}

/** Entries of one shard value; undefined when it is not a readable index (then it is ignored). */
export function decodeShard(value: string | undefined): Map<string, IndexEntry> | undefined {
  if (!value?.startsWith(STATE_PREFIX)) return undefined;
  try {
    const doc = JSON.parse(inflateRawSync(Buffer.from(value.slice(STATE_PREFIX.length), 'base64'), { maxOutputLength: MAX_STATE_INFLATED_BYTES }).toString('utf8')) as { v?: unknown; e?: unknown };
    if (doc.v !== 1 || !doc.e || typeof doc.e !== 'object') return undefined;
    const out = new Map<string, IndexEntry>();
    for (const [name, raw] of Object.entries(doc.e as Record<string, unknown>)) {
      if (!Array.isArray(raw)) continue;
      const [version, updated, fp] = raw as unknown[];
      if (typeof version === 'string' && version && typeof updated === 'number' && typeof fp === 'string') out.set(name.toLowerCase(), { version, updated, fp });
    }
    return out;
  } catch {
    return undefined;
  }
}

function shardOf(name: string, shards: number): number {
  return hash('sha256', name.toLowerCase(), 'buffer').readUInt32BE(0) % shards;
}

function sameEntries(a: Map<string, IndexEntry> | undefined, b: Map<string, IndexEntry>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [k, x] of b) {
    const y = a.get(k);
    if (!y || y.version !== x.version || y.updated !== x.updated || y.fp !== x.fp) return false;
  }
  return true;
}

/**
 * The index as read at the start of a run, plus what the run learns. `lookup` answers only with
 * entries LIST still validates; `shardWrites` gives the shard values to write (none when the index
 * already says everything the run knows: a no-op re-run writes nothing).
 */
export class VersionIndex {
  /** Shards found in the vault (by number): their entries, or undefined when unreadable. */
  readonly shards: Map<number, Map<string, IndexEntry> | undefined>;
  private readonly learned = new Map<string, IndexEntry>();
  private readonly forgotten = new Set<string>();

  /** The manifest instance whose index this is (names its shards); undefined: the legacy names. */
  readonly instanceKey?: string;

  constructor(shards: Map<number, Map<string, IndexEntry> | undefined> = new Map(), instanceKey?: string) {
    this.shards = shards;
    this.instanceKey = instanceKey;
  }

  /** The version id of the secret's current version when an entry still matches its LIST properties. */
  lookup(live: LiveSecret): string | undefined {
    const key = live.name.toLowerCase();
    const mine = this.learned.get(key);
    if (mine && entryMatches(mine, live)) return mine.version;
    for (const s of this.shards.values()) {
      const e = s?.get(key);
      if (e && entryMatches(e, live)) return e.version;
    }
    return undefined;
  }

  /** Records what this run wrote or looked up (replaces what was read). */
  learn(name: string, entry: IndexEntry | undefined): void {
    const key = name.toLowerCase();
    if (!entry) {
      this.forget(name);
      return;
    }
    this.learned.set(key, entry);
    this.forgotten.delete(key);
  }

  /** Drops a secret from the index (deleted by this run, or its version could not be learned). */
  forget(name: string): void {
    this.learned.delete(name.toLowerCase());
    this.forgotten.add(name.toLowerCase());
  }

  /** What the index should say after the run: read entries LIST still validates, then what the run learned. */
  desired(live: Map<string, LiveSecret>): Map<string, IndexEntry> {
    const out = new Map<string, IndexEntry>();
    for (const s of this.shards.values()) {
      for (const [k, e] of s ?? []) {
        const l = live.get(k);
        if (l && !this.forgotten.has(k) && entryMatches(e, l)) out.set(k, e);
      }
    }
    for (const [k, e] of this.learned) out.set(k, e);
    return out;
  }

  /**
   * Shard values to write so the vault holds `desired(live)`: only shards whose entries differ
   * from what was read. Throws when even MAX_SHARDS shards cannot hold it.
   */
  shardWrites(live: Map<string, LiveSecret>, maxChars = MAX_SHARD_CHARS): { shard: number; name: string; value: string }[] {
    const want = this.desired(live);
    const found = [...this.shards.keys()];
    if (!want.size && !found.some((i) => (this.shards.get(i)?.size ?? 1) > 0)) return [];
    for (let n = Math.max(1, ...found.map((i) => i + 1)); n <= MAX_SHARDS; n++) {
      const parts = Array.from({ length: n }, () => new Map<string, IndexEntry>());
      for (const [k, e] of want) parts[shardOf(k, n)]?.set(k, e);
      const values = parts.map((p, i) => encodeShard(i, n, p));
      if (values.some((v) => v.length > maxChars)) continue;
      const out: { shard: number; name: string; value: string }[] = [];
      parts.forEach((p, i) => {
        if (!sameEntries(this.shards.get(i), p)) out.push({ shard: i, name: stateShardName(i, this.instanceKey), value: values[i] as string });
      });
      return out;
    }
    throw new Error(`the version index of ${want.size} secrets does not fit in ${MAX_SHARDS} shards`);
  }
}
