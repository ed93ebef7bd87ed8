// Pure: from facts read by index.ts (metadata only: never a secret value), the audit's findings.
// Each check is a function of the manifest and one group of facts; `evaluateAudit` concatenates them
// in a stable order (secrets, identities and grants, Kubernetes objects, pods).
import type { IdentityFound } from '../cleanup/plan.ts';
import { grantScopes, missingPermissions, normalizeScope, planFederation, planGrants, roleAssignmentName, scopeCovers, shortScope, wantedCredentials, wantedPermissions } from '../identity/plan.ts';
import type { IdentityGroup, RolePermission, WantedGrant } from '../identity/plan.ts';
import type { LiveSecret, PolicyPermissions, VaultInfo } from '../keyvault/model.ts';
import type { GrantLedger } from '../ledger/model.ts';
import { credentialRecord, identityRecord } from '../ledger/model.ts';
import type { Manifest, SecretSpec, TargetSpec } from '../manifest/types.ts';
import type { KubeObject } from '../render/index.ts';
import { expectedVersion, objectId } from '../rotate/decide.ts';
import type { VersionsByName as MountedVersions, WorkloadObservation } from '../rotate/decide.ts';
import { TAG_INSTANCE } from '../names.ts';
import { isOwned } from '../vault/plan.ts';
import { entryMatches } from '../vault/versions.ts';
import type { IndexEntry } from '../vault/versions.ts';
import { DEFAULT_EXPIRY_WARNING_SECONDS } from './model.ts';
import type { Finding } from './model.ts';

export interface SecretFacts {
  /** Metadata of the vault's secrets' current versions, by lower-case name. */
  live: Map<string, LiveSecret>;
  /** The instance's version index (lower-case name -> entry); undefined when absent or unreadable. */
  index?: Map<string, IndexEntry>;
  /** `existing` keys the keys API answered 404 for (lower-case names; keys are not in the secrets LIST). */
  missingKeys?: Set<string>;
}

/** A role definition's permissions, control plane (`actions`) and data plane. */
export type RoleRights = RolePermission & { actions?: string[] };

export interface RoleFacts {
  /** Role definition GUID (lower case) -> its name and permissions. */
  byGuid: Map<string, { name: string; permissions: RoleRights[] }>;
  /** Role name (lower case) -> full role definition id, for the roles the manifest asks for. */
  idByName: Map<string, string>;
}

export interface AzureFacts {
  vault: Pick<VaultInfo, 'id' | 'name' | 'rbac' | 'tenantId' | 'accessPolicies'>;
  subscriptionId: string;
  /** The cluster's service-account issuer (federated credentials are compared against it); undefined: not checked. */
  issuer?: string;
  identities: IdentityFound[];
  roles: RoleFacts;
  /** This instance's ledger; undefined when it has none or it could not be read. */
  ledger?: GrantLedger;
  /** Records of the ledger (identities, credentials) not declared any more that still exist. */
  stillExisting: Set<string>;
}

export interface KubeFacts {
  /** The rendered objects (with the client ids found) ... */
  desired: KubeObject[];
  /** ... and what the cluster holds under the same kind/namespace/name (absent: not found). */
  live: Map<string, Record<string, unknown>>;
  /** Workloads consuming the manifest's targets, with their current pods' mounts. */
  workloads: WorkloadObservation[];
}

export interface AuditFacts {
  now: Date;
  secrets: SecretFacts;
  /** Current version of each secret (lower-case name); absent when unknown. */
  versions: MountedVersions;
  azure?: AzureFacts;
  kube?: KubeFacts;
}

const lower = (s: string): string => s.toLowerCase();
const DAY_S = 86_400;

export function evaluateAudit(manifest: Manifest, facts: AuditFacts): Finding[] {
  return [
    ...manifest.secrets.flatMap((s) => secretFindings(manifest, s, facts)),
    ...(facts.azure ? azureFindings(manifest, facts.azure) : []),
    ...(facts.kube ? objectFindings(facts.kube) : []),
    ...(facts.kube ? podFindings(facts.kube.workloads, facts.versions) : []),
  ];
}

// ---- secrets ---------------------------------------------------------------------------------

