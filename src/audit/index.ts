// `mode: audit`: reads what the manifest's chain looks like now (facts.ts, the vault gateway), finds
// drift and expiry (evaluate.ts), and optionally keeps the instance's GitHub issue up to date
// (issue.ts). It writes nothing to Key Vault, ARM or Kubernetes and reads no secret value.
import * as runner from '../runner/index.ts';
import { azureStatusOf as azureStatus, messageOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import type { KubeSession } from '../kube/client.ts';
import type { GrantLedger } from '../ledger/model.ts';
import type { LedgerBook } from '../ledger/store.ts';
import type { Manifest } from '../manifest/types.ts';
import { textTable } from '../util/table.ts';
import { indexVersions } from '../rotate/decide.ts';
import { logSafe } from '../util/escape.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { readVaultForAudit } from '../vault/index.ts';
import { evaluateAudit } from './evaluate.ts';
import type { AuditFacts } from './evaluate.ts';
import { clientIdsOf, readAzureFacts, readKubeFacts } from './facts.ts';
import { AUDIT_HEADER, auditCounts, auditRows, issueBody, issueTitle } from './format.ts';
import { syncIssue } from './issue.ts';
import type { GitHubTarget } from './issue.ts';
import { auditSection } from './model.ts';
import type { AuditSection, FailOn, IssueOutcome } from './model.ts';

export interface AuditOptions {
  ledger: LedgerBook;
  /** The cluster's service-account issuer; undefined: federated credentials are not compared. */
  issuer?: string;
  tenantId: string;
  cloudName?: string;
  failOn: FailOn;
  now?: Date;
}

/** Runs `read`; a 403 (the identity may not read it) skips that check with a note instead of failing the audit. */
async function unlessForbidden<T>(what: string, skipped: string[], read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (azureStatus(e) !== 403) throw e;
    skipped.push(`${what} (forbidden: ${messageOf(e).split('\n')[0]?.slice(0, 200) ?? ''})`);
    return undefined;
  }
}

async function collect(session: AzureSession, vault: VaultInfo, kube: KubeSession, manifest: Manifest, opts: AuditOptions, skipped: string[]): Promise<AuditFacts> {
  const state = await readVaultForAudit(session, vault, manifest);
  if (!state.index) runner.info('version index: none readable for this manifest: changes outside the action are told by the tags alone');
  const ledger: GrantLedger | undefined = await unlessForbidden("this manifest's ledger (extra identities, credentials and grants)", skipped, () => opts.ledger.own());
  if (!opts.issuer) skipped.push("federated credentials (the cluster's issuer is unknown: set the `oidc-issuer` input)");
  const azure = await unlessForbidden('identities, federated credentials and role assignments (ARM)', skipped, () => readAzureFacts(session, vault, manifest, opts.issuer, ledger));
  const kubeFacts = await readKubeFacts(kube, manifest, { tenantId: opts.tenantId, cloudName: opts.cloudName, clientIds: clientIdsOf(azure?.identities ?? []) });
  return { now: opts.now ?? new Date(), secrets: { live: state.live, index: state.index, missingKeys: state.missingKeys }, versions: indexVersions(state.secrets), azure, kube: kubeFacts };
}

/** Reads, evaluates and logs the audit; never writes. */
export async function runAudit(session: AzureSession, vault: VaultInfo, kube: KubeSession, manifest: Manifest, opts: AuditOptions): Promise<AuditSection> {
  const skipped: string[] = [];
  const facts = await collect(session, vault, kube, manifest, opts, skipped);
  const section = auditSection(manifest.instance.key, facts.now, evaluateAudit(manifest, facts), opts.failOn, skipped);
  runner.info(`audit: ${auditCounts(section)}`);
  if (section.findings.length) for (const line of textTable(AUDIT_HEADER, auditRows(section))) runner.info(line);
  for (const s of skipped) runner.info(`not checked: ${logSafe(s, 300)}`);
  return section;
}

/** Opens, updates or closes the instance's issue (`issue: true`). */
export async function auditIssue(target: GitHubTarget, manifest: Manifest, section: AuditSection, context: { manifest: string; vault: string }): Promise<IssueOutcome> {
  const want = { title: issueTitle(manifest.instance, section), body: issueBody(manifest.instance, section, context), clean: section.findings.length === 0 };
  const outcome = await syncIssue(target, manifest.instance.key, want);
  runner.info(`audit issue: ${outcome.action}${outcome.number ? ` #${outcome.number}` : ''}${outcome.url ? ` ${outcome.url}` : ''}`);
  return outcome;
}
