// The grant ledger's pure rules: canonical form, what counts as added, who else relies on what.
import { describe, expect, it } from '@jest/globals';
import {
  LedgerTooLargeError,
  claimsUnchanged,
  decodeLedger,
  encodeLedger,
  isLedgerName,
  sameLedger,
  ledgerName,
  nextLedger,
  normalizeLedger,
  otherClaims,
  permKey,
  withSecrets,
  withVaultSecrets,
} from '../../../src/ledger/model.ts';
import type { LedgerClaims } from '../../../src/ledger/model.ts';
import { isReservedSecretName } from '../../../src/vault/plan.ts';
import { deflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { MAX_STATE_VALUE_CHARS } from '../../../src/names.ts';

const P = 'AAAAAAAA-0000-0000-0000-000000000001';
const p = P.toLowerCase();
const perms = (secrets: string[], keys: string[] = [], certificates: string[] = []) => ({ secrets, keys, certificates });

function claims(over: Partial<LedgerClaims> = {}): LedgerClaims {
  return { instance: 'kv-app--c1', manifest: 'deploy/akv-aks.yaml', assignments: [], policies: { [P]: perms(['get']) }, addedNow: {}, ...over };
}

describe('ledger names', () => {
  it('one per manifest instance, reserved from manifests', () => {
    expect(ledgerName('kv-app--c1')).toBe('akv-aks-grants-kv-app--c1');
    expect(isLedgerName('akv-aks-grants-kv-app--c1')).toBe(true);
    expect(isLedgerName('AKV-AKS-GRANTS-x')).toBe(true);
    expect(isLedgerName('akv-aks-grant')).toBe(false);
    expect(isReservedSecretName('akv-aks-grants-kv-app--c1')).toBe(true);
    expect(isReservedSecretName('grants')).toBe(false);
  });
});

describe('encode / decode', () => {
  it('round-trips in a canonical form (case, order, duplicates, empty entries)', () => {
    const l = normalizeLedger({
      instance: 'KV-APP--C1',
      manifest: 'a.yaml',
      assignments: ['B', 'a', 'b'],
      policies: { [P]: perms(['get', 'GET']), other: perms([]) },
      added: { [P]: perms(['get']) },
    });
    expect(l).toEqual({ v: 1, instance: 'kv-app--c1', manifest: 'a.yaml', assignments: ['a', 'b'], policies: { [p]: perms(['get']) }, added: { [p]: perms(['get']) } });
    expect(decodeLedger(encodeLedger(l))).toEqual(l);
  });
  it.each([
    ['not json', '{'],
    ['another version', JSON.stringify({ v: 2, instance: 'x' })],
    ['no instance', JSON.stringify({ v: 1 })],
    ['empty', ''],
  ])('ignores %s', (_, text) => {
    expect(decodeLedger(text)).toBeUndefined();
  });
  it('drops malformed parts instead of trusting them', () => {
    const l = decodeLedger(JSON.stringify({ v: 1, instance: 'x', assignments: [1, 'a'], policies: { [P]: { secrets: ['get', 7] } }, added: 'nope' }));
    expect(l).toEqual({ v: 1, instance: 'x', manifest: '', assignments: ['a'], policies: { [p]: perms(['get']) }, added: {} });
  });
});

describe('a large ledger', () => {
  const ledgerOf = (secrets: string[]) => normalizeLedger({ instance: 'kv-big--c1', manifest: 'big.yaml', assignments: [], policies: {}, added: {}, secrets });

  it('5,000 declared secrets: stored deflated within one Key Vault value, read back equal', () => {
    const l = ledgerOf(Array.from({ length: 5_000 }, (_, i) => `payments-db-password-${String(i).padStart(4, '0')}`));
    const text = encodeLedger(l);
    expect(JSON.stringify(l).length).toBeGreaterThan(MAX_STATE_VALUE_CHARS);
    expect(text.startsWith('akv-aks-ledger:v1:')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(MAX_STATE_VALUE_CHARS);
    expect(decodeLedger(text)).toEqual(l);
    expect(sameLedger(decodeLedger(text), l)).toBe(true);
  });

  it('a small ledger stays plain JSON (readable as it was)', () => {
    const text = encodeLedger(ledgerOf(['a', 'b']));
    expect(JSON.parse(text)).toMatchObject({ v: 1, secrets: ['a', 'b'] });
  });

  it('one that does not fit even deflated is refused with the way out, before anything is written', () => {
    const l = ledgerOf(Array.from({ length: 5_000 }, () => randomBytes(12).toString('hex')));
    expect(() => encodeLedger(l)).toThrow(LedgerTooLargeError);
    expect(() => encodeLedger(l)).toThrow(/big\.yaml \(5000 secrets, 0 identities\) needs \d+ characters compressed, more than the 24000 one Key Vault value holds: split the manifest/);
  });

  it('a deflate bomb in a ledger value is not trusted (read as no ledger)', () => {
    const bomb = 'akv-aks-ledger:v1:' + deflateRawSync(Buffer.alloc(8 * 1024 * 1024, 32)).toString('base64');
    expect(bomb.length).toBeLessThan(MAX_STATE_VALUE_CHARS);
    expect(decodeLedger(bomb)).toBeUndefined();
  });
});

describe('the vault-size hint', () => {
  it('survives encoding, the grants step and the secrets record; a bad value or undefined drops it', () => {
    const l = withVaultSecrets(normalizeLedger({ instance: 'k1', manifest: 'a.yaml', assignments: [], policies: {}, added: {} }), 5_010);
    expect(decodeLedger(encodeLedger(l))?.vaultSecrets).toBe(5_010);
    expect(nextLedger(l, { instance: 'k1', manifest: 'a.yaml', assignments: ['ra'], policies: {}, addedNow: {} }).vaultSecrets).toBe(5_010);
    expect(withSecrets(l, 'k1', 'a.yaml', ['db']).vaultSecrets).toBe(5_010);
    expect(withVaultSecrets(l, undefined).vaultSecrets).toBeUndefined();
    expect(decodeLedger(JSON.stringify({ ...l, vaultSecrets: -3 }))?.vaultSecrets).toBeUndefined();
    expect('vaultSecrets' in (decodeLedger(JSON.stringify({ v: 1, instance: 'k1', manifest: '', assignments: [], policies: {}, added: {} })) ?? {})).toBe(false);
  });
});

describe('nextLedger', () => {
  it('first claim: what the run adds is marked added; what was there is not', () => {
    const l = nextLedger(undefined, claims({ policies: { [P]: perms(['get'], ['get']) }, addedNow: { [P]: perms([], ['get']) } }));
    expect(l.policies[p]).toEqual(perms(['get'], ['get']));
    expect(l.added[p]).toEqual(perms([], ['get']));
  });
  it('keeps its earlier marks while still claimed, drops them with the claim', () => {
    const first = nextLedger(undefined, claims({ addedNow: { [P]: perms(['get']) } }));
    expect(nextLedger(first, claims()).added[p]).toEqual(perms(['get']));
    const dropped = nextLedger(first, claims({ policies: {} }));
    expect(dropped.added).toEqual({});
    expect(claimsUnchanged(first, dropped)).toBe(false);
    expect(claimsUnchanged(first, nextLedger(first, claims()))).toBe(true);
  });
  it("inherits another manifest's added mark on what it also claims (so the last one out removes it)", () => {
    const other = nextLedger(undefined, claims({ instance: 'kv-app--c2', addedNow: { [P]: perms(['get']) } }));
    const mine = nextLedger(undefined, claims(), [other]);
    expect(mine.added[p]).toEqual(perms(['get']));
    // Not what it does not claim.
    const keysOnly = nextLedger(undefined, claims({ policies: { [P]: perms([], ['get']) } }), [other]);
    expect(keysOnly.added).toEqual({});
  });
});

describe('otherClaims', () => {
  it("lists other manifests' assignments and permissions, and every added mark including its own", () => {
    const mine = normalizeLedger({ instance: 'kv-app--c1', manifest: 'a.yaml', assignments: ['ra-1'], policies: { [P]: perms(['get']) }, added: { [P]: perms(['get']) } });
    const other = normalizeLedger({ instance: 'kv-app--c2', manifest: 'b.yaml', assignments: ['ra-1', 'ra-2'], policies: { [P]: perms(['get'], ['get']) }, added: {} });
    const c = otherClaims([mine, other], 'KV-APP--C1');
    expect([...c.assignments.entries()]).toEqual([
      ['ra-1', ['b.yaml (kv-app--c2)']],
      ['ra-2', ['b.yaml (kv-app--c2)']],
    ]);
    expect(c.permissions.get(permKey(P, 'secrets', 'GET'))).toEqual(['b.yaml (kv-app--c2)']);
    expect(c.permissions.get(permKey(P, 'keys', 'get'))).toEqual(['b.yaml (kv-app--c2)']);
    expect([...c.added]).toEqual([permKey(P, 'secrets', 'get')]);
  });
});

describe('identity bindings in the ledger', () => {
  const B = '/subscriptions/S/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-a/identityBindings/akvx';
  it('records the bindings an instance relies on, canonical and round-tripping, and names them for the others', () => {
    const mine = nextLedger(undefined, claims({ bindings: [B] }));
    expect(mine.bindings).toEqual([B.toLowerCase()]);
    expect(decodeLedger(encodeLedger(mine))).toEqual(mine);
    expect(claimsUnchanged(mine, nextLedger(mine, claims({ bindings: [B] })))).toBe(true);
    expect(claimsUnchanged(mine, nextLedger(mine, claims({ bindings: [] })))).toBe(false);
    expect(otherClaims([mine], 'someone-else').bindings.get(B.toLowerCase())).toEqual(['deploy/akv-aks.yaml (kv-app--c1)']);
    expect(otherClaims([mine], 'kv-app--c1').bindings.size).toBe(0);
  });
  it('leaves ledgers without bindings as they were (no new field)', () => {
    expect('bindings' in nextLedger(undefined, claims({ bindings: [] }))).toBe(false);
  });
});
