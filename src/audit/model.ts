// The audit's findings and its names in one place (no I/O): what `mode: audit` reports, how a
// finding counts for `fail-on`, and the marker that ties a GitHub issue to a manifest instance.
// Nothing here may hold a secret value: a finding names objects, never their content.

/** Every kind of finding, and whether it is drift (the world differs from the manifest) or expiry (time runs out). */
export const FINDING_KINDS = {
  'secret-missing': 'drift',
  'secret-disabled': 'drift',
  'secret-changed-outside': 'drift',
  'secret-expired': 'expiry',
  'secret-expiring': 'expiry',
  'rotation-overdue': 'expiry',
  'secret-provider-class-drift': 'drift',
  'service-account-drift': 'drift',
  'identity-missing': 'drift',
  'identity-extra': 'drift',
  'credential-missing': 'drift',
  'credential-extra': 'drift',
  'grant-missing': 'drift',
  'grant-extra': 'drift',
  'grant-too-wide': 'drift',
  'pod-stale': 'drift',
  'subpath-mount': 'drift',
} as const;

export type FindingKind = keyof typeof FINDING_KINDS;
export type FindingClass = (typeof FINDING_KINDS)[FindingKind];

export interface Finding {
  kind: FindingKind;
  /** The object concerned: a secret name, `namespace/name`, an identity, a role at a scope. */
  object: string;
  /** One line: what differs. */
  message: string;
  /** One line: what to do about it. */
  fix: string;
  namespace?: string;
}

export const classOf = (f: Pick<Finding, 'kind'>): FindingClass => FINDING_KINDS[f.kind];

/** `fail-on` input: which findings fail the step. */
export const FAIL_ON = ['never', 'drift', 'expiry', 'any'] as const;
export type FailOn = (typeof FAIL_ON)[number];

/** The findings that fail the step under `failOn`. */
export function failing(findings: readonly Finding[], failOn: FailOn): Finding[] {
  if (failOn === 'never') return [];
  return findings.filter((f) => failOn === 'any' || classOf(f) === failOn);
}

/** Default of the manifest's `audit.expiryWarning`: 30 days. */
export const DEFAULT_EXPIRY_WARNING_SECONDS = 30 * 86_400;

/** The label and the hidden body marker of the one issue an instance keeps (its key is hex: no escaping). */
export const ISSUE_LABEL = 'akv-aks-audit';
export const issueMarker = (instanceKey: string): string => `<!-- akv-aks-audit:instance=${instanceKey} -->`;

/** What the issue step did. */
export interface IssueOutcome {
  action: 'opened' | 'updated' | 'reopened' | 'closed' | 'unchanged' | 'none';
  number?: number;
  url?: string;
}

/** The audit as the report and the `audit` output carry it. */
export interface AuditSection {
  instance: string;
  /** When the facts were read (ISO 8601). */
  at: string;
  findings: Finding[];
  counts: { drift: number; expiry: number };
  failOn: FailOn;
  /** True when the findings fail the step under `failOn`. */
  failed: boolean;
  /** Facts that could not be read (a check skipped), value-free. */
  skipped: string[];
  issue?: IssueOutcome;
}

export function auditSection(instance: string, at: Date, findings: Finding[], failOn: FailOn, skipped: string[]): AuditSection {
  const drift = findings.filter((f) => classOf(f) === 'drift').length;
  return { instance, at: at.toISOString(), findings, counts: { drift, expiry: findings.length - drift }, failOn, failed: failing(findings, failOn).length > 0, skipped };
}
