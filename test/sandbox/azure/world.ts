// The in-memory Azure world of the sandbox: seed data, signing keys, principals, managed
// identities, federated credentials, role assignments, vaults, faults and request records.
// The simulators (github-oidc.ts, entra.ts, arm/*, the vault proxy) and the kubelet stand-in
// share one instance; tests reach it only through the control API.
import { randomBytes, randomUUID } from 'node:crypto';
import { PORTS, HOST } from '../ports.ts';
import { decodeJwt, newSigningKey, signJwt, verifyWithJwk } from './jwt.ts';
import type { SigningKey } from './jwt.ts';
import { BUILT_IN_ROLES } from './roles.ts';
import type {
  AccessPolicyEntry,
  AccessTokenClaims,
  AzureService,
  AzureWorld,
  ControlHandler,
  FederatedCredentialRecord,
  Fault,
  NewVault,
  PrincipalRecord,
  RequestRecord,
  RoleAssignmentRecord,
  RoleDefinitionRecord,
  VaultDecision,
  VaultRecord,
} from './world-api.ts';

export const SEED = {
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  subscriptionId: '00000000-0000-0000-0000-00000000aaaa',
  location: 'eastus',
  resourceGroups: ['rg-sandbox', 'rg-ids'],
  deployer: {
    clientId: '11111111-1111-1111-1111-111111111111',
    objectId: '5b0c3c1e-2f6d-4c8a-9d1e-7a3f0b6e4d21',
    displayName: 'contoso-payments-deployer',
  },
  githubIssuer: `https://${HOST}:${PORTS.githubOidc}`,
  kubeIssuer: `https://${HOST}:${PORTS.kubeApiserver}`,
  authorityHost: `https://${HOST}:${PORTS.entra}`,
  armEndpoint: `https://${HOST}:${PORTS.arm}`,
  federatedAudience: 'api://AzureADTokenExchange',
  deployerSubjects: ['repo:contoso/payments:ref:refs/heads/main', 'repo:contoso/payments:environment:prod'],
  vaults: [
    { name: 'kv-sandbox', enableRbacAuthorization: true },
    { name: 'kv-legacy', enableRbacAuthorization: false },
  ],
} as const;

export const ALL_SECRET_PERMISSIONS = ['get', 'list', 'set', 'delete', 'backup', 'restore', 'recover', 'purge'];

export interface IdentityRecord {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  clientId: string;
  principalId: string;
  tenantId: string;
  createdAt: number;
}

export interface FicEntry extends FederatedCredentialRecord {
  /** ARM id of the managed identity it belongs to (absent for app registrations). */
  identityId?: string;
  createdAt: number;
}

/** Claims of the ID tokens the GitHub OIDC issuer mints (changed through `PATCH /config`). */
export interface GithubTokenSettings {
  repository: string;
  ref: string;
  sha: string;
  /** A deployment environment: the subject becomes `repo:O/R:environment:E`. null/'' = none. */
  environment: string | null;
  /** `push`, `pull_request`, `workflow_dispatch`...: `pull_request` gives `repo:O/R:pull_request`. */
  event: string;
  actor: string;
  workflow: string;
  runId: string;
  lifetimeSeconds: number;
  /** Shifts iat/nbf/exp (e.g. -600 mints an already expired token). */
  issuedAtOffsetSeconds: number;
  /** Overrides the computed subject when set. */
  subject: string | null;
}

export function defaultGithubSettings(): GithubTokenSettings {
  return {
    repository: 'contoso/payments',
    ref: 'refs/heads/main',
    sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
    environment: null,
    event: 'push',
    actor: 'octocat',
    workflow: 'deploy',
    runId: '4242424242',
    lifetimeSeconds: 300,
    issuedAtOffsetSeconds: 0,
    subject: null,
  };
}

export function defaultConfig(): AzureWorld['config'] {
  return {
    rbacPropagationMs: 0,
    ficPropagationMs: 0,
    principalVisibilityMs: 0,
    vaultThrottle: true,
    armThrottle: true,
    armReadCapacity: 250,
    armReadRefillPerSecond: 25,
    armWriteCapacity: 200,
    armWriteRefillPerSecond: 10,
    ficWriteInProgressMs: 300,
    armListPageSize: 100,
  };
}

interface ControlRoute {
  method: string;
  prefix: string;
  handler: ControlHandler;
  seq: number;
}

