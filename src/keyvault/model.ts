// The vault as the steps see it, and the error of the Key Vault steps (no I/O here).
import { PlannedStepError, type PlanItem } from '../plan/types.ts';

/** Metadata of a secret's current version, as LIST returns it (no value). */
export interface LiveSecret {
  name: string;
  /** Version id when known (LIST does not return it). */
  version?: string;
  enabled?: boolean;
  tags: Record<string, string>;
  contentType?: string;
  createdOn?: Date;
  /** When the current version was written or its properties last changed (whole seconds). */
  updatedOn?: Date;
  expiresOn?: Date;
  notBefore?: Date;
  /** True for the secret backing a Key Vault certificate. */
  managed?: boolean;
}

export interface DeletedSecretInfo {
  name: string;
  tags: Record<string, string>;
}

export interface DesiredProperties {
  tags: Record<string, string>;
  contentType?: string;
  expiresOn?: Date;
  notBefore?: Date;
}

/** Access-policy permissions of one principal, per object kind. */
export interface PolicyPermissions {
  secrets: string[];
  keys: string[];
  certificates: string[];
}

export interface VaultAccessPolicy {
  tenantId: string;
  objectId: string;
  applicationId?: string;
  permissions: { secrets?: string[]; keys?: string[]; certificates?: string[] };
}

export interface VaultInfo {
  id: string;
  name: string;
  uri: string;
  rbac: boolean;
  tenantId: string;
  resourceGroup?: string;
  subscriptionId?: string;
  /** Present for access-policy vaults (rbac false). */
  accessPolicies?: VaultAccessPolicy[];
}

/**
 * The vault step's error. `items`: the value-free plan when the failure came after planning (refused
 * secrets, missing `existing` objects, a failed write or prune); empty otherwise.
 */
export class VaultSyncError extends PlannedStepError {
  /** Secret names concerned (never values). */
  readonly secrets: string[];
  constructor(message: string, secrets: string[], cause?: unknown, items: PlanItem[] = []) {
    super(message, items, cause);
    this.name = 'VaultSyncError';
    this.secrets = secrets;
  }
}
