// Two namespaces with different identities, end to end through the bundle: one identity per
// namespace (the default name and a name from the manifest), each federated with its own service
// account only and granted on the vault (one at vault scope, one per secret); each namespace's
// SecretProviderClass names its own identity; pods in both namespaces pass the gate; a change to the
// shared secret restarts the consumers in both namespaces, a change to one namespace's own secret
// restarts only that namespace's consumer.
import { describe, expect, it, jest } from '@jest/globals';
import { e2eScenario, expectExit, fixture, jsonOutput, podObject, SANDBOX_ISSUER, type Step } from '../support/e2e.ts';
import { KEY_VAULT_SECRETS_USER, secretVersions } from '../support/azure.ts';
import { appDeployment, applyObject, deployment } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS_A = `e2e-a-${id}`;
const NS_B = `e2e-b-${id}`;
const P = `t${id}`;
const ID_A = `id-sandbox-${NS_A}`;
const ID_B = `id-e2e-reports-${id}`;
const SHARED = `${P}-shared`;
const A_ONLY = `${P}-a-only`;
const B_ONLY = `${P}-b-only`;

const env: Record<string, string> = { SHARED: secretValue('shared'), A_ONLY: secretValue('a') };

const sc = e2eScenario({
  tag: 'ns',
  vaultPrefix: 'kv-e2n-',
  namespaces: [NS_A, NS_B],
  identities: [ID_A, ID_B],
  env,
  manifest: (vault) => fixture('two-namespaces.yaml', { VAULT: vault.name, NS_A, NS_B, P, ID_B }),
});
const { runner } = sc;

const apply = (label: string): Promise<Step> => runner.run({ label, mode: 'apply', workspace: sc.workspace, env });

interface World {
  identities: Array<{ name: string; clientId: string; principalId: string }>;
  federatedCredentials: Array<{ clientId: string; name: string; issuer: string; subject: string }>;
  roleAssignments: Array<{ scope: string; principalId: string; roleDefinitionId: string }>;
}

async function generation(ns: string, name: string): Promise<number> {
  return (await deployment(sc.k, ns, name)).metadata?.generation ?? -1;
}

describe('two namespaces with different identities', () => {
  it('first deploy: one identity per namespace, each federated with its own service account and granted', async () => {
    const s = await apply('apply');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets').sort()).toEqual([A_ONLY, B_ONLY, SHARED].sort());
    const generated = (await sc.secrets.getSecret(B_ONLY)).value;
    runner.leaks.addSecret(B_ONLY, generated);
    expect(generated).toMatch(/^[0-9a-f]{32}$/);

    const w = await control<World>('GET', '/world');
    const a = w.identities.find((i) => i.name === ID_A);
    const b = w.identities.find((i) => i.name === ID_B);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(a!.clientId).not.toBe(b!.clientId);
    const subjects = (clientId: string): string[] => w.federatedCredentials.filter((f) => f.clientId === clientId).map((f) => `${f.issuer} ${f.subject}`);
    expect(subjects(a!.clientId)).toEqual([`${SANDBOX_ISSUER} system:serviceaccount:${NS_A}:api`]);
    expect(subjects(b!.clientId)).toEqual([`${SANDBOX_ISSUER} system:serviceaccount:${NS_B}:reports`]);
    // A at vault scope; B per secret (the two it mounts, not A's).
    const scopes = (principal: string): string[] =>
      w.roleAssignments
        .filter((r) => r.principalId === principal && r.roleDefinitionId.endsWith(KEY_VAULT_SECRETS_USER))
        .map((r) => r.scope.toLowerCase())
        .sort();
    expect(scopes(a!.principalId)).toEqual([sc.vault.id.toLowerCase()]);
    expect(scopes(b!.principalId)).toEqual([`${sc.vault.id}/secrets/${B_ONLY}`.toLowerCase(), `${sc.vault.id}/secrets/${SHARED}`.toLowerCase()].sort());

    for (const [ns, sa, ident, spcName] of [
      [NS_A, 'api', a!, 'api-secrets'],
      [NS_B, 'reports', b!, 'reports-secrets'],
    ] as const) {
      const obj = await sc.k.core.readNamespacedServiceAccount({ namespace: ns, name: sa });
      expect(obj.metadata?.annotations?.['azure.workload.identity/client-id']).toBe(ident.clientId);
      const spc = (await sc.k.custom.getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: ns, plural: 'secretproviderclasses', name: spcName })) as {
        spec: { parameters: Record<string, string> };
      };
      expect(spc.spec.parameters.clientID).toBe(ident.clientId);
      // One read per grant scope: A's vault-wide grant one object, B's two new per-secret grants each.
      expect(s.log).toContain(`proof: ${ns}/${sa} read ${ns === NS_A ? 1 : 2} object(s)`);
    }
    await applyObject(sc.k, appDeployment({ namespace: NS_A, name: 'api', serviceAccount: 'api', spc: 'api-secrets' }));
    await applyObject(sc.k, appDeployment({ namespace: NS_B, name: 'reports', serviceAccount: 'reports', spc: 'reports-secrets' }));
  });

  it("the release gate passes with pods of both namespaces on the vault's current versions", async () => {
    const s = await runner.run({ label: 'verify', entry: 'dist/verify/index.js', workspace: sc.workspace });
    expectExit(s, 0);
    const pods = s.report.gate?.pods ?? [];
    expect(pods.filter((p) => p.namespace === NS_A).length).toBeGreaterThan(0);
    expect(pods.filter((p) => p.namespace === NS_B).length).toBeGreaterThan(0);
    const shared = (await sc.secrets.getSecret(SHARED)).properties.version;
    for (const p of pods) {
      expect(p.ok).toBe(true);
      expect(podObject(p, SHARED)?.mounted).toBe(shared);
    }
  });

  it('a change to the shared secret restarts the consumers in both namespaces', async () => {
    const gens = { a: await generation(NS_A, 'api'), b: await generation(NS_B, 'reports') };
    env.SHARED = secretValue('shared2');
    runner.leaks.addSecret('SHARED (changed)', env.SHARED);
    const s = await apply('apply (shared changed)');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([SHARED]);
    expect(jsonOutput(s, 'restarted-workloads').sort()).toEqual([`Deployment/${NS_A}/api`, `Deployment/${NS_B}/reports`].sort());
    expect(await secretVersions(sc.secrets, SHARED)).toHaveLength(2);
    expect(await generation(NS_A, 'api')).toBeGreaterThan(gens.a);
    expect(await generation(NS_B, 'reports')).toBeGreaterThan(gens.b);
    expect(s.outputs.verified).toBe('true');
  });

  it("a change to one namespace's own secret restarts only that namespace's consumer", async () => {
    const gens = { a: await generation(NS_A, 'api'), b: await generation(NS_B, 'reports') };
    env.A_ONLY = secretValue('a2');
    runner.leaks.addSecret('A_ONLY (changed)', env.A_ONLY);
    const s = await apply('apply (a-only changed)');
    expectExit(s, 0);
    expect(jsonOutput(s, 'changed-secrets')).toEqual([A_ONLY]);
    expect(jsonOutput(s, 'restarted-workloads')).toEqual([`Deployment/${NS_A}/api`]);
    expect(await generation(NS_A, 'api')).toBeGreaterThan(gens.a);
    expect(await generation(NS_B, 'reports')).toBe(gens.b);
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(4);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});
