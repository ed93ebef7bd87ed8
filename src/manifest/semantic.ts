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

function normaliseSecret(raw: Raw, i: number, ctx: SemanticContext): SecretSpec | undefined {
  const at: FieldPath = ['secrets', i];
  const name = str(raw.name);
  const present = SOURCES.filter((s) => raw[s] !== undefined);
  if (present.length === 0) {
    ctx.issue([...at, 'name'], 'needs a value source: one of `from: { env }`, `generate: {}` or `existing: {}`', 'key');
  } else if (present.length > 1) {
    ctx.issue([...at, present[1]!], `has more than one value source (${present.map((s) => `${q(s)}`).join(', ')}): keep exactly one`, 'key');
  }
  let source: SecretSource | undefined;
  const kind = present[0];
  if (kind === 'from' && isMap(raw.from)) {
    const env = str(raw.from.env);
    if (env !== undefined) {
      source = { kind: 'env', env };
      if (ctx.env && !ctx.env[env]) {
        ctx.issue([...at, 'from', 'env'], `environment variable ${bare(env)} is not set or empty (the value of secret ${q(name ?? '?')} comes from it)`);
      }
    }
  } else if (kind === 'generate' && (isMap(raw.generate) || raw.generate === null)) {
    const g = isMap(raw.generate) ? raw.generate : {};
    const length = typeof g.length === 'number' && Number.isInteger(g.length) ? g.length : DEFAULT_GENERATE_LENGTH;
    const charset = CHARSETS.has(g.charset as GenerateCharset) ? (g.charset as GenerateCharset) : 'alphanumeric';
    const rotate = str(g.rotateAfter);
    const rotateAfterSeconds = rotate === undefined ? undefined : parseDurationSeconds(rotate);
    source = { kind: 'generate', length, charset, ...(rotateAfterSeconds !== undefined ? { rotateAfterSeconds } : {}) };
  } else if (kind === 'existing' && (isMap(raw.existing) || raw.existing === null)) {
    const e = isMap(raw.existing) ? raw.existing : {};
    const objectType = OBJECT_TYPES.has(e.objectType as ObjectType) ? (e.objectType as ObjectType) : 'secret';
    source = { kind: 'existing', objectType };
    for (const f of WRITE_ONLY_FIELDS) {
      if (raw[f] !== undefined) {
        ctx.issue([...at, f], `${q(f)} applies only to secrets the action writes; ${q(name ?? '?')} is \`existing\` (mounted, never written)`, 'key');
      }
    }
  }

  if (source?.kind === 'generate' && source.rotateAfterSeconds !== undefined && source.rotateAfterSeconds > MAX_DURATION_SECONDS) {
    ctx.issue([...at, 'generate', 'rotateAfter'], 'is longer than 100 years');
    delete source.rotateAfterSeconds;
  }
  checkTags(raw.tags, [...at, 'tags'], ctx);

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

  if (name === undefined || source === undefined) return undefined;
  const spec: SecretSpec = {
    name,
    source,
    tags: strMap(raw.tags),
    adopt: bool(raw.adopt, false),
  };
  const contentType = str(raw.contentType);
  if (contentType !== undefined) spec.contentType = contentType;
  if (expiresAbsolute !== undefined) spec.expires = expiresAbsolute;
  if (expiresAfterSeconds !== undefined) spec.expiresAfterSeconds = expiresAfterSeconds;
  if (notBefore !== undefined && isIsoDateTime(notBefore)) spec.notBefore = notBefore;
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
  const keys = Object.keys(raw);
  const has = (k: string): boolean => raw[k] !== undefined;
  const conflict = (a: string, b: string): void => ctx.issue([...at, b], `${q(b)} cannot be combined with ${q(a)} in one identity`, 'key');

  if (has('kubelet')) {
    for (const k of keys) if (k !== 'kubelet') conflict('kubelet', k);
    const k = isMap(raw.kubelet) ? raw.kubelet : {};
    const clientId = str(k.clientId);
    if (clientId === undefined) return null;
    const id: IdentitySpec = { mode: 'kubelet', clientId };
    const principalId = str(k.principalId);
    if (principalId !== undefined) id.principalId = principalId;
    if (k.systemAssigned === true) id.systemAssigned = true;
    return id;
  }
  if (has('create')) {
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
  if (has('clientId') || has('principalId')) {
    for (const k of ['name', 'resourceGroup', 'location', 'subscriptionId']) if (has(k)) conflict(has('clientId') ? 'clientId' : 'principalId', k);
    const clientId = str(raw.clientId);
    const principalId = str(raw.principalId);
    if (!has('clientId')) ctx.issue([...at, 'principalId'], 'an external identity needs both `clientId` and `principalId` (missing `clientId`)', 'key');
    if (!has('principalId')) ctx.issue([...at, 'clientId'], 'an external identity needs both `clientId` and `principalId` (missing `principalId`)', 'key');
    if (clientId === undefined || principalId === undefined) return null;
    return { mode: 'external', clientId, principalId };
  }
  if (has('name')) {
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
  if (keys.length === 0 || keys.every((k) => k === 'resourceGroup' || k === 'location' || k === 'subscriptionId')) {
    ctx.issue(at, 'must be one of `{ create: true }`, `{ name, resourceGroup }`, `{ clientId, principalId }` or `{ kubelet: { clientId } }`', 'key');
  }
  return null;
}

/**
 * A target's federation: its own, else the default for identities the action federates. An explicit
 * `binding` on an external or kubelet identity is an error (nothing of it can be bound).
 */
function targetFederation(
  raw: unknown,
  fallback: Federation | undefined,
  identity: IdentitySpec | undefined | null,
  at: FieldPath,
  fail: (path: FieldPath, message: string, at?: 'key' | 'value') => void,
): Federation {
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

export function normalise(data: unknown, ctx: SemanticContext): Manifest | undefined {
  if (!isMap(data)) return undefined;
  const suggest = ctx.suggest ?? new Suggester();
  let ok = true;
  const fail = (path: FieldPath, message: string, at: 'key' | 'value' = 'value'): void => {
    ok = false;
    ctx.issue(path, message, at);
  };
  const guard: SemanticContext = { ...ctx, issue: fail };

  const vault = isMap(data.vault) ? data.vault : {};
  const cluster = isMap(data.cluster) ? data.cluster : {};
  const defaults = isMap(data.identityDefaults) ? data.identityDefaults : {};
  const clusterName = str(cluster.name);
  const defaultsRg = str(defaults.resourceGroup);
  const defaultsLocation = str(defaults.location);
  const defaultFederation = federationOf(defaults.federation);

  // --- secrets
  const secrets: SecretSpec[] = [];
  const byLowerName = new Map<string, { name: string; index: number }>();
  const secretByName = new Map<string, SecretSpec>();
  list(data.secrets).forEach((raw, i) => {
    if (!isMap(raw)) return;
    const name = str(raw.name);
    if (name !== undefined) {
      const prev = byLowerName.get(name.toLowerCase());
      if (prev) {
        const line = ctx.lineOf(['secrets', prev.index, 'name']);
        fail(
          ['secrets', i, 'name'],
          prev.name === name ? `secret ${q(name)} is declared twice (first at line ${line})` : `secret ${q(name)} collides with ${q(prev.name)} (line ${line}): Key Vault names are case-insensitive`,
        );
        return;
      }
      byLowerName.set(name.toLowerCase(), { name, index: i });
    }
    const spec = normaliseSecret(raw, i, guard);
    if (spec) {
      secrets.push(spec);
      secretByName.set(spec.name, spec);
    }
  });
  const declaredNames = [...byLowerName.values()].map((v) => v.name);

  // --- targets
  const rawTargets = list(data.targets);
  const nsIdentity = new Map<string, { id: IdentitySpec; index: number }>();
  const declared: (IdentitySpec | undefined | null)[] = rawTargets.map((raw, t) => {
    if (!isMap(raw)) return null;
    const ns = str(raw.namespace);
    const id = normaliseIdentity(raw.identity, ['targets', t, 'identity'], ns, { cluster: clusterName, defaults: { resourceGroup: defaultsRg, location: defaultsLocation } }, guard);
    if (id && ns !== undefined) {
      const prev = nsIdentity.get(ns);
      if (!prev) nsIdentity.set(ns, { id, index: t });
      else if (!sameIdentity(prev.id, id)) {
        fail(
          ['targets', t, 'identity'],
          `namespace ${q(ns)} already uses the ${describeIdentity(prev.id)} (targets[${prev.index}], line ${ctx.lineOf(['targets', prev.index, 'identity'])}); all targets of a namespace share one identity`,
          'key',
        );
      }
    }
    return id;
  });

  // One Azure identity (name + resource group) must be declared the same way everywhere it is used.
  const identityDecl = new Map<string, { id: IdentitySpec; index: number }>();
  declared.forEach((id, t) => {
    if (!id || (id.mode !== 'managed' && id.mode !== 'existing')) return;
    const key = identityKey(id);
    if (key === undefined) return;
    const prev = identityDecl.get(key);
    if (!prev) identityDecl.set(key, { id, index: t });
    else if (!sameIdentity(prev.id, id)) {
      fail(
        ['targets', t, 'identity'],
        `identity ${q(id.name)} in ${bare(id.resourceGroup)} is declared differently by targets[${prev.index}] (line ${ctx.lineOf(['targets', prev.index, 'identity'])}) as the ${describeIdentity(prev.id)}${prev.id.mode === 'managed' ? ` in ${bare(prev.id.location)}` : ''}; declare it the same way everywhere`,
        'key',
      );
    }
  });

  const targets: TargetSpec[] = [];
  const spcNames = new Map<string, number>();
  const syncedSecrets = new Map<string, number>();
  const federated = new Map<string, { name: string; subjects: Set<string> }>();
  const federationOfIdentity = new Map<string, { federation: Federation; index: number }>();
  let firstBinding: number | undefined;
  rawTargets.forEach((raw, t) => {
    const at: FieldPath = ['targets', t];
    if (!isMap(raw)) return;
    const namespace = str(raw.namespace);
    let identity: IdentitySpec | undefined | null = declared[t];
    if (identity === undefined && namespace !== undefined) {
      identity = nsIdentity.get(namespace)?.id;
      if (identity === undefined) {
        // Nobody in this namespace declared one: the default is an identity the action creates.
        identity = normaliseIdentity(
          { create: true },
          [...at, 'namespace'],
          namespace,
          { cluster: clusterName, defaults: { resourceGroup: defaultsRg, location: defaultsLocation } },
          {
            ...guard,
            issue: (_p, message) => fail([...at, 'identity'], message.replace('a created identity', 'the default identity (`create: true`)'), 'key'),
          },
        );
        if (identity) nsIdentity.set(namespace, { id: identity, index: t });
      }
    }

    // service account
    const serviceAccount = str(raw.serviceAccount);
    const inherited = declared[t] === undefined && namespace !== undefined ? nsIdentity.get(namespace) : undefined;
    const from = inherited && inherited.index !== t ? ` (the namespace's identity, declared by targets[${inherited.index}])` : '';
    if (identity?.mode === 'kubelet' && raw.serviceAccount !== undefined) {
      fail(
        [...at, 'serviceAccount'],
        `must be absent with a kubelet identity${from}: the kubelet / VM identity is not federated with a service account (use \`identity: { create: true }\` for per-service-account access)`,
        'key',
      );
    } else if (identity && identity.mode !== 'kubelet' && raw.serviceAccount === undefined) {
      fail([...at, 'serviceAccount'], `missing required field \`serviceAccount\` (required with a ${identity.mode} identity; only kubelet identities run without one)`, 'key');
    }

    // federation: binding only where the action federates (created or existing identities), one way per identity
    const federation = targetFederation(raw.federation, defaultFederation, identity, at, fail);
    if (federation === 'binding') firstBinding ??= t;
    const idKey = identity ? identityKey(identity) : undefined;
    if (idKey !== undefined) {
      const prev = federationOfIdentity.get(idKey);
      if (!prev) federationOfIdentity.set(idKey, { federation, index: t });
      else if (prev.federation !== federation) {
        fail(
          [...at, raw.federation !== undefined ? 'federation' : 'identity'],
          `identity ${q((identity as { name: string }).name)} is federated by \`${prev.federation}\` in targets[${prev.index}] (line ${ctx.lineOf(['targets', prev.index])}) and by \`${federation}\` here; one identity uses one federation`,
          'key',
        );
      }
    }

    // federation limit (credentials only: bindings need one AKS-managed credential per identity)
    if (identity && serviceAccount !== undefined && namespace !== undefined && federation === 'credential') {
      const key = identityKey(identity);
      if (key !== undefined && (identity.mode === 'managed' || identity.mode === 'existing')) {
        const entry = federated.get(key) ?? { name: identity.name, subjects: new Set<string>() };
        federated.set(key, entry);
        const subject = `${namespace}/${serviceAccount}`;
        if (!entry.subjects.has(subject)) {
          entry.subjects.add(subject);
          if (entry.subjects.size === MAX_FEDERATED_CREDENTIALS + 1) {
            fail(
              [...at, 'serviceAccount'],
              `identity ${q(entry.name)} would be federated with more than ${MAX_FEDERATED_CREDENTIALS} service accounts (Azure allows at most ${MAX_FEDERATED_CREDENTIALS} federated identity credentials per identity); set \`federation: binding\` (one AKS identity binding per cluster, no limit per identity) or use another identity for some namespaces`,
            );
          }
        }
      }
    }

    // SecretProviderClass name, unique per namespace
    const spc = str(raw.secretProviderClass);
    if (spc !== undefined && namespace !== undefined) {
      const id = `${namespace}/${spc}`;
      const prev = spcNames.get(id);
      if (prev !== undefined) {
        fail(
          [...at, 'secretProviderClass'],
          `SecretProviderClass ${q(spc)} is already declared in namespace ${q(namespace)} by targets[${prev}] (line ${ctx.lineOf(['targets', prev, 'secretProviderClass'])})`,
        );
      } else spcNames.set(id, t);
    }

    // objects
    const objects: MountedObject[] = [];
    const fileNames = new Map<string, number>();
    list(raw.objects).forEach((o, j) => {
      const oat: FieldPath = [...at, 'objects', j];
      if (!isMap(o)) return;
      const secretName = str(o.secret);
      if (secretName === undefined) return;
      const secret = secretByName.get(secretName);
      if (!secret) {
        const known = declaredNames.find((n) => n.toLowerCase() === secretName.toLowerCase());
        if (!known) {
          fail([...oat, 'secret'], `unknown secret ${q(secretName)}${suggest.suggestion(secretName, declaredNames)} (every mounted secret must be declared under \`secrets\`)`);
          return;
        }
        if (known !== secretName) {
          fail([...oat, 'secret'], `unknown secret ${q(secretName)}; the secret is declared as ${q(known)} (write it the same way)`);
          return;
        }
        return; // declared, but its declaration has errors of its own
      }
      const written = secret.source.kind !== 'existing';
      const baseType: ObjectType = secret.source.kind === 'existing' ? secret.source.objectType : 'secret';
      const requested = OBJECT_TYPES.has(o.objectType as ObjectType) ? (o.objectType as ObjectType) : undefined;
      if (requested !== undefined && written && requested !== 'secret') {
        fail([...oat, 'objectType'], `must be secret: ${q(secretName)} is written by the action as a Key Vault secret`);
      } else if (requested !== undefined && baseType !== 'cert' && requested !== baseType) {
        fail([...oat, 'objectType'], `must be ${baseType}: ${q(secretName)} is declared as an existing ${baseType} (only a cert can also be fetched as key or secret)`);
      }
      const objectType = requested ?? baseType;
      for (const f of ['format', 'encoding'] as const) {
        if (o[f] !== undefined && objectType !== 'secret') {
          fail(
            [...oat, f],
            `${q(f)} applies only to objectType secret (the provider returns ${objectType} objects as PEM); fetch the certificate as \`objectType: secret\` to choose its format`,
            'key',
          );
        }
      }
      const version = str(o.version);
      if (version !== undefined && written) {
        fail([...oat, 'version'], `a pinned version is only allowed for \`existing\` secrets: the action writes new versions of ${q(secretName)} and tracks the latest itself`, 'key');
      }
      const alias = str(o.alias);
      const fileName = alias ?? secretName;
      const badName = alias !== undefined ? fileNameProblem(alias) : undefined;
      if (badName) fail([...oat, 'alias'], badName);
      const prevFile = fileNames.get(fileName);
      if (prevFile !== undefined) {
        fail(
          [...oat, alias !== undefined ? 'alias' : 'secret'],
          `file name ${q(fileName)} is already used by objects[${prevFile}] (line ${ctx.lineOf([...at, 'objects', prevFile])}) in this SecretProviderClass${alias === undefined ? '; give one of them an `alias`' : ''}`,
        );
      } else fileNames.set(fileName, j);
      const mounted: MountedObject = { secret: secretName, objectType };
      if (alias !== undefined) mounted.alias = alias;
      if (version !== undefined) mounted.version = version;
      const format = str(o.format);
      if (format !== undefined) mounted.format = format;
      const encoding = str(o.encoding);
      if (encoding !== undefined) mounted.encoding = encoding;
      objects.push(mounted);
    });

    // syncTo
    let syncTo: SyncSpec | undefined;
    if (isMap(raw.syncTo)) {
      const s = raw.syncTo;
      const files = objects.map((o) => o.alias ?? o.secret);
      let keys: SyncKey[];
      if (isMap(s.keys)) {
        keys = [];
        for (const [key, object] of Object.entries(s.keys)) {
          if (typeof object !== 'string') continue;
          if (!files.includes(object)) {
            const hint = suggest.didYouMean(object, files);
            fail(
              [...at, 'syncTo', 'keys', key],
              `unknown object ${q(object)}${hint ? `; did you mean ${q(hint)}?` : ''} (values name a mounted object by its alias, or its secret name when it has none: ${files.map((f) => (SHOWABLE.test(f) ? f : '…')).join(', ') || 'none'})`,
            );
            continue;
          }
          keys.push({ key, object });
        }
      } else {
        keys = files.map((f) => ({ key: f, object: f }));
        objects.forEach((o, j) => {
          const f = o.alias ?? o.secret;
          if (!SECRET_KEY.test(f)) {
            fail(
              [...at, 'objects', j, o.alias !== undefined ? 'alias' : 'secret'],
              `${q(f)} cannot be a key of the synced Secret (letters, digits, '-', '_' and '.'): give it another alias or list \`syncTo.keys\``,
            );
          }
        });
      }
      const type = str(s.type) ?? 'Opaque';
      if (type === 'kubernetes.io/tls') {
        const names = new Set(keys.map((k) => k.key));
        for (const needed of ['tls.crt', 'tls.key']) {
          if (!names.has(needed)) fail([...at, 'syncTo', isMap(s.keys) ? 'keys' : 'type'], `a kubernetes.io/tls Secret needs a ${q(needed)} key: map it in \`syncTo.keys\``, 'key');
        }
      }
      checkKubeMetadata(s.labels, [...at, 'syncTo', 'labels'], 'labels', guard);
      checkKubeMetadata(s.annotations, [...at, 'syncTo', 'annotations'], 'annotations', guard);
      const secretName = str(s.secretName);
      if (secretName !== undefined && namespace !== undefined) {
        const id = `${namespace}/${secretName}`;
        const prev = syncedSecrets.get(id);
        if (prev !== undefined) {
          fail(
            [...at, 'syncTo', 'secretName'],
            `Secret ${q(secretName)} in namespace ${q(namespace)} is already synced by targets[${prev}] (line ${ctx.lineOf(['targets', prev, 'syncTo', 'secretName'])}); two SecretProviderClasses cannot sync into one Secret`,
          );
        } else syncedSecrets.set(id, t);
      }
      if (secretName !== undefined) {
        syncTo = { secretName, type, labels: strMap(s.labels), annotations: strMap(s.annotations), keys };
      }
    }

    // access
    const readsKeysOrCerts = objects.some((o) => o.objectType === 'key' || o.objectType === 'cert');
    const access: AccessSpec = { scope: 'vault', role: readsKeysOrCerts ? DEFAULT_ROLE_WITH_KEYS_OR_CERTS : DEFAULT_ROLE };
    if (isMap(raw.access)) {
      if (raw.access.scope === 'secret' || raw.access.scope === 'vault') access.scope = raw.access.scope;
      const role = str(raw.access.role);
      if (role !== undefined) access.role = role;
    }

    const rotation = ROTATIONS.has(raw.rotation as RotationMode) ? (raw.rotation as RotationMode) : 'restart';
    if (namespace === undefined || spc === undefined || !identity) return;
    const target: TargetSpec = {
      namespace,
      createNamespace: bool(raw.createNamespace, false),
      identity,
      access,
      secretProviderClass: spc,
      objects,
      rotation,
    };
    if (serviceAccount !== undefined && identity.mode !== 'kubelet') target.serviceAccount = serviceAccount;
    if (syncTo) target.syncTo = syncTo;
    if (federation === 'binding') target.federation = 'binding';
    targets.push(target);
  });

  // prune / purge
  if (data.purge === true && data.prune !== true) {
    fail(['purge'], '`purge: true` requires `prune: true` (only pruned secrets are purged)', 'key');
  }
  const rawCleanup = isMap(data.cleanup) ? data.cleanup : undefined;
  if (rawCleanup?.purge === true && rawCleanup.deleteSecrets !== true) {
    fail(['cleanup', 'purge'], '`cleanup.purge: true` requires `cleanup.deleteSecrets: true` (only deleted secrets are purged)', 'key');
  }

  const clusterRg = str(cluster.resourceGroup);
  if (firstBinding !== undefined && clusterRg === undefined) {
    fail(
      ['cluster', 'name'],
      `\`federation: binding\` (targets[${firstBinding}], line ${ctx.lineOf(['targets', firstBinding])}) needs the AKS cluster's resource group: set \`cluster.resourceGroup\``,
      'key',
    );
  }

  const vaultName = str(vault.name);
  const vaultRg = str(vault.resourceGroup);
  if (!ok || vaultName === undefined || vaultRg === undefined || clusterName === undefined || data.apiVersion !== 'akv-aks/v1') return undefined;

  const manifest: Manifest = {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ owner: str(data.owner), repository: ctx.repository, path: ctx.path, cluster: clusterName }),
    vault: { name: vaultName, resourceGroup: vaultRg },
    cluster: { name: clusterName },
    identityDefaults: { tags: strMap(defaults.tags) },
    secrets,
    targets,
    prune: bool(data.prune, false),
    purge: bool(data.purge, false),
  };
  const sub = str(vault.subscriptionId);
  if (sub !== undefined) manifest.vault.subscriptionId = sub;
  const issuer = str(cluster.oidcIssuer);
  if (issuer !== undefined) manifest.cluster.oidcIssuer = issuer;
  if (clusterRg !== undefined) manifest.cluster.resourceGroup = clusterRg;
  const clusterSub = str(cluster.subscriptionId);
  if (clusterSub !== undefined) manifest.cluster.subscriptionId = clusterSub;
  if (defaultFederation !== undefined) manifest.identityDefaults.federation = defaultFederation;
  if (defaultsRg !== undefined) manifest.identityDefaults.resourceGroup = defaultsRg;
  if (defaultsLocation !== undefined) manifest.identityDefaults.location = defaultsLocation;
  const cloud = str(data.cloudName);
  if (cloud !== undefined) manifest.cloudName = cloud;
  if (rawCleanup) manifest.cleanup = { deleteSecrets: bool(rawCleanup.deleteSecrets, false), purge: bool(rawCleanup.purge, false) };
  const warning = isMap(data.audit) ? str(data.audit.expiryWarning) : undefined;
  const warningSeconds = warning === undefined ? undefined : parseDurationSeconds(warning);
  if (warningSeconds !== undefined) manifest.audit = { expiryWarningSeconds: warningSeconds };
  return manifest;
}

export { POD_IDENTITY_MESSAGE };