const MAX_RECORDS = 50_000;

export function lowerId(id: string): string {
  return id.toLowerCase().replace(/\/+$/, '');
}

function wildcardMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*') +
      '$',
    'i',
  );
  return re.test(value);
}

/** Access-policy permission a Key Vault data action needs (secrets/keys/certificates). */
function policyPermission(dataAction: string): { kind: 'secrets' | 'keys' | 'certificates'; perm: string } | undefined {
  const m = /^Microsoft\.KeyVault\/vaults\/(secrets|keys|certificates)\/(.+)$/i.exec(dataAction);
  if (!m) return undefined;
  const kind = m[1]!.toLowerCase() as 'secrets' | 'keys' | 'certificates';
  const op = m[2]!.toLowerCase().replace(/\/action$/, '');
  const map: Record<string, string> = {
    getsecret: 'get',
    readmetadata: 'list',
    read: 'get',
    setsecret: 'set',
    update: kind === 'secrets' ? 'set' : 'update',
    delete: 'delete',
    backup: 'backup',
    restore: 'restore',
    recover: 'recover',
    purge: 'purge',
    create: 'create',
    import: 'import',
  };
  return { kind, perm: map[op] ?? op };
}

export class World implements AzureWorld {
  readonly tenantId = SEED.tenantId;
  readonly subscriptionId = SEED.subscriptionId;
  readonly authorityHost = SEED.authorityHost;
  readonly tokenIssuer = `${SEED.authorityHost}/${SEED.tenantId}/v2.0`;
  readonly githubIssuer = SEED.githubIssuer;
  readonly armEndpoint = SEED.armEndpoint;
  /** Region of seeded resources and of requests that name none. */
  readonly defaultLocation = SEED.location;
  /** Bearer token the runner endpoint expects (ACTIONS_ID_TOKEN_REQUEST_TOKEN). */
  readonly idTokenRequestToken = randomBytes(24).toString('hex');
  readonly githubKey: SigningKey = newSigningKey();
  readonly entraKey: SigningKey = newSigningKey();

  config: AzureWorld['config'] = defaultConfig();
  github: GithubTokenSettings = defaultGithubSettings();

  resourceGroups = new Set<string>();
  vaultMap = new Map<string, VaultRecord>(); // by lower-case name
  principalMap = new Map<string, PrincipalRecord>(); // by clientId
  identities = new Map<string, IdentityRecord>(); // by lower-case ARM id
  fics: FicEntry[] = [];
  assignments: RoleAssignmentRecord[] = [];
  /** Identity id (lower case) -> ms epoch until which an FIC write is in progress. */
  ficBusyUntil = new Map<string, number>();

  faults: Fault[] = [];
  records: RequestRecord[] = [];
  private routes: ControlRoute[] = [];
  private routeSeq = 0;
  private resetListeners: Array<() => void | Promise<void>> = [];

  constructor() {
    this.seed();
  }

  // ---- seed / reset -------------------------------------------------------------------------

