// Who a manifest is: its owner (the manifest's explicit `owner:`, else repository + manifest path)
// on one cluster. Vaults and clusters are shared by many manifests, so everything the action writes
// carries this instance (Kubernetes labels, Key Vault tags, the per-instance ledger), and prune and
// clean-up compare the whole of it. Design notes: docs/ownership.md.
import { createHash } from 'node:crypto';

export interface ManifestInstance {
  /** 16 hex characters of a SHA-256 of owner + cluster: a label value and a secret-name part. */
  key: string;
  /** The explicit `owner:` of the manifest, or `<repository>:<path>` (`local:<path>` outside Actions). */
  owner: string;
  repository?: string;
  /** Manifest path relative to the workspace, as the user wrote it. */
  path?: string;
  /** AKS cluster name as the manifest spells it. */
  cluster: string;
}

export interface InstanceFacts {
  /** `owner:` of the manifest, when set. */
  owner?: string;
  /** GITHUB_REPOSITORY (owner/name). */
  repository?: string;
  path?: string;
  cluster: string;
}

/** Paths compare the way the user would read them: `/` separators, no leading `./`. */
function normalPath(path: string): string {
  return path.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

export function manifestInstance(facts: InstanceFacts): ManifestInstance {
  const path = facts.path === undefined ? undefined : normalPath(facts.path);
  // GitHub repository names are case-insensitive. Cluster names are kept exact: the manifest names no
  // resource group, so `AKS-PROD` and `aks-prod` may be two clusters.
  const repository = facts.repository?.toLowerCase();
  const owner = facts.owner ?? `${repository ?? 'local'}:${path ?? ''}`;
  const key = createHash('sha256').update(`akv-aks/instance\n${owner}\n${facts.cluster}`).digest('hex').slice(0, 16);
  const out: ManifestInstance = { key, owner, cluster: facts.cluster };
  if (repository !== undefined) out.repository = repository;
  if (path !== undefined) out.path = path;
  return out;
}

/** `owner @ cluster`, for messages (never a value; owner and cluster are validated identifiers). */
export function describeInstance(i: Pick<ManifestInstance, 'owner' | 'cluster'>): string {
  return `${i.owner} @ ${i.cluster}`;
}
