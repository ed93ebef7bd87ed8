// The value-free record of one run, from which the log, the step summary, the outputs and the
// JSON `report` output are all produced. Nothing in here may hold a secret value.
import type { PlanItem, SecretVersion } from '../plan/types.ts';

export interface GateObjectRow {
  object: string;
  expected?: string;
  mounted?: string;
  ok: boolean;
}

export interface GatePodRow {
  namespace: string;
  pod: string;
  node?: string;
  workload?: string;
  phase: string;
  ready: boolean;
  objects: GateObjectRow[];
  lastEvent?: string;
  ok: boolean;
}

export interface GateDiagnosis {
  cause: string;
  message: string;
  fix: string;
  namespace?: string;
  pod?: string;
}

export interface GateSection {
  passed: boolean;
  waitedMs: number;
  pods: GatePodRow[];
  diagnoses: GateDiagnosis[];
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
  /** Value-free error message when the run failed. */
  error?: string;
  durationMs?: number;
}

export function emptyReport(mode: string, manifest: string): RunReport {
  return { mode, manifest, plan: [], secrets: [], restarted: [], warnings: [], verified: false };
}
