// The whole chain, in order, for one mode. Each step is a plain function of the settings and
// what earlier steps found; this file only sequences them, logs sections and fills the report.
import * as runner from '../runner/index.ts';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Settings } from '../context.ts';
import { resolveCloud } from '../auth/cloud.ts';
import { login, type AzureSession } from '../auth/login.ts';
import type { KubeSession } from '../kube/client.ts';
import { parseManifest } from '../manifest/load.ts';
import { ManifestReadError, readManifestText } from '../manifest/read.ts';
import { ManifestError, usesBinding, type Manifest, type ManifestDocument } from '../manifest/types.ts';
import { PlannedStepError, type PlanItem } from '../plan/types.ts';
import { planProof, provable } from '../identity/prove-plan.ts';
import { planBindingProof } from '../identity/prove-binding-plan.ts';
import { auditFailure } from '../audit/format.ts';
import { countByAction, gateLogLines, planLogLines } from '../report/format.ts';
import type { RunReport } from '../report/model.ts';
import type { LedgerBook } from '../ledger/store.ts';
import { formatDuration } from '../util/duration.ts';
import { logSafe } from '../util/escape.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { maskValues } from '../runner/mask.ts';
import { startedEarly } from '../util/concurrency.ts';
import { keepYoungGenerationSmallFor } from '../util/heap.ts';

type Steps = typeof import('./steps.ts');

async function section<T>(title: string, fn: () => Promise<T>): Promise<T> {
  return runner.group(title, fn);
}

/** Masks every env-sourced value (and each of its lines) before any step could print it. */
export function maskEnvValues(manifest: Manifest, env: Record<string, string | undefined>): void {
  maskValues(manifest.secrets.flatMap((s) => (s.source.kind === 'env' ? [env[s.source.env] ?? ''] : [])));
}

/**
 * Loads the manifest, naming it as the user wrote it (relative to the workspace) in every error, and
 * annotating each problem on its line so it shows in the pull request's files view.
 */
export function readManifest(file: string, shownAs: string, env: Record<string, string | undefined> | undefined, workspace?: string, repository?: string): ManifestDocument {
  let text: string;
  try {
    text = readManifestText(file, { shownAs, within: workspace });
  } catch (e) {
    if (!(e instanceof ManifestReadError)) throw e;
    throw new Error(`${e.message}${e.code === 'ENOENT' ? ' (the `manifest` input is relative to the workspace)' : ''}`);
  }
  keepYoungGenerationSmallFor(text.length);
  try {
    return parseManifest(text, shownAs, { env, repository });
  } catch (e) {
    if (e instanceof ManifestError) {
      // The first issues only (the message counts the rest); text escaped, the file name by the command's property escaping.
      for (const i of e.shown) {
        runner.error(logSafe(`${i.path ? `${i.path}: ` : ''}${i.message}`, 2_000), { title: 'akv-aks manifest', file: shownAs, startLine: i.line, startColumn: i.col });
      }
    }
    throw e;
  }
}

function logPlan(title: string, items: PlanItem[]): void {
  runner.info(`${title}: ${countByAction(items)}`);
  for (const line of planLogLines(items)) runner.info(`  ${line}`);
}

/** Runs the pipeline for `settings.mode`, filling `report` as it goes (also when it throws). */
export async function runPipeline(settings: Settings, report: RunReport): Promise<void> {
  const started = Date.now();
  const deadline = started + settings.timeoutMs;
  const manifest = await manifestStep(settings, report);
  const run = await connect(settings, manifest, report);
  const { S, session, vault, kube, ledger } = run;
  if (settings.mode === 'cleanup' || settings.mode === 'plan-cleanup') {
    await cleanup(S, settings, manifest, session, vault, kube, report, ledger);
    return;
  }
  if (settings.mode === 'audit') {
    await audit(S, settings, manifest, { session, vault, kube, ledger, cloudName: run.cloudName }, report);
    return;
  }
  if (settings.mode === 'verify') {
    report.secrets = await S.currentVersions(session, vault, manifest, ledger);
    await gate(S, settings, manifest, kube, report, deadline, {});
    return;
  }
  await deploy(settings, run, report, deadline);
}

