// A key and a certificate the vault already holds, mounted next to a secret the action writes, end
// to end through the bundle: the proof reads all three as the pod's identity would (keys and
// certificates through their own APIs), the gate checks the key's and the certificate's versions as
// well as the secret's, and a key rotated outside the action restarts exactly its consumer.
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { e2eScenario, expectExit, fixture, jsonOutput, podObject, type Step } from '../support/e2e.ts';
import { deployerObjectId, SUBSCRIPTION, vaultPost } from '../support/azure.ts';
import { appDeployment, applyObject, deployment } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-k-${id}`;
const P = `t${id}`;
const KEY = `${P}-signing`;
const CERT = `${P}-tls`;
const KEY_VAULT_ADMINISTRATOR = '00482a5a-887f-4fb3-b363-3b7fe8e74483';

const env: Record<string, string> = { DB: secretValue('db') };

const sc = e2eScenario({
  tag: 'keys',
  vaultPrefix: 'kv-ekc-',
  namespaces: [NS],
  identities: [`id-sandbox-${NS}`],
  env,
  manifest: (vault) => fixture('keys-and-certs.yaml', { VAULT: vault.name, NS, P }),
});
const { runner } = sc;

const apply = (label: string): Promise<Step> => runner.run({ label, mode: 'apply', workspace: sc.workspace, env });
const verify = (label: string): Promise<Step> => runner.run({ label, entry: 'dist/verify/index.js', workspace: sc.workspace });

/** A new version of the key, as its owner would create it (waiting through the deployer's new role). */
const newKeyVersion = async (): Promise<string> =>
  ((await vaultPost(sc.az.credential, sc.vault.uri, `keys/${KEY}/create`, { kty: 'RSA', key_size: 2048 }, 200)).key as { kid: string }).kid.split('/').pop()!;

async function generation(): Promise<number> {
  return (await deployment(sc.k, NS, 'api')).metadata?.generation ?? -1;
}

beforeAll(async () => {
  // The deployer also manages keys and certificates here, so it can create them and read keys.
  const admin = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_ADMINISTRATOR}`;
  await sc.az.arm.authorization.roleAssignments.create(sc.vault.id.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: admin,
    principalId: await deployerObjectId(),
    principalType: 'ServicePrincipal',
  });
  await vaultPost(
    sc.az.credential,
    sc.vault.uri,
    `certificates/${CERT}/create`,
    { policy: { issuer: { name: 'Self' }, x509_props: { subject: 'CN=api.contoso.test' }, secret_props: { contentType: 'application/x-pem-file' } } },
    202,
  );
});

describe('an existing key and certificate mounted next to a written secret', () => {
  let keyV1 = '';

  it('a missing key is refused before anything is written, naming it', async () => {
    const s = await apply('apply (key missing)');
    expectExit(s, 1);
    expect(s.report.plan.find((p) => p.kind === 'secret' && p.name === KEY)).toMatchObject({ action: 'refuse', reason: 'declared existing key but missing from the vault' });
    expect(s.report.error).toContain(`${KEY}: declared existing key but missing from the vault`);
    await expect(sc.secrets.getSecret(`${P}-db`)).rejects.toMatchObject({ statusCode: 404 });
  });

  it("first deploy: the proof reads the secret, the key and the certificate as the pod's identity; the report carries the key's version", async () => {
    keyV1 = await newKeyVersion();
    const s = await apply('apply');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([`${P}-db`]);
    expect(s.log).toContain(`proof: ${NS}/api read 3 object(s)`);
    expect(s.report.secrets.find((x) => x.name === KEY)).toEqual({ name: KEY, version: keyV1, changed: false });
    // No role in the manifest: the default for keys and certificates reads every kind mounted.
    expect(s.report.plan.filter((p) => p.kind === 'role-assignment').map((p) => p.name)).toEqual([`Key Vault Certificate User for id-sandbox-${NS} at vaults/${sc.vault.name}`]);
    expect(s.report.warnings.filter((w) => w.includes('does not grant'))).toEqual([]);
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'api', serviceAccount: 'api', spc: 'api-secrets' }));
  });

  it("the release gate checks the mounted key and certificate versions against the vault's", async () => {
    const s = await verify('verify');
    expectExit(s, 0);
    const certVersion = (await sc.secrets.getSecret(CERT)).properties.version; // a certificate's version is its secret's
    const pods = s.report.gate?.pods ?? [];
    expect(pods.length).toBeGreaterThan(0);
    for (const p of pods) {
      expect(p.ok).toBe(true);
      expect(podObject(p, KEY)).toMatchObject({ expected: keyV1, mounted: keyV1, ok: true });
      expect(podObject(p, CERT)).toMatchObject({ expected: certVersion, mounted: certVersion, ok: true });
    }
  });

  it('a key rotated outside the action: apply restarts its consumer and the gate sees the new key version', async () => {
    const before = await generation();
    const keyV2 = await newKeyVersion();
    const s = await apply('apply (key rotated outside)');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([]); // the action wrote nothing
    expect(jsonOutput(s, 'restarted-workloads')).toEqual([`Deployment/${NS}/api`]);
    expect(await generation()).toBeGreaterThan(before);
    for (const p of s.report.gate?.pods ?? []) expect(podObject(p, KEY)).toMatchObject({ expected: keyV2, mounted: keyV2, ok: true });
    expect(s.outputs.verified).toBe('true');
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(4);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});
