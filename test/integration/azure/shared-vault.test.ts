// One vault shared by several manifests (repositories, paths, clusters), through the pipeline's own
// steps and the real SDKs against the sandbox: prune and clean-up touch only what their manifest
// owns, a secret several manifests declare goes with the last of them, conflicting values are
// refused with nothing written, and concurrent runs end as a sequential order would.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSession } from '../../../src/auth/login.ts';
import { runCleanup } from '../../../src/cleanup/index.ts';
import type { KubeSession } from '../../../src/kube/client.ts';
import { decodeLedger, ledgerName } from '../../../src/ledger/model.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { VaultSyncError, describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { createTestVault, dataClient, sandboxSession, type SessionVault } from '../../support/session.ts';
import { vaultStats } from '../../support/sandbox.ts';
import { sandboxKube } from '../../support/kube.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';
import { DIGEST_KEY_SECRET, TAG_INSTANCE } from '../../../src/names.ts';

jest.setTimeout(300_000);

const run = randomBytes(3).toString('hex');
const value = (tag: string): string => `${tag}-${randomBytes(9).toString('base64url')}`;

let tv: SessionVault;
let vault: VaultInfo;
let client: SecretClient;
let kube: KubeSession;

const envSecret = (name: string, variable = name.replace(/-/g, '_').toUpperCase()): SecretSpec => ({ name, source: { kind: 'env', env: variable }, tags: {}, adopt: false });

/** A manifest of `repository` at the default path on `cluster`, declaring `names` (values from env). */
function manifest(repository: string, cluster: string, names: string[], over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository, path: 'akv-aks.yaml', cluster }),
    vault: { name: tv.name, resourceGroup: 'rg-sandbox' },
    cluster: { name: cluster },
    identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope', tags: {} },
    secrets: names.map((n) => envSecret(n)),
    targets: [],
    prune: false,
    purge: false,
    ...over,
  };
}

const envOf = (names: string[], values: Map<string, string>): Record<string, string> => Object.fromEntries(names.map((n) => [n.replace(/-/g, '_').toUpperCase(), values.get(n) ?? '']));

/** Each run is its own login session, as separate runner processes are (own clients, own limiter). */
async function apply(m: Manifest, env: Record<string, string>, mode: 'plan' | 'apply' = 'apply') {
  const session: AzureSession = await sandboxSession();
  return syncSecrets(session, vault, m, { mode, env, now: new Date(), leaseTimeoutMs: 240_000 });
}

async function versionCount(name: string): Promise<number> {
  let n = 0;
  for await (const _ of client.listPropertiesOfSecretVersions(name)) n++;
  return n;
}

async function liveNames(): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const p of client.listPropertiesOfSecrets()) out.add(p.name);
  return out;
}

async function ledgerOf(m: Manifest) {
  try {
    return decodeLedger((await client.getSecret(ledgerName(m.instance.key))).value);
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  const session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-sh-' });
  vault = await describeVault(session, manifest('contoso/x', 'c', []));
  client = await dataClient(session, tv);
  kube = sandboxKube();
});

afterAll(async () => {
  await tv?.remove();
});

