// The pure planner of the Key Vault sync: from the manifest, the vault's current state (metadata
// only, plus the answers of value comparisons) and the mode, the exact list of operations and the
// value-free PlanItems. Plan mode prints these; apply executes exactly these.
import type { ManifestInstance } from '../manifest/instance.ts';
import type { Manifest, SecretSpec } from '../manifest/types.ts';
import type { PlanItem } from '../plan/types.ts';
import type { ObjectLookup } from '../keyvault/objects.ts';
import { isStateSecretName } from './versions.ts';
import { isLedgerName } from '../ledger/model.ts';
import { ACTION_NAME, DIGEST_KEY_SECRET, LEASE_SECRET, OWNER_TAG, TAG_CLUSTER, TAG_COMMIT, TAG_DIGEST, TAG_INSTANCE, TAG_MANIFEST, TAG_REPOSITORY, TAG_SOURCE } from '../names.ts';
import type { DeletedSecretInfo, DesiredProperties, LiveSecret } from '../keyvault/model.ts';

export const DIGEST_KEY_CONTENT_TYPE = 'application/vnd.akv-aks.digest-key';
/** Names the action keeps for itself: the digest key and the version index shards (src/vault/versions.ts). */
export function isReservedSecretName(name: string): boolean {
  return name.toLowerCase() === DIGEST_KEY_SECRET || name.toLowerCase() === LEASE_SECRET || isStateSecretName(name) || isLedgerName(name);
}

export interface VaultState {
  /** Keyed by lower-cased name (vault names are case-insensitive). */
  live: Map<string, LiveSecret>;
  deleted: Map<string, DeletedSecretInfo>;
  /** Existing keys the manifest declares, as the keys API answered (lower-cased names); absent: not read. */
  keys?: Map<string, ObjectLookup>;
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
  commit?: string;
  /** The secrets this instance's ledger records as declared and written by it (undefined: no ledger yet). */
  recorded?: ReadonlySet<string>;
  /** Other instances (described) whose ledgers declare the secret; [] when unknown or none. */
  declaredElsewhere?: (name: string) => string[];
  /** The instance `key` (described) when its ledger declares the secret; undefined otherwise or unknown. */
  declaredBy?: (name: string, key: string) => string | undefined;
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
  /** What the instance's ledger records before the writes (lower-case names, sorted)... */
  record: string[];
  /** ...and once the prunes are done. */
  recordAfter: string[];
  /**
   * Decisions that depend on other manifests' ledgers, which this plan was not given: the writers
   * whose ledgers to read (instance keys) and whether every other ledger is needed (a drop).
   */
  needs: { writers: string[]; others: boolean };
}

const lower = (s: string): string => s.toLowerCase();

/** Tag values are limited to 256 characters. */
export function tagValue(v: string): string {
  return v.length > 256 ? v.slice(0, 256) : v;
}

export function isOwned(tags: Record<string, string> | undefined): boolean {
  return tags?.[OWNER_TAG] === ACTION_NAME;
}

function sameTime(a: Date | undefined, b: Date | undefined): boolean {
  if (!a || !b) return a === b;
  return Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);
}

/** Properties of a newly written version. */
/** The tags naming the writer: its instance key, and for people its owner, repository and cluster. */
export function ownershipTags(instance: ManifestInstance): Record<string, string> {
  const tags: Record<string, string> = { [TAG_INSTANCE]: instance.key, [TAG_MANIFEST]: tagValue(instance.owner), [TAG_CLUSTER]: tagValue(instance.cluster) };
  if (instance.repository) tags[TAG_REPOSITORY] = tagValue(instance.repository);
  return tags;
}

