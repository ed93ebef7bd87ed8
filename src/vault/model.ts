// The vault as the steps see it, and the error of the Key Vault steps (no I/O here).
import type { PlanItem } from '../plan/types.ts';

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

export class VaultSyncError extends Error {
  /** Secret names concerned (never values). */
  readonly secrets: string[];
  /**
   * The value-free plan of the run when the failure came after planning (refused secrets, missing
   * `existing` objects, a failed write or prune), so the report can still show it; empty otherwise.
   */
  readonly items: PlanItem[];
  constructor(message: string, secrets: string[], cause?: unknown, items: PlanItem[] = []) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'VaultSyncError';
    this.secrets = secrets;
    this.items = items;
  }
}

