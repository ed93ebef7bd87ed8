// A grant changed by a later deploy is still proven, through the propagation delay of a new role
// assignment, with the default `prove-access: changed`: a target granted per secret mounts one
// secret, then a second one; the second deploy creates the role assignment on the new secret, the
// sandbox's RBAC makes it effective only after rbacPropagationMs, and the proof reads that object
// (only that one) as the pod's identity, waiting out ForbiddenByRbac until it passes.
import { describe, expect, it, jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eScenario, expectExit, logLines, stepRecords, type Step } from '../support/e2e.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control } from '../support/sandbox.ts';
import { configSnapshot, restoreConfig } from '../sandbox/azure/test-hooks.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-cg-${id}`;
const IDENTITY = `id-sandbox-${NS}`;
const FIRST = `g${id}-first`;
const ADDED = `g${id}-added`;

const env: Record<string, string> = { FIRST: secretValue('first'), ADDED: secretValue('added') };

const sc = e2eScenario({ tag: 'grant', vaultPrefix: 'kv-e2g-', namespaces: [NS], identities: [IDENTITY], env });
const { runner } = sc;

function manifest(objects: string[]): string {
  return [
    'apiVersion: akv-aks/v1',
    `vault: { name: ${sc.vault.name}, resourceGroup: rg-sandbox }`,
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

const apply = (label: string): Promise<Step> => runner.run({ label, mode: 'apply', workspace: sc.workspace, env, inputs: { timeout: '90s' } });

describe('a grant changed by a later deploy (prove-access: changed)', () => {
  it('is proven through the propagation of the new role assignment, reading only the newly granted object', async () => {
    writeFileSync(join(sc.workspace, 'akv-aks.yaml'), manifest([FIRST]));
    expectExit(await apply('first deploy'), 0);

    writeFileSync(join(sc.workspace, 'akv-aks.yaml'), manifest([FIRST, ADDED]));
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
