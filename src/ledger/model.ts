import type { PolicyPermissions } from '../keyvault/model.ts';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { LEDGER_PREFIX, MAX_STATE_INFLATED_BYTES, MAX_STATE_VALUE_CHARS } from '../names.ts';
// The manifest ledger: what each manifest instance (owner + cluster, manifest/instance.ts) declares
// and relies on in a shared vault, kept in the vault itself, because neither an access-policy entry
// nor a role assignment can carry an owner mark, and a secret several manifests declare has one set
// of tags but several declarers.
//
// One owned secret per instance, `akv-aks-grants-<instance key>`, a value-free JSON record written
// only by that instance's runs, so manifests sharing a vault never overwrite each other's records:
// - `secrets`: the secrets (lower-case names) the instance declares and writes. A secret is pruned or
//   deleted by clean-up only when no other ledger declares it, and a run knows what it dropped from
//   its own previous record instead of from tags alone.
// - `identities`, `credentials`, `bindings`: the managed identities, federated credentials and AKS
//   identity bindings (lower-case ARM ids) the instance relies on: clean-up removes them only when
//   no other ledger does.
// - `assignments`: the deterministic role-assignment names the grants use. Two manifests granting
//   one principal the same role at the same scope share one assignment (Azure allows only one).
// - `policies`: per principal (object id), the access-policy permissions the manifest relies on;
// - `added`: of those, the ones the action put there. Clean-up removes a permission only when it was
//   added by the action and no other manifest relies on it.
// - `vaultSecrets`: how many secrets the instance's last LIST of the vault counted, kept only while
//   that makes reading its own secrets by name cheaper than listing the vault (vault/decide.ts).
// It is written before what it records (an interrupted run leaves a claim, never an unrecorded
// write), and only when its content changes. Ledgers of releases before the ownership model are
// named by `<vault>--<cluster>` and carry no `secrets`: they are still honoured as claims.

export const LEDGER_CONTENT_TYPE = 'application/vnd.akv-aks.grants+json';
const KINDS = ['secrets', 'keys', 'certificates'] as const;

export interface GrantLedger {
  v: 1;
  /** The manifest instance key (before the ownership model: `<vault>--<cluster>`). */
  instance: string;
  /** Who the instance is, `owner @ cluster` (for messages only). */
  manifest: string;
  /** Secrets (lower-case names) the instance declares and writes; absent when none. */
  secrets?: string[];
  /** Managed identities (lower-case ARM ids) the instance relies on; absent when none. */
  identities?: string[];
  /** Federated credentials (lower-case ARM ids) the instance relies on; absent when none. */
  credentials?: string[];
  /** AKS identity bindings (lower-case ARM ids) the instance relies on; absent when none. */
  bindings?: string[];
  /** Role-assignment names (lower-case GUIDs), sorted. */
  assignments: string[];
  /** Object id (lower-case) -> permissions relied on. */
  policies: Record<string, PolicyPermissions>;
  /** Object id (lower-case) -> the subset the action added. */
  added: Record<string, PolicyPermissions>;
  /** Secrets the instance's last LIST of the vault counted (a cost hint, vault/decide.ts); absent: list. */
  vaultSecrets?: number;
}

export function ledgerName(instance: string): string {
  return `${LEDGER_PREFIX}${instance}`;
}

export function isLedgerName(name: string): boolean {
  return name.toLowerCase().startsWith(LEDGER_PREFIX) && /^[0-9a-zA-Z-]+$/.test(name);
}

const lower = (s: string): string => s.toLowerCase();
const sortedUnique = (xs: Iterable<string>): string[] => [...new Set([...xs].map(lower))].sort();
const emptyPerms = (): PolicyPermissions => ({ secrets: [], keys: [], certificates: [] });
const isEmpty = (p: PolicyPermissions): boolean => KINDS.every((k) => p[k].length === 0);