export function writeProperties(spec: SecretSpec, input: Pick<PlanInput, 'now' | 'commit' | 'digest' | 'manifest'>): DesiredProperties {
  const tags: Record<string, string> = { ...spec.tags, [OWNER_TAG]: ACTION_NAME, ...ownershipTags(input.manifest.instance), [TAG_SOURCE]: spec.source.kind };
  if (input.commit) tags[TAG_COMMIT] = tagValue(input.commit);
  if (spec.source.kind === 'env') {
    const d = input.digest(spec.name);
    if (d) tags[TAG_DIGEST] = d;
  }
  const expiresOn = spec.expires ? new Date(spec.expires) : spec.expiresAfterSeconds !== undefined ? new Date(input.now.getTime() + spec.expiresAfterSeconds * 1000) : undefined;
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
  setTag(OWNER_TAG, ACTION_NAME, 'ownership tags');
  // The writer's tags: set on adoption, and added (no new version) to a secret written before they
  // existed; a secret another manifest wrote last keeps naming it.
  if (adopting || !tags[TAG_INSTANCE]) {
    for (const [k, v] of Object.entries(ownershipTags(input.manifest.instance))) setTag(k, v, 'ownership tags');
    if (input.commit) setTag(TAG_COMMIT, tagValue(input.commit), 'ownership tags');
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

/** What planning learns it must read before it can decide (the other writers' ledgers, the other manifests' declarations). */
interface PlanNeeds {
  writers: Set<string>;
  others: boolean;
}

/** An `existing` secret, key or certificate: never written, only checked for presence. */
function planExisting(spec: SecretSpec & { source: { kind: 'existing' } }, input: PlanInput): PlannedSecret {
  const key = lower(spec.name);
  const base = { kind: 'secret' as const, name: spec.name };
  if (spec.source.objectType === 'key') {
    // Keys live apart from secrets (a secret of the same name is another object): the keys API decides.
    const k = input.state.keys?.get(key);
    if (k?.state === 'missing') return { name: spec.name, spec, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason: 'declared existing key but missing from the vault' } };
    const reason = k?.state === 'found' ? 'existing key (never written by the action)' : `existing key (not checked: the deployer may not read keys${k ? `, HTTP ${k.status}` : ''})`;
    return { name: spec.name, spec, op: { kind: 'none' }, item: { ...base, action: 'unchanged', reason } };
  }
  const live = input.state.live.get(key);
  if (live) return { name: spec.name, spec, live, op: { kind: 'none' }, item: { ...base, action: 'unchanged', reason: 'existing (never written by the action)' } };
  const reason = input.state.deleted.get(key) ? 'declared existing but soft-deleted in the vault' : 'declared existing but missing from the vault';
  return { name: spec.name, spec, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason } };
}

/** A written secret that is live in the vault: refuse, new version, properties only, or nothing. */
function planLive(spec: SecretSpec, live: LiveSecret, input: PlanInput, needs: PlanNeeds): PlannedSecret {
  const at = { name: spec.name, spec, live };
  const base = { kind: 'secret' as const, name: spec.name };
  if (live.managed) {
    return { ...at, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason: 'backs a Key Vault certificate (declare it as existing with objectType cert)' } };
  }
  const owned = isOwned(live.tags);
  // A secret another manifest wrote last and still declares is shared with it.
  const writer = live.tags[TAG_INSTANCE];
  const otherWriter = owned && writer && writer !== input.manifest.instance.key ? writer : undefined;
  const sharedWith = otherWriter ? input.declaredBy?.(spec.name, otherWriter) : undefined;
  // Only a change decides by the other writer's ledger: an unchanged shared secret costs no read.
  const askWriter = (): void => {
    if (otherWriter && !input.declaredBy) needs.writers.add(otherWriter);
  };
  if (!owned && !spec.adopt) {
    return { ...at, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason: 'exists but is not managed by akv-aks-action (set adopt: true to take it over)' } };
  }
  const why = newVersionReason(spec, live, input);
  if (why === 'value changed') askWriter();
  if (why === 'value changed' && sharedWith) {
    const reason = `conflicting values: ${sharedWith} declares this secret and wrote another value; two manifests must not write different values into one secret (declare it \`existing\` in all but one)`;
    return { ...at, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason } };
  }
  if (why) {
    return { ...at, op: { kind: 'set', recover: false, properties: writeProperties(spec, input) }, item: { ...base, action: owned ? 'update' : 'adopt', reason: owned ? why : `adopt: ${why}` } };
  }
  const diff = propertyDiff(spec, live, input, !owned);
  if (diff.reasons.length) askWriter();
  if (diff.reasons.length && sharedWith) {
    // Its writer's properties stand: two declarers would otherwise rewrite them back and forth.
    return { ...at, op: { kind: 'none' }, item: { ...base, action: 'unchanged', reason: `shared with ${sharedWith}, whose properties it keeps (${diff.reasons.join(', ')} differ)` } };
  }
  if (diff.reasons.length) {
    const reason = `${owned ? '' : 'adopt: '}properties changed: ${diff.reasons.join(', ')}`;
    return { ...at, op: { kind: 'properties', properties: diff.properties }, item: { ...base, action: owned ? 'update' : 'adopt', reason } };
  }
  return { ...at, op: { kind: 'none' }, item: { ...base, action: 'unchanged' } };
}

/** A written secret that is soft-deleted: recover it (and write when its value is not the wanted one). */
function planDeleted(spec: SecretSpec, deleted: DeletedSecretInfo, input: PlanInput): PlannedSecret {
  const base = { kind: 'secret' as const, name: spec.name };
  if (!isOwned(deleted.tags) && !spec.adopt) {
    return { name: spec.name, spec, op: { kind: 'refuse' }, item: { ...base, action: 'refuse', reason: 'soft-deleted secret not managed by akv-aks-action (set adopt: true to recover it)' } };
  }
  if (recoveredValueIsWanted(spec, deleted, input)) {
    return { name: spec.name, spec, op: { kind: 'recover' }, item: { ...base, action: 'recover', reason: 'soft-deleted: recover (value unchanged)' } };
  }
  return { name: spec.name, spec, op: { kind: 'set', recover: true, properties: writeProperties(spec, input) }, item: { ...base, action: 'recover', reason: 'soft-deleted: recover, then write' } };
}

