// The pure planner of the Key Vault sync: from the manifest, the vault's current state (metadata
// only, plus the answers of value comparisons) and the mode, the exact list of operations and the
// value-free PlanItems. Plan mode prints these; apply executes exactly these.
import type { Manifest, SecretSpec } from '../manifest/types.ts';
import type { PlanItem } from '../plan/types.ts';
import type { ObjectLookup } from './objects.ts';
import { stateShardOf } from './versions.ts';
import { isLedgerName } from '../identity/ledger.ts';

export const TAG_OWNER = 'managed-by';
export const OWNER = 'akv-aks-action';
export const TAG_MANIFEST = 'akv-aks-manifest';
export const TAG_COMMIT = 'akv-aks-commit';
export const TAG_REPOSITORY = 'akv-aks-repository';
export const TAG_DIGEST = 'akv-aks-digest';
export const TAG_SOURCE = 'akv-aks-source';
/** The vault secret holding the HMAC key of the value digests (readable only by value-readers). */
export const DIGEST_KEY_SECRET = 'akv-aks-digest-key';
export const DIGEST_KEY_CONTENT_TYPE = 'application/vnd.akv-aks.digest-key';

/** Names the action keeps for itself: the digest key and the version index shards (src/vault/versions.ts). */
export function isReservedSecretName(name: string): boolean {
  return name.toLowerCase() === DIGEST_KEY_SECRET || stateShardOf(name) !== undefined || isLedgerName(name);
}

/** Metadata of a secret's current version, as LIST returns it (no value). */
export interface LiveSecret {
  name: string;
  /** Version id when known (LIST does not return it). */
  version?: string;
  enabled?: boolean;
  tags: Record<string, string>;
  contentType?: string;
  createdOn?: Date;
  /** When the current version was written or its properties last changed (whole seconds). */
  updatedOn?: Date;
  expiresOn?: Date;
  notBefore?: Date;
  /** True for the secret backing a Key Vault certificate. */
  managed?: boolean;
}

export interface DeletedSecretInfo {
  name: string;
  tags: Record<string, string>;
}

export interface VaultState {
  /** Keyed by lower-cased name (vault names are case-insensitive). */
  live: Map<string, LiveSecret>;
  deleted: Map<string, DeletedSecretInfo>;
  /** Existing keys the manifest declares, as the keys API answered (lower-cased names); absent: not read. */
  keys?: Map<string, ObjectLookup>;
}

export interface DesiredProperties {
  tags: Record<string, string>;
  contentType?: string;
  expiresOn?: Date;
  notBefore?: Date;
}

export type SecretOp =
  | { kind: 'none' }
  /** Write a new version (after recovering the soft-deleted secret when `recover`). */
  | { kind: 'set'; recover: boolean; properties: DesiredProperties }
  /** Update the current version's properties (tags, contentType, dates): no new version. */
  | { kind: 'properties'; properties: DesiredProperties }
  | { kind: 'refuse' }
  /** Bring back a soft-deleted secret whose recovered value is already the wanted one: no new version. */
  | { kind: 'recover' }
  | { kind: 'prune'; purge: boolean };

export interface PlannedSecret {
  name: string;
  spec?: SecretSpec;
  live?: LiveSecret;
  op: SecretOp;
  item: PlanItem;
}

export interface PlanInput {
  manifest: Manifest;
  state: VaultState;
  mode: 'plan' | 'apply' | 'rotate';
  now: Date;
  manifestPath: string;
  commit?: string;
  repository?: string;
  /**
   * For `env` secrets: the expected digest tag of the desired value (undefined when unknown), and
   * whether the current value equals the desired one (true / false when compared, undefined when
   * the digest tag already matched or the secret is missing).
   */
  digest: (name: string) => string | undefined;
  valueEquals: (name: string) => boolean | undefined;
}

export interface SecretPlan {
  secrets: PlannedSecret[];
  /** `existing` secrets the manifest mounts that the vault lacks (an error in every mode). */
  missingExisting: string[];
}

const lower = (s: string): string => s.toLowerCase();

/** Tag values are limited to 256 characters. */
function tagValue(v: string): string {
  return v.length > 256 ? v.slice(0, 256) : v;
}

export function isOwned(tags: Record<string, string> | undefined): boolean {
  return tags?.[TAG_OWNER] === OWNER;
}

function sameTime(a: Date | undefined, b: Date | undefined): boolean {
  if (!a || !b) return a === b;
  return Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);
}

/** Properties of a newly written version. */
export function writeProperties(spec: SecretSpec, input: Pick<PlanInput, 'now' | 'manifestPath' | 'commit' | 'repository' | 'digest'>): DesiredProperties {
  const tags: Record<string, string> = { ...spec.tags, [TAG_OWNER]: OWNER, [TAG_MANIFEST]: tagValue(input.manifestPath), [TAG_SOURCE]: spec.source.kind };
  if (input.commit) tags[TAG_COMMIT] = tagValue(input.commit);
  if (input.repository) tags[TAG_REPOSITORY] = tagValue(input.repository);
  if (spec.source.kind === 'env') {
    const d = input.digest(spec.name);
    if (d) tags[TAG_DIGEST] = d;
  }
  const expiresOn = spec.expires
    ? new Date(spec.expires)
    : spec.expiresAfterSeconds !== undefined
      ? new Date(input.now.getTime() + spec.expiresAfterSeconds * 1000)
      : undefined;
  return {
    tags,
    contentType: spec.contentType,
    expiresOn,
    notBefore: spec.notBefore ? new Date(spec.notBefore) : undefined,
  };
}