describe('three repositories at the default path, two clusters, one vault', () => {
  const names = {
    a: [`a1-${run}`, `a2-${run}`, `shared-${run}`],
    b: [`b1-${run}`, `b2-${run}`, `shared-${run}`],
    c: [`c1-${run}`, `shared-${run}`],
  };
  const values = new Map<string, string>([...new Set([...names.a, ...names.b, ...names.c])].map((n) => [n, value(n)]));
  const A1 = (): Manifest => manifest('contoso/team-a', 'aks-1', names.a);
  const A2 = (): Manifest => manifest('contoso/team-a', 'aks-2', names.a);
  const B = (over: Partial<Manifest> = {}, declared = names.b): Manifest => manifest('contoso/team-b', 'aks-1', declared, over);
  const C = (over: Partial<Manifest> = {}): Manifest => manifest('contoso/team-c', 'aks-2', names.c, over);

  beforeAll(async () => {
    for (const m of [A1(), A2(), B(), C()])
      await apply(
        m,
        envOf(
          m.secrets.map((s) => s.name),
          values,
        ),
      );
  });

  it('every secret is written once; each secret names its writer and each ledger its declarations', async () => {
    for (const n of values.keys()) expect(await versionCount(n)).toBe(1);
    expect((await ledgerOf(A1()))?.secrets).toEqual([...names.a].sort());
    expect((await ledgerOf(A2()))?.secrets).toEqual([...names.a].sort());
    expect((await ledgerOf(B()))?.secrets).toEqual([...names.b].sort());
    const a1 = await client.getSecret(names.a[0]!);
    expect(a1.properties.tags).toMatchObject({ [TAG_INSTANCE]: A1().instance.key, 'akv-aks-repository': 'contoso/team-a', 'akv-aks-cluster': 'aks-1' });
  });

  it("team B's prune deletes only its own dropped secret; the shared one stays, named as still declared", async () => {
    const dropped = [names.b[0]!];
    const m = B({ prune: true }, dropped);
    const plan = await apply(m, envOf(dropped, values), 'plan');
    const acted = plan.items.filter((i) => i.action !== 'unchanged');
    expect(acted).toEqual([
      { kind: 'secret', name: names.b[1], action: 'prune', reason: 'dropped from the manifest: delete (recoverable)' },
      { kind: 'secret', name: `shared-${run}`, action: 'keep', reason: expect.stringMatching(/^dropped from the manifest, still declared by contoso\/team-a:akv-aks\.yaml @ aks-/) },
    ]);
    await apply(m, envOf(dropped, values));
    const live = await liveNames();
    expect(live.has(names.b[1]!)).toBe(false);
    for (const n of [...names.a, ...names.c, names.b[0]!]) expect(live.has(n)).toBe(true);
    expect((await ledgerOf(B()))?.secrets).toEqual([names.b[0]]);
  });

  it("team C's clean-up with deleteSecrets and purge removes only its own; the shared secret stays", async () => {
    const m = C({ cleanup: { deleteSecrets: true, purge: true } });
    const session = await sandboxSession();
    const r = await runCleanup(session, vault, kube, m, { mode: 'apply' });
    const secretItems = r.items.filter((i) => i.kind === 'secret');
    expect(secretItems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: names.c[0], action: 'delete' }),
        expect.objectContaining({ name: `shared-${run}`, action: 'keep', reason: expect.stringMatching(/^shared: still declared by contoso\/team-a:akv-aks\.yaml @ aks-/) }),
      ]),
    );
    const live = await liveNames();
    expect(live.has(names.c[0]!)).toBe(false);
    for (const n of [...names.a, names.b[0]!]) expect(live.has(n)).toBe(true);
    expect(await ledgerOf(C())).toBeUndefined();
  });

  it('the shared secret outlives the clean-up of one cluster of the matrix and goes with the last declarer', async () => {
    const session = await sandboxSession();
    const first = await runCleanup(session, vault, kube, { ...A1(), cleanup: { deleteSecrets: true, purge: false } }, { mode: 'apply' });
    expect(first.items.filter((i) => i.kind === 'secret' && !i.name.startsWith('akv-aks-')).map((i) => i.action)).toEqual(['keep', 'keep', 'keep']);
    for (const n of names.a) expect((await liveNames()).has(n)).toBe(true);
    const last = await runCleanup(session, vault, kube, { ...A2(), cleanup: { deleteSecrets: true, purge: false } }, { mode: 'apply' });
    expect(last.items.filter((i) => i.kind === 'secret' && !i.name.startsWith('akv-aks-')).map((i) => `${i.name}:${i.action}`)).toEqual(names.a.map((n) => `${n}:delete`));
    const live = await liveNames();
    for (const n of names.a) expect(live.has(n)).toBe(false);
    expect(live.has(names.b[0]!)).toBe(true);
  });
});

