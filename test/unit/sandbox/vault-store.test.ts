import { describe, expect, it } from '@jest/globals';
import { SecretStore, type StoreOptions } from '../../sandbox/azure/vault/store.ts';

const BASE = 'https://127.0.0.1:27100/';
const AV = '2025-07-01';

function mk(opts: Partial<StoreOptions> = {}, clock = { now: 1_700_000_000_000 }): { s: SecretStore; clock: { now: number } } {
  const s = new SecretStore({ softDelete: true, retentionDays: 7, purgeProtection: false, ...opts }, () => clock.now);
  return { s, clock };
}

function call(s: SecretStore, method: string, path: string, body?: unknown, query: Record<string, string> = {}) {
  const q = new URLSearchParams({ 'api-version': AV, ...query });
  return s.handle({ method, pathname: path, query: q, body }, BASE);
}

type Bundle = {
  value?: string;
  id: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes: { enabled: boolean; created: number; updated: number; recoveryLevel: string; recoverableDays?: number };
  recoveryId?: string;
  deletedDate?: number;
  scheduledPurgeDate?: number;
};
type ErrorBody = { error: { code: string; message: string; innererror?: { code: string } } };
type Page = { value: Bundle[]; nextLink: string | null };

describe('SecretStore (built-in Key Vault secrets engine)', () => {
  it('sets, gets latest and a given version, with contentType, tags and recovery level', () => {
    const { s } = mk();
    const a = call(s, 'PUT', '/secrets/db-pass', { value: 'v1', contentType: 'text/plain', tags: { team: 'pay' } });
    expect(a.status).toBe(200);
    const b1 = a.body as Bundle;
    expect(b1.value).toBe('v1');
    expect(b1.id).toMatch(/^https:\/\/127\.0\.0\.1:27100\/secrets\/db-pass\/[0-9a-f]{32}$/);
    expect(b1.attributes.recoveryLevel).toBe('CustomizedRecoverable+Purgeable');
    expect(b1.attributes.recoverableDays).toBe(7);
    const b2 = call(s, 'PUT', '/secrets/db-pass', { value: 'v2' }).body as Bundle;
    expect(b2.id).not.toBe(b1.id);
    expect((call(s, 'GET', '/secrets/db-pass/').body as Bundle).value).toBe('v2');
    const v1 = b1.id.split('/').pop() as string;
    const got = call(s, 'GET', `/secrets/db-pass/${v1}`).body as Bundle;
    expect(got.value).toBe('v1');
    expect(got.tags).toEqual({ team: 'pay' });
    expect(got.contentType).toBe('text/plain');
  });

  it('treats names case-insensitively and keeps the first spelling', () => {
    const { s } = mk();
    call(s, 'PUT', '/secrets/MySecret', { value: 'x' });
    const g = call(s, 'GET', '/secrets/mysecret');
    expect(g.status).toBe(200);
    expect((g.body as Bundle).id).toContain('/secrets/MySecret/');
  });

  it('answers 404 SecretNotFound with the real message for a missing secret or version', () => {
    const { s } = mk();
    const r = call(s, 'GET', '/secrets/nope/');
    expect(r.status).toBe(404);
    const e = (r.body as ErrorBody).error;
    expect(e.code).toBe('SecretNotFound');
    expect(e.message).toContain('A secret with (name/id) nope was not found in this key vault.');
    call(s, 'PUT', '/secrets/a', { value: 'x' });
    expect(call(s, 'GET', '/secrets/a/ffffffffffffffffffffffffffffffff').status).toBe(404);
  });

  it('pages listings by 25 with nextLinks on the vault URI, and lists versions', () => {
    const { s } = mk();
    for (let i = 0; i < 60; i++) call(s, 'PUT', `/secrets/s${String(i).padStart(2, '0')}`, { value: `v${i}` });
    const names: string[] = [];
    let page = call(s, 'GET', '/secrets', undefined, { maxresults: '25' }).body as Page;
    let pages = 1;
    names.push(...page.value.map((x) => x.id));
    while (page.nextLink) {
      const u = new URL(page.nextLink);
      expect(u.origin + '/').toBe(BASE);
      page = call(s, 'GET', u.pathname, undefined, Object.fromEntries(u.searchParams)).body as Page;
      names.push(...page.value.map((x) => x.id));
      pages++;
    }
    expect(pages).toBe(3);
    expect(names).toHaveLength(60);
    expect(new Set(names).size).toBe(60);
    expect(names[0]).toBe(`${BASE}secrets/s00`);
    // list items carry no value
    expect((call(s, 'GET', '/secrets').body as Page).value[0]?.value).toBeUndefined();
    for (let i = 0; i < 3; i++) call(s, 'PUT', '/secrets/multi', { value: `m${i}` });
    const versions = (call(s, 'GET', '/secrets/multi/versions').body as Page).value;
    expect(versions).toHaveLength(3);
    for (const v of versions) expect(v.id).toMatch(/\/secrets\/multi\/[0-9a-f]{32}$/);
    expect(call(s, 'GET', '/secrets', undefined, { maxresults: '26' }).status).toBe(400);
  });

  it('updates properties of a version without returning the value, and refuses reading a disabled secret', () => {
    const { s } = mk();
    const id = (call(s, 'PUT', '/secrets/a', { value: 'x' }).body as Bundle).id;
    const version = id.split('/').pop() as string;
    const u = call(s, 'PATCH', `/secrets/a/${version}`, { contentType: 'ct', tags: { k: 'v' }, attributes: { enabled: false } });
    expect(u.status).toBe(200);
    expect((u.body as Bundle).value).toBeUndefined();
    expect((u.body as Bundle).attributes.enabled).toBe(false);
    const g = call(s, 'GET', '/secrets/a');
    expect(g.status).toBe(403);
    expect((g.body as ErrorBody).error.innererror?.code).toBe('SecretDisabled');
  });

  it('soft-deletes: deleted listing, ObjectIsDeletedButRecoverable on reuse, recover, purge', () => {
    const { s, clock } = mk();
    call(s, 'PUT', '/secrets/gone', { value: 'x' });
    const d = call(s, 'DELETE', '/secrets/gone');
    expect(d.status).toBe(200);
    const db = d.body as Bundle;
    expect(db.recoveryId).toBe(`${BASE}deletedsecrets/gone`);
    expect(db.value).toBeUndefined();
    expect(db.scheduledPurgeDate).toBe((db.deletedDate as number) + 7 * 86_400);
    expect(call(s, 'GET', '/secrets/gone').status).toBe(404);
    expect((call(s, 'GET', '/secrets').body as Page).value).toHaveLength(0);
    expect((call(s, 'GET', '/deletedsecrets').body as Page).value.map((x) => x.recoveryId)).toEqual([`${BASE}deletedsecrets/gone`]);
    const reuse = call(s, 'PUT', '/secrets/gone', { value: 'y' });
    expect(reuse.status).toBe(409);
    expect((reuse.body as ErrorBody).error).toEqual({
      code: 'Conflict',
      message: 'Secret gone is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.',
      innererror: { code: 'ObjectIsDeletedButRecoverable' },
    });
    const rec = call(s, 'POST', '/deletedsecrets/gone/recover');
    expect(rec.status).toBe(200);
    expect((call(s, 'GET', '/secrets/gone').body as Bundle).value).toBe('x');
    call(s, 'DELETE', '/secrets/gone');
    expect(call(s, 'DELETE', '/deletedsecrets/gone').status).toBe(204);
    expect(call(s, 'GET', '/deletedsecrets/gone').status).toBe(404);
    expect((call(s, 'GET', '/deletedsecrets/gone').body as ErrorBody).error.message).toBe('Deleted Secret not found: gone');
    expect(call(s, 'PUT', '/secrets/gone', { value: 'z' }).status).toBe(200);
    // the retention period ends: a deleted secret is purged by the service
    call(s, 'DELETE', '/secrets/gone');
    clock.now += 8 * 86_400_000;
    expect(call(s, 'GET', '/deletedsecrets/gone').status).toBe(404);
  });

  it('refuses purge under purge protection, and deletes for good without soft delete', () => {
    const p = mk({ purgeProtection: true, retentionDays: 90 }).s;
    call(p, 'PUT', '/secrets/a', { value: 'x' });
    expect((call(p, 'GET', '/secrets/a').body as Bundle).attributes.recoveryLevel).toBe('Recoverable');
    call(p, 'DELETE', '/secrets/a');
    expect(call(p, 'DELETE', '/deletedsecrets/a').status).toBe(403);
    const n = mk({ softDelete: false }).s;
    call(n, 'PUT', '/secrets/a', { value: 'x' });
    expect((call(n, 'DELETE', '/secrets/a').body as Bundle).recoveryId).toBeUndefined();
    expect(call(n, 'GET', '/deletedsecrets/a').status).toBe(404);
    expect(call(n, 'PUT', '/secrets/a', { value: 'y' }).status).toBe(200);
  });

  it('backs up and restores all versions, refusing a restore over an existing name', () => {
    const { s } = mk();
    call(s, 'PUT', '/secrets/b', { value: '1' });
    call(s, 'PUT', '/secrets/b', { value: '2' });
    const blob = (call(s, 'POST', '/secrets/b/backup').body as { value: string }).value;
    expect(call(s, 'POST', '/secrets/restore', { value: blob }).status).toBe(409);
    call(s, 'DELETE', '/secrets/b');
    call(s, 'DELETE', '/deletedsecrets/b');
    const r = call(s, 'POST', '/secrets/restore', { value: blob });
    expect(r.status).toBe(200);
    expect((call(s, 'GET', '/secrets/b/versions').body as Page).value).toHaveLength(2);
    expect((call(s, 'GET', '/secrets/b').body as Bundle).value).toBe('2');
  });

  it('validates api-version, names, bodies and value size', () => {
    const { s } = mk();
    expect(s.handle({ method: 'GET', pathname: '/secrets', query: new URLSearchParams(), body: undefined }, BASE).status).toBe(400);
    expect(call(s, 'GET', '/secrets', undefined, { 'api-version': '1999-01-01' }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/bad_name', { value: 'x' }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/a', { nope: 1 }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/a', { value: 'x'.repeat(25 * 1024 + 1) }).status).toBe(400);
    const e = call(s, 'PUT', '/secrets/a', { value: 'x'.repeat(25 * 1024 + 1) }).body as ErrorBody;
    expect(e.error.code).toBe('BadParameter');
    expect(JSON.stringify(e)).not.toContain('xxxx');
  });
});
