// A grant changed by a later deploy is still proven, through the propagation delay of a new role
// assignment, with the default `prove-access: changed`: a target granted per secret mounts one
// secret, then a second one; the second deploy creates the role assignment on the new secret, the
// sandbox's RBAC makes it effective only after rbacPropagationMs, and the proof reads that object
// (only that one) as the pod's identity, waiting out ForbiddenByRbac until it passes.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runner, azureSide, createVault, deleteNamespace, expectExit, kube, logLines, secretValue, shortId, stepRecords, type AzureSide, type Kube, type TestVault, type Step } from './helpers.ts';
import { configSnapshot, restoreConfig } from '../sandbox/azure/test-hooks.ts';
import { control } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-cg-${id}`;
const IDENTITY = `id-sandbox-${NS}`;
const FIRST = `g${id}-first`;
const ADDED = `g${id}-added`;

const runner = new Runner();
let az: AzureSide;
let k: Kube;
let vault: TestVault;
let workspace: string;
const env: Record<string, string> = { FIRST: secretValue('first'), ADDED: secretValue('added') };

function manifest(objects: string[]): string {
  return [
    'apiVersion: akv-aks/v1',
    `vault: { name: ${vault.name}, resourceGroup: rg-sandbox }`,
    'cluster: { name: sandbox }',
    'identityDefaults: { resourceGroup: rg-ids, location: westeurope }',
    'secrets:',
    `  - { name: ${FIRST}, from: { env: FIRST } }`,
    `  - { name: ${ADDED}, from: { env: ADDED } }`,
    'targets:',
    `  - namespace: ${NS}`,
    '    createNamespace: true',
    '    serviceAccount: api',
    '    identity: { create: true }',
    '    access: { scope: secret }',
    '    secretProviderClass: app',
    '    objects:',
    ...objects.map((o) => `      - { secret: ${o} }`),
    '',
  ].join('\n');
}

const apply = (label: string): Promise<Step> => runner.run({ label, mode: 'apply', workspace, env, inputs: { timeout: '90s' } });

beforeAll(async () => {
  az = azureSide();
  k = kube();
  vault = await createVault(az, 'kv-e2g-');
  workspace = mkdtempSync(join(tmpdir(), 'akv-aks-e2e-grant-'));
  for (const [name, v] of Object.entries(env)) runner.leaks.addSecret(name, v);
});

afterAll(async () => {
  if (k) await deleteNamespace(k, NS);
  await az?.arm.msi.userAssignedIdentities.delete('rg-ids', IDENTITY).catch(() => undefined);
  await vault?.remove();
});

describe('a grant changed by a later deploy (prove-access: changed)', () => {
  it('is proven through the propagation of the new role assignment, reading only the newly granted object', async () => {
    writeFileSync(join(workspace, 'akv-aks.yaml'), manifest([FIRST]));
    expectExit(await apply('first deploy'), 0);

    writeFileSync(join(workspace, 'akv-aks.yaml'), manifest([FIRST, ADDED]));
    const saved = await configSnapshot();
    let s: Step;
    try {
      await control('PATCH', '/config', { rbacPropagationMs: 4_000 });
      s = await apply('second deploy, one more object');
    } finally {
      await restoreConfig(saved);
    }
    expectExit(s, 0);
    const lines = logLines(s);
    expect(lines.some((l) => l.includes(`proof: ${NS}/api: 1 object(s) (role-assignment create`))).toBe(true);
    expect(lines.some((l) => /proof: .*(ForbiddenByRbac|missing-role).*retrying/.test(l))).toBe(true);
    expect(lines.some((l) => new RegExp(`proof: ${NS}/api read 1 object\\(s\\) .* after \\d+ attempts`).test(l))).toBe(true);
    // Only the newly granted object was read as the pod (the first one's grant did not change).
    // GET /secrets/{name}/ (latest: the SDK sends the trailing slash) or /secrets/{name}/{version}.
    const reads = (await stepRecords(s)).filter((r) => r.service === 'keyvault' && r.method === 'GET' && /^\/secrets\/[^/]+(\/[^/]*)?$/.test(r.path)).map((r) => r.path.split('/')[2]);
    expect(reads).toContain(ADDED);
    expect(reads).not.toContain(FIRST);
  });
});