function secretFindings(manifest: Manifest, spec: SecretSpec, facts: AuditFacts): Finding[] {
  if (spec.source.kind === 'existing' && spec.source.objectType === 'key') {
    // The keys API, not the secrets LIST, tells whether a key exists.
    if (!facts.secrets.missingKeys?.has(lower(spec.name))) return [];
    return [{ kind: 'secret-missing', object: spec.name, message: 'declared as an existing key but not in the vault', fix: 'create the key in the vault, or fix its name in the manifest' }];
  }
  const live = facts.secrets.live.get(lower(spec.name));
  const existing = spec.source.kind === 'existing';
  if (!live) {
    const fix = existing ? 'create it in the vault (the manifest declares it `existing`), or fix its name in the manifest' : 'run the action with `mode: apply`: it writes the secret';
    return [{ kind: 'secret-missing', object: spec.name, message: 'declared by the manifest but not in the vault', fix }];
  }
  const out: Finding[] = [];
  if (live.enabled === false) {
    out.push({
      kind: 'secret-disabled',
      object: spec.name,
      message: 'its current version is disabled: pods cannot mount it',
      fix: existing ? 'enable the current version in the vault, or set a new one' : 'run `mode: apply`: it writes a new enabled version',
    });
  }
  out.push(...expiryFindings(manifest, spec, live, facts.now));
  if (!existing) out.push(...outsideChange(manifest, spec, live, facts.secrets.index));
  const overdue = rotationOverdue(spec, live, facts.now);
  if (overdue) out.push(overdue);
  return out;
}

function days(seconds: number): string {
  const d = Math.floor(seconds / DAY_S);
  return d >= 1 ? `${d} day${d === 1 ? '' : 's'}` : `${Math.max(1, Math.floor(seconds / 3_600))} hour(s)`;
}

function expiryFix(spec: SecretSpec): string {
  if (spec.source.kind === 'existing') return 'renew it in the vault (a new version with a later expiry)';
  if (spec.source.kind === 'generate') return 'run `mode: rotate` or `apply` after changing `expires` in the manifest: it writes a new version';
  return 'write a new value (update the workflow secret and run `mode: apply`), or extend `expires` in the manifest and apply';
}

function expiryFindings(manifest: Manifest, spec: SecretSpec, live: LiveSecret, now: Date): Finding[] {
  if (!live.expiresOn) return [];
  const leftS = (live.expiresOn.getTime() - now.getTime()) / 1000;
  const when = live.expiresOn.toISOString();
  if (leftS <= 0) return [{ kind: 'secret-expired', object: spec.name, message: `its current version expired on ${when}: new mounts of it fail`, fix: expiryFix(spec) }];
  const warn = manifest.audit?.expiryWarningSeconds ?? DEFAULT_EXPIRY_WARNING_SECONDS;
  if (leftS > warn) return [];
  return [{ kind: 'secret-expiring', object: spec.name, message: `its current version expires on ${when} (in ${days(leftS)}, within audit.expiryWarning)`, fix: expiryFix(spec) }];
}

/** A current version the action did not write: no owner tag, or (for this instance's secrets) not the version its index recorded. */
function outsideChange(manifest: Manifest, spec: SecretSpec, live: LiveSecret, index: Map<string, IndexEntry> | undefined): Finding[] {
  if (!isOwned(live.tags)) {
    return [
      {
        kind: 'secret-changed-outside',
        object: spec.name,
        message: 'its current version carries no `managed-by: akv-aks-action` tag: it was written outside the action',
        fix: "if the new value is wanted, declare the secret `existing` (or set `adopt: true` and apply); otherwise apply with `adopt: true` to write the manifest's value back",
      },
    ];
  }
  const entry = index?.get(lower(spec.name));
  if (live.tags[TAG_INSTANCE] !== manifest.instance.key || !entry || entryMatches(entry, live)) return [];
  return [
    {
      kind: 'secret-changed-outside',
      object: spec.name,
      message: "its current version or properties differ from what this manifest's runs last wrote (the version index)",
      fix: "find who changed it in the vault's logs; `mode: apply` restores what the manifest declares",
    },
  ];
}