function planDeclared(spec: SecretSpec, input: PlanInput, needs: PlanNeeds): PlannedSecret {
  if (spec.source.kind === 'existing') return planExisting(spec as SecretSpec & { source: { kind: 'existing' } }, input);
  const live = input.state.live.get(lower(spec.name));
  if (live) return planLive(spec, live, input, needs);
  const deleted = input.state.deleted.get(lower(spec.name));
  if (deleted) return planDeleted(spec, deleted, input);
  return {
    name: spec.name,
    spec,
    op: { kind: 'set', recover: false, properties: writeProperties(spec, input) },
    item: { kind: 'secret', name: spec.name, action: 'create', reason: spec.source.kind === 'generate' ? 'generated' : undefined },
  };
}

/**
 * Secrets this instance wrote but no longer declares: its ledger's record, and (LIST mode) what
 * carries its instance tag. Another declarer keeps a secret alive.
 */
function planDropped(input: PlanInput, declared: Set<string>, needs: PlanNeeds): { planned: PlannedSecret[]; record: Set<string>; recordAfter: Set<string> } {
  const { manifest, state } = input;
  const mine = manifest.instance.key;
  const planned: PlannedSecret[] = [];
  const written = new Set<string>();
  for (const spec of manifest.secrets) if (spec.source.kind !== 'existing') written.add(lower(spec.name));
  const dropped = new Map<string, LiveSecret | undefined>();
  for (const name of input.recorded ?? []) if (!declared.has(name)) dropped.set(name, state.live.get(name));
  for (const l of state.live.values()) if (isOwned(l.tags) && l.tags[TAG_INSTANCE] === mine && !declared.has(lower(l.name))) dropped.set(lower(l.name), l);
  const record = new Set(written);
  const recordAfter = new Set(written);
  for (const [key, s] of [...dropped].sort(([a], [b]) => a.localeCompare(b))) {
    if (!s || isReservedSecretName(key)) continue; // gone already: the record forgets it
    const item = (action: PlanItem['action'], reason: string): PlanItem => ({ kind: 'secret', name: s.name, action, reason });
    if (!isOwned(s.tags)) {
      planned.push({ name: s.name, live: s, op: { kind: 'none' }, item: item('keep', 'dropped from the manifest, no longer managed by akv-aks-action') });
      continue;
    }
    if (!input.declaredElsewhere) needs.others = true;
    const others = input.declaredElsewhere?.(key) ?? [];
    if (others.length) {
      planned.push({ name: s.name, live: s, op: { kind: 'none' }, item: item('keep', `dropped from the manifest, still declared by ${others.join(', ')}`) });
    } else if (manifest.prune) {
      record.add(key);
      const reason = manifest.purge ? 'dropped from the manifest: delete and purge' : 'dropped from the manifest: delete (recoverable)';
      planned.push({ name: s.name, live: s, op: { kind: 'prune', purge: manifest.purge }, item: item('prune', reason) });
    } else {
      record.add(key);
      recordAfter.add(key);
      planned.push({ name: s.name, live: s, op: { kind: 'none' }, item: item('keep', 'dropped from the manifest (prune not set)') });
    }
  }
  return { planned, record, recordAfter };
}

/** A secret written before the ownership model names only a path, which several manifests can share: it is never pruned. */
function planLegacy(input: PlanInput, declared: Set<string>): PlannedSecret[] {
  const path = input.manifest.instance.path;
  const legacy = [...input.state.live.values()].filter(
    (l) => isOwned(l.tags) && !l.tags[TAG_INSTANCE] && path !== undefined && l.tags[TAG_MANIFEST] === tagValue(path) && !declared.has(lower(l.name)) && !isReservedSecretName(l.name),
  );
  return legacy
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((l) => ({
      name: l.name,
      live: l,
      op: { kind: 'none' },
      item: {
        kind: 'secret',
        name: l.name,
        action: 'keep',
        reason: `written before manifest ownership: its tags name the path ${path} but no repository and cluster, so whose it is cannot be told; never pruned (delete it by hand if no manifest uses it)`,
      },
    }));
}

export function planSecrets(input: PlanInput): SecretPlan {
  const declared = new Set(input.manifest.secrets.map((s) => lower(s.name)));
  const needs: PlanNeeds = { writers: new Set<string>(), others: false };
  const out = input.manifest.secrets.map((spec) => planDeclared(spec, input, needs));
  const { planned, record, recordAfter } = planDropped(input, declared, needs);
  out.push(...planned, ...planLegacy(input, declared));
  const sorted = (xs: Set<string>): string[] => [...xs].sort();
  return { secrets: out, record: sorted(record), recordAfter: sorted(recordAfter), needs: { writers: [...needs.writers].sort(), others: needs.others } };
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
