// The client limiter against the sandbox vault's real throttle (300 secret writes per 10 s): a first
// sync of 500 secrets (+ the digest key + the version index = 502 writes) fits in two windows at 282
// writes per window, with no 429 beyond at most the throttle's first signal.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { captureStdout } from '../../support/leaks.ts';
import { createTestVault, sandboxSession, type SessionVault } from '../../support/session.ts';
import { control, recordMark, requestRecords, vaultStats } from '../../support/sandbox.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';

jest.setTimeout(180_000);

const N = 500;
const env: Record<string, string> = {};
for (let i = 0; i < N; i++) env[`S_${i}`] = randomBytes(18).toString('base64url');

let session: AzureSession;
let tv: SessionVault;
let capture: ReturnType<typeof captureStdout>;

function manifest(): Manifest {
  const secrets: SecretSpec[] = Array.from({ length: N }, (_, i) => ({ name: `s-${String(i).padStart(4, '0')}`, source: { kind: 'env', env: `S_${i}` }, tags: {}, adopt: false }));
  const targets = Array.from({ length: 20 }, (_, t) =>
    testTarget(`ns-${t}`, `id-tp-${t}`, { serviceAccount: 'app', secretProviderClass: 'app-secrets', objects: secrets.filter((_, i) => i % 20 === t).map((s) => mounted(s.name)) }),
  );
  return vaultManifest(tv.name, secrets, targets);
}

beforeAll(async () => {
  capture = captureStdout();
  session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-tp-' });
  await control('PUT', '/vault/throttle', { vault: tv.name, enabled: true, create: 300, other: 4_000, windowMs: 10_000 });
  await control('POST', '/vault/throttle/reset', { vault: tv.name });
});

afterAll(async () => {
  capture?.stop();
  await tv?.remove();
});

describe('first sync of 500 secrets under the vault throttle', () => {
  it('takes two windows (not three), with at most one 429, then a no-op re-run stays cheap', async () => {
    const vault = await describeVault(session, manifest());
    const before = await vaultStats(tv.name);
    const mark = await recordMark();
    const r = await syncSecrets(session, vault, manifest(), { mode: 'apply', env, now: new Date() });
    const after = await vaultStats(tv.name);
    const writesAt = (await requestRecords()).filter((x) => x.seq >= mark && x.service === 'keyvault' && x.class === 'write' && x.status < 300).map((x) => x.at);
    expect(r.items.filter((i) => i.action === 'create')).toHaveLength(N);
    // the secrets, the digest key, the version index, the manifest ledger and the write lease (taken, released)
    expect(after.writes - before.writes - (after.throttled - before.throttled)).toBe(N + 5);
    expect(after.throttled - before.throttled).toBeLessThanOrEqual(1);
    // 505 writes: the 283rd waits for the first window to turn, and the rest fit in the second one
    // (the throttle's 10 s windows counted from the first accepted write, on the sandbox's own stamps)
    const windowOf = (at: number): number => Math.floor((at - Math.min(...writesAt)) / 10_000);
    expect(new Set(writesAt.map(windowOf))).toEqual(new Set([0, 1]));
    process.stderr.write(`first sync of ${N} secrets: ${Math.max(...writesAt) - Math.min(...writesAt)} ms of writes, ${after.throttled - before.throttled} x 429\n`);

    const b2 = await vaultStats(tv.name);
    const again = await syncSecrets(session, vault, manifest(), { mode: 'apply', env, now: new Date() });
    const a2 = await vaultStats(tv.name);
    expect(again.items.filter((i) => i.action !== 'unchanged')).toEqual([]);
    expect(a2.writes - b2.writes).toBe(0);
    // 401 challenge + 21 LIST pages (504 secrets) + the manifest ledger + digest key + index
    expect(a2.requests - b2.requests).toBeLessThanOrEqual(25);
  });
});