function rotationOverdue(spec: SecretSpec, live: LiveSecret, now: Date): Finding | undefined {
  if (spec.source.kind !== 'generate' || spec.source.rotateAfterSeconds === undefined || !live.createdOn) return undefined;
  const ageS = (now.getTime() - live.createdOn.getTime()) / 1000;
  if (ageS < spec.source.rotateAfterSeconds) return undefined;
  return {
    kind: 'rotation-overdue',
    object: spec.name,
    message: `generated ${days(ageS)} ago, past its rotateAfter of ${days(spec.source.rotateAfterSeconds)}`,
    fix: 'run `mode: rotate` (on a schedule: workflows-examples/scheduled-rotation.yml)',
  };
}

// ---- identities, federated credentials, grants ----------------------------------------------

function groupOf(g: IdentityFound): IdentityGroup {
  const display = g.spec.mode === 'managed' || g.spec.mode === 'existing' ? g.spec.name : g.spec.clientId;
  return { key: g.key, spec: g.spec, targets: g.targets, display };
}

/** The ledger records (identities, credentials) the manifest relies on now. */
export function declaredRecords(manifest: Manifest, identities: readonly IdentityFound[], issuer: string): Set<string> {
  const out = new Set<string>();
  for (const g of identities) {
    if (g.spec.mode !== 'managed' && g.spec.mode !== 'existing') continue;
    const record = identityRecord(g.subscriptionId, g.spec.resourceGroup, g.spec.name);
    out.add(record);
    for (const w of wantedCredentials(manifest, groupOf(g), issuer)) out.add(credentialRecord(record, w.name));
  }
  return out;
}

function azureFindings(manifest: Manifest, az: AzureFacts): Finding[] {
  const out: Finding[] = [];
  for (const g of az.identities) out.push(...identityFindings(manifest, az, g));
  out.push(...ledgerExtras(manifest, az));
  return out;
}

function identityFindings(manifest: Manifest, az: AzureFacts, g: IdentityFound): Finding[] {
  const group = groupOf(g);
  const namespace = g.targets[0]?.namespace;
  if (!g.exists) {
    const fix = g.spec.mode === 'managed' ? 'run `mode: apply`: it creates the identity, its credentials and grants' : 'create the identity, or fix its name in the manifest';
    return [{ kind: 'identity-missing', object: group.display, namespace, message: `user-assigned identity ${group.display} does not exist`, fix }];
  }
  const out: Finding[] = [];
  const wanted = az.issuer ? wantedCredentials(manifest, group, az.issuer) : [];
  for (const item of planFederation(group.display, g.credentials, wanted).items) {
    if (item.action === 'unchanged') continue;
    out.push({
      kind: 'credential-missing',
      object: item.name,
      namespace: item.namespace,
      message: item.action === 'create' ? `no federated credential for ${item.reason ?? 'the service account'}` : `federated credential differs: ${item.reason ?? ''}`,
      fix: 'run `mode: apply`: it writes the credential',
    });
  }
  out.push(...(az.vault.rbac ? rbacFindings(az, g, group.display, namespace) : policyFindings(az, g, group.display, namespace)));
  return out;
}

function wantedGrants(az: AzureFacts, targets: readonly TargetSpec[]): WantedGrant[] {
  const out: WantedGrant[] = [];
  for (const t of targets) {
    const roleDefinitionId = az.roles.idByName.get(lower(t.access.role));
    if (roleDefinitionId) for (const scope of grantScopes(az.vault.id, t)) out.push({ scope, roleDefinitionId, roleName: t.access.role });
  }
  return out;
}

const guidOf = (id: string): string => lower(id.split('/').pop() ?? id);

/** Data or control actions beyond reading (writes, deletes, wildcards): the role does more than the CSI provider needs. */
export function moreThanRead(permissions: readonly RoleRights[]): string[] {
  const isRead = (a: string): boolean => /\/(read|readMetadata\/action|getSecret\/action)$/i.test(a);
  const all = permissions.flatMap((p) => [...(p.actions ?? []), ...(p.dataActions ?? [])]);
  return [...new Set(all.filter((a) => !isRead(a)))];
}