  private seed(): void {
    this.resourceGroups = new Set(SEED.resourceGroups.map((r) => r.toLowerCase()));
    this.vaultMap = new Map();
    this.principalMap = new Map();
    this.identities = new Map();
    this.fics = [];
    this.assignments = [];
    this.ficBusyUntil = new Map();
    const d = SEED.deployer;
    this.principalMap.set(d.clientId, { clientId: d.clientId, objectId: d.objectId, displayName: d.displayName, kind: 'application', visibleAt: 0 });
    SEED.deployerSubjects.forEach((subject, i) => {
      this.fics.push({
        clientId: d.clientId,
        name: i === 0 ? 'github-main' : 'github-prod',
        issuer: SEED.githubIssuer,
        subject,
        audiences: [SEED.federatedAudience],
        effectiveAt: 0,
        createdAt: 0,
      });
    });
    for (const v of SEED.vaults) {
      this.addVault({
        name: v.name,
        enableRbacAuthorization: v.enableRbacAuthorization,
        accessPolicies: v.enableRbacAuthorization ? [] : [{ tenantId: SEED.tenantId, objectId: d.objectId, permissions: { secrets: [...ALL_SECRET_PERMISSIONS], keys: [], certificates: [] } }],
      });
    }
    const sub = `/subscriptions/${SEED.subscriptionId}`;
    const kvSandbox = this.vault('kv-sandbox')!;
    this.assignments.push(
      this.makeAssignment(sub, '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', d.objectId, 'ServicePrincipal', 0, 'a3c1d3a0-0d4e-4b8e-9c61-5d2b7f0e1a01'),
      this.makeAssignment(kvSandbox.id, 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7', d.objectId, 'ServicePrincipal', 0, 'a3c1d3a0-0d4e-4b8e-9c61-5d2b7f0e1a02'),
    );
  }

  makeAssignment(scope: string, roleGuid: string, principalId: string, principalType: string, effectiveAt: number, name: string = randomUUID(), description?: string): RoleAssignmentRecord {
    const normScope = scope.replace(/\/+$/, '') || '/';
    return {
      id: `${normScope === '/' ? '' : normScope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      scope: normScope,
      roleDefinitionId: `/subscriptions/${SEED.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`,
      principalId,
      principalType,
      description,
      createdOn: new Date(effectiveAt > 0 ? Date.now() : Date.parse('2026-01-01T00:00:00Z')).toISOString(),
      effectiveAt,
    };
  }

  async reset(): Promise<void> {
    this.seed();
    this.faults = [];
    this.config = defaultConfig();
    this.github = defaultGithubSettings();
    for (const l of this.resetListeners) await l();
  }

  onReset(listener: () => void | Promise<void>): void {
    this.resetListeners.push(listener);
  }

  // ---- vaults -------------------------------------------------------------------------------

  vaults(): VaultRecord[] {
    return [...this.vaultMap.values()];
  }

  vault(name: string): VaultRecord | undefined {
    return this.vaultMap.get(name.toLowerCase());
  }

  addVault(input: NewVault): VaultRecord {
    if (this.vaultMap.has(input.name.toLowerCase())) throw new Error(`vault ${input.name} already exists`);
    const used = new Set(this.vaults().map((v) => v.proxyPort));
    let port = input.proxyPort ?? PORTS.vaultProxyBase;
    if (input.proxyPort === undefined) while (used.has(port)) port++;
    const resourceGroup = input.resourceGroup ?? 'rg-sandbox';
    const rec: VaultRecord = {
      name: input.name,
      subscriptionId: SEED.subscriptionId,
      resourceGroup,
      location: input.location ?? SEED.location,
      tenantId: SEED.tenantId,
      enableRbacAuthorization: input.enableRbacAuthorization ?? true,
      accessPolicies: input.accessPolicies ?? [],
      enableSoftDelete: input.enableSoftDelete ?? true,
      softDeleteRetentionInDays: input.softDeleteRetentionInDays ?? 90,
      enablePurgeProtection: input.enablePurgeProtection ?? false,
      proxyPort: port,
      vaultUri: `https://${HOST}:${port}/`,
      id: `/subscriptions/${SEED.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${input.name}`,
    };
    this.resourceGroups.add(resourceGroup.toLowerCase());
    this.vaultMap.set(input.name.toLowerCase(), rec);
    return rec;
  }

  removeVault(name: string): boolean {
    return this.vaultMap.delete(name.toLowerCase());
  }

  // ---- principals, identities, federated credentials ------------------------------------------

  principals(): PrincipalRecord[] {
    return [...this.principalMap.values()];
  }

  principalByClientId(clientId: string): PrincipalRecord | undefined {
    return this.principalMap.get(clientId.toLowerCase()) ?? this.principalMap.get(clientId);
  }

  /**
   * An app-only access token Entra issues to `principal` for `aud` (v2.0 claims, the user-assigned
   * identity's resource id as xms_mirid). The token endpoint and the managed-identity path share it.
   */
  issueAppToken(principal: PrincipalRecord, aud: string, lifetimeSeconds = 3599): string {
    const iat = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      aud,
      iss: this.tokenIssuer,
      iat,
      nbf: iat,
      exp: iat + lifetimeSeconds,
      aio: randomUUID(),
      appid: principal.clientId,
      appidacr: '2',
      azp: principal.clientId,
      azpacr: '2',
      idp: `https://sts.windows.net/${this.tenantId}/`,
      idtyp: 'app',
      oid: principal.objectId,
      rh: '0.sandbox.',
      sub: principal.objectId,
      tid: this.tenantId,
      uti: randomUUID().replace(/-/g, '').slice(0, 22),
      ver: '2.0',
    };
    const identity = [...this.identities.values()].find((i) => i.clientId === principal.clientId);
    if (identity) claims.xms_mirid = identity.id;
    return signJwt(this.entraKey, claims);
  }

  /** What IMDS hands a node for a managed identity assigned to it: a token, or undefined when no such identity exists. */
  managedIdentityToken(clientId: string, resource: string): string | undefined {
    const principal = this.principalByClientId(clientId);
    if (!principal || principal.kind !== 'managedIdentity') return undefined;
    return this.issueAppToken(principal, resource, 86_399);
  }

  principalByObjectId(objectId: string): PrincipalRecord | undefined {
    const o = objectId.toLowerCase();
    return this.principals().find((p) => p.objectId.toLowerCase() === o);
  }

  federatedCredentials(clientId: string): FederatedCredentialRecord[] {
    return this.fics
      .filter((f) => f.clientId === clientId)
      .map((f) => ({ clientId: f.clientId, name: f.name, issuer: f.issuer, subject: f.subject, audiences: [...f.audiences], effectiveAt: f.effectiveAt }));
  }

  roleAssignments(): RoleAssignmentRecord[] {
    return this.assignments.map((a) => ({ ...a }));
  }

  roleDefinitions(): RoleDefinitionRecord[] {
    return BUILT_IN_ROLES.map((r) => ({
      id: `/subscriptions/${SEED.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${r.name}`,
      name: r.name,
      roleName: r.roleName,
      actions: [...r.actions],
      dataActions: [...r.dataActions],
    }));
  }

  // ---- tokens -------------------------------------------------------------------------------

  verifyAccessToken(token: string, audience: string): { ok: true; claims: AccessTokenClaims } | { ok: false; reason: string } {
    const decoded = decodeJwt(token);
    if (!decoded) return { ok: false, reason: 'malformed token' };
    if (decoded.header.kid !== this.entraKey.kid || !verifyWithJwk(decoded, this.entraKey.jwk)) return { ok: false, reason: 'invalid signature' };
    const c = decoded.payload as AccessTokenClaims;
    if (c.iss !== this.tokenIssuer) return { ok: false, reason: `issuer ${String(c.iss)} is not ${this.tokenIssuer}` };
    if (c.tid !== this.tenantId) return { ok: false, reason: 'wrong tenant' };
    const strip = (s: string): string => s.replace(/\/+$/, '');
    if (typeof c.aud !== 'string' || strip(c.aud) !== strip(audience)) return { ok: false, reason: `audience ${String(c.aud)} is not ${audience}` };
    const now = Math.floor(Date.now() / 1000);
    if (typeof c.exp !== 'number' || c.exp <= now) return { ok: false, reason: 'token expired' };
    if (typeof c.nbf === 'number' && c.nbf > now + 300) return { ok: false, reason: 'token not yet valid' };
    return { ok: true, claims: c };
  }

  // ---- vault data-plane authorization -------------------------------------------------------

  authorizeVaultData(
    vaultName: string,
    principalObjectId: string,
    dataAction: string,
    object?: { kind: 'secrets' | 'keys' | 'certificates'; name: string },
    operationPermission?: string,
  ): VaultDecision {
    const vault = this.vault(vaultName);
    const principal = this.principalByObjectId(principalObjectId);
    const caller = `appid=${principal?.clientId ?? 'unknown'};oid=${principalObjectId};iss=https://sts.windows.net/${this.tenantId}/`;
    if (!vault) return { allowed: false, status: 403, code: 'Forbidden', message: `Vault '${vaultName}' is not known to the sandbox.` };
    const vaultTag = `${vault.name};location=${vault.location}`;
    if (vault.enableRbacAuthorization) {
      const target = lowerId(object ? `${vault.id}/${object.kind}/${object.name}` : vault.id);
      const now = Date.now();
      const defs = new Map(this.roleDefinitions().map((d) => [d.name.toLowerCase(), d]));
      const oid = principalObjectId.toLowerCase();
      for (const a of this.assignments) {
        if (a.principalId.toLowerCase() !== oid || a.effectiveAt > now) continue;
        const scope = lowerId(a.scope);
        if (!(target === scope || target.startsWith(scope + '/') || scope === '')) continue;
        const def = defs.get(a.roleDefinitionId.split('/').pop()!.toLowerCase());
        if (def?.dataActions.some((p) => wildcardMatch(p, dataAction))) return { allowed: true };
      }
      const resource = object ? `${vault.id}/${object.kind}/${object.name}` : vault.id;
      return {
        allowed: false,
        status: 403,
        code: 'ForbiddenByRbac',
        message:
          'Caller is not authorized to perform action on resource.\r\n' +
          'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
          `Caller: ${caller}\r\n` +
          `Action: '${dataAction}'\r\n` +
          `Resource: '${resource.toLowerCase()}'\r\n` +
          'Assignment: (not found)\r\n' +
          'DenyAssignmentId: null\r\n' +
          'DecisionReason: null \r\n' +
          `Vault: ${vaultTag}\r\n`,
      };
    }
    // One RBAC data action can stand for two policy permissions (keys/read is both get and list):
    // the operation's own permission, when given, is the one access policies check.
    const derived = policyPermission(dataAction);
    const need = derived && operationPermission ? { ...derived, perm: operationPermission.toLowerCase() } : derived;
    const oid = principalObjectId.toLowerCase();
    const entry = vault.accessPolicies.find((p: AccessPolicyEntry) => p.objectId.toLowerCase() === oid && p.tenantId === this.tenantId);
    if (need && entry) {
      const perms = (entry.permissions[need.kind] ?? []).map((p) => p.toLowerCase());
      if (perms.includes(need.perm) || perms.includes('all')) return { allowed: true };
    }
    return {
      allowed: false,
      status: 403,
      code: 'ForbiddenByPolicy',
      message:
        `The user, group or application '${caller}' does not have ${need?.kind ?? 'secrets'} ${need?.perm ?? dataAction} permission on key vault '${vaultTag}'. ` +
        'For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287',
    };
  }

  // ---- faults, records, control routes ---------------------------------------------------------

  addFault(f: Omit<Fault, 'id' | 'times'> & { times?: number }): Fault {
    const fault: Fault = { ...f, id: randomUUID(), times: f.times ?? 1 };
    if (fault.pathPattern !== undefined) new RegExp(fault.pathPattern); // throws on a bad pattern
    this.faults.push(fault);
    return fault;
  }

  takeFault(service: AzureService, method: string, path: string): Fault | undefined {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i]!;
      if (f.service !== service) continue;
      if (f.method && f.method.toUpperCase() !== method.toUpperCase()) continue;
      if (f.pathPattern !== undefined && !new RegExp(f.pathPattern).test(path)) continue;
      f.times -= 1;
      if (f.times <= 0) this.faults.splice(i, 1);
      return { ...f };
    }
    return undefined;
  }

  /** The `seq` the next record gets: a test's mark, immune to two steps in the same millisecond. */
  nextSeq = 0;

  record(req: Omit<RequestRecord, 'seq'>): void {
    this.records.push({ ...req, seq: this.nextSeq++ });
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
  }

  stats(): { counts: Array<{ service: string; class: string; method: string; status: number; count: number }>; records: RequestRecord[] } {
    const counts = new Map<string, { service: string; class: string; method: string; status: number; count: number }>();
    for (const r of this.records) {
      const cls = r.class ?? (r.method === 'GET' || r.method === 'HEAD' ? 'read' : 'write');
      const key = `${r.service} ${cls} ${r.method} ${r.status}`;
      const c = counts.get(key) ?? { service: r.service, class: cls, method: r.method, status: r.status, count: 0 };
      c.count++;
      counts.set(key, c);
    }
    return { counts: [...counts.values()], records: [...this.records] };
  }

  registerControlRoute(method: string, pathPrefix: string, handler: ControlHandler): void {
    this.routes.push({ method: method.toUpperCase(), prefix: pathPrefix, handler, seq: this.routeSeq++ });
  }

  findControlRoute(method: string, path: string): ControlHandler | undefined {
    const m = method.toUpperCase();
    const hits = this.routes.filter((r) => (r.method === '*' || r.method === m) && path.startsWith(r.prefix));
    hits.sort((a, b) => b.prefix.length - a.prefix.length || b.seq - a.seq);
    return hits[0]?.handler;
  }

  /** Value-free dump for `GET /world`. */
  dump(): unknown {
    return {
      tenantId: this.tenantId,
      subscriptionId: this.subscriptionId,
      resourceGroups: [...this.resourceGroups],
      principals: this.principals(),
      identities: [...this.identities.values()],
      federatedCredentials: this.fics,
      roleAssignments: this.assignments,
      vaults: this.vaults(),
      config: this.config,
      github: this.github,
      faults: this.faults,
    };
  }
}