/** Reads the manifest (named as the user wrote it) and masks the values it sources from the environment. */
async function manifestStep(settings: Settings, report: RunReport): Promise<Manifest> {
  const manifestFile = isAbsolute(settings.manifestPath) ? settings.manifestPath : resolve(settings.workspace, settings.manifestPath);
  const inWorkspace = relative(settings.workspace, manifestFile);
  // Named as the user wrote it when it is not under the workspace (`../../proc/...` would mislead).
  report.manifest = inWorkspace && !inWorkspace.startsWith('..') ? inWorkspace : settings.manifestPath;
  // Only these modes write secret values, so only they need them in the environment.
  const writes = settings.mode === 'plan' || settings.mode === 'apply' || settings.mode === 'rotate';
  const doc = await section('Manifest', async () => {
    const d = readManifest(manifestFile, report.manifest, writes ? settings.env : undefined, settings.workspace, settings.repository);
    maskEnvValues(d.manifest, settings.env);
    runner.info(`${logSafe(report.manifest)}: ${d.manifest.secrets.length} secrets, ${d.manifest.targets.length} targets, vault ${d.manifest.vault.name}`);
    return d;
  });
  report.vault = { name: doc.manifest.vault.name };
  return doc.manifest;
}

/** What every mode works with once logged in: the steps, the sessions, the vault and its ledger. */
interface Connected extends AuditIo {
  S: Steps;
  manifest: Manifest;
  cloudName: string;
}

async function connect(settings: Settings, manifest: Manifest, report: RunReport): Promise<Connected> {
  const cloud = resolveCloud(settings.environment, settings.env);
  let loading: Promise<Steps> | undefined;
  const session = await section('Login (GitHub OIDC → Microsoft Entra)', async () => {
    const pending = login({ clientId: settings.clientId, tenantId: settings.tenantId, subscriptionId: settings.subscriptionId, cloud, audience: settings.audience });
    loading = import('./steps.ts'); // parsed while the token exchange is on the wire
    const s = await pending;
    runner.info(`logged in as ${settings.clientId} in tenant ${settings.tenantId} (${cloud.name})`);
    return s;
  });
  const S = await (loading ?? import('./steps.ts'));
  const vault = await S.describeVault(session, manifest);
  // Who this manifest is in the shared vault: its ledger, read once and shared by every step.
  const ledger = S.ledgerBook(session, vault, manifest.instance);
  report.vault = { name: vault.name, uri: vault.uri, authorization: vault.rbac ? 'rbac' : 'access-policy' };
  const kube = S.connectKube({ kubeconfig: settings.kubeconfig, context: settings.kubeContext });
  report.cluster = { context: kube.context, server: kube.server };
  return { S, manifest, session, vault, ledger, kube, cloudName: cloud.csiCloudName };
}

/** plan, apply and rotate: secrets, identities, Kubernetes objects, proof, rotation, then the gate (or the audit in plan). */
async function deploy(settings: Settings, run: Connected, report: RunReport, deadline: number): Promise<void> {
  const { S, manifest, kube } = run;
  const planMode = settings.mode === 'plan';
  const azureMode = planMode ? 'plan' : 'apply';
  if (manifest.targets.some(usesBinding)) {
    // Identity-binding mounts need the CSIDriver to request the token proxy's audience: checked before anything is written.
    const problem = await S.bindingAudienceProblem(kube);
    if (problem && !planMode) throw new Error(problem);
    if (problem) report.warnings.push(problem);
  }
  // Pods created before this instant cannot hold what this run writes (restart and gate evidence).
  const changedAt = new Date();
  const ahead = readAhead(settings, run);
  await syncStep(settings, run, report, deadline);
  const issuer = await ahead.issuer;
  report.cluster = { ...report.cluster, issuer: issuer || undefined };
  const ids = await section('Identities, federation and vault access', async () => {
    const r = await S.ensureIdentities(run.session, run.vault, manifest, {
      mode: azureMode,
      issuer,
      ledger: run.ledger,
      bindingTimeoutMs: Math.max(1_000, deadline - Date.now()),
      reads: ahead.identities,
    });
    logPlan('identities', r.items);
    return r;
  });
  report.plan.push(...ids.items);
  report.warnings.push(...ids.warnings);
  // The vault as the later steps see it: with the access-policy entries the identity step added.
  const granted: VaultInfo = { ...run.vault, accessPolicies: ids.accessPolicies };
  const clientIds: Record<string, string> = {};
  for (const i of ids.identities) if (i.clientId) clientIds[i.namespace] = i.clientId;
  const kubeItems = await section('Kubernetes objects', async () => {
    const items = await S.applyKubeObjects(kube, manifest, { tenantId: settings.tenantId, cloudName: run.cloudName, clientIds }, { mode: azureMode, owned: ahead.owned });
    logPlan('kubernetes', items);
    return items;
  });
  report.plan.push(...kubeItems);
  if (!planMode) await prove(settings, run, granted, ids, kubeItems, deadline);
  const rotation = await section('Rotation', async () => {
    const r = await S.restartChangedWorkloads(kube, manifest, report.secrets, { mode: azureMode, changedAt });
    logPlan('workloads', r.items);
    return r;
  });
  report.plan.push(...rotation.items);
  report.restarted = rotation.restarted.map((w) => ({ kind: w.kind, namespace: w.namespace, name: w.name, reason: w.reason }));
  report.warnings.push(...rotation.warnings);
  if (!planMode && settings.gate) await gate(S, settings, manifest, kube, report, deadline, { changedAt, issuer: issuer || undefined });
  else if (!planMode) report.verified = false;
  if (planMode) await auditInPlan(S, settings, manifest, { session: run.session, vault: granted, kube, ledger: run.ledger, cloudName: run.cloudName }, report, issuer || undefined);
}

