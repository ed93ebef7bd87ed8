// Reliability, concurrency: two manifests (explicit owners) share a vault and ten secrets. The first
// run is SIGKILLed while it holds the vault's write lease, half-way through its writes; the second,
// started meanwhile, waits for that lease (its log says who holds it) and completes once the dead
// run's lease runs out. The killed manifest is run again. The end is what a sequential order gives:
// every secret holds exactly one version with the manifest's value, each ledger records its own
// declarations, and a following run of each writes nothing.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { describeUnless } from '../../support/guard.ts';
import { waitFor } from '../../support/wait.ts';
import {
  azureSide,
  bundleBuilt,
  createVault,
  describeRun,
  expectExit,
  newWorkspace,
  runBundle,
  secretValue,
  shortId,
  usedValues,
  vaultStats,
  versionsOf,
  type AzureSide,
  type Run,
  type TestVault,
} from './helpers.ts';
import { decodeLedger, ledgerName } from '../../../src/ledger/model.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import { LEASE_MS } from '../../../src/vault/lease.ts';

jest.setTimeout(8 * 60_000);

const built = await bundleBuilt();
const d = describeUnless(built ? undefined : 'dist/ has no complete bundle: run npm run build');
const id = shortId();
const SHARED = Array.from({ length: 10 }, (_, i) => `kc${id}-shared-${i}`);
const ownOf = (who: string): string[] => Array.from({ length: 30 }, (_, i) => `kc${id}-${who}-${i}`);
const X = { owner: `kill-x-${id}`, names: [...ownOf('x'), ...SHARED] };
const Y = { owner: `kill-y-${id}`, names: [...ownOf('y'), ...SHARED] };
const values = new Map([...new Set([...X.names, ...Y.names])].map((n, i) => [n, secretValue(`kc${i}`)]));
for (const [n, v] of values) usedValues.set(n, v);
const INPUTS = { gate: 'false', 'prove-access': 'never', timeout: '5m' };

let az: AzureSide;
let vault: TestVault;

function workspace(m: { owner: string; names: string[] }, vaultName: string): string {
  const lines = [
    'apiVersion: akv-aks/v1',
    `owner: ${m.owner}`,
    `vault: { name: ${vaultName}, resourceGroup: rg-sandbox }`,
    'cluster: { name: sandbox }',
    'secrets:',
    ...m.names.map((n, i) => `  - { name: ${n}, from: { env: V_${i} } }`),
    'targets: []',
  ];
  return newWorkspace(`${lines.join('\n')}\n`);
}
const envOf = (m: { names: string[] }): Record<string, string> => Object.fromEntries(m.names.map((n, i) => [`V_${i}`, values.get(n) ?? '']));

beforeAll(async () => {
  if (!built) return;
  az = azureSide();
  vault = await createVault(az, 'kv-kc-', 'own');
});

afterAll(async () => {
  await vault?.remove();
});

d('a run killed while it holds the write lease, with another run of a sharing manifest under way', () => {
  let killed: Run;
  let waiting: Run;

  it('the other run waits for the lease, names its holder, and completes once it runs out', async () => {
    const xs = workspace(X, vault.name);
    const ys = workspace(Y, vault.name);
    const start = (await vaultStats(vault.name)).writes;
    // X is killed once it has written part of its secrets (it holds the lease by then).
    const xRun = runBundle('kill-x', { workspace: xs, env: envOf(X), inputs: INPUTS, killWhen: async () => (await vaultStats(vault.name)).writes - start >= 12 });
    // Y starts once X holds the lease, so it has to wait for it.
    const yRun = (async () => {
      await waitFor('kill-x to hold the lease (2 writes)', async () => (await vaultStats(vault.name)).writes - start >= 2, 60_000, 100).catch(() => undefined);
      return runBundle('concurrent-y', { workspace: ys, env: envOf(Y), inputs: INPUTS });
    })();
    [killed, waiting] = await Promise.all([xRun, yRun]);
    expect(killed.killed).toBe(true);
    expectExit(waiting, 0);
    expect(waiting.log).toMatch(new RegExp(`waiting for the write lease held by kill-x-${id} @ sandbox`));
    // It could only go on once the dead run's lease ran out (it was never released).
    expect(waiting.endedAt - killed.endedAt).toBeGreaterThan(LEASE_MS / 2);
  });

  it('the killed manifest run again converges: one version per secret, both ledgers complete, re-runs write nothing', async () => {
    const again = await runBundle('rerun-x', { workspace: workspace(X, vault.name), env: envOf(X), inputs: INPUTS });
    expect({ exit: again.exitCode, run: again.exitCode === 0 ? '' : describeRun(again) }).toEqual({ exit: 0, run: '' });
    for (const n of values.keys()) {
      expect({ n, versions: (await versionsOf(vault.client, n)).length }).toEqual({ n, versions: 1 });
      expect((await vault.client.getSecret(n)).value === values.get(n)).toBe(true);
    }
    for (const m of [X, Y]) {
      const key = manifestInstance({ owner: m.owner, cluster: 'sandbox' }).key;
      expect(decodeLedger((await vault.client.getSecret(ledgerName(key))).value)?.secrets).toEqual([...m.names].sort());
    }
    const before = (await vaultStats(vault.name)).writes;
    for (const m of [X, Y]) expectExit(await runBundle(`noop-${m.owner}`, { workspace: workspace(m, vault.name), env: envOf(m), inputs: INPUTS }), 0);
    expect((await vaultStats(vault.name)).writes).toBe(before);
  });
});
