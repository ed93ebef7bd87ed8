// The value-free record of one run, from which the log, the step summary, the outputs and the
// JSON `report` output are all produced. Nothing in here may hold a secret value.
import type { AuditSection } from '../audit/model.ts';
import type { Diagnosis, PodReport } from '../gate/index.ts';
import type { PlanItem, SecretVersion } from '../plan/types.ts';

// The gate's own row types: the report carries them as they are (type-only, so the report module
// does not load the gate's code).
export type { Diagnosis as GateDiagnosis, PodObjectReport as GateObjectRow, PodReport as GatePodRow } from '../gate/index.ts';

export interface GateSection {
  passed: boolean;
  waitedMs: number;
  pods: PodReport[];
  diagnoses: Diagnosis[];
}

export interface RestartRow {
  kind: string;
  namespace: string;
  name: string;
  reason: string;
}

export interface RunReport {
  mode: string;
  manifest: string;
  vault?: { name: string; uri?: string; authorization?: 'rbac' | 'access-policy' };
  cluster?: { context?: string; server?: string; issuer?: string };
  plan: PlanItem[];
  secrets: SecretVersion[];
  restarted: RestartRow[];
  warnings: string[];
  gate?: GateSection;
  verified: boolean;
  /** `mode: audit`: the findings (value-free) and the issue kept. */
  audit?: AuditSection;
  /** Value-free error message when the run failed. */
  error?: string;
  durationMs?: number;
}

export function emptyReport(mode: string, manifest: string): RunReport {
  return { mode, manifest, plan: [], secrets: [], restarted: [], warnings: [], verified: false };
}
