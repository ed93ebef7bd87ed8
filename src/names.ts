// Names and constants more than one step shares, in one place: the action's inputs and outputs, the
// marks it leaves on what it owns, token audiences, Azure limits and propagation waits. No imports.

/** The action's name: the value of its `managed-by` tag and label, its field manager, its user agent. */
export const ACTION_NAME = 'akv-aks-action';

/** Inputs of action.yml (verify/action.yml takes a subset); test/unit/names.test.ts keeps them equal. */
export const INPUT = {
  manifest: 'manifest',
  mode: 'mode',
  clientId: 'client-id',
  tenantId: 'tenant-id',
  subscriptionId: 'subscription-id',
  environment: 'environment',
  audience: 'audience',
  kubeconfig: 'kubeconfig',
  context: 'context',
  oidcIssuer: 'oidc-issuer',
  timeout: 'timeout',
  proveAccess: 'prove-access',
  gate: 'gate',
  failOn: 'fail-on',
  issue: 'issue',
  githubToken: 'github-token',
} as const;

/** Outputs of action.yml (verify/action.yml declares a subset), written by report/publish.ts. */
export const OUTPUT = {
  changedSecrets: 'changed-secrets',
  restartedWorkloads: 'restarted-workloads',
  verified: 'verified',
  report: 'report',
  audit: 'audit',
} as const;

/** Key Vault tag on the secrets and identities the action wrote (value: ACTION_NAME). */
export const OWNER_TAG = 'managed-by';
/** Key Vault tags on each version the action writes: the writer's manifest instance key (manifest/instance.ts)... */
export const TAG_INSTANCE = 'akv-aks-instance';
/** For people: the writer's owner (explicit owner or manifest path), repository and cluster. */
export const TAG_MANIFEST = 'akv-aks-manifest';
export const TAG_REPOSITORY = 'akv-aks-repository';
export const TAG_CLUSTER = 'akv-aks-cluster';
export const TAG_COMMIT = 'akv-aks-commit';
export const TAG_DIGEST = 'akv-aks-digest';
export const TAG_SOURCE = 'akv-aks-source';

// Names in the vault the action keeps for itself (reserved from manifests: vault/plan.ts isReservedSecretName).
/** The vault secret holding the HMAC key of the value digests (readable only by value-readers). */
export const DIGEST_KEY_SECRET = 'akv-aks-digest-key';
/** The vault's write lease (vault/lease.ts). */
export const LEASE_SECRET = 'akv-aks-lease';
/** The version index (vault/versions.ts): `akv-aks-state-<instance key>`, then `-1`, `-2`... */
export const STATE_SECRET = 'akv-aks-state';
/** A manifest instance's grant ledger (ledger/model.ts): `akv-aks-grants-<instance key>`. */
export const LEDGER_PREFIX = 'akv-aks-grants-';
/** Characters of one state value the action writes (Key Vault holds at most 25,600; a margin kept). */
export const MAX_STATE_VALUE_CHARS = 24_000;
/** Bytes a compressed state value may inflate to when read (a value written by anyone is not trusted). */
export const MAX_STATE_INFLATED_BYTES = 4 * 1024 * 1024;

/** Kubernetes label on the objects the action applied (value: ACTION_NAME). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Which manifest instance (owner + cluster) an object belongs to: `instanceId(manifest)`. */
export const INSTANCE_LABEL = `${ACTION_NAME}/instance`;
/** Who that instance is, for people reading the object: `owner @ cluster`. */
export const OWNER_ANNOTATION = `${ACTION_NAME}/owner`;
/** On an object the action took over (adopt: true). */
export const ADOPTED_ANNOTATION = `${ACTION_NAME}/adopted`;
/** On pod templates: digest of the mounted versions; writing it is what rolls the pods. */
export const DIGEST_ANNOTATION = `${ACTION_NAME}/secrets-digest`;
/** Field manager of the action's server-side applies. */
export const FIELD_MANAGER = ACTION_NAME;

/** Audience of the tokens exchanged at Microsoft Entra (GitHub's ID token, service-account tokens). */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
/** Audience of the service-account token the CSI provider presents to the AKS token proxy (identity bindings). */
export const IDENTITY_BINDING_AUDIENCE = 'api://AKSIdentityBinding';
/** Azure's limit of federated identity credentials on one user-assigned identity. */
export const MAX_FEDERATED_CREDENTIALS = 20;

/** Requests the action keeps in flight at once against one API server (its default --max-requests-inflight is 400). */
export const KUBE_CONCURRENCY = 8;

/** How long a write waits for Azure's eventual consistency (docs/reliability.md): a new identity's principal and credentials. */
export const IDENTITY_PROPAGATION_MS = 180_000;
/** ...a secret's pending deletion or recovery in Key Vault. */
export const VAULT_PROPAGATION_MS = 120_000;
/** ...a deletion or purge the clean-up waits on. */
export const CLEANUP_PROPAGATION_MS = 120_000;
