// `mode: audit` end to end, as a runner runs it (`node dist/index.js`), against the sandbox: a
// converged deployment reports nothing; then each kind of drift and expiry is injected the way it
// happens (the SDKs, ARM, kubectl-like patches, an edited manifest) and found by the next audit. The
// issue (`issue: true`) lives in the sandbox's GitHub REST simulator: opened on the first finding,
// updated, closed when clean, reopened; exactly one per manifest instance. Every audit step is
// checked to have written nothing: no Key Vault or ARM write in the sandbox's records, no write of
// the action's user in the kube-apiserver's audit log, and no secret value in any artifact.
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { federatedCredentialName } from '../../src/identity/plan.ts';
import { e2eScenario, errorLines, expectExit, fixture, root, stepRecords, type Step } from '../support/e2e.ts';
import { KEY_VAULT_SECRETS_OFFICER, KEY_VAULT_SECRETS_USER, secretVersions, SUBSCRIPTION } from '../support/azure.ts';
import { appDeployment, applyObject } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control, vaultStats } from '../support/sandbox.ts';

jest.setTimeout(10 * 60_000);

const id = shortId();
const NS = `e2e-audit-${id}`;
const NS_B = `e2e-audit-jobs-${id}`;
const P = `a${id}`;
const ID_WEB = `id-sandbox-${NS}`;
const ID_JOBS = `id-sandbox-${NS_B}`;
const JOBS = `  - namespace: ${NS_B}
    createNamespace: true
    serviceAccount: jobs
    identity: { create: true }
    secretProviderClass: jobs-secrets
    objects:
      - { secret: ${P}-spare, alias: SPARE }
    rotation: csi`;

let githubToken: string;
let issueNumber: number | undefined;
const env: Record<string, string> = { DB_PASSWORD: secretValue('db') };

const sc = e2eScenario({ tag: 'audit', vaultPrefix: 'kv-aud-', namespaces: [NS, NS_B], identities: [ID_WEB, ID_JOBS], env });
const { runner } = sc;

interface Finding {
  kind: string;
  class: string;
  object: string;
  message: string;
  fix: string;
}
interface Audit {
  instance: string;
  findings: Finding[];
  counts: { drift: number; expiry: number };
  failed: boolean;
  issue?: { action: string; number?: number };
}

function writeManifest(vars: { ROTATE_AFTER?: string; SCOPE?: string; JOBS?: string } = {}): void {
  writeFileSync(join(sc.workspace, 'akv-aks.yaml'), fixture('audit.yaml', { VAULT: sc.vault.name, NS, P, ROTATE_AFTER: '30d', SCOPE: 'vault', JOBS, ...vars }));
}

const AUDIT_LOG = join(root, '.sandbox', 'kube', 'logs', 'audit.log');
const KUBE_WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Writes of the action's kubeconfig user the kube-apiserver logged during a step. */
function kubeWritesDuring(s: Step, offset: number): string[] {
  const text = readFileSync(AUDIT_LOG).subarray(offset).toString('utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { verb?: string; user?: { username?: string }; stage?: string; requestReceivedTimestamp?: string; requestURI?: string };
    const at = Date.parse(e.requestReceivedTimestamp ?? '');
    if (e.user?.username === 'clusterUser' && e.stage === 'ResponseComplete' && KUBE_WRITES.has(e.verb ?? '') && at >= s.startedAt - 5 && at <= s.endedAt + 5) out.push(`${e.verb} ${e.requestURI}`);
  }
  return out;
}

/** Runs `mode: audit` and checks it wrote nothing: Key Vault, ARM, Kubernetes. */
async function audit(label: string, inputs: Record<string, string> = {}): Promise<Step & { audit: Audit }> {
  const before = await vaultStats(sc.vault.name);
  const offset = statSync(AUDIT_LOG).size;
  const s = await runner.run({ label, workspace: sc.workspace, env: {}, inputs: { mode: 'audit', 'fail-on': 'never', ...inputs } });
  expect((await vaultStats(sc.vault.name)).writes - before.writes).toBe(0);
  expect((await stepRecords(s)).filter((r) => (r.service === 'arm' || r.service === 'keyvault') && r.class === 'write').map((r) => `${r.method} ${r.path}`)).toEqual([]);
  expect(kubeWritesDuring(s, offset)).toEqual([]);
  if (!s.outputs.audit) throw new Error(`no audit output (exit ${s.exitCode}): ${s.report.error ?? s.log.slice(-2000)}`);
  return Object.assign(s, { audit: JSON.parse(s.outputs.audit) as Audit });
}

