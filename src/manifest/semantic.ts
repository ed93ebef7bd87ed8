// Semantic checks and normalisation: from the raw (schema-shaped) data to the Manifest type,
// with every default applied. Defensive: it runs even when the structure has errors, checks what
// it can, and reports everything through `issue`.
import type { FieldPath } from './paths.ts';
import { manifestInstance } from './instance.ts';
import { POD_IDENTITY_MESSAGE } from './structure.ts';
import { SHOWABLE, hasUnsafeChars, shown as q, shownBare as bare } from '../util/escape.ts';
import { MAX_ANNOTATIONS_BYTES, MAX_DURATION_SECONDS, MAX_FILE_NAME_BYTES, MAX_TAGS, MAX_USER_TAGS } from './limits.ts';
import { Suggester } from './suggest.ts';
import { DEFAULT_GENERATE_LENGTH, DEFAULT_ROLE, DEFAULT_ROLE_WITH_KEYS_OR_CERTS, DNS_SUBDOMAIN, SECRET_KEY, defaultIdentityName, isIsoDateTime, parseDurationSeconds } from './rules.ts';
import type { AccessSpec, Federation, GenerateCharset, IdentitySpec, Manifest, MountedObject, ObjectType, RotationMode, SecretSource, SecretSpec, SyncKey, SyncSpec, TargetSpec } from './types.ts';
import { MAX_FEDERATED_CREDENTIALS } from '../names.ts';

export interface SemanticContext {
  issue(path: FieldPath, message: string, at?: 'key' | 'value'): void;
  /** Line of a field, to point at the first of two conflicting declarations. */
  lineOf(path: FieldPath): number;
  env?: Record<string, string | undefined>;
  /** GITHUB_REPOSITORY and the manifest's path: the default owner of the manifest's instance. */
  repository?: string;
  path?: string;
  /** "Did you mean" search with the load's budget (a fresh one when absent). */
  suggest?: Suggester;
}

type Raw = Record<string, unknown>;

