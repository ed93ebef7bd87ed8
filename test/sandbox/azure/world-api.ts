// The in-process state shared by the Azure simulators of the sandbox (GitHub OIDC issuer, Entra,
// ARM, the Key Vault authorization proxy) and the kubelet/CSI stand-in. One supervisor process
// holds one world; tests reach it through the control API (HTTP), never by import.

export type AzureService = 'github' | 'entra' | 'arm' | 'keyvault';

export interface AccessPolicyEntry {
  tenantId: string;
  objectId: string;
  applicationId?: string;
  permissions: { secrets?: string[]; keys?: string[]; certificates?: string[]; storage?: string[] };
}

export interface VaultRecord {
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tenantId: string;
  enableRbacAuthorization: boolean;
  accessPolicies: AccessPolicyEntry[];
  enableSoftDelete: boolean;
  softDeleteRetentionInDays: number;
  enablePurgeProtection: boolean;
  /** Loopback port of the authorization proxy that fronts this vault. */
  proxyPort: number;
  /** `https://127.0.0.1:<proxyPort>/`: what ARM returns as properties.vaultUri. */
  vaultUri: string;
  /** ARM resource id. */
  id: string;
  /** ARM tags (set by a vault PUT/PATCH). */
  tags?: Record<string, string>;
}

export interface RoleAssignmentRecord {
  id: string;
  name: string; // GUID
  scope: string; // e.g. /subscriptions/S/resourceGroups/R/providers/Microsoft.KeyVault/vaults/V[/secrets/N]
  roleDefinitionId: string; // full id: /subscriptions/S/providers/Microsoft.Authorization/roleDefinitions/G
  principalId: string;
  principalType: string;
  description?: string;
  createdOn: string;
  /** ms epoch when the assignment becomes effective on the data plane (propagation delay). */
  effectiveAt: number;
}

export interface RoleDefinitionRecord {
  id: string;
  name: string; // GUID
  roleName: string; // e.g. "Key Vault Secrets User"
  actions: string[];
  dataActions: string[];
}

/** A principal Entra can issue tokens for: an app registration or a managed identity. */
export interface PrincipalRecord {
  clientId: string; // appId
  objectId: string; // principalId / oid
  displayName: string;
  kind: 'application' | 'managedIdentity';
  /** ms epoch after which the principal is visible to role assignment (PrincipalNotFound before). */
  visibleAt: number;
}

export interface FederatedCredentialRecord {
  /** clientId of the app or managed identity the credential belongs to. */
  clientId: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
  /** ms epoch after which Entra honours it (AADSTS70021 before: propagation delay). */
  effectiveAt: number;
}

export interface AccessTokenClaims {
  aud: string;
  iss: string;
  tid: string;
  oid: string;
  sub: string;
  appid: string;
  azp: string;
  iat: number;
  nbf: number;
  exp: number;
  [k: string]: unknown;
}

export type VaultDecision = { allowed: true } | { allowed: false; status: 403; code: 'Forbidden' | 'ForbiddenByRbac' | 'ForbiddenByPolicy'; message: string };

/** A fault injected by a test through the control API. */
export interface Fault {
  id: string;
  service: AzureService;
  /** Matched against the request: method (exact, optional) and a regex on the path+query. */
  method?: string;
  pathPattern?: string;
  /** How many matching requests it applies to (then it is spent); default 1. */
  times: number;
  effect:
    | { kind: 'status'; status: number; code?: string; message?: string; retryAfterSeconds?: number; headers?: Record<string, string> }
    | { kind: 'latency'; ms: number }
    | { kind: 'reset' } // destroy the socket without an answer, before the request is served
    | { kind: 'drop-response' }; // serve the request (it takes effect), then destroy the socket instead of answering
}

export interface RequestRecord {
  service: AzureService;
  method: string;
  path: string;
  status: number;
  /** When the answer was recorded (ms epoch). Use `seq` to order records against a test's steps. */
  at: number;
  /** Position in the world's record stream (assigned by `record`; never reused, not reset by /stats/reset). */
  seq: number;
  /** For the vault: which one served it (its name as the control API knows it). */
  vault?: string;
  /** For the vault: 'read' | 'write' (secret writes count against the 300/10 s bucket). */
  class?: 'read' | 'write';
  /** Served, but the answer was never sent (a `drop-response` fault): the client saw a reset. */
  dropped?: boolean;
  /** Entra token requests: the client_id asked for and the issuer of its client assertion (who exchanged what). */
  clientId?: string;
  assertionIssuer?: string;
}

