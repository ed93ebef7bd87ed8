// Failures a team meets, end to end through the bundle, each ending in a precise message:
// - broken federation: the `oidc-issuer` input with a trailing slash (not byte-exact) federates the
//   service account on the wrong issuer; the proof of access fails with Entra's AADSTS70021 and the
//   diagnosis names both issuers; the next run with the right issuer repairs the credential;
// - a federated credential deleted through ARM: a restarted pod cannot exchange its token; the
//   gate's diagnosis names the presented issuer and subject; apply writes the credential again;
// - missing role: the identity's Key Vault role assignment deleted through ARM after apply; a pod
//   restarted then cannot mount; the release gate (verify) fails with the RBAC diagnosis; apply
//   grants it again and the gate passes.
import { describe, expect, it, jest } from '@jest/globals';
import { e2eScenario, errorLines, expectExit, fixture, SANDBOX_ISSUER, type Step } from '../support/e2e.ts';
import { KEY_VAULT_SECRETS_USER } from '../support/azure.ts';
import { appDeployment, applyObject, rolloutRestart } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-fail-${id}`;
const P = `f${id}`;
const IDENTITY = `id-sandbox-${NS}`;
const WRONG_ISSUER = `${SANDBOX_ISSUER}/`;

const env = { APP_TOKEN: secretValue('app') };

const sc = e2eScenario({
  tag: 'fail',
  vaultPrefix: 'kv-e2f-',
  namespaces: [NS],
  identities: [IDENTITY],
  env,
  manifest: (vault) => fixture('single-target.yaml', { VAULT: vault.name, NS, P }),
});
const { runner } = sc;

const run = (label: string, mode: 'apply' | 'verify', inputs: Record<string, string> = {}): Promise<Step> =>
  mode === 'verify'
    ? runner.run({ label, entry: 'dist/verify/index.js', workspace: sc.workspace, inputs: { timeout: '90s', ...inputs } })
    : runner.run({ label, mode, workspace: sc.workspace, env, inputs });

interface World {
  identities: Array<{ name: string; clientId: string; principalId: string }>;
  federatedCredentials: Array<{ clientId: string; name: string; issuer: string; subject: string }>;
  roleAssignments: Array<{ id: string; name: string; scope: string; principalId: string; roleDefinitionId: string }>;
}
const world = (): Promise<World> => control<World>('GET', '/world');

describe('broken federation', () => {
  it('a service-account issuer that is not byte-exact: the step fails with AADSTS70021 naming both issuers', async () => {
    const s = await run('apply (issuer with a trailing slash)', 'apply', { 'oidc-issuer': WRONG_ISSUER, timeout: '20s' });
    expectExit(s, 1);
    // The credential was written as asked, on the wrong issuer.
    const w = await world();
    const ident = w.identities.find((i) => i.name === IDENTITY)!;
    expect(ident).toBeDefined();
    const fic = w.federatedCredentials.find((f) => f.clientId === ident.clientId);
    expect(fic).toMatchObject({ issuer: WRONG_ISSUER, subject: `system:serviceaccount:${NS}:app` });

    const error = s.report.error ?? '';
    expect(error).toContain('AADSTS70021');
    expect(error).toContain(`${NS}/app`);
    // Both issuers: the one the service-account token presents and the one the credential holds.
    expect(error).toContain(JSON.stringify(SANDBOX_ISSUER));
    expect(error).toContain(JSON.stringify(WRONG_ISSUER));
    expect(error).toContain(`system:serviceaccount:${NS}:app`);
    const annotated = errorLines(s).join('\n');
    expect(annotated).toContain('AADSTS70021');
    expect(annotated).toContain(JSON.stringify(WRONG_ISSUER));
    expect(s.outputs.verified).toBe('false');
    expect(s.summary).toContain('AADSTS70021');
    expect(s.summary).toMatch(/apply failed/);
  });

  it("the next run with the cluster's own issuer repairs the federated credential and proves access", async () => {
    const s = await run('apply (issuer discovered)', 'apply');
    expectExit(s, 0);
    const fedItems = s.report.plan.filter((i) => i.kind === 'federated-credential');
    expect(fedItems.some((i) => i.action === 'update' || i.action === 'create')).toBe(true);
    const w = await world();
    const ident = w.identities.find((i) => i.name === IDENTITY)!;
    const fics = w.federatedCredentials.filter((f) => f.clientId === ident.clientId);
    expect(fics.map((f) => f.issuer)).toEqual([SANDBOX_ISSUER]);
    expect(s.report.cluster?.issuer).toBe(SANDBOX_ISSUER);
    expect(s.log).toContain(`proof: ${NS}/app read 1 object(s)`);
  });
});

describe('federated credential deleted through ARM', () => {
  it('a restarted pod cannot exchange its token: the gate fails with the federation diagnosis; apply writes it again', async () => {
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'fed', serviceAccount: 'app', spc: 'app-secrets' }));
    const w = await world();
    const ident = w.identities.find((i) => i.name === IDENTITY)!;
    const fics = w.federatedCredentials.filter((f) => f.clientId === ident.clientId);
    expect(fics).toHaveLength(1);
    await sc.az.arm.msi.federatedIdentityCredentials.delete('rg-ids', IDENTITY, fics[0]!.name);
    await rolloutRestart(sc.k, NS, 'fed');

    // Entra answers AADSTS70021 for a credential that has not propagated yet too: the gate waits its budget.
    const s = await run('verify (credential deleted)', 'verify', { timeout: '30s' });
    expectExit(s, 1);
    const fed = (s.report.gate?.diagnoses ?? []).find((d) => d.cause === 'federation-mismatch');
    expect(fed).toBeDefined();
    expect(fed!.message).toContain('AADSTS70021');
    expect(fed!.message).toContain(`presented issuer '${SANDBOX_ISSUER}'`);
    expect(fed!.message).toContain(`system:serviceaccount:${NS}:app`);
    expect(fed!.fix).toContain(`issuer '${SANDBOX_ISSUER}'`);
    expect(s.summary).toContain('federation-mismatch');

    const again = await run('apply (credential written again)', 'apply');
    expectExit(again, 0);
    expect(again.report.plan.some((i) => i.kind === 'federated-credential' && i.action === 'create')).toBe(true);
    expect(again.outputs.verified).toBe('true');
    const after = (await world()).federatedCredentials.filter((f) => f.clientId === ident.clientId);
    expect(after.map((f) => `${f.issuer} ${f.subject}`)).toEqual([`${SANDBOX_ISSUER} system:serviceaccount:${NS}:app`]);
  });
});

describe('missing role', () => {
  it('the role assignment deleted through ARM: a restarted pod cannot mount and the gate fails with the RBAC diagnosis', async () => {
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'app', serviceAccount: 'app', spc: 'app-secrets' }));
    const ok = await run('verify (healthy)', 'verify');
    expectExit(ok, 0);

    const w = await world();
    const ident = w.identities.find((i) => i.name === IDENTITY)!;
    const grants = w.roleAssignments.filter((r) => r.principalId === ident.principalId && r.scope.toLowerCase().startsWith(sc.vault.id.toLowerCase()));
    expect(grants.length).toBeGreaterThan(0);
    for (const g of grants) {
      expect(g.roleDefinitionId.endsWith(KEY_VAULT_SECRETS_USER)).toBe(true);
      await sc.az.arm.authorization.roleAssignments.delete(g.scope.replace(/^\/+/, ''), g.name);
    }
    await rolloutRestart(sc.k, NS, 'app');

    // A 403 can be a propagation delay: the gate waits its whole budget before diagnosing it.
    const s = await run('verify (role deleted)', 'verify', { timeout: '30s' });
    expectExit(s, 1);
    expect(s.outputs.verified).toBe('false');
    const diagnoses = s.report.gate?.diagnoses ?? [];
    const rbac = diagnoses.find((d) => d.cause === 'missing-role');
    expect(rbac).toBeDefined();
    expect(rbac!.message).toMatch(/RBAC/);
    expect(rbac!.message).toContain(sc.vault.name);
    expect(rbac!.fix).toContain('Key Vault Secrets User');
    expect(rbac!.namespace).toBe(NS);
    expect(errorLines(s).some((l) => l.includes('missing-role'))).toBe(true);
    expect(s.summary).toContain('Diagnosis');
    expect(s.summary).toContain('missing-role');
  });

  it('apply grants the role again and the gate passes', async () => {
    const s = await run('apply (grant again)', 'apply');
    expectExit(s, 0);
    expect(s.report.plan.some((i) => i.kind === 'role-assignment' && i.action === 'create')).toBe(true);
    expect(s.outputs.verified).toBe('true');
    const w = await world();
    const ident = w.identities.find((i) => i.name === IDENTITY)!;
    expect(w.roleAssignments.some((r) => r.principalId === ident.principalId && r.roleDefinitionId.endsWith(KEY_VAULT_SECRETS_USER))).toBe(true);
  });

  it('leaks no secret value in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(7);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});
