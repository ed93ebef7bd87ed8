import { describe, expect, it } from '@jest/globals';
import { ownershipTags, planSecrets, secretsNeedingValueRead } from '../../../src/vault/plan.ts';
import type { PlanInput, VaultState } from '../../../src/vault/plan.ts';
import { manifest, secret } from './fixtures.ts';
import { ACTION_NAME, OWNER_TAG } from '../../../src/names.ts';
import type { LiveSecret } from '../../../src/keyvault/model.ts';
import { DIGEST_KEY_SECRET, TAG_DIGEST, TAG_INSTANCE, TAG_MANIFEST } from '../../../src/names.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
/** Another manifest instance's key. */
const OTHER = '0123456789abcdef';
const owned = (name: string, extra: Record<string, string> = {}, over: Partial<LiveSecret> = {}): LiveSecret => ({
  name,
  enabled: true,
  tags: { [OWNER_TAG]: ACTION_NAME, ...ownershipTags(manifest().instance), ...extra },
  createdOn: new Date('2026-11-01T00:00:00Z'),
  ...over,
});

function state(live: LiveSecret[] = [], deleted: { name: string; tags: Record<string, string> }[] = []): VaultState {
  return { live: new Map(live.map((l) => [l.name.toLowerCase(), l])), deleted: new Map(deleted.map((d) => [d.name.toLowerCase(), d])) };
}

function input(over: Partial<PlanInput>): PlanInput {
  return {
    manifest: manifest(),
    state: state(),
    mode: 'apply',
    now: NOW,
    commit: 'abc123',
    digest: (n) => `d:${n}`,
    valueEquals: () => undefined,
    ...over,
  };
}

const actions = (p: ReturnType<typeof planSecrets>): string[] => p.secrets.map((s) => `${s.name}:${s.item.action}`);