/** What differs between the current version's properties and the manifest (value aside). */
function propertyDiff(spec: SecretSpec, live: LiveSecret, input: PlanInput, adopting: boolean): { reasons: string[]; properties: DesiredProperties } {
  const reasons: string[] = [];
  const tags: Record<string, string> = { ...live.tags };
  const setTag = (k: string, v: string, reason: string): void => {
    if (tags[k] !== v) {
      tags[k] = v;
      if (!reasons.includes(reason)) reasons.push(reason);
    }
  };
  for (const [k, v] of Object.entries(spec.tags)) setTag(k, v, 'tags');
  setTag(TAG_OWNER, OWNER, 'ownership tags');
  if (adopting || !tags[TAG_MANIFEST]) {
    setTag(TAG_MANIFEST, tagValue(input.manifestPath), 'ownership tags');
    if (input.commit) setTag(TAG_COMMIT, tagValue(input.commit), 'ownership tags');
    if (input.repository) setTag(TAG_REPOSITORY, tagValue(input.repository), 'ownership tags');
  }
  setTag(TAG_SOURCE, spec.source.kind, 'source tag');
  if (spec.source.kind === 'env') {
    const d = input.digest(spec.name);
    if (d) setTag(TAG_DIGEST, d, 'digest tag');
  }
  const properties: DesiredProperties = { tags, contentType: live.contentType, expiresOn: live.expiresOn, notBefore: live.notBefore };
  if (spec.contentType !== undefined && spec.contentType !== live.contentType) {
    properties.contentType = spec.contentType;
    reasons.push('contentType');
  }
  if (spec.expires !== undefined && !sameTime(new Date(spec.expires), live.expiresOn)) {
    properties.expiresOn = new Date(spec.expires);
    reasons.push('expires');
  }
  if (spec.notBefore !== undefined && !sameTime(new Date(spec.notBefore), live.notBefore)) {
    properties.notBefore = new Date(spec.notBefore);
    reasons.push('notBefore');
  }
  return { reasons, properties };
}

function formatAge(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  return `${seconds}s`;
}

/** Why a new version must be written over an existing one, or undefined. */
function newVersionReason(spec: SecretSpec, live: LiveSecret, input: PlanInput): string | undefined {
  if (live.enabled === false) return 'current version disabled';
  if (spec.source.kind === 'env') {
    const d = input.digest(spec.name);
    if (d !== undefined && live.tags[TAG_DIGEST] === d) return undefined;
    const eq = input.valueEquals(spec.name);
    if (eq === false) return 'value changed';
    if (eq === undefined) return 'value not comparable';
    return undefined;
  }
  if (spec.source.kind === 'generate' && input.mode === 'rotate' && spec.source.rotateAfterSeconds !== undefined) {
    const created = live.createdOn?.getTime();
    const ageS = created === undefined ? Infinity : (input.now.getTime() - created) / 1000;
    if (ageS >= spec.source.rotateAfterSeconds) return `rotateAfter ${formatAge(spec.source.rotateAfterSeconds)} elapsed`;
  }
  return undefined;
}

/**
 * Whether recovering a soft-deleted secret already gives the wanted value, so no new version is due:
 * an env value whose keyed digest matches the deleted secret's digest tag, or a generated value (any
 * value will do; `mode: rotate` regenerates it on a later run once it is due).
 */
function recoveredValueIsWanted(spec: SecretSpec, deleted: DeletedSecretInfo, input: PlanInput): boolean {
  if (spec.source.kind === 'generate') return true;
  if (spec.source.kind !== 'env') return false;
  const d = input.digest(spec.name);
  return d !== undefined && deleted.tags[TAG_DIGEST] === d;
}