/** A request to a control route (plain HTTP, JSON body already parsed; undefined when empty). */
export interface ControlRequest {
  method: string;
  /** Path without the query string, e.g. `/vault/vaults/kv-new`. */
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface ControlResponse {
  status: number;
  /** Serialised as JSON (omitted: empty body). */
  body?: unknown;
  headers?: Record<string, string>;
}

export type ControlHandler = (req: ControlRequest) => ControlResponse | Promise<ControlResponse>;

/** Input of `addVault` (defaults: resource group `rg-sandbox`, RBAC on, the next free proxy port). */
export interface NewVault {
  name: string;
  resourceGroup?: string;
  location?: string;
  enableRbacAuthorization?: boolean;
  accessPolicies?: AccessPolicyEntry[];
  enableSoftDelete?: boolean;
  softDeleteRetentionInDays?: number;
  enablePurgeProtection?: boolean;
  proxyPort?: number;
}

export interface AzureWorld {
  readonly tenantId: string;
  readonly subscriptionId: string;
  /** Entra issuer of access tokens: `${authorityHost}/${tenantId}/v2.0`. */
  readonly tokenIssuer: string;

  vaults(): VaultRecord[];
  vault(name: string): VaultRecord | undefined;

  principals(): PrincipalRecord[];
  principalByClientId(clientId: string): PrincipalRecord | undefined;
  principalByObjectId(objectId: string): PrincipalRecord | undefined;
  federatedCredentials(clientId: string): FederatedCredentialRecord[];
  roleAssignments(): RoleAssignmentRecord[];
  roleDefinitions(): RoleDefinitionRecord[];

  /** The token IMDS hands a node for a managed identity assigned to it (undefined: no such identity). */
  managedIdentityToken(clientId: string, resource: string): string | undefined;

  /** Verifies an access token minted by the Entra simulator (signature, expiry, audience). */
  verifyAccessToken(token: string, audience: string): { ok: true; claims: AccessTokenClaims } | { ok: false; reason: string };

  /**
   * Data-plane decision for the vault, from RBAC (role assignments at vault, resource group,
   * subscription or object scope, effective only after their propagation delay) or access policies.
   * `dataAction` e.g. 'Microsoft.KeyVault/vaults/secrets/getSecret/action';
   * `objectKind`/`objectName` for object-scoped assignments (secrets/keys/certificates).
   */
  authorizeVaultData(
    vaultName: string,
    principalObjectId: string,
    dataAction: string,
    object?: { kind: 'secrets' | 'keys' | 'certificates'; name: string },
    /** The access-policy permission of the operation (e.g. `list` for keys/read on a listing). */
    policyPermission?: string,
  ): VaultDecision;

  /** Returns and consumes the first fault matching this request, if any. */
  takeFault(service: AzureService, method: string, path: string): Fault | undefined;

  /** Records a served request for the stats of the control API. */
  record(req: Omit<RequestRecord, 'seq'>): void;

  /**
   * Adds a control route: requests whose method matches (`*` = any) and whose path starts with
   * `pathPrefix` (e.g. `/vault/`, `/kube/`) go to `handler`. Later registrations win on ties of
   * equal prefix length; the longest matching prefix is chosen.
   */
  registerControlRoute(method: string, pathPrefix: string, handler: ControlHandler): void;

  /** Adds a vault to the world (ARM sees it at once); returns its record. Throws if the name exists. */
  addVault(input: NewVault): VaultRecord;
  /** Removes a vault added at run time (or a seeded one); returns whether it existed. */
  removeVault(name: string): boolean;

  /** Called after `POST /reset` restored the seed (vaults added at run time are gone by then). */
  onReset(listener: () => void | Promise<void>): void;

  /** Live knobs (set through the control API). */
  config: {
    /** Data-plane delay after a role assignment is created. */
    rbacPropagationMs: number;
    /** Delay after a federated credential is written before Entra honours it. */
    ficPropagationMs: number;
    /** Delay after a managed identity is created before ARM role assignment can see it. */
    principalVisibilityMs: number;
    /** Key Vault throttling (300 writes / 4,000 other ops per 10 s per vault). */
    vaultThrottle: boolean;
    /** ARM throttling (token buckets per subscription and principal). */
    armThrottle: boolean;
    /** ARM token buckets (per subscription + principal; reads and writes separately). */
    armReadCapacity: number;
    armReadRefillPerSecond: number;
    armWriteCapacity: number;
    armWriteRefillPerSecond: number;
    /** How long one federated-credential write keeps its identity "busy" (409 for a second write). */
    ficWriteInProgressMs: number;
    /** ARM list page size: longer lists answer with `nextLink` (`$skiptoken=<offset>`). */
    armListPageSize: number;
  };
}
