// The Azure world of the sandbox, without servers: data-plane decisions, access tokens, faults,
// control routes, reset; plus the control API's validation, the ARM token buckets and the shape check.
import { describe, expect, test } from '@jest/globals';
import { ArmThrottle } from '../../sandbox/azure/arm/common.ts';
import { patchConfig, validateFault } from '../../sandbox/azure/control.ts';
import { signJwt } from '../../sandbox/azure/jwt.ts';
import { shapeMismatches } from '../../sandbox/azure/shape.ts';
import { SEED, World } from '../../sandbox/azure/world.ts';

const SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
const SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
const GET = 'Microsoft.KeyVault/vaults/secrets/getSecret/action';
const SET = 'Microsoft.KeyVault/vaults/secrets/setSecret/action';
const LIST = 'Microsoft.KeyVault/vaults/secrets/readMetadata/action';

function accessToken(w: World, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(w.entraKey, { aud: 'https://vault.azure.net', iss: w.tokenIssuer, tid: w.tenantId, oid: 'o', sub: 'o', appid: 'a', azp: 'a', iat: now, nbf: now, exp: now + 600, ...claims });
}

describe('seed', () => {
  test('tenant, subscription, vaults with proxy ports, deployer with its FICs and roles', () => {
    const w = new World();
    expect(w.tenantId).toBe('72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(w.subscriptionId).toBe('00000000-0000-0000-0000-00000000aaaa');
    expect(w.vaults().map((v) => [v.name, v.enableRbacAuthorization, v.vaultUri])).toEqual([
      ['kv-sandbox', true, 'https://127.0.0.1:27100/'],
      ['kv-legacy', false, 'https://127.0.0.1:27101/'],
    ]);
    expect(w.federatedCredentials(SEED.deployer.clientId).map((f) => f.subject)).toEqual(['repo:contoso/payments:ref:refs/heads/main', 'repo:contoso/payments:environment:prod']);
    const roles = w.roleAssignments().map((a) => [a.scope, a.roleDefinitionId.split('/').pop()]);
    expect(roles).toContainEqual([`/subscriptions/${w.subscriptionId}`, OWNER]);
    expect(roles).toContainEqual([w.vault('kv-sandbox')!.id, SECRETS_OFFICER]);
  });
});

describe('authorizeVaultData', () => {
  test('RBAC: the deployer (Secrets Officer on kv-sandbox) may set; an unknown principal gets ForbiddenByRbac', () => {
    const w = new World();
    expect(w.authorizeVaultData('kv-sandbox', SEED.deployer.objectId, SET)).toEqual({ allowed: true });
    const d = w.authorizeVaultData('kv-sandbox', 'f0f0f0f0-0000-0000-0000-000000000001', GET, { kind: 'secrets', name: 'db' });
    expect(d.allowed).toBe(false);
    if (!d.allowed) {
      expect(d.code).toBe('ForbiddenByRbac');
      expect(d.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'");
      expect(d.message).toContain('/vaults/kv-sandbox/secrets/db');
    }
  });

  test('RBAC: Secrets User reads but cannot write; per-secret scope covers only that secret; Owner has no data access', () => {
    const w = new World();
    const oid = 'f0f0f0f0-0000-0000-0000-000000000002';
    const kv = w.vault('kv-sandbox')!;
    w.assignments.push(w.makeAssignment(`${kv.id}/secrets/db`, SECRETS_USER, oid, 'ServicePrincipal', 0));
    expect(w.authorizeVaultData('kv-sandbox', oid, GET, { kind: 'secrets', name: 'db' }).allowed).toBe(true);
    expect(w.authorizeVaultData('kv-sandbox', oid, GET, { kind: 'secrets', name: 'other' }).allowed).toBe(false);
    expect(w.authorizeVaultData('kv-sandbox', oid, SET, { kind: 'secrets', name: 'db' }).allowed).toBe(false);
    const owner = 'f0f0f0f0-0000-0000-0000-000000000003';
    w.assignments.push(w.makeAssignment(`/subscriptions/${w.subscriptionId}`, OWNER, owner, 'User', 0));
    expect(w.authorizeVaultData('kv-sandbox', owner, GET, { kind: 'secrets', name: 'db' }).allowed).toBe(false);
  });

  test('RBAC: an assignment is not effective before its propagation time', () => {
    const w = new World();
    const oid = 'f0f0f0f0-0000-0000-0000-000000000004';
    const kv = w.vault('kv-sandbox')!;
    const a = w.makeAssignment(kv.id, SECRETS_USER, oid, 'ServicePrincipal', Date.now() + 60_000);
    w.assignments.push(a);
    expect(w.authorizeVaultData('kv-sandbox', oid, GET, { kind: 'secrets', name: 'x' }).allowed).toBe(false);
    a.effectiveAt = Date.now() - 1;
    expect(w.authorizeVaultData('kv-sandbox', oid, GET, { kind: 'secrets', name: 'x' }).allowed).toBe(true);
  });

  test('access policies: permissions map to data actions; RBAC assignments do not apply', () => {
    const w = new World();
    const oid = 'f0f0f0f0-0000-0000-0000-000000000005';
    const legacy = w.vault('kv-legacy')!;
    legacy.accessPolicies.push({ tenantId: w.tenantId, objectId: oid, permissions: { secrets: ['get'] } });
    w.assignments.push(w.makeAssignment(legacy.id, SECRETS_OFFICER, oid, 'ServicePrincipal', 0));
    expect(w.authorizeVaultData('kv-legacy', oid, GET).allowed).toBe(true);
    const list = w.authorizeVaultData('kv-legacy', oid, LIST);
    expect(list.allowed).toBe(false);
    if (!list.allowed) {
      expect(list.code).toBe('ForbiddenByPolicy');
      expect(list.message).toContain('does not have secrets list permission');
    }
    expect(w.authorizeVaultData('kv-legacy', SEED.deployer.objectId, SET).allowed).toBe(true);
  });
});

describe('verifyAccessToken', () => {
  test('accepts its own token for the audience and rejects wrong audience, expiry, issuer and signature', () => {
    const w = new World();
    const ok = w.verifyAccessToken(accessToken(w, {}), 'https://vault.azure.net');
    expect(ok.ok).toBe(true);
    expect(w.verifyAccessToken(accessToken(w, {}), 'https://management.azure.com/')).toMatchObject({ ok: false });
    expect(w.verifyAccessToken(accessToken(w, { exp: Math.floor(Date.now() / 1000) - 10 }), 'https://vault.azure.net')).toEqual({ ok: false, reason: 'token expired' });
    expect(w.verifyAccessToken(accessToken(w, { iss: 'https://elsewhere/' }), 'https://vault.azure.net')).toMatchObject({ ok: false });
    const other = new World();
    expect(w.verifyAccessToken(accessToken(other, {}), 'https://vault.azure.net')).toMatchObject({ ok: false });
    expect(w.verifyAccessToken('not.a.jwt', 'https://vault.azure.net')).toMatchObject({ ok: false });
  });
});

describe('faults, control routes, reset', () => {
  test('takeFault matches service, method and path pattern and is spent after `times`', () => {
    const w = new World();
    w.addFault({ service: 'arm', method: 'GET', pathPattern: 'vaults/kv-sandbox', times: 2, effect: { kind: 'status', status: 503 } });
    expect(w.takeFault('keyvault', 'GET', '/vaults/kv-sandbox')).toBeUndefined();
    expect(w.takeFault('arm', 'PUT', '/x/vaults/kv-sandbox')).toBeUndefined();
    expect(w.takeFault('arm', 'GET', '/x/vaults/kv-legacy')).toBeUndefined();
    expect(w.takeFault('arm', 'get', '/x/vaults/kv-sandbox?api-version=1')?.effect).toEqual({ kind: 'status', status: 503 });
    expect(w.takeFault('arm', 'GET', '/x/vaults/kv-sandbox')).toBeDefined();
    expect(w.takeFault('arm', 'GET', '/x/vaults/kv-sandbox')).toBeUndefined();
  });

  test('the longest matching control-route prefix wins', async () => {
    const w = new World();
    w.registerControlRoute('*', '/vault/', () => ({ status: 200, body: 'vault' }));
    w.registerControlRoute('POST', '/vault/vaults/', () => ({ status: 201, body: 'create' }));
    expect(await w.findControlRoute('POST', '/vault/vaults/kv-new')!({ method: 'POST', path: '', query: new URLSearchParams(), body: undefined })).toEqual({ status: 201, body: 'create' });
    expect(await w.findControlRoute('GET', '/vault/vaults/kv-new')!({ method: 'GET', path: '', query: new URLSearchParams(), body: undefined })).toEqual({ status: 200, body: 'vault' });
    expect(w.findControlRoute('GET', '/kube/x')).toBeUndefined();
  });

  test('reset restores the seed, clears faults and config, and tells the listeners', async () => {
    const w = new World();
    let told = 0;
    w.onReset(() => {
      told++;
    });
    w.addVault({ name: 'kv-extra' });
    expect(w.vault('kv-extra')!.proxyPort).toBe(27102);
    w.assignments = [];
    w.config.rbacPropagationMs = 5000;
    w.github.environment = 'prod';
    w.addFault({ service: 'entra', effect: { kind: 'reset' } });
    await w.reset();
    expect(w.vault('kv-extra')).toBeUndefined();
    expect(w.roleAssignments()).toHaveLength(2);
    expect(w.config.rbacPropagationMs).toBe(0);
    expect(w.github.environment).toBeNull();
    expect(w.faults).toEqual([]);
    expect(told).toBe(1);
  });

  test('stats count by service, class, method and status', () => {
    const w = new World();
    w.record({ service: 'arm', method: 'GET', path: '/a', status: 200, at: 1 });
    w.record({ service: 'arm', method: 'GET', path: '/b', status: 200, at: 2 });
    w.record({ service: 'keyvault', method: 'PUT', path: '/c', status: 429, at: 3, class: 'write' });
    expect(w.stats().counts).toEqual([
      { service: 'arm', class: 'read', method: 'GET', status: 200, count: 2 },
      { service: 'keyvault', class: 'write', method: 'PUT', status: 429, count: 1 },
    ]);
  });
});

describe('control API validation', () => {
  test('faults are validated', () => {
    expect(validateFault({ service: 'nope', effect: { kind: 'reset' } })).toMatch(/service/);
    expect(validateFault({ service: 'arm', pathPattern: '(', effect: { kind: 'reset' } })).toMatch(/regular expression/);
    expect(validateFault({ service: 'arm', effect: { kind: 'status', status: 42 } })).toMatch(/status/);
    expect(validateFault({ service: 'arm', times: 0, effect: { kind: 'reset' } })).toMatch(/times/);
    expect(validateFault({ service: 'arm', effect: { kind: 'latency', ms: 10 } })).toMatchObject({ service: 'arm', effect: { kind: 'latency', ms: 10 } });
  });

  test('config patches accept known knobs and GitHub claims only', () => {
    const w = new World();
    expect(patchConfig(w, { rbacPropagationMs: 2000, github: { environment: 'prod', lifetimeSeconds: 60 } }).status).toBe(200);
    expect(w.config.rbacPropagationMs).toBe(2000);
    expect(w.github).toMatchObject({ environment: 'prod', lifetimeSeconds: 60 });
    expect(patchConfig(w, { nope: 1 }).status).toBe(400);
    expect(patchConfig(w, { armThrottle: 'yes' }).status).toBe(400);
    expect(patchConfig(w, { github: { lifetimeSeconds: '5' } }).status).toBe(400);
    expect(patchConfig(w, { github: { environment: null } }).status).toBe(200);
    expect(w.github.environment).toBeNull();
  });
});

describe('ARM token buckets', () => {
  test('capacity, refill and separate read/write buckets per principal', () => {
    const w = new World();
    Object.assign(w.config, { armReadCapacity: 2, armReadRefillPerSecond: 0.5, armWriteCapacity: 1, armWriteRefillPerSecond: 1 });
    const t = new ArmThrottle();
    expect(t.take(w, 's', 'p', 'read')).toEqual({ ok: true, remaining: 1 });
    expect(t.take(w, 's', 'p', 'read')).toEqual({ ok: true, remaining: 0 });
    const third = t.take(w, 's', 'p', 'read');
    expect(third.ok).toBe(false);
    if (!third.ok) expect(third.retryAfter).toBeGreaterThanOrEqual(1);
    expect(t.take(w, 's', 'p', 'write')).toEqual({ ok: true, remaining: 0 });
    expect(t.take(w, 's', 'other', 'read')).toEqual({ ok: true, remaining: 1 });
  });
});

describe('shapeMismatches', () => {
  test('reports missing keys and type changes, allows extra keys and ignored paths', () => {
    const example = { id: 'x', properties: { n: 1, list: [{ a: 'b' }], hsm: 'h' } };
    expect(shapeMismatches(example, { id: 'y', extra: true, properties: { n: 2, list: [{ a: 'c', z: 1 }], hsm: 'g' } })).toEqual([]);
    expect(shapeMismatches(example, { id: 1, properties: { list: [{ a: 2 }], hsm: 'g' } })).toEqual([
      'id: expected string, got number',
      'properties.n: missing',
      'properties.list[].a: expected string, got number',
    ]);
    expect(shapeMismatches(example, { id: 'y', properties: { n: 1, list: [] } }, ['properties.hsm'])).toEqual([]);
  });
});