export function planSecrets(input: PlanInput): SecretPlan {
  const { manifest, state } = input;
  const out: PlannedSecret[] = [];
  const missingExisting: string[] = [];
  const declared = new Set(manifest.secrets.map((s) => lower(s.name)));

  for (const spec of manifest.secrets) {
    const key = lower(spec.name);
    const live = state.live.get(key);
    const deleted = state.deleted.get(key);
    const base = { kind: 'secret' as const, name: spec.name };

    if (spec.source.kind === 'existing' && spec.source.objectType === 'key') {
      // Keys live apart from secrets (a secret of the same name is another object): the keys API decides.
      const k = state.keys?.get(key);
      if (k?.state === 'missing') {
        missingExisting.push(spec.name);
        out.push({ name: spec.name, spec, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason: 'declared existing key but missing from the vault' } });
      } else {
        const reason = k?.state === 'found' ? 'existing key (never written by the action)' : `existing key (not checked: the deployer may not read keys${k ? `, HTTP ${k.status}` : ''})`;
        out.push({ name: spec.name, spec, op: { kind: 'none' }, item: { ...base, action: 'unchanged', reason } });
      }
      continue;
    }

    if (spec.source.kind === 'existing') {
      if (live) {
        out.push({ name: spec.name, spec, live, op: { kind: 'none' }, item: { ...base, action: 'unchanged', reason: 'existing (never written by the action)' } });
      } else {
        missingExisting.push(spec.name);
        out.push({
          name: spec.name,
          spec,
          op: { kind: 'refuse' },
          item: { ...base, action: 'refuse', reason: deleted ? 'declared existing but soft-deleted in the vault' : 'declared existing but missing from the vault' },
        });
      }
      continue;
    }

    if (live?.managed) {
      out.push({
        name: spec.name,
        spec,
        live,
        op: { kind: 'refuse' },
        item: { ...base, action: 'refuse', reason: 'backs a Key Vault certificate (declare it as existing with objectType cert)' },
      });
      continue;
    }

    if (live) {
      const owned = isOwned(live.tags);
      if (!owned && !spec.adopt) {
        out.push({
          name: spec.name,
          spec,
          live,
          op: { kind: 'refuse' },
          item: { ...base, action: 'refuse', reason: 'exists but is not managed by akv-aks-action (set adopt: true to take it over)' },
        });
        continue;
      }
      const why = newVersionReason(spec, live, input);
      if (why) {
        out.push({
          name: spec.name,
          spec,
          live,
          op: { kind: 'set', recover: false, properties: writeProperties(spec, input) },
          item: { ...base, action: owned ? 'update' : 'adopt', reason: owned ? why : `adopt: ${why}` },
        });
        continue;
      }
      const diff = propertyDiff(spec, live, input, !owned);
      if (diff.reasons.length) {
        out.push({
          name: spec.name,
          spec,
          live,
          op: { kind: 'properties', properties: diff.properties },
          item: { ...base, action: owned ? 'update' : 'adopt', reason: `${owned ? '' : 'adopt: '}properties changed: ${diff.reasons.join(', ')}` },
        });
      } else {
        out.push({ name: spec.name, spec, live, op: { kind: 'none' }, item: { ...base, action: 'unchanged' } });
      }
      continue;
    }

    if (deleted) {
      if (!isOwned(deleted.tags) && !spec.adopt) {
        out.push({
          name: spec.name,
          spec,
          op: { kind: 'refuse' },
          item: { ...base, action: 'refuse', reason: 'soft-deleted secret not managed by akv-aks-action (set adopt: true to recover it)' },
        });
      } else if (recoveredValueIsWanted(spec, deleted, input)) {
        out.push({ name: spec.name, spec, op: { kind: 'recover' }, item: { ...base, action: 'recover', reason: 'soft-deleted: recover (value unchanged)' } });
      } else {
        out.push({
          name: spec.name,
          spec,
          op: { kind: 'set', recover: true, properties: writeProperties(spec, input) },
          item: { ...base, action: 'recover', reason: 'soft-deleted: recover, then write' },
        });
      }
      continue;
    }

    out.push({
      name: spec.name,
      spec,
      op: { kind: 'set', recover: false, properties: writeProperties(spec, input) },
      item: { ...base, action: 'create', reason: spec.source.kind === 'generate' ? 'generated' : undefined },
    });
  }

  // Secrets this manifest owns but no longer declares.
  const dropped = [...state.live.values()]
    .filter((s) => isOwned(s.tags) && s.tags[TAG_MANIFEST] === tagValue(input.manifestPath))
    .filter((s) => !declared.has(lower(s.name)) && !isReservedSecretName(s.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const s of dropped) {
    if (manifest.prune) {
      out.push({
        name: s.name,
        live: s,
        op: { kind: 'prune', purge: manifest.purge },
        item: { kind: 'secret', name: s.name, action: 'prune', reason: manifest.purge ? 'dropped from the manifest: delete and purge' : 'dropped from the manifest: delete (recoverable)' },
      });
    } else {
      out.push({ name: s.name, live: s, op: { kind: 'none' }, item: { kind: 'secret', name: s.name, action: 'keep', reason: 'dropped from the manifest (prune not set)' } });
    }
  }
  return { secrets: out, missingExisting };
}

/** The env secrets whose current value must be read to decide (digest tag absent or not matching). */
export function secretsNeedingValueRead(manifest: Manifest, state: VaultState, digest: (name: string) => string | undefined): string[] {
  const names: string[] = [];
  for (const spec of manifest.secrets) {
    if (spec.source.kind !== 'env') continue;
    const live = state.live.get(lower(spec.name));
    if (!live || live.enabled === false || live.managed) continue;
    if (!isOwned(live.tags) && !spec.adopt) continue;
    const d = digest(spec.name);
    if (d !== undefined && live.tags[TAG_DIGEST] === d) continue;
    names.push(spec.name);
  }
  return names;
}