function rbacFindings(az: AzureFacts, g: IdentityFound, label: string, namespace: string | undefined): Finding[] {
  const wanted = wantedGrants(az, g.targets);
  const out: Finding[] = [];
  for (const item of planGrants(g.principalId, label, wanted, g.roleAssignments, namespace).items) {
    if (item.action === 'create') out.push({ kind: 'grant-missing', object: item.name, namespace, message: `role assignment missing: ${item.name}`, fix: 'run `mode: apply`: it grants the role' });
  }
  const wantedNames = new Set(wanted.map((w) => roleAssignmentName(w.scope, g.principalId ?? '', w.roleDefinitionId)));
  const recorded = new Set(az.ledger?.assignments ?? []);
  for (const a of g.roleAssignments) {
    const onVault = scopeCovers(a.scope, az.vault.id) || scopeCovers(az.vault.id, a.scope);
    if (!onVault) continue;
    const role = az.roles.byGuid.get(guidOf(a.roleDefinitionId));
    const name = `${role?.name ?? guidOf(a.roleDefinitionId)} for ${label} at ${shortScope(a.scope)}`;
    if (recorded.has(lower(a.name)) && !wantedNames.has(lower(a.name))) {
      out.push({
        kind: 'grant-extra',
        object: name,
        namespace,
        message: `role assignment the manifest no longer asks for: ${name}`,
        fix: 'run `mode: apply` with `prune: true`, or `mode: cleanup`; or delete the assignment',
      });
      continue;
    }
    out.push(...tooWide(wanted, a, role, name, namespace));
  }
  return out;
}

function tooWide(
  wanted: readonly WantedGrant[],
  a: IdentityFound['roleAssignments'][number],
  role: { name: string; permissions: RoleRights[] } | undefined,
  name: string,
  namespace?: string,
): Finding[] {
  const covered = wanted.filter((w) => scopeCovers(a.scope, w.scope));
  const out: Finding[] = [];
  // Wider: it covers a declared scope from above (a vault grant for per-object access, a resource group's...).
  if (covered.length && covered.every((w) => normalizeScope(w.scope) !== normalizeScope(a.scope))) {
    const asked = wanted.length ? [...new Set(wanted.map((w) => shortScope(w.scope)))].join(', ') : 'none';
    out.push({
      kind: 'grant-too-wide',
      object: name,
      namespace,
      message: `granted at ${shortScope(a.scope)}, wider than the manifest asks (${asked})`,
      fix: 'delete this assignment; `mode: apply` grants exactly the declared scopes',
    });
  }
  const extra = role ? moreThanRead(role.permissions) : [];
  if (extra.length) {
    out.push({
      kind: 'grant-too-wide',
      object: name,
      namespace,
      message: `role ${role?.name ?? ''} allows more than reading: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}`,
      fix: 'replace it with a read-only role (Key Vault Secrets User, or Key Vault Certificate User for keys and certificates)',
    });
  }
  return out;
}

function policyFindings(az: AzureFacts, g: IdentityFound, label: string, namespace: string | undefined): Finding[] {
  if (!g.principalId) return [];
  const wanted = wantedPermissions(g.targets);
  const tenant = az.vault.tenantId;
  const state = missingPermissions(az.vault.accessPolicies ?? [], tenant, g.principalId, wanted);
  const out: Finding[] = [];
  const missing = permsText(state.missing);
  if (missing) out.push({ kind: 'grant-missing', object: `${az.vault.name} for ${label}`, namespace, message: `access policy lacks ${missing}`, fix: 'run `mode: apply`: it adds the permissions' });
  const extra = permsText(extraPermissions(az.vault.accessPolicies ?? [], tenant, g.principalId, wanted));
  if (extra)
    out.push({
      kind: 'grant-too-wide',
      object: `${az.vault.name} for ${label}`,
      namespace,
      message: `access policy grants more than the manifest asks: ${extra}`,
      fix: 'remove those permissions from the access policy (the CSI provider needs only get)',
    });
  return out;
}

function permsText(p: PolicyPermissions): string {
  return (['secrets', 'keys', 'certificates'] as const)
    .filter((k) => p[k].length)
    .map((k) => `${k}: ${p[k].join(',')}`)
    .join('; ');
}

function extraPermissions(policies: NonNullable<VaultInfo['accessPolicies']>, tenantId: string, objectId: string, wanted: PolicyPermissions): PolicyPermissions {
  const mine = policies.filter((p) => lower(p.objectId) === lower(objectId) && lower(p.tenantId) === lower(tenantId));
  const extra = (k: keyof PolicyPermissions): string[] => [...new Set(mine.flatMap((p) => (p.permissions[k] ?? []).map(lower)))].filter((x) => !wanted[k].includes(x)).sort();
  return { secrets: extra('secrets'), keys: extra('keys'), certificates: extra('certificates') };
}

