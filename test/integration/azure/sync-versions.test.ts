// The version index against the sandbox vault (real SDK, private vault so the proxy's counts are
// this file's): a no-op re-run of 100 mounted secrets costs LIST pages and two reads, and versions
// written behind the action's back are found and reported as the gate must expect them.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { currentVersions, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { stateShardName } from '../../../src/vault/versions.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { createTestVault, dataClient, sandboxSession, type SessionVault } from '../../support/session.ts';
import { control, vaultStats } from '../../support/sandbox.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';
import { pastSecondOf } from '../../support/wait.ts';

jest.setTimeout(180_000);

const N = 100;
const NAMESPACES = 5;
const name = (i: number): string => `app-${String(i).padStart(3, '0')}`;
const envName = (i: number): string => `APP_${String(i).padStart(3, '0')}`;
const env: Record<string, string> = {};
for (let i = 0; i < N; i++) env[envName(i)] = `v-${i}-${randomBytes(12).toString('base64url')}`;
const EXISTING = 'platform-tls';
const existingValues = [`tls-${randomBytes(9).toString('hex')}`, `tls-${randomBytes(9).toString('hex')}`];

let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let client: SecretClient;
let capture: ReturnType<typeof captureStdout>;

function manifest(): Manifest {
  const secrets: SecretSpec[] = Array.from({ length: N }, (_, i) => ({ name: name(i), source: { kind: 'env', env: envName(i) }, tags: {}, adopt: false }));
  secrets.push({ name: EXISTING, source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false });
  const targets = Array.from({ length: NAMESPACES }, (_, t) =>
    testTarget(`team-${t}`, `id-versions-${t}`, { serviceAccount: 'app', secretProviderClass: 'app-secrets', objects: secrets.filter((_, i) => i % NAMESPACES === t).map((s) => mounted(s.name)) }),
  );
  return vaultManifest(tv.name, secrets, targets);
}

const apply = () => syncSecrets(session, vault, manifest(), { mode: 'apply', env, now: new Date(), commit: 'c0ffee' });

/** What the vault serves now, by name (the version a pod mounting the secret gets). */
async function served(names: string[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const n of names) out.set(n, (await client.getSecret(n)).properties.version);
  return out;
}

function expectServed(secrets: SecretVersion[], vaultNow: Map<string, string | undefined>): void {
  for (const s of secrets) {
    expect(s.version).toBeDefined();
    expect({ name: s.name, version: s.version }).toEqual({ name: s.name, version: vaultNow.get(s.name) });
  }
}

beforeAll(async () => {
  capture = captureStdout();
  session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-ver-' });
  client = await dataClient(session, tv);
  await control('PUT', '/vault/throttle', { vault: tv.name, create: 300, other: 4_000, windowMs: 10_000 });
  await client.setSecret(EXISTING, existingValues[0] as string, { tags: { owner: 'platform-team' } });
  vault = await describeVault(session, manifest());
  const first = await apply();
  expect(first.items.filter((i) => i.action === 'create')).toHaveLength(N);
});

afterAll(async () => {
  capture?.stop();
  await tv?.remove();
});

describe('the version index on the sandbox vault', () => {
  it(`a no-op re-run of ${N} mounted secrets: no write, at most 9 Key Vault requests (target: 10), every version right`, async () => {
    const before = await vaultStats(tv.name);
    const r = await apply();
    const after = await vaultStats(tv.name);
    expect(r.items.filter((i) => i.action !== 'unchanged')).toEqual([]);
    expect(after.writes - before.writes).toBe(0);
    // the SDK's 401 challenge + 5 LIST pages (104 secrets) + the manifest ledger + the digest key + the index
    expect(after.requests - before.requests).toBeLessThanOrEqual(9);
    expect(after.throttled - before.throttled).toBe(0);
    expectServed(r.secrets, await served(r.secrets.map((s) => s.name)));

    const v0 = await vaultStats(tv.name);
    const verify = await currentVersions(session, vault, manifest());
    expect((await vaultStats(tv.name)).requests - v0.requests).toBeLessThanOrEqual(7);
    expect(verify.map((s) => s.version)).toEqual(r.secrets.map((s) => s.version));
  });

  it('versions written behind the action’s back are looked up (those only), reported as the gate must expect them, and indexed once', async () => {
    // a second later than the index's versions (Key Vault's `updated` has whole seconds)
    await pastSecondOf(undefined);
    // an `existing` secret rotated by its owner, and an owned secret rewritten with the same value and tags
    const tls = await client.setSecret(EXISTING, existingValues[1] as string, { tags: { owner: 'platform-team' } });
    const own = await client.getSecret(name(42));
    const copy = await client.setSecret(name(42), own.value ?? '', { tags: own.properties.tags, contentType: own.properties.contentType });
    expect(copy.properties.version).not.toBe(own.properties.version);

    const before = await vaultStats(tv.name);
    const r = await apply();
    const after = await vaultStats(tv.name);
    expect(r.items.filter((i) => i.action !== 'unchanged')).toEqual([]);
    expect(r.secrets.find((s) => s.name === EXISTING)).toEqual({ name: EXISTING, version: tls.properties.version, changed: false });
    expect(r.secrets.find((s) => s.name === name(42))).toEqual({ name: name(42), version: copy.properties.version, changed: false });
    expectServed(r.secrets, await served(r.secrets.map((s) => s.name)));
    // only the index was written; two versions listings on top of the no-op's requests
    expect(after.writes - before.writes).toBe(1);
    expect(after.requests - before.requests).toBeLessThanOrEqual(9 + 2 + 1);

    // verify mode agrees, and the next run is a cheap no-op again
    const verify = await currentVersions(session, vault, manifest());
    expect(verify.find((s) => s.name === EXISTING)?.version).toBe(tls.properties.version);
    const b2 = await vaultStats(tv.name);
    await apply();
    const a2 = await vaultStats(tv.name);
    expect(a2.writes - b2.writes).toBe(0);
    expect(a2.requests - b2.requests).toBeLessThanOrEqual(9);
  });

  it('a lost index only costs lookups: deleted and purged, the next run finds every version and writes it back', async () => {
    const index = stateShardName(0, manifest().instance.key);
    const poller = await client.beginDeleteSecret(index);
    await poller.pollUntilDone();
    await client.purgeDeletedSecret(index);
    const before = await vaultStats(tv.name);
    const r = await apply();
    const after = await vaultStats(tv.name);
    expectServed(r.secrets, await served(r.secrets.map((s) => s.name)));
    expect(after.writes - before.writes).toBe(1);
    expect(after.requests - before.requests).toBeGreaterThan(N);
    const b2 = await vaultStats(tv.name);
    await apply();
    expect((await vaultStats(tv.name)).requests - b2.requests).toBeLessThanOrEqual(9);
  });

  it('never prints a secret value', () => {
    const log = visibleLog(capture.text());
    for (const v of [...Object.values(env), ...existingValues]) expect(log).not.toContain(v);
  });
});