function isMap(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function bool(v: unknown, dflt: boolean): boolean {
  return typeof v === 'boolean' ? v : dflt;
}
/** String entries of a mapping; built with fromEntries so a `__proto__` key is an own entry, not the prototype. */
function strMap(v: unknown): Record<string, string> {
  if (!isMap(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

const OBJECT_TYPES = new Set<ObjectType>(['secret', 'key', 'cert']);
const CHARSETS = new Set<GenerateCharset>(['alphanumeric', 'base64url', 'hex', 'ascii']);
const ROTATIONS = new Set<RotationMode>(['restart', 'csi', 'none']);
const FEDERATIONS = new Set<Federation>(['credential', 'binding']);

function federationOf(v: unknown): Federation | undefined {
  return FEDERATIONS.has(v as Federation) ? (v as Federation) : undefined;
}
const SOURCES = ['from', 'generate', 'existing'] as const;
const WRITE_ONLY_FIELDS = ['contentType', 'tags', 'expires', 'notBefore', 'adopt'] as const;

/** The one value source a secret declares; more or none is reported. */
function checkSourceCount(raw: Raw, at: FieldPath, ctx: SemanticContext): (typeof SOURCES)[number] | undefined {
  const present = SOURCES.filter((s) => raw[s] !== undefined);
  if (present.length === 0) {
    ctx.issue([...at, 'name'], 'needs a value source: one of `from: { env }`, `generate: {}` or `existing: {}`', 'key');
  } else if (present.length > 1) {
    ctx.issue([...at, present[1]!], `has more than one value source (${present.map((s) => `${q(s)}`).join(', ')}): keep exactly one`, 'key');
  }
  return present[0];
}

function envSource(from: Raw, at: FieldPath, name: string | undefined, ctx: SemanticContext): SecretSource | undefined {
  const env = str(from.env);
  if (env === undefined) return undefined;
  if (ctx.env && !ctx.env[env]) {
    ctx.issue([...at, 'from', 'env'], `environment variable ${bare(env)} is not set or empty (the value of secret ${q(name ?? '?')} comes from it)`);
  }
  return { kind: 'env', env };
}

function generateSource(g: Raw, at: FieldPath, ctx: SemanticContext): SecretSource {
  const length = typeof g.length === 'number' && Number.isInteger(g.length) ? g.length : DEFAULT_GENERATE_LENGTH;
  const charset = CHARSETS.has(g.charset as GenerateCharset) ? (g.charset as GenerateCharset) : 'alphanumeric';
  const rotate = str(g.rotateAfter);
  let rotateAfterSeconds = rotate === undefined ? undefined : parseDurationSeconds(rotate);
  if (rotateAfterSeconds !== undefined && rotateAfterSeconds > MAX_DURATION_SECONDS) {
    ctx.issue([...at, 'generate', 'rotateAfter'], 'is longer than 100 years');
    rotateAfterSeconds = undefined;
  }
  return { kind: 'generate', length, charset, ...(rotateAfterSeconds !== undefined ? { rotateAfterSeconds } : {}) };
}

/** An existing object is mounted, never written: the fields of a write do not apply. */
function existingSource(raw: Raw, e: Raw, at: FieldPath, name: string | undefined, ctx: SemanticContext): SecretSource {
  const objectType = OBJECT_TYPES.has(e.objectType as ObjectType) ? (e.objectType as ObjectType) : 'secret';
  for (const f of WRITE_ONLY_FIELDS) {
    if (raw[f] !== undefined) {
      ctx.issue([...at, f], `${q(f)} applies only to secrets the action writes; ${q(name ?? '?')} is \`existing\` (mounted, never written)`, 'key');
    }
  }
  return { kind: 'existing', objectType };
}

function secretSource(raw: Raw, at: FieldPath, name: string | undefined, ctx: SemanticContext): SecretSource | undefined {
  const kind = checkSourceCount(raw, at, ctx);
  if (kind === 'from' && isMap(raw.from)) return envSource(raw.from, at, name, ctx);
  if (kind === 'generate' && (isMap(raw.generate) || raw.generate === null)) return generateSource(isMap(raw.generate) ? raw.generate : {}, at, ctx);
  if (kind === 'existing' && (isMap(raw.existing) || raw.existing === null)) return existingSource(raw, isMap(raw.existing) ? raw.existing : {}, at, name, ctx);
  return undefined;
}

/** `expires` (a duration or a date-time) and `notBefore`, which must come first. */
function secretDates(raw: Raw, at: FieldPath, ctx: SemanticContext): { expiresAfterSeconds?: number; expiresAbsolute?: string; notBefore?: string } {
  const expires = str(raw.expires);
  let expiresAfterSeconds: number | undefined;
  let expiresAbsolute: string | undefined;
  if (expires !== undefined) {
    expiresAfterSeconds = parseDurationSeconds(expires);
    if (expiresAfterSeconds !== undefined && expiresAfterSeconds > MAX_DURATION_SECONDS) {
      ctx.issue([...at, 'expires'], 'is longer than 100 years (Key Vault cannot store that expiry date)');
      expiresAfterSeconds = undefined;
    }
    if (expiresAfterSeconds === undefined) {
      if (isIsoDateTime(expires)) expiresAbsolute = expires;
      else if (/^\d{4}-/.test(expires)) ctx.issue([...at, 'expires'], `is not a valid date-time (got ${JSON.stringify(expires)})`);
    }
  }
  const notBefore = str(raw.notBefore);
  if (notBefore !== undefined && /^\d{4}-/.test(notBefore) && !isIsoDateTime(notBefore)) {
    ctx.issue([...at, 'notBefore'], `is not a valid date-time (got ${JSON.stringify(notBefore)})`);
  } else if (notBefore !== undefined && expiresAbsolute !== undefined && Date.parse(notBefore) >= Date.parse(expiresAbsolute)) {
    ctx.issue([...at, 'notBefore'], `must be earlier than \`expires\` (${expiresAbsolute})`);
  }
  return { expiresAfterSeconds, expiresAbsolute, notBefore: notBefore !== undefined && isIsoDateTime(notBefore) ? notBefore : undefined };
}

function normaliseSecret(raw: Raw, i: number, ctx: SemanticContext): SecretSpec | undefined {
  const at: FieldPath = ['secrets', i];
  const name = str(raw.name);
  const source = secretSource(raw, at, name, ctx);
  checkTags(raw.tags, [...at, 'tags'], ctx);
  const dates = secretDates(raw, at, ctx);
  if (name === undefined || source === undefined) return undefined;
  const spec: SecretSpec = {
    name,
    source,
    tags: strMap(raw.tags),
    adopt: bool(raw.adopt, false),
  };
  const contentType = str(raw.contentType);
  if (contentType !== undefined) spec.contentType = contentType;
  if (dates.expiresAbsolute !== undefined) spec.expires = dates.expiresAbsolute;
  if (dates.expiresAfterSeconds !== undefined) spec.expiresAfterSeconds = dates.expiresAfterSeconds;
  if (dates.notBefore !== undefined) spec.notBefore = dates.notBefore;
  return spec;
}

/** Tags the action sets on every version it writes, besides the manifest's own (see src/vault/plan.ts). */
const RESERVED_TAG = /^(managed-by$|akv-aks-)/i;

function checkTags(raw: unknown, at: FieldPath, ctx: SemanticContext): void {
  if (!isMap(raw)) return;
  const names = Object.keys(raw);
  if (names.length > MAX_USER_TAGS) {
    ctx.issue(at, `must have at most ${MAX_USER_TAGS} entries: Key Vault allows ${MAX_TAGS} tags and the action sets ${MAX_TAGS - MAX_USER_TAGS} of its own`);
  }
  for (const name of names) {
    if (RESERVED_TAG.test(name)) ctx.issue([...at, name], `tag ${q(name)} is reserved for the action's own ownership tags`, 'key');
  }
}

/** Kubernetes: a qualified name (`[prefix/]name`, prefix a DNS subdomain of at most 253 characters). */
function isQualifiedName(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Label and annotation names and values, by the rules the API server applies. */
function checkKubeMetadata(raw: unknown, at: FieldPath, kind: 'labels' | 'annotations', ctx: SemanticContext): void {
  if (!isMap(raw)) return;
  let bytes = 0;
  for (const [key, value] of Object.entries(raw)) {
    if (!isQualifiedName(key)) {
      ctx.issue(
        [...at, key],
        `${kind === 'labels' ? 'label' : 'annotation'} name must be a Kubernetes qualified name: [prefix/]name, the name at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit; the prefix a DNS subdomain`,
        'key',
      );
    }
    if (typeof value !== 'string') continue;
    if (kind === 'labels' && (value.length > 63 || !LABEL_VALUE.test(value))) {
      ctx.issue([...at, key], "label value must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)");
    }
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (kind === 'annotations' && bytes > MAX_ANNOTATIONS_BYTES) {
    ctx.issue(at, `annotations must total at most ${MAX_ANNOTATIONS_BYTES} bytes (Kubernetes' limit), got ${bytes}`);
  }
}

/** A mount file name the driver can write: no invisible or control characters, not its own `..` names, at most 255 bytes. */
function fileNameProblem(name: string): string | undefined {
  if (hasUnsafeChars(name)) return 'must not contain control, invisible or bidirectional characters';
  if (name.startsWith('..') && name !== '..') return "must not start with '..': the CSI driver's atomic writer uses `..data` and `..<timestamp>` in the mount";
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) return `must be at most ${MAX_FILE_NAME_BYTES} bytes in UTF-8 (a file name's limit), got ${Buffer.byteLength(name, 'utf8')}`;
  return undefined;
}

function describeIdentity(id: IdentitySpec): string {
  switch (id.mode) {
    case 'managed':
      return `created identity ${q(id.name)} in ${bare(id.resourceGroup)}`;
    case 'existing':
      return `existing identity ${q(id.name)} in ${bare(id.resourceGroup)}`;
    case 'external':
      return `external identity ${bare(id.clientId)}`;
    case 'kubelet':
      return `kubelet identity ${bare(id.clientId)}`;
  }
}

/** What the identity readers share: the raw mapping, where it is, and the manifest's defaults. */
interface IdentityInput {
  raw: Raw;
  at: FieldPath;
  namespace: string | undefined;
  manifest: { cluster?: string; defaults: { resourceGroup?: string; location?: string } };
  ctx: SemanticContext;
  has: (k: string) => boolean;
  conflict: (a: string, b: string) => void;
}

function kubeletIdentity({ raw, conflict }: IdentityInput): IdentitySpec | null {
  for (const k of Object.keys(raw)) if (k !== 'kubelet') conflict('kubelet', k);
  const k = isMap(raw.kubelet) ? raw.kubelet : {};
  const clientId = str(k.clientId);
  if (clientId === undefined) return null;
  const id: IdentitySpec = { mode: 'kubelet', clientId };
  const principalId = str(k.principalId);
  if (principalId !== undefined) id.principalId = principalId;
  if (k.systemAssigned === true) id.systemAssigned = true;
  return id;
}

function createdIdentity({ raw, at, namespace, manifest, ctx, has, conflict }: IdentityInput): IdentitySpec | null {
  for (const k of ['clientId', 'principalId']) if (has(k)) conflict('create', k);
  if (raw.create !== true) return null;
  const resourceGroup = str(raw.resourceGroup) ?? manifest.defaults.resourceGroup;
  const location = str(raw.location) ?? manifest.defaults.location;
  if (resourceGroup === undefined) {
    ctx.issue([...at, 'create'], 'a created identity needs a resource group: set `identity.resourceGroup` or `identityDefaults.resourceGroup`', 'key');
  }
  if (location === undefined) {
    ctx.issue([...at, 'create'], 'a created identity needs a location: set `identity.location` or `identityDefaults.location`', 'key');
  }
  const name = str(raw.name) ?? (manifest.cluster !== undefined && namespace !== undefined ? defaultIdentityName(manifest.cluster, namespace) : undefined);
  if (resourceGroup === undefined || location === undefined || name === undefined) return null;
  const id: IdentitySpec = { mode: 'managed', name, resourceGroup, location };
  const sub = str(raw.subscriptionId);
  if (sub !== undefined) id.subscriptionId = sub;
  return id;
}

function externalIdentity({ raw, at, ctx, has, conflict }: IdentityInput): IdentitySpec | null {
  for (const k of ['name', 'resourceGroup', 'location', 'subscriptionId']) if (has(k)) conflict(has('clientId') ? 'clientId' : 'principalId', k);
  const clientId = str(raw.clientId);
  const principalId = str(raw.principalId);
  if (!has('clientId')) ctx.issue([...at, 'principalId'], 'an external identity needs both `clientId` and `principalId` (missing `clientId`)', 'key');
  if (!has('principalId')) ctx.issue([...at, 'clientId'], 'an external identity needs both `clientId` and `principalId` (missing `principalId`)', 'key');
  if (clientId === undefined || principalId === undefined) return null;
  return { mode: 'external', clientId, principalId };
}

function existingIdentity({ raw, at, manifest, ctx, has }: IdentityInput): IdentitySpec | null {
  if (has('location')) ctx.issue([...at, 'location'], '`location` applies only to created identities (`create: true`)', 'key');
  const name = str(raw.name);
  const resourceGroup = str(raw.resourceGroup) ?? manifest.defaults.resourceGroup;
  if (resourceGroup === undefined) {
    ctx.issue([...at, 'name'], 'an existing identity needs its resource group: set `identity.resourceGroup` or `identityDefaults.resourceGroup`', 'key');
  }
  if (name === undefined || resourceGroup === undefined) return null;
  const id: IdentitySpec = { mode: 'existing', name, resourceGroup };
  const sub = str(raw.subscriptionId);
  if (sub !== undefined) id.subscriptionId = sub;
  return id;
}

/** Identity of a target as declared (undefined when the target declares none). */
function normaliseIdentity(
  raw: unknown,
  at: FieldPath,
  namespace: string | undefined,
  manifest: { cluster?: string; defaults: { resourceGroup?: string; location?: string } },
  ctx: SemanticContext,
): IdentitySpec | undefined | null {
  if (raw === undefined) return undefined;
  if (!isMap(raw)) return null; // the structure check reported it
  const has = (k: string): boolean => raw[k] !== undefined;
  const conflict = (a: string, b: string): void => ctx.issue([...at, b], `${q(b)} cannot be combined with ${q(a)} in one identity`, 'key');
  const input: IdentityInput = { raw, at, namespace, manifest, ctx, has, conflict };
  if (has('kubelet')) return kubeletIdentity(input);
  if (has('create')) return createdIdentity(input);
  if (has('clientId') || has('principalId')) return externalIdentity(input);
  if (has('name')) return existingIdentity(input);
  const keys = Object.keys(raw);
  if (keys.length === 0 || keys.every((k) => k === 'resourceGroup' || k === 'location' || k === 'subscriptionId')) {
    ctx.issue(at, 'must be one of `{ create: true }`, `{ name, resourceGroup }`, `{ clientId, principalId }` or `{ kubelet: { clientId } }`', 'key');
  }
  return null;
}

/**
 * A target's federation: its own, else the default for identities the action federates. An explicit
 * `binding` on an external or kubelet identity is an error (nothing of it can be bound).
 */
function targetFederation(raw: unknown, fallback: Federation | undefined, identity: IdentitySpec | undefined | null, at: FieldPath, fail: Fail): Federation {
  const own = federationOf(raw);
  const federates = identity?.mode === 'managed' || identity?.mode === 'existing';
  if (own === 'binding' && identity && !federates) {
    fail([...at, 'federation'], `\`binding\` needs a created or existing user-assigned identity (an identity binding names its resource id); this target uses the ${describeIdentity(identity)}`);
    return 'credential';
  }
  return federates ? (own ?? fallback ?? 'credential') : 'credential';
}

function identityKey(id: IdentitySpec): string | undefined {
  if (id.mode === 'managed' || id.mode === 'existing') {
    return `${(id.subscriptionId ?? '').toLowerCase()}/${id.resourceGroup.toLowerCase()}/${id.name.toLowerCase()}`;
  }
  return undefined; // external and kubelet identities are not federated by the action
}

function sameIdentity(a: IdentitySpec, b: IdentitySpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

type Fail = (path: FieldPath, message: string, at?: 'key' | 'value') => void;

/** What every check of one normalise run shares: the context, the failure sink and the suggester. */
interface Checks {
  ctx: SemanticContext;
  /** The context whose `issue` also marks the manifest as invalid. */
  guard: SemanticContext;
  fail: Fail;
  suggest: Suggester;
}

interface DeclaredSecrets {
  secrets: SecretSpec[];
  byName: Map<string, SecretSpec>;
  /** Every declared name, including secrets whose declaration has errors. */
  names: string[];
}

function normaliseSecrets(raw: unknown, c: Checks): DeclaredSecrets {
  const secrets: SecretSpec[] = [];
  const byLowerName = new Map<string, { name: string; index: number }>();
  const byName = new Map<string, SecretSpec>();
  list(raw).forEach((item, i) => {
    if (!isMap(item)) return;
    const name = str(item.name);
    if (name !== undefined) {
      const prev = byLowerName.get(name.toLowerCase());
      if (prev) {
        const line = c.ctx.lineOf(['secrets', prev.index, 'name']);
        c.fail(
          ['secrets', i, 'name'],
          prev.name === name ? `secret ${q(name)} is declared twice (first at line ${line})` : `secret ${q(name)} collides with ${q(prev.name)} (line ${line}): Key Vault names are case-insensitive`,
        );
        return;
      }
      byLowerName.set(name.toLowerCase(), { name, index: i });
    }
    const spec = normaliseSecret(item, i, c.guard);
    if (spec) {
      secrets.push(spec);
      byName.set(spec.name, spec);
    }
  });
  return { secrets, byName, names: [...byLowerName.values()].map((v) => v.name) };
}

/** The cluster name and identity defaults every target's identity is resolved with. */
interface IdentityEnv {
  cluster: string | undefined;
  defaults: { resourceGroup: string | undefined; location: string | undefined };
}

type IdentityByNamespace = Map<string, { id: IdentitySpec; index: number }>;

/** Each target's own identity (null: not a mapping, undefined: none declared) and the first identity of each namespace. */
function declaredIdentities(rawTargets: unknown[], env: IdentityEnv, c: Checks): { declared: (IdentitySpec | undefined | null)[]; nsIdentity: IdentityByNamespace } {
  const nsIdentity: IdentityByNamespace = new Map();
  const declared = rawTargets.map((raw, t) => {
    if (!isMap(raw)) return null;
    const ns = str(raw.namespace);
    const id = normaliseIdentity(raw.identity, ['targets', t, 'identity'], ns, env, c.guard);
    if (id && ns !== undefined) {
      const prev = nsIdentity.get(ns);
      if (!prev) nsIdentity.set(ns, { id, index: t });
      else if (!sameIdentity(prev.id, id)) {
        c.fail(
          ['targets', t, 'identity'],
          `namespace ${q(ns)} already uses the ${describeIdentity(prev.id)} (targets[${prev.index}], line ${c.ctx.lineOf(['targets', prev.index, 'identity'])}); all targets of a namespace share one identity`,
          'key',
        );
      }
    }
    return id;
  });
  return { declared, nsIdentity };
}

/** One Azure identity (name + resource group) must be declared the same way everywhere it is used. */
function checkIdentityDeclarations(declared: (IdentitySpec | undefined | null)[], c: Checks): void {
  const identityDecl = new Map<string, { id: IdentitySpec; index: number }>();
  declared.forEach((id, t) => {
    if (!id || (id.mode !== 'managed' && id.mode !== 'existing')) return;
    const key = identityKey(id);
    if (key === undefined) return;
    const prev = identityDecl.get(key);
    if (!prev) identityDecl.set(key, { id, index: t });
    else if (!sameIdentity(prev.id, id)) {
      c.fail(
        ['targets', t, 'identity'],
        `identity ${q(id.name)} in ${bare(id.resourceGroup)} is declared differently by targets[${prev.index}] (line ${c.ctx.lineOf(['targets', prev.index, 'identity'])}) as the ${describeIdentity(prev.id)}${prev.id.mode === 'managed' ? ` in ${bare(prev.id.location)}` : ''}; declare it the same way everywhere`,
        'key',
      );
    }
  });
}

/** What the targets declared so far, for the checks across targets. */
interface TargetsSeen {
  declared: (IdentitySpec | undefined | null)[];
  nsIdentity: IdentityByNamespace;
  spcNames: Map<string, number>;
  syncedSecrets: Map<string, number>;
  federated: Map<string, { name: string; subjects: Set<string> }>;
  federationOfIdentity: Map<string, { federation: Federation; index: number }>;
  firstBinding?: number;
}

/** The target's identity: its own, else its namespace's, else the default identity the action creates. */
function targetIdentity(t: number, namespace: string | undefined, env: IdentityEnv, seen: TargetsSeen, c: Checks): IdentitySpec | undefined | null {
  const own = seen.declared[t];
  if (own !== undefined || namespace === undefined) return own;
  const shared = seen.nsIdentity.get(namespace)?.id;
  if (shared !== undefined) return shared;
  // Nobody in this namespace declared one: the default is an identity the action creates.
  const at: FieldPath = ['targets', t];
  const identity = normaliseIdentity({ create: true }, [...at, 'namespace'], namespace, env, {
    ...c.guard,
    issue: (_p, message) => c.fail([...at, 'identity'], message.replace('a created identity', 'the default identity (`create: true`)'), 'key'),
  });
  if (identity) seen.nsIdentity.set(namespace, { id: identity, index: t });
  return identity;
}

function checkServiceAccount(raw: Raw, t: number, namespace: string | undefined, identity: IdentitySpec | undefined | null, seen: TargetsSeen, c: Checks): void {
  const at: FieldPath = ['targets', t, 'serviceAccount'];
  const inherited = seen.declared[t] === undefined && namespace !== undefined ? seen.nsIdentity.get(namespace) : undefined;
  const from = inherited && inherited.index !== t ? ` (the namespace's identity, declared by targets[${inherited.index}])` : '';
  if (identity?.mode === 'kubelet' && raw.serviceAccount !== undefined) {
    c.fail(
      at,
      `must be absent with a kubelet identity${from}: the kubelet / VM identity is not federated with a service account (use \`identity: { create: true }\` for per-service-account access)`,
      'key',
    );
  } else if (identity && identity.mode !== 'kubelet' && raw.serviceAccount === undefined) {
    c.fail(at, `missing required field \`serviceAccount\` (required with a ${identity.mode} identity; only kubelet identities run without one)`, 'key');
  }
}

/** Binding only where the action federates (created or existing identities), one way per identity. */
function checkedFederation(raw: Raw, t: number, fallback: Federation | undefined, identity: IdentitySpec | undefined | null, seen: TargetsSeen, c: Checks): Federation {
  const at: FieldPath = ['targets', t];
  const federation = targetFederation(raw.federation, fallback, identity, at, c.fail);
  if (federation === 'binding') seen.firstBinding ??= t;
  const idKey = identity ? identityKey(identity) : undefined;
  if (idKey === undefined) return federation;
  const prev = seen.federationOfIdentity.get(idKey);
  if (!prev) seen.federationOfIdentity.set(idKey, { federation, index: t });
  else if (prev.federation !== federation) {
    c.fail(
      [...at, raw.federation !== undefined ? 'federation' : 'identity'],
      `identity ${q((identity as { name: string }).name)} is federated by \`${prev.federation}\` in targets[${prev.index}] (line ${c.ctx.lineOf(['targets', prev.index])}) and by \`${federation}\` here; one identity uses one federation`,
      'key',
    );
  }
  return federation;
}

/** Federated credentials per identity are limited (bindings need one AKS-managed credential per identity). */
function checkFederationLimit(t: number, identity: IdentitySpec, namespace: string, serviceAccount: string, seen: TargetsSeen, c: Checks): void {
  const key = identityKey(identity);
  if (key === undefined || (identity.mode !== 'managed' && identity.mode !== 'existing')) return;
  const entry = seen.federated.get(key) ?? { name: identity.name, subjects: new Set<string>() };
  seen.federated.set(key, entry);
  const subject = `${namespace}/${serviceAccount}`;
  if (entry.subjects.has(subject)) return;
  entry.subjects.add(subject);
  if (entry.subjects.size === MAX_FEDERATED_CREDENTIALS + 1) {
    c.fail(
      ['targets', t, 'serviceAccount'],
      `identity ${q(entry.name)} would be federated with more than ${MAX_FEDERATED_CREDENTIALS} service accounts (Azure allows at most ${MAX_FEDERATED_CREDENTIALS} federated identity credentials per identity); set \`federation: binding\` (one AKS identity binding per cluster, no limit per identity) or use another identity for some namespaces`,
    );
  }
}

/** A SecretProviderClass name is unique per namespace. */
function checkSpcName(t: number, namespace: string, spc: string, seen: TargetsSeen, c: Checks): void {
  const id = `${namespace}/${spc}`;
  const prev = seen.spcNames.get(id);
  if (prev !== undefined) {
    c.fail(
      ['targets', t, 'secretProviderClass'],
      `SecretProviderClass ${q(spc)} is already declared in namespace ${q(namespace)} by targets[${prev}] (line ${c.ctx.lineOf(['targets', prev, 'secretProviderClass'])})`,
    );
  } else seen.spcNames.set(id, t);
}

/** The declared secret an object mounts, or undefined (reported unless its declaration has errors of its own). */
function mountedSecret(secretName: string, oat: FieldPath, secrets: DeclaredSecrets, c: Checks): SecretSpec | undefined {
  const secret = secrets.byName.get(secretName);
  if (secret) return secret;
  const known = secrets.names.find((n) => n.toLowerCase() === secretName.toLowerCase());
  if (!known) {
    c.fail([...oat, 'secret'], `unknown secret ${q(secretName)}${c.suggest.suggestion(secretName, secrets.names)} (every mounted secret must be declared under \`secrets\`)`);
  } else if (known !== secretName) {
    c.fail([...oat, 'secret'], `unknown secret ${q(secretName)}; the secret is declared as ${q(known)} (write it the same way)`);
  }
  return undefined;
}

/** The object type to fetch: the requested one when the secret's kind allows it. */
function mountedObjectType(o: Raw, oat: FieldPath, secretName: string, secret: SecretSpec, c: Checks): ObjectType {
  const written = secret.source.kind !== 'existing';
  const baseType: ObjectType = secret.source.kind === 'existing' ? secret.source.objectType : 'secret';
  const requested = OBJECT_TYPES.has(o.objectType as ObjectType) ? (o.objectType as ObjectType) : undefined;
  if (requested !== undefined && written && requested !== 'secret') {
    c.fail([...oat, 'objectType'], `must be secret: ${q(secretName)} is written by the action as a Key Vault secret`);
  } else if (requested !== undefined && baseType !== 'cert' && requested !== baseType) {
    c.fail([...oat, 'objectType'], `must be ${baseType}: ${q(secretName)} is declared as an existing ${baseType} (only a cert can also be fetched as key or secret)`);
  }
  const objectType = requested ?? baseType;
  for (const f of ['format', 'encoding'] as const) {
    if (o[f] !== undefined && objectType !== 'secret') {
      c.fail([...oat, f], `${q(f)} applies only to objectType secret (the provider returns ${objectType} objects as PEM); fetch the certificate as \`objectType: secret\` to choose its format`, 'key');
    }
  }
  return objectType;
}

function normaliseObject(o: Raw, at: FieldPath, j: number, fileNames: Map<string, number>, secrets: DeclaredSecrets, c: Checks): MountedObject | undefined {
  const oat: FieldPath = [...at, 'objects', j];
  const secretName = str(o.secret);
  if (secretName === undefined) return undefined;
  const secret = mountedSecret(secretName, oat, secrets, c);
  if (!secret) return undefined;
  const objectType = mountedObjectType(o, oat, secretName, secret, c);
  const version = str(o.version);
  if (version !== undefined && secret.source.kind !== 'existing') {
    c.fail([...oat, 'version'], `a pinned version is only allowed for \`existing\` secrets: the action writes new versions of ${q(secretName)} and tracks the latest itself`, 'key');
  }
  const alias = str(o.alias);
  const fileName = alias ?? secretName;
  const badName = alias !== undefined ? fileNameProblem(alias) : undefined;
  if (badName) c.fail([...oat, 'alias'], badName);
  const prevFile = fileNames.get(fileName);
  if (prevFile !== undefined) {
    c.fail(
      [...oat, alias !== undefined ? 'alias' : 'secret'],
      `file name ${q(fileName)} is already used by objects[${prevFile}] (line ${c.ctx.lineOf([...at, 'objects', prevFile])}) in this SecretProviderClass${alias === undefined ? '; give one of them an `alias`' : ''}`,
    );
  } else fileNames.set(fileName, j);
  const mounted: MountedObject = { secret: secretName, objectType };
  if (alias !== undefined) mounted.alias = alias;
  if (version !== undefined) mounted.version = version;
  const format = str(o.format);
  if (format !== undefined) mounted.format = format;
  const encoding = str(o.encoding);
  if (encoding !== undefined) mounted.encoding = encoding;
  return mounted;
}

function normaliseObjects(raw: unknown, at: FieldPath, secrets: DeclaredSecrets, c: Checks): MountedObject[] {
  const objects: MountedObject[] = [];
  const fileNames = new Map<string, number>();
  list(raw).forEach((o, j) => {
    if (!isMap(o)) return;
    const mounted = normaliseObject(o, at, j, fileNames, secrets, c);
    if (mounted) objects.push(mounted);
  });
  return objects;
}

/** The synced Secret's keys: those listed in `syncTo.keys`, else one per mounted object. */
function syncKeys(s: Raw, at: FieldPath, objects: MountedObject[], c: Checks): SyncKey[] {
  const files = objects.map((o) => o.alias ?? o.secret);
  if (!isMap(s.keys)) {
    objects.forEach((o, j) => {
      const f = o.alias ?? o.secret;
      if (!SECRET_KEY.test(f)) {
        c.fail(
          [...at, 'objects', j, o.alias !== undefined ? 'alias' : 'secret'],
          `${q(f)} cannot be a key of the synced Secret (letters, digits, '-', '_' and '.'): give it another alias or list \`syncTo.keys\``,
        );
      }
    });
    return files.map((f) => ({ key: f, object: f }));
  }
  const keys: SyncKey[] = [];
  for (const [key, object] of Object.entries(s.keys)) {
    if (typeof object !== 'string') continue;
    if (!files.includes(object)) {
      const hint = c.suggest.didYouMean(object, files);
      c.fail(
        [...at, 'syncTo', 'keys', key],
        `unknown object ${q(object)}${hint ? `; did you mean ${q(hint)}?` : ''} (values name a mounted object by its alias, or its secret name when it has none: ${files.map((f) => (SHOWABLE.test(f) ? f : '…')).join(', ') || 'none'})`,
      );
      continue;
    }
    keys.push({ key, object });
  }
  return keys;
}

function normaliseSyncTo(s: Raw, t: number, namespace: string | undefined, objects: MountedObject[], seen: TargetsSeen, c: Checks): SyncSpec | undefined {
  const at: FieldPath = ['targets', t];
  const keys = syncKeys(s, at, objects, c);
  const type = str(s.type) ?? 'Opaque';
  if (type === 'kubernetes.io/tls') {
    const names = new Set(keys.map((k) => k.key));
    for (const needed of ['tls.crt', 'tls.key']) {
      if (!names.has(needed)) c.fail([...at, 'syncTo', isMap(s.keys) ? 'keys' : 'type'], `a kubernetes.io/tls Secret needs a ${q(needed)} key: map it in \`syncTo.keys\``, 'key');
    }
  }
  checkKubeMetadata(s.labels, [...at, 'syncTo', 'labels'], 'labels', c.guard);
  checkKubeMetadata(s.annotations, [...at, 'syncTo', 'annotations'], 'annotations', c.guard);
  const secretName = str(s.secretName);
  if (secretName !== undefined && namespace !== undefined) {
    const id = `${namespace}/${secretName}`;
    const prev = seen.syncedSecrets.get(id);
    if (prev !== undefined) {
      c.fail(
        [...at, 'syncTo', 'secretName'],
        `Secret ${q(secretName)} in namespace ${q(namespace)} is already synced by targets[${prev}] (line ${c.ctx.lineOf(['targets', prev, 'syncTo', 'secretName'])}); two SecretProviderClasses cannot sync into one Secret`,
      );
    } else seen.syncedSecrets.set(id, t);
  }
  return secretName === undefined ? undefined : { secretName, type, labels: strMap(s.labels), annotations: strMap(s.annotations), keys };
}

function targetAccess(raw: unknown, objects: MountedObject[]): AccessSpec {
  const readsKeysOrCerts = objects.some((o) => o.objectType === 'key' || o.objectType === 'cert');
  const access: AccessSpec = { scope: 'vault', role: readsKeysOrCerts ? DEFAULT_ROLE_WITH_KEYS_OR_CERTS : DEFAULT_ROLE };
  if (isMap(raw)) {
    if (raw.scope === 'secret' || raw.scope === 'vault') access.scope = raw.scope;
    const role = str(raw.role);
    if (role !== undefined) access.role = role;
  }
  return access;
}

interface TargetEnv {
  identity: IdentityEnv;
  federation: Federation | undefined;
  secrets: DeclaredSecrets;
}

function normaliseTarget(raw: Raw, t: number, env: TargetEnv, seen: TargetsSeen, c: Checks): TargetSpec | undefined {
  const at: FieldPath = ['targets', t];
  const namespace = str(raw.namespace);
  const identity = targetIdentity(t, namespace, env.identity, seen, c);
  const serviceAccount = str(raw.serviceAccount);
  checkServiceAccount(raw, t, namespace, identity, seen, c);
  const federation = checkedFederation(raw, t, env.federation, identity, seen, c);
  if (identity && serviceAccount !== undefined && namespace !== undefined && federation === 'credential') {
    checkFederationLimit(t, identity, namespace, serviceAccount, seen, c);
  }
  const spc = str(raw.secretProviderClass);
  if (spc !== undefined && namespace !== undefined) checkSpcName(t, namespace, spc, seen, c);
  const objects = normaliseObjects(raw.objects, at, env.secrets, c);
  const syncTo = isMap(raw.syncTo) ? normaliseSyncTo(raw.syncTo, t, namespace, objects, seen, c) : undefined;
  const access = targetAccess(raw.access, objects);
  const rotation = ROTATIONS.has(raw.rotation as RotationMode) ? (raw.rotation as RotationMode) : 'restart';
  if (namespace === undefined || spc === undefined || !identity) return undefined;
  const target: TargetSpec = { namespace, createNamespace: bool(raw.createNamespace, false), identity, access, secretProviderClass: spc, objects, rotation };
  if (serviceAccount !== undefined && identity.mode !== 'kubelet') target.serviceAccount = serviceAccount;
  if (syncTo) target.syncTo = syncTo;
  if (federation === 'binding') target.federation = 'binding';
  return target;
}

function normaliseTargets(raw: unknown, env: TargetEnv, c: Checks): { targets: TargetSpec[]; firstBinding?: number } {
  const rawTargets = list(raw);
  const seen: TargetsSeen = { ...declaredIdentities(rawTargets, env.identity, c), spcNames: new Map(), syncedSecrets: new Map(), federated: new Map(), federationOfIdentity: new Map() };
  checkIdentityDeclarations(seen.declared, c);
  const targets: TargetSpec[] = [];
  rawTargets.forEach((item, t) => {
    if (!isMap(item)) return;
    const target = normaliseTarget(item, t, env, seen, c);
    if (target) targets.push(target);
  });
  return { targets, firstBinding: seen.firstBinding };
}

/** prune / purge, clean-up purge, and the cluster's resource group that identity bindings need. */
function checkModes(data: Raw, firstBinding: number | undefined, c: Checks): void {
  if (data.purge === true && data.prune !== true) {
    c.fail(['purge'], '`purge: true` requires `prune: true` (only pruned secrets are purged)', 'key');
  }
  const rawCleanup = isMap(data.cleanup) ? data.cleanup : undefined;
  if (rawCleanup?.purge === true && rawCleanup.deleteSecrets !== true) {
    c.fail(['cleanup', 'purge'], '`cleanup.purge: true` requires `cleanup.deleteSecrets: true` (only deleted secrets are purged)', 'key');
  }
  const cluster = isMap(data.cluster) ? data.cluster : {};
  if (firstBinding !== undefined && str(cluster.resourceGroup) === undefined) {
    c.fail(
      ['cluster', 'name'],
      `\`federation: binding\` (targets[${firstBinding}], line ${c.ctx.lineOf(['targets', firstBinding])}) needs the AKS cluster's resource group: set \`cluster.resourceGroup\``,
      'key',
    );
  }
}

function vaultRef(vault: Raw, name: string, resourceGroup: string): Manifest['vault'] {
  const ref: Manifest['vault'] = { name, resourceGroup };
  const sub = str(vault.subscriptionId);
  if (sub !== undefined) ref.subscriptionId = sub;
  return ref;
}

function clusterRef(cluster: Raw, name: string): Manifest['cluster'] {
  const ref: Manifest['cluster'] = { name };
  const issuer = str(cluster.oidcIssuer);
  if (issuer !== undefined) ref.oidcIssuer = issuer;
  const rg = str(cluster.resourceGroup);
  if (rg !== undefined) ref.resourceGroup = rg;
  const sub = str(cluster.subscriptionId);
  if (sub !== undefined) ref.subscriptionId = sub;
  return ref;
}

function identityDefaultsOf(defaults: Raw): Manifest['identityDefaults'] {
  const out: Manifest['identityDefaults'] = { tags: strMap(defaults.tags) };
  const federation = federationOf(defaults.federation);
  if (federation !== undefined) out.federation = federation;
  const rg = str(defaults.resourceGroup);
  if (rg !== undefined) out.resourceGroup = rg;
  const location = str(defaults.location);
  if (location !== undefined) out.location = location;
  return out;
}

/** The optional top-level sections: cloud, clean-up and audit. */
function addOptionalSections(manifest: Manifest, data: Raw): void {
  const cloud = str(data.cloudName);
  if (cloud !== undefined) manifest.cloudName = cloud;
  const rawCleanup = isMap(data.cleanup) ? data.cleanup : undefined;
  if (rawCleanup) manifest.cleanup = { deleteSecrets: bool(rawCleanup.deleteSecrets, false), purge: bool(rawCleanup.purge, false) };
  const warning = isMap(data.audit) ? str(data.audit.expiryWarning) : undefined;
  const warningSeconds = warning === undefined ? undefined : parseDurationSeconds(warning);
  if (warningSeconds !== undefined) manifest.audit = { expiryWarningSeconds: warningSeconds };
}

export function normalise(data: unknown, ctx: SemanticContext): Manifest | undefined {
  if (!isMap(data)) return undefined;
  let ok = true;
  const fail: Fail = (path, message, at = 'value') => {
    ok = false;
    ctx.issue(path, message, at);
  };
  const c: Checks = { ctx, guard: { ...ctx, issue: fail }, fail, suggest: ctx.suggest ?? new Suggester() };

  const vault = isMap(data.vault) ? data.vault : {};
  const cluster = isMap(data.cluster) ? data.cluster : {};
  const defaults = isMap(data.identityDefaults) ? data.identityDefaults : {};
  const clusterName = str(cluster.name);
  const secrets = normaliseSecrets(data.secrets, c);
  const identity: IdentityEnv = { cluster: clusterName, defaults: { resourceGroup: str(defaults.resourceGroup), location: str(defaults.location) } };
  const { targets, firstBinding } = normaliseTargets(data.targets, { identity, federation: federationOf(defaults.federation), secrets }, c);
  checkModes(data, firstBinding, c);

  const vaultName = str(vault.name);
  const vaultRg = str(vault.resourceGroup);
  if (!ok || vaultName === undefined || vaultRg === undefined || clusterName === undefined || data.apiVersion !== 'akv-aks/v1') return undefined;
  const manifest: Manifest = {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ owner: str(data.owner), repository: ctx.repository, path: ctx.path, cluster: clusterName }),
    vault: vaultRef(vault, vaultName, vaultRg),
    cluster: clusterRef(cluster, clusterName),
    identityDefaults: identityDefaultsOf(defaults),
    secrets: secrets.secrets,
    targets,
    prune: bool(data.prune, false),
    purge: bool(data.purge, false),
  };
  addOptionalSections(manifest, data);
  return manifest;
}

export { POD_IDENTITY_MESSAGE };