/**
 * The later steps' reads that depend only on the manifest, the vault and the cluster (not on what the
 * secret sync writes), started before it so that their round trips overlap it: the identity step's
 * ARM reads, the cluster's issuer, the objects this manifest applied before. Each failure surfaces
 * where its step awaits it, after the sync, as when read there.
 */
function readAhead(settings: Settings, run: Connected): { identities: ReturnType<Steps['startIdentityReads']>; owned: ReturnType<Steps['startOwnedObjects']>; issuer: Promise<string> } {
  const { S, manifest, kube } = run;
  const needsIssuer = manifest.targets.some((t) => (t.identity.mode === 'managed' || t.identity.mode === 'existing') && !usesBinding(t));
  const given = settings.oidcIssuer ?? manifest.cluster.oidcIssuer;
  const issuer = startedEarly(!needsIssuer ? Promise.resolve('') : given !== undefined ? Promise.resolve(given) : S.readServiceAccountIssuer(kube));
  return { identities: S.startIdentityReads(run.session, run.vault, manifest), owned: S.startOwnedObjects(kube, manifest), issuer };
}

async function syncStep(settings: Settings, run: Connected, report: RunReport, deadline: number): Promise<void> {
  const sync = await section(`Key Vault ${run.vault.name}`, async () => {
    const r = await withPlannedItems(report, () =>
      run.S.syncSecrets(run.session, run.vault, run.manifest, {
        mode: settings.mode === 'rotate' ? 'rotate' : settings.mode === 'plan' ? 'plan' : 'apply',
        env: settings.env,
        now: new Date(),
        commit: settings.commit,
        ledger: run.ledger,
        leaseTimeoutMs: Math.max(1_000, deadline - Date.now()),
      }),
    );
    logPlan('secrets', r.items);
    return r;
  });
  report.plan.push(...sync.items);
  report.secrets = sync.secrets;
}

type IdentityStep = Awaited<ReturnType<Steps['ensureIdentities']>>;

/** Apply and rotate: what this run changed (the identity and Kubernetes steps' own items) decides what is proven. */
async function prove(settings: Settings, run: Connected, granted: VaultInfo, ids: IdentityStep, kubeItems: PlanItem[], deadline: number): Promise<void> {
  const { S, manifest, kube } = run;
  const changed = [...ids.items, ...kubeItems];
  const proofs = planProof(settings.prove, { targets: manifest.targets, identities: ids.identities, items: changed, cluster: manifest.cluster.name, vaultName: run.vault.name });
  if (proofs.length) {
    await section('Proof of access (as a pod would)', () => {
      for (const p of proofs) runner.info(`proof: ${p.target.namespace}/${p.target.serviceAccount}: ${p.objects.length} object(s) (${p.why})`);
      return S.proveAccess(run.session, granted, manifest, ids.identities, (ns, sa) => S.serviceAccountToken(kube, ns, sa), { timeoutMs: Math.max(1_000, deadline - Date.now()), targets: proofs });
    });
  }
  // Bound targets: the AKS token proxy's RBAC decision, asked of the cluster before any restart.
  const bindingProofs = planBindingProof(settings.prove, { targets: manifest.targets, identities: ids.identities, items: changed });
  if (bindingProofs.length) {
    await section('Proof of access (identity bindings: the token proxy check)', () => {
      for (const p of bindingProofs) runner.info(`proof: ${p.namespace}/${p.serviceAccount}: use-managed-identity ${p.clientId} (${p.why})`);
      return S.proveBindingAccess(kube, bindingProofs, { timeoutMs: Math.max(1_000, deadline - Date.now()) });
    });
  }
  if (!proofs.length && settings.prove !== 'never' && manifest.targets.some(provable)) {
    runner.info(`proof of access: skipped, no identity chain or mount changed in this run (prove-access: ${settings.prove}; the gate checks the pods)`);
  }
}

