// What one run would do or did, value-free: the single shape the log, step summary,
// outputs and JSON report are built from. Azure and Kubernetes steps each add their items.

export type PlanAction =
  | 'create'
  | 'update'
  | 'unchanged'
  | 'recover' // a soft-deleted secret brought back before it is written
  | 'adopt' // an unowned secret taken over because the manifest says adopt: true
  | 'refuse' // would overwrite something the action does not own
  | 'prune' // delete something the action owns that the manifest dropped
  | 'keep' // dropped from the manifest, left alone (prune not asked)
  | 'restart'
  | 'delete';

export type PlanKind =
  | 'secret'
  | 'identity'
  | 'federated-credential'
  | 'identity-binding'
  | 'cluster-role'
  | 'cluster-role-binding'
  | 'role-assignment'
  | 'access-policy'
  | 'namespace'
  | 'service-account'
  | 'secret-provider-class'
  | 'workload';

export interface PlanItem {
  kind: PlanKind;
  /** Human-readable name: secret name, `ns/name`, identity name, role@scope... never a value. */
  name: string;
  action: PlanAction;
  /** Namespace the item belongs to, when it belongs to one. */
  namespace?: string;
  /** Short value-free reason: "value changed", "rotateAfter 30d elapsed", "issuer differs"... */
  reason?: string;
}

export function isWrite(item: PlanItem): boolean {
  return item.action !== 'unchanged' && item.action !== 'keep' && item.action !== 'refuse';
}

/** A step's failure after it planned: the value-free planned items travel with it to the report. */
export class PlannedStepError extends Error {
  readonly items: PlanItem[];
  constructor(message: string, items: PlanItem[], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PlannedStepError';
    this.items = items;
  }
}

/** A secret's state after the vault step: what the gate expects pods to have mounted. */
export interface SecretVersion {
  /** Secret name in the vault (as declared in the manifest). */
  name: string;
  /** Current version id in the vault after this run (latest enabled version); undefined in plan mode for a new secret. */
  version?: string;
  /** True when this run wrote (or, in plan mode, would write) a new version. */
  changed: boolean;
}
