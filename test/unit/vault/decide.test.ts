import { describe, expect, it } from '@jest/globals';
import { chooseReads, currentOfVersions, listPages, listShowsMore, namesToRead, vaultSizeRecord } from '../../../src/vault/decide.ts';
import { ACTION_NAME as OWNER, OWNER_TAG as TAG_OWNER, TAG_MANIFEST } from '../../../src/names.ts';
import { ownershipTags } from '../../../src/vault/plan.ts';
import type { LiveSecret } from '../../../src/keyvault/model.ts';
import { manifest, secret } from './fixtures.ts';

const at = (iso: string, version: string): LiveSecret => ({ name: 'db', version, tags: {}, createdOn: new Date(iso) });
const versionOf = (x: ReturnType<typeof currentOfVersions>): string | undefined => (typeof x === 'object' ? x.version : x);
const live = (name: string, tags: Record<string, string>): LiveSecret => ({ name, tags });

describe('how a run reads the vault: LIST or by name, whichever costs fewer requests', () => {
  it('a LIST costs one request per 25 secrets, at least one', () => {
    expect([0, 1, 25, 26, 5_010].map(listPages)).toEqual([1, 1, 1, 2, 201]);
  });

  it('lists when the vault size is unknown (first run, no record), whatever the manifest', () => {
    expect(chooseReads(1, undefined)).toBe('list');
  });

  it('a 10-secret manifest in a vault of 5,010 secrets reads by name; 500 secrets in a vault of 505 list', () => {
    expect(chooseReads(10, 5_010)).toBe('by-name');
    expect(chooseReads(500, 505)).toBe('list');
    // At equal request counts by name wins: a LIST run also reads the version index.
    expect(chooseReads(201, 5_010)).toBe('by-name');
    expect(chooseReads(202, 5_010)).toBe('list');
  });

  it('reads the declared secrets (keys aside) and what the ledger records, reserved names aside', () => {
    const m = manifest({ secrets: [secret('B'), secret('a'), secret('k', { source: { kind: 'existing', objectType: 'key' } })] });
    expect(namesToRead(m, ['dropped', 'a', 'akv-aks-digest-key'])).toEqual(['a', 'b', 'dropped']);
    expect(namesToRead(m, undefined)).toEqual(['a', 'b']);
  });

  it("keeps listing while the LIST shows what reads by name would miss: its own tag unrecorded, or an older release's path tag", () => {
    const m = manifest();
    const mine = { [TAG_OWNER]: OWNER, ...ownershipTags(m.instance) };
    const names = new Set(['a']);
    expect(listShowsMore([live('a', mine), live('other', { [TAG_OWNER]: OWNER, 'akv-aks-instance': '0123456789abcdef' }), live('foreign', {})], names, m.instance)).toBe(false);
    expect(listShowsMore([live('stray', mine)], names, m.instance)).toBe(true);
    expect(listShowsMore([live('legacy', { [TAG_OWNER]: OWNER, [TAG_MANIFEST]: 'akv-aks.yaml' })], names, m.instance)).toBe(true);
    expect(listShowsMore([live('legacy', { [TAG_OWNER]: OWNER, [TAG_MANIFEST]: 'other.yaml' })], names, m.instance)).toBe(false);
  });

  it('records the vault size only while it makes reads by name cheaper, and writes it alone only when the choice changes', () => {
    // First deploy into a crowded vault: record it (the ledger is written anyway).
    expect(vaultSizeRecord({ names: 10, seen: 5_010, stored: undefined, listShowsMore: false })).toEqual({ record: 5_010, rewrite: true });
    // A small vault: nothing to record, nothing to write (the no-op stays write-free).
    expect(vaultSizeRecord({ names: 500, seen: 505, stored: undefined, listShowsMore: false })).toEqual({ record: undefined, rewrite: false });
    // The vault shrank until listing is cheaper again: forget the record.
    expect(vaultSizeRecord({ names: 10, seen: 100, stored: 5_010, listShowsMore: false })).toEqual({ record: undefined, rewrite: true });
    // Same choice with another count: no write of its own.
    expect(vaultSizeRecord({ names: 10, seen: 6_000, stored: 5_010, listShowsMore: false })).toEqual({ record: 6_000, rewrite: false });
    // Strays only a LIST sees: keep listing.
    expect(vaultSizeRecord({ names: 10, seen: 5_010, stored: undefined, listShowsMore: true })).toEqual({ record: undefined, rewrite: false });
  });

  it("a secret's current version is its newest; versions of the newest second leave it undecided", () => {
    expect(currentOfVersions([])).toBeUndefined();
    expect(versionOf(currentOfVersions([at('2026-11-01T00:00:00Z', 'v1'), at('2026-11-02T00:00:00Z', 'v2'), at('2026-11-01T12:00:00Z', 'v3')]))).toBe('v2');
    expect(currentOfVersions([at('2026-11-02T00:00:00Z', 'v1'), at('2026-11-02T00:00:00.400Z', 'v2')])).toBe('undecided');
    expect(versionOf(currentOfVersions([at('2026-11-02T00:00:00Z', 'v1'), at('2026-11-02T00:00:00Z', 'v2'), at('2026-11-03T00:00:00Z', 'v3')]))).toBe('v3');
  });
});