function ledgerExtras(manifest: Manifest, az: AzureFacts): Finding[] {
  if (!az.ledger) return [];
  const declared = declaredRecords(manifest, az.identities, az.issuer ?? '');
  const out: Finding[] = [];
  const fix = 'run `mode: apply` with `prune: true` or `mode: cleanup`, or delete it (another manifest relying on it keeps it)';
  for (const id of az.ledger.identities ?? []) {
    if (!declared.has(id) && az.stillExisting.has(id))
      out.push({ kind: 'identity-extra', object: id.split('/').pop() ?? id, message: `identity ${id} is recorded by this manifest but no longer declared`, fix });
  }
  for (const c of az.ledger.credentials ?? []) {
    if (!declared.has(c) && az.stillExisting.has(c))
      out.push({ kind: 'credential-extra', object: c.split('/userassignedidentities/').pop() ?? c, message: `federated credential ${c} is recorded by this manifest but no longer wanted`, fix });
  }
  return out;
}

// ---- Kubernetes objects and pods --------------------------------------------------------------

export const objectKeyOf = (o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string => `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

/** Value-free paths where `live` differs from the render: its labels and annotations, and every other top-level field. */
export function driftPaths(desired: KubeObject, live: Record<string, unknown>): string[] {
  const paths: string[] = [];
  const meta = (live.metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
  for (const f of ['labels', 'annotations'] as const) {
    for (const [k, v] of Object.entries(desired.metadata[f] ?? {})) if (meta[f]?.[k] !== v) paths.push(`metadata.${f}[${k}]`);
  }
  for (const key of Object.keys(desired)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    if (stable(desired[key]) !== stable(live[key])) paths.push(key);
  }
  return paths;
}

function objectFindings(kube: KubeFacts): Finding[] {
  const out: Finding[] = [];
  for (const d of kube.desired) {
    if (d.kind !== 'SecretProviderClass' && d.kind !== 'ServiceAccount') continue;
    const kind = d.kind === 'SecretProviderClass' ? 'secret-provider-class-drift' : 'service-account-drift';
    const object = `${d.metadata.namespace ?? ''}/${d.metadata.name}`;
    const live = kube.live.get(objectKeyOf(d));
    const paths = live ? driftPaths(d, live) : [];
    if (live && !paths.length) continue;
    out.push({
      kind,
      object,
      namespace: d.metadata.namespace,
      message: live ? `${d.kind} differs from the render at ${paths.join(', ')}` : `${d.kind} is missing`,
      fix: 'run `mode: apply`: it applies the rendered object',
    });
  }
  return out;
}

const podFix: Record<TargetSpec['rotation'], string> = {
  restart: 'run `mode: apply`: it restarts the workload',
  csi: "wait for the driver's rotation poll, or restart the workload",
  none: 'restart the workload (`kubectl rollout restart`)',
};

function podFindings(workloads: readonly WorkloadObservation[], versions: MountedVersions): Finding[] {
  const out: Finding[] = [];
  for (const w of workloads) {
    for (const c of w.consumed) {
      if (c.subPathMounts.length && c.target.rotation !== 'restart') {
        out.push({
          kind: 'subpath-mount',
          object: `${w.ref.kind} ${w.ref.namespace}/${w.ref.name}`,
          namespace: w.ref.namespace,
          message: `mounts ${c.target.secretProviderClass} through subPath (${c.subPathMounts.join(', ')}): subPath files never rotate in place, and rotation is ${c.target.rotation}`,
          fix: 'mount the volume without subPath, or set `rotation: restart`',
        });
      }
      if (!c.ways.includes('csi')) continue;
      for (const pod of w.pods) {
        const mounted = pod.mounted.get(c.target.secretProviderClass);
        const stale = c.objects.filter((o) => {
          const want = expectedVersion(o, versions);
          const have = mounted?.get(objectId(o));
          return want !== undefined && have !== undefined && have !== want;
        });
        if (stale.length)
          out.push({
            kind: 'pod-stale',
            object: `${w.ref.namespace}/${pod.name}`,
            namespace: w.ref.namespace,
            message: `mounts an older version than the vault's of ${stale.map((o) => o.secret).join(', ')}`,
            fix: podFix[c.target.rotation],
          });
      }
    }
  }
  return out;
}