describe('planSecrets', () => {
  it('creates missing secrets with ownership, digest, source and commit tags', () => {
    const p = planSecrets(input({ manifest: manifest({ secrets: [secret('db-password', { contentType: 'text/plain', tags: { team: 'pay' } })] }) }));
    expect(actions(p)).toEqual(['db-password:create']);
    const op = p.secrets[0]?.op;
    expect(op?.kind).toBe('set');
    if (op?.kind !== 'set') throw new Error('expected set');
    expect(op.recover).toBe(false);
    expect(op.properties.tags).toMatchObject({
      [OWNER_TAG]: ACTION_NAME,
      [TAG_INSTANCE]: manifest().instance.key,
      [TAG_MANIFEST]: 'contoso/tests:akv-aks.yaml',
      'akv-aks-cluster': 'sandbox',
      'akv-aks-commit': 'abc123',
      'akv-aks-repository': 'contoso/tests',
      team: 'pay',
      [TAG_DIGEST]: 'd:db-password',
    });
    expect(op.properties.contentType).toBe('text/plain');
  });

  it('leaves a secret whose digest tag matches alone (no value read needed)', () => {
    const m = manifest({ secrets: [secret('db-password')] });
    const st = state([owned('db-password', { [TAG_DIGEST]: 'd:db-password', 'akv-aks-source': 'env' })]);
    expect(secretsNeedingValueRead(m, st, (n) => `d:${n}`)).toEqual([]);
    const p = planSecrets(input({ manifest: m, state: st }));
    expect(actions(p)).toEqual(['db-password:unchanged']);
    expect(p.secrets[0]?.op.kind).toBe('none');
  });

  it('ignores a different commit tag on an unchanged secret', () => {
    const m = manifest({ secrets: [secret('a')] });
    const st = state([owned('a', { [TAG_DIGEST]: 'd:a', 'akv-aks-source': 'env', 'akv-aks-commit': 'old' })]);
    expect(actions(planSecrets(input({ manifest: m, state: st })))).toEqual(['a:unchanged']);
  });

  it('writes a new version when the compared value differs, and only tags when it is equal', () => {
    const m = manifest({ secrets: [secret('a'), secret('b')] });
    const st = state([owned('a', { 'akv-aks-source': 'env' }), owned('b', { 'akv-aks-source': 'env' })]);
    expect(secretsNeedingValueRead(m, st, (n) => `d:${n}`)).toEqual(['a', 'b']);
    const p = planSecrets(input({ manifest: m, state: st, valueEquals: (n) => n === 'b' }));
    expect(p.secrets.map((s) => [s.name, s.item.action, s.op.kind, s.item.reason])).toEqual([
      ['a', 'update', 'set', 'value changed'],
      ['b', 'update', 'properties', 'properties changed: digest tag'],
    ]);
  });

  it('refuses an existing secret it does not own unless adopt is set', () => {
    const foreign: LiveSecret = { name: 'api-key', enabled: true, tags: { owner: 'someone' } };
    const refused = planSecrets(input({ manifest: manifest({ secrets: [secret('api-key')] }), state: state([foreign]) }));
    expect(actions(refused)).toEqual(['api-key:refuse']);
    expect(refused.secrets[0]?.item.reason).toMatch(/adopt: true/);
    expect(secretsNeedingValueRead(manifest({ secrets: [secret('api-key')] }), state([foreign]), () => 'x')).toEqual([]);

    const adopted = planSecrets(input({ manifest: manifest({ secrets: [secret('api-key', { adopt: true })] }), state: state([foreign]), valueEquals: () => true }));
    expect(actions(adopted)).toEqual(['api-key:adopt']);
    const op = adopted.secrets[0]?.op;
    if (op?.kind !== 'properties') throw new Error('expected a properties update');
    expect(op.properties.tags).toMatchObject({ owner: 'someone', [OWNER_TAG]: ACTION_NAME, [TAG_MANIFEST]: 'contoso/tests:akv-aks.yaml', [TAG_INSTANCE]: manifest().instance.key });
  });

  it('recovers a soft-deleted secret it owned, refuses one it did not', () => {
    const m = manifest({ secrets: [secret('old'), secret('theirs')] });
    const p = planSecrets(
      input({
        manifest: m,
        state: state(
          [],
          [
            { name: 'old', tags: { [OWNER_TAG]: ACTION_NAME } },
            { name: 'theirs', tags: {} },
          ],
        ),
      }),
    );
    expect(actions(p)).toEqual(['old:recover', 'theirs:refuse']);
    const op = p.secrets[0]?.op;
    expect(op?.kind === 'set' && op.recover).toBe(true);
  });

  it('recovers without a new version when the recovered value is already the wanted one', () => {
    const m = manifest({
      secrets: [secret('same'), secret('changed'), secret('gen', { source: { kind: 'generate', length: 32, charset: 'alphanumeric' } })],
    });
    const deleted: { name: string; tags: Record<string, string> }[] = [
      { name: 'same', tags: { [OWNER_TAG]: ACTION_NAME, [TAG_DIGEST]: 'd:same' } },
      { name: 'changed', tags: { [OWNER_TAG]: ACTION_NAME, [TAG_DIGEST]: 'd:an-older-value' } },
      { name: 'gen', tags: { [OWNER_TAG]: ACTION_NAME } },
    ];
    const p = planSecrets(input({ manifest: m, state: state([], deleted) }));
    expect(actions(p)).toEqual(['same:recover', 'changed:recover', 'gen:recover']);
    expect(p.secrets.map((x) => (x.op.kind === 'set' ? `set+recover=${x.op.recover}` : x.op.kind))).toEqual(['recover', 'set+recover=true', 'recover']);
    expect(p.secrets[0]?.item.reason).toBe('soft-deleted: recover (value unchanged)');
  });

  it('matches names case-insensitively', () => {
    const p = planSecrets(input({ manifest: manifest({ secrets: [secret('Db-Pass')] }), state: state([owned('db-pass', { [TAG_DIGEST]: 'd:Db-Pass', 'akv-aks-source': 'env' })]) }));
    expect(actions(p)).toEqual(['Db-Pass:unchanged']);
  });

  it("keeps dropped secrets unless prune, never the digest key nor another manifest's secrets", () => {
    const live = [owned('gone'), owned(DIGEST_KEY_SECRET), owned('other', { [TAG_INSTANCE]: OTHER }), { name: 'foreign', tags: {} }];
    const keep = planSecrets(input({ manifest: manifest(), state: state(live) }));
    expect(actions(keep)).toEqual(['gone:keep']);
    const prune = planSecrets(input({ manifest: manifest({ prune: true }), state: state(live) }));
    expect(actions(prune)).toEqual(['gone:prune']);
    expect(prune.secrets[0]?.op).toEqual({ kind: 'prune', purge: false });
    const purge = planSecrets(input({ manifest: manifest({ prune: true, purge: true }), state: state(live) }));
    expect(purge.secrets[0]?.op).toEqual({ kind: 'prune', purge: true });
  });

  it('regenerates a generated secret only in rotate mode and only when older than rotateAfter', () => {
    const gen = secret('api-key', { source: { kind: 'generate', length: 32, charset: 'alphanumeric', rotateAfterSeconds: 30 * 86_400 } });
    const young = owned('api-key', { 'akv-aks-source': 'generate' }, { createdOn: new Date('2026-11-20T00:00:00Z') });
    const old = owned('api-key', { 'akv-aks-source': 'generate' }, { createdOn: new Date('2026-10-01T00:00:00Z') });
    const m = manifest({ secrets: [gen] });
    expect(actions(planSecrets(input({ manifest: m, state: state([old]), mode: 'apply' })))).toEqual(['api-key:unchanged']);
    expect(actions(planSecrets(input({ manifest: m, state: state([young]), mode: 'rotate' })))).toEqual(['api-key:unchanged']);
    const rotated = planSecrets(input({ manifest: m, state: state([old]), mode: 'rotate' }));
    expect(actions(rotated)).toEqual(['api-key:update']);
    expect(rotated.secrets[0]?.item.reason).toBe('rotateAfter 30d elapsed');
    expect(rotated.secrets[0]?.op.kind).toBe('set');
  });

  it('reports existing secrets unchanged when present, refused and listed when missing', () => {
    const m = manifest({ secrets: [secret('tls', { source: { kind: 'existing', objectType: 'cert' } }), secret('gone', { source: { kind: 'existing', objectType: 'secret' } })] });
    const p = planSecrets(input({ manifest: m, state: state([{ name: 'tls', tags: {}, managed: true }]) }));
    expect(actions(p)).toEqual(['tls:unchanged', 'gone:refuse']);
    expect(p.secrets.filter((s) => s.op.kind === 'refuse').map((s) => s.name)).toEqual(['gone']);
    expect(p.secrets.every((s) => s.op.kind !== 'set' && s.op.kind !== 'properties')).toBe(true);
  });

  it('decides existing keys by the keys API answer, not by a secret of the same name', () => {
    const key = (name: string) => secret(name, { source: { kind: 'existing', objectType: 'key' } });
    const m = manifest({ secrets: [key('found'), key('gone'), key('hidden'), key('unread')] });
    const st = state([{ name: 'gone', tags: {} }]); // a secret named like the missing key proves nothing
    st.keys = new Map([
      ['found', { state: 'found', version: 'v1' }],
      ['gone', { state: 'missing' }],
      ['hidden', { state: 'unreadable', status: 403 }],
    ]);
    const p = planSecrets(input({ manifest: m, state: st }));
    expect(actions(p)).toEqual(['found:unchanged', 'gone:refuse', 'hidden:unchanged', 'unread:unchanged']);
    expect(p.secrets.map((s) => s.item.reason)).toEqual([
      'existing key (never written by the action)',
      'declared existing key but missing from the vault',
      'existing key (not checked: the deployer may not read keys, HTTP 403)',
      'existing key (not checked: the deployer may not read keys)',
    ]);
    expect(p.secrets.filter((s) => s.op.kind === 'refuse').map((s) => s.name)).toEqual(['gone']);
    expect(p.secrets.every((s) => s.op.kind === 'none' || s.op.kind === 'refuse')).toBe(true);
  });

  it('updates properties (contentType, tags, absolute dates) without a new version', () => {
    const m = manifest({ secrets: [secret('a', { contentType: 'application/json', tags: { env: 'prod' }, expires: '2027-01-01T00:00:00Z' })] });
    const st = state([owned('a', { [TAG_DIGEST]: 'd:a', 'akv-aks-source': 'env', env: 'dev' }, { contentType: 'text/plain' })]);
    const p = planSecrets(input({ manifest: m, state: st }));
    const s = p.secrets[0];
    expect(s?.item.action).toBe('update');
    expect(s?.item.reason).toBe('properties changed: tags, contentType, expires');
    if (s?.op.kind !== 'properties') throw new Error('expected properties');
    expect(s.op.properties.contentType).toBe('application/json');
    expect(s.op.properties.tags.env).toBe('prod');
    expect(s.op.properties.expiresOn?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('sets relative expiry from the write time and rewrites a disabled current version', () => {
    const m = manifest({ secrets: [secret('a', { expiresAfterSeconds: 3600 })] });
    const created = planSecrets(input({ manifest: m }));
    const op = created.secrets[0]?.op;
    if (op?.kind !== 'set') throw new Error('expected set');
    expect(op.properties.expiresOn?.getTime()).toBe(NOW.getTime() + 3_600_000);
    const disabled = planSecrets(input({ manifest: m, state: state([owned('a', { [TAG_DIGEST]: 'd:a' }, { enabled: false })]) }));
    expect(disabled.secrets[0]?.item.reason).toBe('current version disabled');
  });

  it('refuses to write over the secret backing a certificate', () => {
    const m = manifest({ secrets: [secret('tls', { adopt: true })] });
    const st = state([{ name: 'tls', tags: {}, managed: true, enabled: true }]);
    expect(secretsNeedingValueRead(m, st, () => 'x')).toEqual([]);
    const p = planSecrets(input({ manifest: m, state: st }));
    expect(actions(p)).toEqual(['tls:refuse']);
    expect(p.secrets[0]?.item.reason).toMatch(/certificate/);
  });

  it('never puts a value in an item', () => {
    const p = planSecrets(input({ manifest: manifest({ secrets: [secret('a'), secret('b')] }), state: state([owned('b')]), valueEquals: () => false }));
    const text = JSON.stringify(p.secrets.map((s) => s.item));
    expect(text).not.toMatch(/d:a|d:b/);
  });
});

describe('planSecrets in a shared vault', () => {
  const declaredBy =
    (names: string[], who = 'contoso/team-b:akv-aks.yaml @ aks-2 (0123456789abcdef)') =>
    (name: string, key: string): string | undefined =>
      key === OTHER && names.includes(name.toLowerCase()) ? who : undefined;

  it('refuses a value different from the one another declaring manifest wrote, naming it; nothing to write', () => {
    const m = manifest({ secrets: [secret('shared')] });
    const st = state([owned('shared', { [TAG_INSTANCE]: OTHER, [TAG_DIGEST]: 'theirs' })]);
    const first = planSecrets(input({ manifest: m, state: st, valueEquals: () => false }));
    // The first plan says it needs that writer's ledger to decide.
    expect(first.needs).toEqual({ writers: [OTHER], others: false });
    const p = planSecrets(input({ manifest: m, state: st, valueEquals: () => false, declaredBy: declaredBy(['shared']), declaredElsewhere: () => [] }));
    expect(actions(p)).toEqual(['shared:refuse']);
    expect(p.secrets[0]?.item.reason).toMatch(/^conflicting values: contoso\/team-b:akv-aks\.yaml @ aks-2 .* declares this secret and wrote another value/);
  });

  it('an unchanged secret another manifest wrote last costs no read of its ledger', () => {
    const m = manifest({ secrets: [secret('shared')] });
    const st = state([owned('shared', { [TAG_INSTANCE]: OTHER, [TAG_DIGEST]: 'd:shared', 'akv-aks-source': 'env' })]);
    const p = planSecrets(input({ manifest: m, state: st }));
    expect(actions(p)).toEqual(['shared:unchanged']);
    expect(p.needs).toEqual({ writers: [], others: false });
  });

  it('writes over a value another manifest wrote once that manifest no longer declares it', () => {
    const m = manifest({ secrets: [secret('shared')] });
    const st = state([owned('shared', { [TAG_INSTANCE]: OTHER, [TAG_DIGEST]: 'theirs' })]);
    const p = planSecrets(input({ manifest: m, state: st, valueEquals: () => false, declaredBy: declaredBy([]), declaredElsewhere: () => [] }));
    expect(actions(p)).toEqual(['shared:update']);
  });

  it('an equal value another declarer wrote is shared: its properties stand, no update back and forth', () => {
    const m = manifest({ secrets: [secret('shared', { contentType: 'text/plain' })] });
    const st = state([owned('shared', { [TAG_INSTANCE]: OTHER, [TAG_DIGEST]: 'd:shared', 'akv-aks-source': 'env' }, { contentType: 'application/json' })]);
    const p = planSecrets(input({ manifest: m, state: st, declaredBy: declaredBy(['shared']), declaredElsewhere: () => [] }));
    expect(actions(p)).toEqual(['shared:unchanged']);
    expect(p.secrets[0]?.item.reason).toMatch(/^shared with contoso\/team-b.*contentType differ/);
  });

  it('a dropped secret another manifest still declares is kept and leaves this ledger; the last declarer prunes it', () => {
    const m = manifest({ prune: true, secrets: [secret('kept')] });
    const st = state([owned('kept', { [TAG_DIGEST]: 'd:kept', 'akv-aks-source': 'env' }), owned('shared')]);
    const first = planSecrets(input({ manifest: m, state: st, recorded: new Set(['kept', 'shared']) }));
    expect(first.needs.others).toBe(true);
    const p = planSecrets(input({ manifest: m, state: st, recorded: new Set(['kept', 'shared']), declaredElsewhere: (n) => (n === 'shared' ? ['team-b'] : []), declaredBy: () => undefined }));
    expect(actions(p)).toEqual(['kept:unchanged', 'shared:keep']);
    expect(p.secrets[1]?.item.reason).toBe('dropped from the manifest, still declared by team-b');
    expect(p.record).toEqual(['kept']);
    const last = planSecrets(input({ manifest: m, state: st, recorded: new Set(['kept', 'shared']), declaredElsewhere: () => [], declaredBy: () => undefined }));
    expect(actions(last)).toEqual(['kept:unchanged', 'shared:prune']);
    // Recorded until the prune is done, so an interrupted run still finds it next time.
    expect(last.record).toEqual(['kept', 'shared']);
    expect(last.recordAfter).toEqual(['kept']);
  });

  it('finds what it dropped from its ledger alone (no listing shows it by tag) and keeps it recorded without prune', () => {
    const m = manifest({ secrets: [] });
    const st = state([owned('old', { [TAG_INSTANCE]: OTHER })]);
    const p = planSecrets(input({ manifest: m, state: st, recorded: new Set(['old']), declaredElsewhere: () => [], declaredBy: () => undefined }));
    expect(actions(p)).toEqual(['old:keep']);
    expect(p.recordAfter).toEqual(['old']);
  });

  it("never prunes another instance's secret or one written before the ownership model (path tag only), and says why", () => {
    const m = manifest({ prune: true, secrets: [] });
    const legacy = { name: 'legacy', enabled: true, tags: { [OWNER_TAG]: ACTION_NAME, [TAG_MANIFEST]: 'akv-aks.yaml' } };
    const st = state([owned('theirs', { [TAG_INSTANCE]: OTHER }), legacy]);
    const p = planSecrets(input({ manifest: m, state: st, declaredElsewhere: () => [], declaredBy: () => undefined }));
    expect(actions(p)).toEqual(['legacy:keep']);
    expect(p.secrets[0]?.item.reason).toMatch(/^written before manifest ownership: .*never pruned/);
  });

  it('a declared secret with the old tags is migrated by a properties update, without a new version', () => {
    const m = manifest({ secrets: [secret('db')] });
    const legacy = { name: 'db', enabled: true, tags: { [OWNER_TAG]: ACTION_NAME, [TAG_MANIFEST]: 'akv-aks.yaml', [TAG_DIGEST]: 'd:db', 'akv-aks-source': 'env' } };
    const p = planSecrets(input({ manifest: m, state: state([legacy]) }));
    expect(actions(p)).toEqual(['db:update']);
    const op = p.secrets[0]?.op;
    if (op?.kind !== 'properties') throw new Error('expected a properties update');
    expect(op.properties.tags).toMatchObject({ [TAG_INSTANCE]: m.instance.key, [TAG_MANIFEST]: 'contoso/tests:akv-aks.yaml' });
    expect(p.needs).toEqual({ writers: [], others: false });
  });
});