const found = (a: Audit, kind: string): string[] => a.findings.filter((f) => f.kind === kind).map((f) => f.object);

async function ourIssues(instance: string): Promise<Array<{ number: number; state: string; title: string }>> {
  const all = (await control<{ issues: Array<{ number: number; state: string; title: string; body: string }> }>('GET', `/github/rest/repos/${runner.repository}/issues`).catch(() => ({ issues: [] })))
    .issues;
  return all.filter((i) => i.body.includes(`akv-aks-audit:instance=${instance}`));
}

async function currentVersionOf(name: string): Promise<string> {
  const versions = await secretVersions(sc.secrets, name);
  return versions.sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0))[0]!.version;
}

async function mergePatch(obj: KubernetesObject): Promise<void> {
  await sc.k.objects.patch(obj, undefined, undefined, 'akv-aks-e2e', undefined, PatchStrategy.MergePatch);
}

async function principalOf(name: string): Promise<string> {
  return (await sc.az.arm.msi.userAssignedIdentities.get('rg-ids', name)).principalId!;
}

const roleId = (guid: string): string => `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

beforeAll(async () => {
  writeManifest();
  githubToken = (await control<{ token: string }>('POST', '/github/rest/tokens', { repository: runner.repository, issues: 'write' })).token;
  runner.leaks.addSecret('github token', githubToken);
});

describe('mode: audit', () => {
  it('a converged deployment: nothing to report, nothing written, no issue', async () => {
    expectExit(await runner.run({ label: 'apply', mode: 'apply', workspace: sc.workspace, env }), 0);
    await applyObject(sc.k, appDeployment({ namespace: NS, name: 'web', serviceAccount: 'web', spc: 'web-secrets' }));
    expectExit(await runner.run({ label: 'verify', entry: 'dist/verify/index.js', workspace: sc.workspace, env: {} }), 0);
    const s = await audit('audit (converged)', { 'fail-on': 'any', issue: 'true', 'github-token': githubToken });
    expectExit(s, 0);
    expect(s.audit.findings).toEqual([]);
    expect(s.audit).toMatchObject({ counts: { drift: 0, expiry: 0 }, failed: false, issue: { action: 'none' } });
    expect(s.summary).toContain('no drift and nothing expiring');
    expect(await ourIssues(s.audit.instance)).toEqual([]);
  });

  it('secret disabled: found, fails the step under fail-on any, and opens the issue', async () => {
    await sc.secrets.updateSecretProperties(`${P}-flag`, await currentVersionOf(`${P}-flag`), { enabled: false });
    const s = await audit('audit (disabled)', { 'fail-on': 'any', issue: 'true', 'github-token': githubToken });
    expectExit(s, 1);
    expect(found(s.audit, 'secret-disabled')).toEqual([`${P}-flag`]);
    expect(s.audit.failed).toBe(true);
    expect(s.report.error).toMatch(/fail-on: any/);
    expect(errorLines(s).some((l) => l.includes('secret-disabled') && l.includes(`${P}-flag`))).toBe(true);
    expect(s.summary).toContain('<th>Fix</th>');
    expect(s.audit.issue).toMatchObject({ action: 'opened' });
    issueNumber = s.audit.issue?.number;
    expect(await ourIssues(s.audit.instance)).toEqual([expect.objectContaining({ number: issueNumber, state: 'open' })]);
  });

  it('service account differs from the render: found, the same issue updated', async () => {
    await mergePatch({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: NS, annotations: { 'azure.workload.identity/client-id': randomUUID() } } });
    const s = await audit('audit (service account)', { 'fail-on': 'expiry', issue: 'true', 'github-token': githubToken });
    expectExit(s, 0); // drift only: fail-on expiry passes
    expect(found(s.audit, 'service-account-drift')).toEqual([`${NS}/web`]);
    expect(s.audit.issue).toMatchObject({ action: 'updated', number: issueNumber });
    expect(await ourIssues(s.audit.instance)).toEqual([expect.objectContaining({ number: issueNumber, state: 'open', title: expect.stringContaining(`${s.audit.findings.length} findings`) })]);
  });

  it('clean again after apply: the issue is closed, still only one', async () => {
    expectExit(await runner.run({ label: 'apply (heals)', mode: 'apply', workspace: sc.workspace, env }), 0);
    const s = await audit('audit (healed)', { issue: 'true', 'github-token': githubToken });
    expect(s.audit.findings).toEqual([]);
    expect(s.audit.issue).toMatchObject({ action: 'closed', number: issueNumber });
    expect(await ourIssues(s.audit.instance)).toEqual([expect.objectContaining({ number: issueNumber, state: 'closed' })]);
  });

  it('secret missing: found, and the closed issue reopened', async () => {
    await (await sc.secrets.beginDeleteSecret(`${P}-spare`)).pollUntilDone();
    const s = await audit('audit (missing)', { issue: 'true', 'github-token': githubToken });
    expectExit(s, 0); // fail-on: never
    expect(found(s.audit, 'secret-missing')).toEqual([`${P}-spare`]);
    expect(s.audit.issue).toMatchObject({ action: 'reopened', number: issueNumber });
    expect(await ourIssues(s.audit.instance)).toEqual([expect.objectContaining({ number: issueNumber, state: 'open' })]);
  });

  it('secret expired, and expiring within audit.expiryWarning', async () => {
    await sc.secrets.updateSecretProperties(`${P}-clock`, await currentVersionOf(`${P}-clock`), { expiresOn: new Date(Date.now() - 3_600_000) });
    await sc.secrets.updateSecretProperties(`${P}-flag`, await currentVersionOf(`${P}-flag`), { expiresOn: new Date(Date.now() + 10 * 86_400_000) });
    const s = await audit('audit (expiry)', { 'fail-on': 'expiry' });
    expectExit(s, 1);
    expect(found(s.audit, 'secret-expired')).toEqual([`${P}-clock`]);
    expect(found(s.audit, 'secret-expiring')).toEqual([`${P}-flag`]);
    expect(s.audit.counts.expiry).toBe(2);
  });

  it('plan shows the audit beside its changes, never failing on it, writing nothing', async () => {
    const before = await vaultStats(sc.vault.name);
    const s = await runner.run({ label: 'plan (with the audit)', mode: 'plan', workspace: sc.workspace, env });
    expectExit(s, 0);
    expect((await vaultStats(sc.vault.name)).writes - before.writes).toBe(0);
    const a = JSON.parse(s.outputs.audit ?? '{}') as Audit;
    expect(found(a, 'secret-expired')).toEqual([`${P}-clock`]);
    expect(a.failed).toBe(false);
    expect(s.summary).toContain('nothing was written');
    expect(s.summary).toContain('Audit: ');
    expect(s.report.plan.find((i) => i.name === `${P}-spare`)).toMatchObject({ action: 'recover' });
  });

  let outside: Step & { audit: Audit };
  it('secret changed outside the action: a version without its tags', async () => {
    const drift = secretValue('outside');
    runner.leaks.addSecret('db written outside', drift);
    await sc.secrets.setSecret(`${P}-db`, drift);
    outside = await audit('audit (outside)');
    expect(found(outside.audit, 'secret-changed-outside')).toContain(`${P}-db`);
  });

  it("pods still on an older version than the vault's", () => {
    const stale = outside.audit.findings.filter((f) => f.kind === 'pod-stale');
    expect(stale.length).toBe(1);
    expect(stale[0]!.object).toMatch(new RegExp(`^${NS}/web-`));
    expect(stale[0]!.message).toContain(`${P}-db`);
  });

  it('generated secret overdue for rotation', async () => {
    writeManifest({ ROTATE_AFTER: '1s' });
    const s = await audit('audit (rotation overdue)');
    expect(found(s.audit, 'rotation-overdue')).toEqual([`${P}-api`]);
    writeManifest();
  });

  it('SecretProviderClass differs from the render', async () => {
    await mergePatch({
      apiVersion: 'secrets-store.csi.x-k8s.io/v1',
      kind: 'SecretProviderClass',
      metadata: { name: 'web-secrets', namespace: NS },
      spec: { parameters: { usePodIdentity: 'true' } },
    } as KubernetesObject);
    const s = await audit('audit (spc)');
    expect(found(s.audit, 'secret-provider-class-drift')).toEqual([`${NS}/web-secrets`]);
  });

  it('subPath mount that can never rotate (rotation: csi)', async () => {
    const d = appDeployment({ namespace: NS_B, name: 'jobs', serviceAccount: 'jobs', spc: 'jobs-secrets' }) as unknown as {
      spec: { template: { spec: { containers: Array<{ volumeMounts: Array<Record<string, unknown>> }> } } };
    } & KubernetesObject;
    d.spec.template.spec.containers[0]!.volumeMounts = [{ name: 'secrets', mountPath: '/etc/spare', subPath: 'SPARE', readOnly: true }];
    // No pod: the template decides, and a pod retrying its mount (the spare is gone) would write events meanwhile.
    (d.spec as { replicas?: number }).replicas = 0;
    await applyObject(sc.k, d);
    const s = await audit('audit (subPath)');
    expect(found(s.audit, 'subpath-mount')).toEqual([`Deployment ${NS_B}/jobs`]);
  });

  it('federated credential missing', async () => {
    await sc.az.arm.msi.federatedIdentityCredentials.delete('rg-ids', ID_WEB, federatedCredentialName('sandbox', NS, 'web'));
    const s = await audit('audit (credential)');
    expect(found(s.audit, 'credential-missing')).toEqual([`${ID_WEB}/${federatedCredentialName('sandbox', NS, 'web')}`]);
  });

  it('role assignment wider than the manifest asks (a role that writes)', async () => {
    await sc.az.arm.authorization.roleAssignments.create(sc.vault.id.replace(/^\/+/, ''), randomUUID(), {
      roleDefinitionId: roleId(KEY_VAULT_SECRETS_OFFICER),
      principalId: await principalOf(ID_WEB),
      principalType: 'ServicePrincipal',
    });
    const s = await audit('audit (too wide)');
    const wide = s.audit.findings.filter((f) => f.kind === 'grant-too-wide');
    expect(wide.map((f) => f.object)).toEqual([`Key Vault Secrets Officer for ${ID_WEB} at vaults/${sc.vault.name}`]);
    expect(wide[0]!.message).toContain('allows more than reading');
  });

  it('role assignment extra: recorded by the manifest, no longer asked for (vault scope -> per secret)', async () => {
    writeManifest({ SCOPE: 'secret' });
    const s = await audit('audit (extra grant)');
    expect(found(s.audit, 'grant-extra')).toEqual([`Key Vault Secrets User for ${ID_WEB} at vaults/${sc.vault.name}`]);
    writeManifest();
  });

  it('role assignment missing', async () => {
    const pid = await principalOf(ID_WEB);
    for await (const a of sc.az.arm.authorization.roleAssignments.listForScope(sc.vault.id.replace(/^\/+/, ''), { filter: `principalId eq '${pid}'` })) {
      if (a.roleDefinitionId?.endsWith(KEY_VAULT_SECRETS_USER) && a.scope?.toLowerCase() === sc.vault.id.toLowerCase())
        await sc.az.arm.authorization.roleAssignments.delete(a.scope.replace(/^\/+/, ''), a.name!);
    }
    const s = await audit('audit (grant missing)');
    expect(found(s.audit, 'grant-missing')).toEqual([`Key Vault Secrets User for ${ID_WEB} at vaults/${sc.vault.name}`]);
  });

  it('identity and federated credential extra: recorded by the manifest, no longer declared, still there', async () => {
    writeManifest({ JOBS: '' });
    const s = await audit('audit (extra identity)');
    expect(found(s.audit, 'identity-extra')).toEqual([ID_JOBS]);
    expect(found(s.audit, 'credential-extra')).toEqual([`${ID_JOBS}/federatedidentitycredentials/${federatedCredentialName('sandbox', NS_B, 'jobs')}`]);
    writeManifest();
  });

  it('identity missing', async () => {
    await sc.az.arm.msi.userAssignedIdentities.delete('rg-ids', ID_WEB);
    const s = await audit('audit (identity missing)', { issue: 'true', 'github-token': githubToken });
    expect(found(s.audit, 'identity-missing')).toEqual([ID_WEB]);
    // Still the one issue of this manifest, updated with every finding.
    expect(s.audit.issue).toMatchObject({ action: 'updated', number: issueNumber });
    expect(await ourIssues(s.audit.instance)).toHaveLength(1);
  });

  it('leaks no secret value (nor the GitHub token) in any log, output, summary or report', () => {
    expect(runner.steps.length).toBeGreaterThanOrEqual(17);
    expect(() => runner.leaks.assertNoLeaks()).not.toThrow();
  });
});