function normalizePerms(p: Partial<PolicyPermissions> | undefined): PolicyPermissions {
  const out = emptyPerms();
  for (const k of KINDS) out[k] = sortedUnique(Array.isArray(p?.[k]) ? (p[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
  return out;
}

function normalizeMap(m: Record<string, Partial<PolicyPermissions>> | undefined): Record<string, PolicyPermissions> {
  const merged = new Map<string, PolicyPermissions>();
  for (const [id, perms] of Object.entries(m ?? {})) merged.set(lower(id), union(merged.get(lower(id)), normalizePerms(perms)));
  const out: Record<string, PolicyPermissions> = {};
  for (const id of [...merged.keys()].sort()) {
    const perms = merged.get(id) as PolicyPermissions;
    if (!isEmpty(perms)) out[id] = perms;
  }
  return out;
}

/** The canonical ledger (sorted, lower-cased, empty entries dropped): equal content, equal text. */
export function normalizeLedger(l: Omit<GrantLedger, 'v'> & { v?: number }): GrantLedger {
  const out: GrantLedger = {
    v: 1,
    instance: lower(l.instance),
    manifest: l.manifest,
    assignments: sortedUnique(l.assignments),
    policies: normalizeMap(l.policies),
    added: normalizeMap(l.added),
  };
  // Lists are kept only when not empty, so a ledger without them reads as it did before they existed.
  for (const k of LISTS) {
    const xs = sortedUnique(l[k] ?? []);
    if (xs.length) out[k] = xs;
  }
  if (isCount(l.vaultSecrets)) out.vaultSecrets = l.vaultSecrets;
  return out;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

const LISTS = ['secrets', 'identities', 'credentials', 'bindings'] as const;
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : []);

/** A ledger too large for one Key Vault value even compressed (nothing is written). */
export class LedgerTooLargeError extends Error {
  constructor(l: GrantLedger, chars: number) {
    super(
      `the manifest ledger of ${l.manifest || l.instance} (${l.secrets?.length ?? 0} secrets, ${l.identities?.length ?? 0} identities) needs ${chars} characters compressed, ` +
        `more than the ${MAX_STATE_VALUE_CHARS} one Key Vault value holds: split the manifest (each manifest has a ledger of its own)`,
    );
    this.name = 'LedgerTooLargeError';
  }
}

/** A ledger value that would not fit as JSON is stored deflated: this prefix, then base64. */
const PACKED_PREFIX = 'akv-aks-ledger:v1:';

/** The canonical JSON of a ledger: equal content, equal text. */
function ledgerText(l: GrantLedger): string {
  return JSON.stringify(normalizeLedger(l));
}

/** The value stored: the JSON itself while it fits (readable with `az keyvault secret show`), else deflated. */
export function encodeLedger(l: GrantLedger): string {
  const json = ledgerText(l);
  if (json.length <= MAX_STATE_VALUE_CHARS) return json;
  const packed = PACKED_PREFIX + deflateRawSync(json, { level: 9 }).toString('base64');
  if (packed.length > MAX_STATE_VALUE_CHARS) throw new LedgerTooLargeError(l, packed.length);
  return packed;
}

function unpack(text: string): string {
  if (!text.startsWith(PACKED_PREFIX)) return text;
  return inflateRawSync(Buffer.from(text.slice(PACKED_PREFIX.length), 'base64'), { maxOutputLength: MAX_STATE_INFLATED_BYTES }).toString('utf8');
}

/** The ledger in a secret's value, or undefined when it is not one (then it is ignored, never trusted). */
export function decodeLedger(text: string | undefined): GrantLedger | undefined {
  if (!text) return undefined;
  try {
    const raw = JSON.parse(unpack(text)) as Partial<GrantLedger>;
    if (!raw || raw.v !== 1 || typeof raw.instance !== 'string') return undefined;
    return normalizeLedger({
      instance: raw.instance,
      manifest: typeof raw.manifest === 'string' ? raw.manifest : '',
      assignments: Array.isArray(raw.assignments) ? raw.assignments.filter((x): x is string => typeof x === 'string') : [],
      policies: raw.policies && typeof raw.policies === 'object' ? raw.policies : {},
      added: raw.added && typeof raw.added === 'object' ? raw.added : {},
      secrets: strings(raw.secrets),
      identities: strings(raw.identities),
      credentials: strings(raw.credentials),
      vaultSecrets: isCount(raw.vaultSecrets) ? raw.vaultSecrets : undefined,
      bindings: strings(raw.bindings),
    });
  } catch {
    return undefined;
  }
}

export function sameLedger(a: GrantLedger | undefined, b: GrantLedger | undefined): boolean {
  return a !== undefined && b !== undefined && ledgerText(a) === ledgerText(b);
}

function intersect(a: PolicyPermissions | undefined, b: PolicyPermissions): PolicyPermissions {
  const out = emptyPerms();
  for (const k of KINDS) out[k] = (a?.[k] ?? []).filter((x) => b[k].includes(x));
  return out;
}

function union(...ps: Array<PolicyPermissions | undefined>): PolicyPermissions {
  const out = emptyPerms();
  for (const k of KINDS) out[k] = sortedUnique(ps.flatMap((p) => p?.[k] ?? []));
  return out;
}

/** What this run's grants rely on and add (addedNow: permissions it is about to put there). */
export interface LedgerClaims {
  instance: string;
  manifest: string;
  assignments: string[];
  policies: Record<string, PolicyPermissions>;
  addedNow: Record<string, PolicyPermissions>;
  /** Identities and federated credentials relied on (absent: kept as recorded). */
  identities?: string[];
  credentials?: string[];
  /** AKS identity bindings relied on (absent: kept as recorded). */
  bindings?: string[];
}

/**
 * The ledger after this run: its claims, with `added` = what it adds now, plus what was already
 * marked added (by its previous ledger or, when given, another manifest's) and is still claimed.
 */
export function nextLedger(prev: GrantLedger | undefined, claims: LedgerClaims, others: GrantLedger[] = []): GrantLedger {
  const policies = normalizeMap(claims.policies);
  const added: Record<string, PolicyPermissions> = {};
  for (const [id, wanted] of Object.entries(policies)) {
    const now = normalizeMap(claims.addedNow)[id];
    const before = prev?.added[id];
    const elsewhere = others.map((o) => o.added[id]);
    added[id] = intersect(union(now, before, ...elsewhere), wanted);
  }
  return normalizeLedger({
    instance: claims.instance,
    manifest: claims.manifest,
    assignments: claims.assignments,
    policies,
    added,
    secrets: prev?.secrets,
    identities: claims.identities ?? prev?.identities,
    credentials: claims.credentials ?? prev?.credentials,
    vaultSecrets: prev?.vaultSecrets,
    bindings: claims.bindings ?? prev?.bindings,
  });
}

/** The ledger with `secrets` as the instance's declared, written secrets (the rest as it was). */
export function withSecrets(prev: GrantLedger | undefined, instance: string, manifest: string, secrets: string[]): GrantLedger {
  return normalizeLedger({ ...(prev ?? { assignments: [], policies: {}, added: {} }), instance, manifest, secrets });
}

/** The ledger with `vaultSecrets` as its vault-size hint (undefined: none). */
export function withVaultSecrets(l: GrantLedger, vaultSecrets: number | undefined): GrantLedger {
  return normalizeLedger({ ...l, vaultSecrets });
}

/** True when writing `next` would only repeat `prev` except for what others could add (no new claims). */
export function claimsUnchanged(prev: GrantLedger | undefined, next: GrantLedger): boolean {
  if (!prev) return false;
  const a = normalizeLedger(prev);
  return JSON.stringify([a.assignments, a.policies, a.identities, a.credentials, a.bindings]) === JSON.stringify([next.assignments, next.policies, next.identities, next.credentials, next.bindings]);
}

/** Who else relies on what: assignment name -> manifests; `objectId|kind|perm` -> manifests. */
export interface OtherClaims {
  assignments: Map<string, string[]>;
  permissions: Map<string, string[]>;
  /** Secret, identity and credential (lower-case name or id) -> manifests relying on it. */
  secrets: Map<string, string[]>;
  identities: Map<string, string[]>;
  credentials: Map<string, string[]>;
  bindings: Map<string, string[]>;
  /** `objectId|kind|perm` marked added by any ledger (including this manifest's own). */
  added: Set<string>;
}

export const permKey = (objectId: string, kind: keyof PolicyPermissions, perm: string): string => `${lower(objectId)}|${kind}|${lower(perm)}`;

/** How a ledger's instance is named in messages. */
export const who = (l: GrantLedger): string => (l.manifest ? `${l.manifest} (${l.instance})` : l.instance);

export function otherClaims(ledgers: GrantLedger[], instance: string): OtherClaims {
  const out: OtherClaims = { assignments: new Map(), permissions: new Map(), secrets: new Map(), identities: new Map(), credentials: new Map(), bindings: new Map(), added: new Set() };
  const push = (m: Map<string, string[]>, k: string, v: string): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };
  for (const l of ledgers) {
    for (const [id, p] of Object.entries(l.added)) for (const k of KINDS) for (const x of p[k]) out.added.add(permKey(id, k, x));
    if (lower(l.instance) === lower(instance)) continue;
    for (const a of l.assignments) push(out.assignments, a, who(l));
    for (const x of l.secrets ?? []) push(out.secrets, x, who(l));
    for (const x of l.identities ?? []) push(out.identities, x, who(l));
    for (const x of l.credentials ?? []) push(out.credentials, x, who(l));
    for (const x of l.bindings ?? []) push(out.bindings, x, who(l));
    for (const [id, p] of Object.entries(l.policies)) for (const k of KINDS) for (const x of p[k]) push(out.permissions, permKey(id, k, x), who(l));
  }
  return out;
}

/** How ledgers name a user-assigned identity: its ARM id, lower-cased. */
export function identityRecord(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourcegroups/${resourceGroup}/providers/microsoft.managedidentity/userassignedidentities/${name}`.toLowerCase();
}

/** How ledgers name a federated credential of such an identity. */
export function credentialRecord(identity: string, name: string): string {
  return `${identity}/federatedidentitycredentials/${name}`.toLowerCase();
}
