// Existing keys (objectType key) through the keys API of the sandbox vault: the plan tells a missing
// key from a present one, the gate gets the key's version, and a deployer that may not read keys
// leaves them unchecked instead of failing. Certificates are read through their own API as well.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { AzureSession } from '../../../src/auth/login.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { VaultSyncError, currentVersions, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { objectReader } from '../../../src/keyvault/objects.ts';
import { captureStdout } from '../../support/leaks.ts';
import { createCertificate, createKey, createTestVault, dataClient, grantDeployer, sandboxSession, type SessionVault } from '../../support/session.ts';
import { vaultStats } from '../../support/sandbox.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';

jest.setTimeout(120_000);

let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let capture: ReturnType<typeof captureStdout>;

const env = { DB_PASSWORD: `pw-${Math.random().toString(36).slice(2)}` };

const secrets = (): SecretSpec[] => [
  { name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false },
  { name: 'signing', source: { kind: 'existing', objectType: 'key' }, tags: {}, adopt: false },
];

function manifest(): Manifest {
  return vaultManifest(tv.name, secrets(), [
    testTarget('payments', 'id-sandbox-keys', {
      serviceAccount: 'payments-api',
      access: { scope: 'vault', role: 'Key Vault Crypto User' },
      secretProviderClass: 'payments-secrets',
      objects: [mounted('db-password'), mounted('signing', { objectType: 'key' })],
    }),
  ]);
}

const run = (mode: 'plan' | 'apply') => syncSecrets(session, vault, manifest(), { mode, env, now: new Date() });

/** Waits until the deployer's new role reaches the data plane (the sandbox may delay it). */
async function untilKeysReadable(): Promise<void> {
  const reader = objectReader(session.credential, session.cloud, tv.uri);
  const deadline = Date.now() + 60_000;
  while ((await reader.lookup('keys', 'probe-absent')).state === 'unreadable') {
    if (Date.now() > deadline) throw new Error('the deployer still may not read keys');
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  capture = captureStdout();
  session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-k-' });
  vault = await describeVault(session, manifest());
});

afterAll(async () => {
  capture?.stop();
  await tv?.remove();
});

describe('existing keys against the sandbox vault', () => {
  it('a deployer that may read only secrets leaves the key unchecked (no failure, no version) and says so', async () => {
    const r = await run('apply');
    const item = r.items.find((i) => i.name === 'signing')!;
    expect(item.action).toBe('unchanged');
    expect(item.reason).toBe('existing key (not checked: the deployer may not read keys, HTTP 403)');
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: undefined, changed: false });
    expect(capture.text()).toContain(`keys: the deployer may not read keys in ${tv.name} (HTTP 403)`);
  });

  it('once the deployer may read keys, a missing key is refused before any write, in plan and in apply', async () => {
    await grantDeployer(session, tv.id, 'Key Vault Crypto Officer');
    await untilKeysReadable();
    env.DB_PASSWORD = `pw-${Math.random().toString(36).slice(2)}`; // a change the refusal must hold back
    const planned = await run('plan');
    expect(planned.items.find((i) => i.name === 'signing')).toMatchObject({ action: 'refuse', reason: 'declared existing key but missing from the vault' });
    const before = await vaultStats(tv.name);
    const err = await run('apply').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as Error).message).toContain('signing: declared existing key but missing from the vault');
    expect((await vaultStats(tv.name)).writes - before.writes).toBe(0);
    await expect(currentVersions(session, vault, manifest())).rejects.toThrow(`Key Vault ${tv.name} lacks object(s) the manifest declares: signing`);
  });

  it('a present key is unchanged and its current version goes to the gate, in sync and in verify', async () => {
    const v1 = await createKey(session, tv, 'signing');
    const r = await run('apply');
    expect(r.items.find((i) => i.name === 'signing')).toMatchObject({ action: 'unchanged', reason: 'existing key (never written by the action)' });
    expect(r.secrets.find((s) => s.name === 'signing')).toEqual({ name: 'signing', version: v1, changed: false });
    const v2 = await createKey(session, tv, 'signing');
    expect(v2).not.toBe(v1);
    expect((await currentVersions(session, vault, manifest())).find((s) => s.name === 'signing')?.version).toBe(v2);
  });

  it('the object reader checks a pinned version and names the missing one', async () => {
    const reader = objectReader(session.credential, session.cloud, tv.uri);
    const current = await reader.version('keys', 'signing');
    await expect(reader.version('keys', 'signing', current)).resolves.toBe(current);
    const err = await reader.version('keys', 'signing', '0'.repeat(32)).catch((e: unknown) => e);
    expect((err as { statusCode?: number }).statusCode).toBe(404);
    expect((err as { code?: string }).code).toBe('KeyNotFound');
    expect(await reader.lookup('keys', 'no-such-key')).toEqual({ state: 'missing' });
  });

  it('reads a certificate as the provider does (GET /certificates), at the version of its backing secret', async () => {
    await grantDeployer(session, tv.id, 'Key Vault Administrator');
    await createCertificate(session, tv, 'tls');
    const reader = objectReader(session.credential, session.cloud, tv.uri);
    const version = await reader.version('certificates', 'tls');
    expect((await (await dataClient(session, tv)).getSecret('tls')).properties.version).toBe(version);
    expect(await reader.lookup('certificates', 'no-such-cert')).toEqual({ state: 'missing' });
  });
});