/** `plan` shows the audit's findings too (read-only); they never fail the plan, nor does an audit that cannot run. */
async function auditInPlan(S: Steps, settings: Settings, manifest: Manifest, io: AuditIo, report: RunReport, issuer?: string): Promise<void> {
  try {
    report.audit = await section('Audit: drift and expiry', () =>
      S.runAudit(io.session, io.vault, io.kube, manifest, { ledger: io.ledger, issuer, tenantId: settings.tenantId, cloudName: io.cloudName, failOn: 'never' }),
    );
  } catch (e) {
    report.warnings.push(`the audit did not run with the plan: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
}

/** Runs a step; when it fails after planning, the items it planned (refusals...) still reach the report. */
export async function withPlannedItems<T>(report: RunReport, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PlannedStepError) {
      report.plan.push(...e.items);
      logPlan('planned before the failure', e.items);
    }
    throw e;
  }
}

/** Removes what the action created for the manifest, in reverse order; never what it does not own. */
async function cleanup(S: Steps, settings: Settings, manifest: Manifest, session: AzureSession, vault: VaultInfo, kube: KubeSession, report: RunReport, ledger: LedgerBook): Promise<void> {
  // The issuer only narrows which federated credentials count as the action's: unknown is acceptable.
  const issuer = settings.oidcIssuer ?? manifest.cluster.oidcIssuer ?? (await S.readServiceAccountIssuer(kube).catch(() => undefined));
  const mode = settings.mode === 'cleanup' ? 'apply' : 'plan';
  await section(mode === 'plan' ? 'Clean-up plan (nothing is deleted)' : 'Clean-up', async () => {
    // A CleanupError carries the items done and not done: withPlannedItems reports them.
    const r = await withPlannedItems(report, () => S.runCleanup(session, vault, kube, manifest, { mode, issuer, ledger }));
    logPlan('clean-up', r.items);
    report.plan.push(...r.items);
  });
}

/** The sessions and the ledger the audit reads through (those of the run). */
interface AuditIo {
  session: AzureSession;
  vault: VaultInfo;
  kube: KubeSession;
  ledger: LedgerBook;
  cloudName?: string;
}

/** Reports drift and expiry, writing nothing; keeps the instance's issue when asked; fails per `fail-on`. */
async function audit(S: Steps, settings: Settings, manifest: Manifest, io: AuditIo, report: RunReport): Promise<void> {
  const issuer = settings.oidcIssuer ?? manifest.cluster.oidcIssuer ?? (await S.readServiceAccountIssuer(io.kube).catch(() => undefined));
  const found = await section('Audit: drift and expiry (nothing is written)', () =>
    S.runAudit(io.session, io.vault, io.kube, manifest, { ledger: io.ledger, issuer, tenantId: settings.tenantId, cloudName: io.cloudName, failOn: settings.failOn }),
  );
  report.audit = found;
  if (settings.issue && settings.githubToken && settings.repository) {
    const target = { apiUrl: settings.githubApiUrl, repository: settings.repository, token: settings.githubToken };
    found.issue = await section('Audit issue', () => S.auditIssue(target, manifest, found, { manifest: report.manifest, vault: io.vault.name }));
  } else if (settings.issue) {
    report.warnings.push('issue: true needs GITHUB_REPOSITORY (set on every runner): no issue was kept');
  }
  if (found.failed) throw new Error(auditFailure(found));
}

async function gate(S: Steps, settings: Settings, manifest: Manifest, kube: KubeSession, report: RunReport, deadline: number, hints: { changedAt?: Date; issuer?: string }): Promise<void> {
  const result = await section('Gate: pods mounted the expected versions', async () => {
    const r = await S.runGate(kube, manifest, report.secrets, { timeoutMs: Math.max(1_000, deadline - Date.now()), ...hints });
    report.warnings.push(...(r.warnings ?? []));
    for (const line of gateLogLines(r.pods)) runner.info(line);
    runner.info(`gate ${r.passed ? 'passed' : 'failed'} after ${formatDuration(r.waitedMs)}`);
    return r;
  });
  report.gate = { passed: result.passed, waitedMs: result.waitedMs, pods: result.pods, diagnoses: result.diagnoses };
  report.verified = result.passed;
  if (!result.passed) {
    const causes = result.diagnoses.map((d) => `${d.cause}${d.pod ? ` (${d.namespace}/${d.pod})` : ''}: ${d.message}`);
    throw new Error(`the gate failed${settings.mode === 'verify' ? '' : ` after ${settings.mode}`}: ${causes.join('; ') || 'pods did not converge'}`);
  }
}
