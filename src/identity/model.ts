// The identity step's result as later steps read it (no I/O here).
import type { IdentitySpec } from '../manifest/types.ts';

/** The workload identity of one namespace, as ensured (or, in plan mode, as it would be). */
export interface NamespaceIdentity {
  namespace: string;
  mode: IdentitySpec['mode'];
  name?: string;
  clientId?: string;
  principalId?: string;
  resourceId?: string;
  /** Service accounts of this namespace that use the identity. */
  serviceAccounts?: string[];
  /** Set when the namespace reaches the identity through an AKS identity binding. */
  federation?: 'binding';
}