describe('two manifests writing different values into one secret', () => {
  const name = `conflict-${run}`;
  const D = (): Manifest => manifest('contoso/team-d', 'aks-1', [name]);
  const E = (): Manifest => manifest('contoso/team-e', 'aks-1', [name]);

  it('are refused in plan and apply, naming the other manifest; nothing is written', async () => {
    await apply(D(), envOf([name], new Map([[name, value('d')]])));
    const before = await vaultStats(tv.name);
    const other = envOf([name], new Map([[name, value('e')]]));
    const plan = await apply(E(), other, 'plan');
    expect(plan.items).toEqual([
      {
        kind: 'secret',
        name,
        action: 'refuse',
        reason: expect.stringMatching(/^conflicting values: contoso\/team-d:akv-aks\.yaml @ aks-1 \([0-9a-f]{16}\) declares this secret and wrote another value/),
      },
    ]);
    const err = await apply(E(), other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultSyncError);
    expect((err as Error).message).toMatch(/^refusing to write Key Vault .*; nothing was written: .*conflicting values: contoso\/team-d/);
    expect((await vaultStats(tv.name)).writes).toBe(before.writes);
    expect(await versionCount(name)).toBe(1);
    expect(await ledgerOf(E())).toBeUndefined();
  });

  it('the same value is simply shared', async () => {
    const same = `same-${run}`;
    const values = new Map([[same, value('same')]]);
    await apply(manifest('contoso/team-d', 'aks-1', [same]), envOf([same], values));
    const r = await apply(manifest('contoso/team-e', 'aks-1', [same]), envOf([same], values));
    expect(r.items).toEqual([{ kind: 'secret', name: same, action: 'unchanged' }]);
    expect(await versionCount(same)).toBe(1);
  });
});

describe('concurrent runs', () => {
  const SHARED = Array.from({ length: 20 }, (_, i) => `cc-shared-${String(i).padStart(2, '0')}-${run}`);
  const own = (k: number): string[] => Array.from({ length: 80 }, (_, i) => `cc-${k}-${String(i).padStart(2, '0')}-${run}`);
  const values = new Map<string, string>([...SHARED, ...[0, 1, 2, 3].flatMap(own)].map((n) => [n, value('cc')]));
  const matrixOf = (): Manifest[] => [0, 1, 2, 3].map((k) => manifest(`contoso/app-${k}`, `aks-${k}`, [...own(k), ...SHARED]));

  it('four manifests at once (100 secrets each, 20 shared) end as a sequential order would', async () => {
    const matrix = matrixOf();
    const before = await vaultStats(tv.name);
    await Promise.all(
      matrix.map((m) =>
        apply(
          m,
          envOf(
            m.secrets.map((s) => s.name),
            values,
          ),
        ),
      ),
    );
    for (const n of values.keys()) expect(await versionCount(n)).toBe(1);
    expect(await versionCount(DIGEST_KEY_SECRET)).toBe(1);
    for (const m of matrix) expect((await ledgerOf(m))?.secrets).toEqual(m.secrets.map((s) => s.name).sort());
    // One writer at a time: the vault's write budget is never overrun.
    expect((await vaultStats(tv.name)).throttled).toBe(before.throttled);
    const again = await Promise.all(
      matrix.map((m) =>
        apply(
          m,
          envOf(
            m.secrets.map((s) => s.name),
            values,
          ),
        ),
      ),
    );
    for (const r of again) expect(r.items.every((i) => i.action === 'unchanged')).toBe(true);
  });

  it('the same manifest started twice at once writes each secret once', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `twice-${i}-${run}`);
    const twice = new Map(names.map((n) => [n, value('tw')]));
    const m = manifest('contoso/twice', 'aks-1', names);
    const results = await Promise.all([apply(m, envOf(names, twice)), apply(m, envOf(names, twice))]);
    for (const n of names) expect(await versionCount(n)).toBe(1);
    // One of them wrote; the other, holding the lease next, found everything in place.
    expect(results.map((r) => r.items.every((i) => i.action === 'unchanged')).sort()).toEqual([false, true]);
  });
});
