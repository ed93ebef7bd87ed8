// Key Vault: describe the vault (ARM), sync the manifest's secrets (data plane), report versions.
import * as runner from '../runner/index.ts';
import { randomBytes } from 'node:crypto';
import type { SecretProperties } from '@azure/keyvault-secrets';
import type { VaultSecrets } from '../keyvault/secrets.ts';
import { ARM_API_VERSIONS, armReads } from '../auth/arm.ts';
import { hasCode, messageOf, azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import type { Manifest } from '../manifest/types.ts';
import type { PlanItem, SecretVersion } from '../plan/types.ts';
import { RateLimiter, VAULT_LIMITS } from '../keyvault/limiter.ts';
import { objectReader } from '../keyvault/objects.ts';
import type { ObjectLookup } from '../keyvault/objects.ts';
import { deleteSecret, getDeleted, listLive, readValue, recover, toLive, vaultGateway, writeVersion } from '../keyvault/gateway.ts';
import type { VaultGateway } from '../keyvault/gateway.ts';
import { readByName } from './by-name.ts';
import { chooseReads, listShowsMore, namesToRead, vaultSizeRecord } from './decide.ts';
import { VaultLease } from './lease.ts';
import { VaultSyncError } from '../keyvault/model.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { otherClaims, sameLedger, who, withSecrets, withVaultSecrets } from '../ledger/model.ts';
import type { GrantLedger } from '../ledger/model.ts';
import { ledgerBook } from '../ledger/store.ts';
import type { LedgerBook } from '../ledger/store.ts';
import { DIGEST_KEY_CONTENT_TYPE, isOwned, isReservedSecretName, planSecrets, secretsNeedingValueRead } from './plan.ts';
import type { PlanInput, PlannedSecret, SecretPlan, VaultState } from './plan.ts';
import { generateValue, newDigestKey, valueDigest } from './values.ts';
import { STATE_CONTENT_TYPE, VersionIndex, attributesFingerprint, decodeShard, entryFor, stateShardOf } from './versions.ts';
import type { IndexEntry } from './versions.ts';
import { ACTION_NAME, OWNER_TAG } from '../names.ts';
import { mapAll } from '../util/concurrency.ts';
import type { DeletedSecretInfo, LiveSecret } from '../keyvault/model.ts';
import { maskValue } from '../runner/mask.ts';
import { DIGEST_KEY_SECRET } from '../names.ts';

export type { VaultAccessPolicy, VaultInfo } from '../keyvault/model.ts';
export { VaultSyncError } from '../keyvault/model.ts';

/** Gives an error thrown after planning the planned items: a VaultSyncError with them, caused by any other error. */
function withItems(e: unknown, items: PlanItem[]): unknown {
  if (e instanceof VaultSyncError) {
    if (e.items.length) return e;
    const again = new VaultSyncError(e.message, e.secrets, e.cause, items);
    if (e.stack) again.stack = e.stack;
    return again;
  }
  return new VaultSyncError(messageOf(e), [], e, items);
}

/** What the action reads of ARM's Vault resource (Vaults_Get). */
interface VaultJson {
  id?: string;
  name?: string;
  properties?: {
    vaultUri?: string;
    enableRbacAuthorization?: boolean;
    tenantId: string;
    accessPolicies?: Array<{ tenantId: string; objectId: string; applicationId?: string; permissions?: { secrets?: string[]; keys?: string[]; certificates?: string[] } }>;
  };
}

/** ARM Vaults_Get: the data-plane URI (properties.vaultUri), the permission model, access policies. */
export async function describeVault(session: AzureSession, manifest: Manifest): Promise<VaultInfo> {
  const subscriptionId = manifest.vault.subscriptionId ?? session.subscriptionId;
  const path = `/subscriptions/${encodeURIComponent(subscriptionId)}/resourceGroups/${encodeURIComponent(manifest.vault.resourceGroup)}/providers/Microsoft.KeyVault/vaults/${encodeURIComponent(manifest.vault.name)}`;
  let v: VaultJson;
  try {
    v = await armReads(session).get<VaultJson>(path, ARM_API_VERSIONS.keyVault);
  } catch (e) {
    const status = azureStatusOf(e);
    if (status === 404) {
      throw new VaultSyncError(`Key Vault ${manifest.vault.name} not found in resource group ${manifest.vault.resourceGroup} of subscription ${subscriptionId}`, [], e);
    }
    if (status === 403) {
      throw new VaultSyncError(`The deployer ${session.clientId} may not read Key Vault ${manifest.vault.name} (ARM 403): grant it Reader (or more) on the vault`, [], e);
    }
    throw e;
  }
  const p = v.properties;
  if (!p?.vaultUri) throw new VaultSyncError(`ARM returned Key Vault ${manifest.vault.name} without properties.vaultUri`, []);
  const info: VaultInfo = {
    id: v.id ?? `/subscriptions/${subscriptionId}/resourceGroups/${manifest.vault.resourceGroup}/providers/Microsoft.KeyVault/vaults/${manifest.vault.name}`,
    name: v.name ?? manifest.vault.name,
    uri: p.vaultUri,
    rbac: p.enableRbacAuthorization === true,
    tenantId: p.tenantId,
    resourceGroup: manifest.vault.resourceGroup,
    subscriptionId,
  };
  if (!info.rbac) {
    info.accessPolicies = (p.accessPolicies ?? []).map((a) => ({
      tenantId: a.tenantId,
      objectId: a.objectId,
      applicationId: a.applicationId,
      permissions: {
        secrets: a.permissions?.secrets?.map(String),
        keys: a.permissions?.keys?.map(String),
        certificates: a.permissions?.certificates?.map(String),
      },
    }));
  }
  runner.info(`Key Vault ${info.name}: ${info.rbac ? 'Azure RBAC' : 'access policies'}, ${info.uri}`);
  return info;
}

/**
 * The current version of a secret whose version the index does not know, from its versions'
 * metadata (no value read): the latest by `created`. Key Vault's times have whole seconds, so when
 * several versions share the latest second, those whose attributes match what LIST shows of the
 * current one are kept, and if that still leaves several, one GET of the secret (its value masked
 * and dropped) names the current version. Also returns the index entry for the answer.
 */
async function currentVersion(client: VaultSecrets, limiter: RateLimiter, name: string, live?: LiveSecret, mayReadValue = true): Promise<{ version?: string; entry?: IndexEntry }> {
  const all: SecretProperties[] = [];
  const pages = client.versionPages(name);
  for (;;) {
    const page = await limiter.run('read', () => pages.next());
    if (page.done) break;
    for (const p of page.value) if (p.version) all.push(p);
  }
  if (!all.length) return {};
  const created = (p: SecretProperties): number => p.createdOn?.getTime() ?? 0;
  const newest = Math.max(...all.map(created));
  let tied = all.filter((p) => created(p) === newest);
  if (tied.length > 1 && live) {
    const fp = attributesFingerprint(live);
    const same = tied.filter((p) => attributesFingerprint(toLive(p)) === fp && p.updatedOn?.getTime() === live.updatedOn?.getTime());
    if (same.length) tied = same;
  }
  if (tied.length > 1 && mayReadValue) {
    try {
      const s = await limiter.run('read', () => client.getSecret(name));
      if (s.value !== undefined) maskValue(s.value);
      const v = s.properties.version;
      if (v) return { version: v, entry: entryFor(v, toLive(s.properties)) };
    } catch (e) {
      // No permission to read values: the best guess below (the gate then shows any mismatch).
      runner.debug(`secret ${name}: several versions created in one second and no read of the current one (${azureStatusOf(e) ?? 'error'})`);
    }
    tied.sort((a, b) => ((a.version ?? '') < (b.version ?? '') ? 1 : -1));
    return { version: tied[0]?.version };
  }
  const best = tied[0] as SecretProperties;
  return { version: best.version, entry: entryFor(best.version, toLive(best)) };
}

/**
 * The version index shards the LIST shows (owned by the action), read in parallel. Undefined when
 * a shard name is held by a secret the action does not own: the index is then neither used nor written.
 */
async function readIndex(client: VaultSecrets, limiter: RateLimiter, live: Map<string, LiveSecret>, instanceKey: string): Promise<VersionIndex | undefined> {
  const found: { shard: number; name: string }[] = [];
  for (const l of live.values()) {
    const shard = stateShardOf(l.name, instanceKey);
    if (shard === undefined) continue;
    if (!isOwned(l.tags)) {
      runner.info(`secret ${l.name} is not managed by akv-aks-action: versions are looked up per secret`);
      return undefined;
    }
    found.push({ shard, name: l.name });
  }
  const shards = new Map<number, Map<string, IndexEntry> | undefined>();
  await mapAll(found, VAULT_LIMITS.concurrency, async (f) => {
    try {
      const s = await limiter.run('read', () => client.getSecret(f.name));
      shards.set(f.shard, decodeShard(s.value));
    } catch (e) {
      // Unreadable (no `get` permission, deleted meanwhile, throttled past the retries): the
      // index is only an optimisation, so this run looks versions up instead of failing.
      runner.info(`version index shard ${f.name} not read (${azureStatusOf(e) ?? 'error'}): versions are looked up per secret`);
      shards.set(f.shard, undefined);
    }
  });
  return new VersionIndex(shards, instanceKey);
}

/** Writes the index shards that changed (none on a no-op run). A failure costs only the next run's lookups. */
async function writeIndex(ctx: SyncContext, index: VersionIndex, live: Map<string, LiveSecret>): Promise<void> {
  let writes;
  try {
    writes = index.shardWrites(live);
  } catch (e) {
    runner.info(`version index not updated: ${messageOf(e)}`);
    return;
  }
  if (!writes.length) return;
  try {
    await mapAll(writes, VAULT_LIMITS.concurrency, (w) => writeVersion(ctx.client, ctx.limiter, w.name, w.value, { tags: { [OWNER_TAG]: ACTION_NAME }, contentType: STATE_CONTENT_TYPE }, true));
    runner.debug(`version index updated (${writes.length} shard(s))`);
  } catch (e) {
    runner.info(`version index not updated (the next run looks versions up per secret): ${messageOf(e)}`);
  }
}

/**
 * The soft-deleted secrets among `names`. Few names: a GET each. Many (a first sync): the LIST of
 * deleted secrets in pages of 25 instead, unless that listing turns out longer than the GETs it
 * replaces (a vault full of deleted secrets); then the names not seen yet are probed one by one.
 */
async function findDeleted(client: VaultSecrets, limiter: RateLimiter, names: string[]): Promise<DeletedSecretInfo[]> {
  const probe = (list: string[]): Promise<(DeletedSecretInfo | undefined)[]> => mapAll(list, VAULT_LIMITS.concurrency, (n) => getDeleted(client, limiter, n));
  if (names.length <= 25) return (await probe(names)).filter((d): d is DeletedSecretInfo => d !== undefined);
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const found: DeletedSecretInfo[] = [];
  const pages = client.deletedPages();
  try {
    for (let read = 0; ; read++) {
      if (read >= names.length) {
        const seen = new Set(found.map((d) => d.name.toLowerCase()));
        const rest = (await probe(names.filter((n) => !seen.has(n.toLowerCase())))).filter((d): d is DeletedSecretInfo => d !== undefined);
        return [...found, ...rest];
      }
      const page = await limiter.run('read', () => pages.next());
      if (page.done) return found;
      for (const d of page.value) if (wanted.has(d.name.toLowerCase())) found.push({ name: d.name, tags: { ...(d.properties.tags ?? {}) } });
    }
  } catch (e) {
    // No permission to list deleted secrets (access policies tell `list` from `get`): probe by name.
    if (azureStatusOf(e) === 403) return (await probe(names)).filter((d): d is DeletedSecretInfo => d !== undefined);
    if (hasCode(e, 'BadParameter')) return found; // no soft delete on this vault
    throw e;
  }
}

interface SyncContext extends VaultGateway {
  /** What this run learns about versions (undefined when the index is unusable). */
  index?: VersionIndex;
}

/**
 * The digest key. A new one is only held in memory here: `persist` writes it once the plan holds no
 * refusal, so a refused run writes nothing. A soft-deleted one is recovered at once (rare): its
 * digests are the ones on the vault's tags.
 */
async function loadDigestKey(ctx: SyncContext, writing: boolean): Promise<{ key: Buffer; persist?: () => Promise<void> }> {
  const existing = await readValue(ctx.client, ctx.limiter, DIGEST_KEY_SECRET);
  if (existing) return { key: Buffer.from(existing, 'utf8') };
  const fresh = newDigestKey();
  maskValue(fresh);
  if (!writing) return { key: Buffer.from(fresh, 'utf8') };
  const deleted = await getDeleted(ctx.client, ctx.limiter, DIGEST_KEY_SECRET);
  if (deleted) {
    await recover(ctx.client, ctx.limiter, DIGEST_KEY_SECRET);
    const again = await readValue(ctx.client, ctx.limiter, DIGEST_KEY_SECRET);
    if (again) return { key: Buffer.from(again, 'utf8') };
  }
  return {
    key: Buffer.from(fresh, 'utf8'),
    persist: async () => {
      runner.info(`creating the digest key secret ${DIGEST_KEY_SECRET} (change detection without reading values)`);
      await writeVersion(ctx.client, ctx.limiter, DIGEST_KEY_SECRET, fresh, { tags: { [OWNER_TAG]: ACTION_NAME }, contentType: DIGEST_KEY_CONTENT_TYPE }, true);
    },
  };
}

/** The names whose current version the gate needs: mounted, not pinned. */
function mountedNames(manifest: Manifest): Set<string> {
  const names = new Set<string>();
  for (const t of manifest.targets) for (const o of t.objects) if (!o.version) names.add(o.secret.toLowerCase());
  return names;
}

const isExistingKey = (spec: Manifest['secrets'][number]): boolean => spec.source.kind === 'existing' && spec.source.objectType === 'key';

/** The keys API's answer for each `existing` key of the manifest (none: no request). */
async function lookupKeys(session: AzureSession, vault: VaultInfo, manifest: Manifest, limiter: RateLimiter): Promise<Map<string, ObjectLookup>> {
  const names = manifest.secrets.filter(isExistingKey).map((s) => s.name);
  const found = new Map<string, ObjectLookup>();
  if (!names.length) return found;
  const reader = objectReader(session.credential, session.cloud, vault.uri);
  await mapAll(names, VAULT_LIMITS.concurrency, async (name) => {
    found.set(name.toLowerCase(), await limiter.run('read', () => reader.lookup('keys', name)));
  });
  const unreadable = [...found.values()].find((k) => k.state === 'unreadable');
  if (unreadable) runner.info(`keys: the deployer may not read keys in ${vault.name} (HTTP ${unreadable.status}); their existence and versions are not checked here`);
  return found;
}

function envValue(env: Record<string, string | undefined>, variable: string, secret: string): string {
  const v = env[variable];
  if (v === undefined || v === '') throw new VaultSyncError(`secret ${secret}: environment variable ${variable} is not set (or empty)`, [secret]);
  maskValue(v);
  return v;
}

/** LIST (pages of 25) and the version index, then the index's validated versions on the live secrets. */
async function readState(ctx: SyncContext, vaultName: string, instanceKey: string): Promise<Map<string, LiveSecret>> {
  const live = await listLive(ctx.client, ctx.limiter, vaultName);
  ctx.index = await readIndex(ctx.client, ctx.limiter, live, instanceKey);
  let known = 0;
  if (ctx.index) {
    for (const l of live.values()) {
      const v = ctx.index.lookup(l);
      if (v) {
        l.version = v;
        known++;
      }
    }
  }
  runner.debug(`version index: ${known} of ${live.size} current version(s) known`);
  return live;
}

/** The version of a live secret: from the index when it still matches, else looked up (and learned). */
async function versionOf(ctx: SyncContext, l: LiveSecret, mayReadValue = true): Promise<string | undefined> {
  if (l.version) return l.version;
  const r = await currentVersion(ctx.client, ctx.limiter, l.name, l, mayReadValue);
  if (r.entry && r.entry.updated === Math.floor((l.updatedOn?.getTime() ?? -1_000) / 1000) && r.entry.fp === attributesFingerprint(l)) ctx.index?.learn(l.name, r.entry);
  else ctx.index?.forget(l.name);
  l.version = r.version;
  return r.version;
}

/**
 * Plans, then plans again with the other manifests' ledgers when a decision depends on them (a
 * secret another manifest wrote last; a secret this one dropped): a run that changes nothing reads
 * no other ledger.
 */
async function planWithLedgers(book: LedgerBook, input: PlanInput): Promise<SecretPlan> {
  const first = planSecrets(input);
  const { writers, others } = first.needs;
  if (!writers.length && !others) return first;
  const byKey = new Map<string, GrantLedger>();
  if (others) for (const l of await book.others()) byKey.set(l.instance, l);
  await mapAll(
    writers.filter((k) => !byKey.has(k)),
    VAULT_LIMITS.concurrency,
    async (k) => {
      const l = await book.ofInstance(k);
      if (l) byKey.set(l.instance, l);
    },
  );
  const elsewhere = others ? otherClaims([...byKey.values()], book.instance.key).secrets : new Map<string, string[]>();
  return planSecrets({
    ...input,
    declaredElsewhere: (name) => elsewhere.get(name.toLowerCase()) ?? [],
    declaredBy: (name, key) => {
      const l = byKey.get(key);
      return l && l.instance !== book.instance.key && (l.secrets ?? []).includes(name.toLowerCase()) ? who(l) : undefined;
    },
  });
}

/**
 * Writes the instance's ledger with `secrets` as its record, when that changes it (403: a warning).
 * A vault size seen by this run's LIST goes with a write that happens anyway, or alone when it
 * changes how the next run reads (vault/decide.ts).
 */
async function recordSecrets(book: LedgerBook, prev: GrantLedger | undefined, secrets: string[], size?: VaultRead['sizeRecord']): Promise<void> {
  try {
    let next = withSecrets(prev, book.instance.key, book.described, secrets);
    if (size && (size.rewrite || !sameLedger(prev, next))) next = withVaultSecrets(next, size.record);
    if (await book.write(next)) runner.info(`manifest ledger ${book.name}: ${secrets.length} secret(s) recorded`);
  } catch (e) {
    if (azureStatusOf(e) !== 403) throw e;
    runner.warning(
      `manifest ledger ${book.name} not written (${messageOf(e).split('\n')[0] ?? 'Forbidden'}): other manifests cannot see which secrets this one declares, and its own prune finds only what carries its tags`,
    );
  }
}

/** What a run reads before planning, and what it plans. */
interface Prepared extends VaultRead {
  state: VaultState;
  digestKey?: { key: Buffer; persist?: () => Promise<void> };
  plan: SecretPlan;
}

/** The live secrets the plan needs, this instance's ledger, and (after a LIST) the vault size to record. */
interface VaultRead {
  live: Map<string, LiveSecret>;
  own: GrantLedger | undefined;
  sizeRecord?: { record: number | undefined; rewrite: boolean };
}

/**
 * Reads the vault's state the cheaper way (vault/decide.ts): by name when the manifest's secrets
 * are few against what the vault holds, else one LIST of the vault with the version index.
 */
async function readVaultState(ctx: SyncContext, book: LedgerBook, vaultName: string, manifest: Manifest): Promise<VaultRead> {
  const own = await book.own();
  const names = namesToRead(manifest, own?.secrets);
  if (chooseReads(names.length, own?.vaultSecrets) === 'by-name') {
    const live = await readByName(ctx, vaultName, names);
    if (live) {
      ctx.index = undefined; // versions come with the reads: the index is neither needed nor written
      runner.info(`Key Vault ${vaultName}: read ${names.length} secret(s) by name rather than listing its ${own?.vaultSecrets} secrets`);
      return { live, own };
    }
    runner.info(`Key Vault ${vaultName}: a secret has several versions created in one second; listing the vault to tell its current one`);
  }
  const live = await readState(ctx, vaultName, manifest.instance.key);
  book.sawNames([...live.values()].map((l) => l.name));
  const more = listShowsMore(live.values(), new Set(names), manifest.instance);
  return { live, own, sizeRecord: vaultSizeRecord({ names: names.length, seen: live.size, stored: own?.vaultSecrets, listShowsMore: more }) };
}

/** The soft-deleted secrets among the declared ones the vault lacks (keys aside), by lower-case name. */
async function deletedAmong(ctx: SyncContext, manifest: Manifest, live: Map<string, LiveSecret>): Promise<Map<string, DeletedSecretInfo>> {
  const missing = manifest.secrets.filter((s) => !isExistingKey(s) && !live.has(s.name.toLowerCase()));
  const deleted = new Map<string, DeletedSecretInfo>();
  for (const d of await findDeleted(
    ctx.client,
    ctx.limiter,
    missing.map((s) => s.name),
  ))
    deleted.set(d.name.toLowerCase(), d);
  return deleted;
}

/** The keyed digest of each env value (by secret name), undefined without a digest key. */
function digestsOf(values: Map<string, string>, key: Buffer | undefined): (name: string) => string | undefined {
  const digests = new Map<string, string>();
  if (key) for (const [k, v] of values) digests.set(k, valueDigest(key, k, v));
  return (name) => digests.get(name.toLowerCase());
}

/** Values read only where the digest cannot decide (first run, adopted secrets, a new digest key). */
async function compareValues(ctx: SyncContext, manifest: Manifest, state: VaultState, digest: (name: string) => string | undefined, values: Map<string, string>): Promise<Map<string, boolean>> {
  const toRead = secretsNeedingValueRead(manifest, state, digest);
  const equals = new Map<string, boolean>();
  await mapAll(toRead, VAULT_LIMITS.concurrency, async (name) => {
    const current = await readValue(ctx.client, ctx.limiter, name);
    equals.set(name.toLowerCase(), current !== undefined && current === values.get(name.toLowerCase()));
  });
  if (toRead.length) runner.info(`compared ${toRead.length} value(s) without a matching digest tag`);
  return equals;
}

/** What one sync run works with, shared by its plan (made again under the write lease) and its writes. */
interface SyncRun {
  ctx: SyncContext;
  session: AzureSession;
  vault: VaultInfo;
  manifest: Manifest;
  book: LedgerBook;
  /** Desired values of env secrets (masked), by lower-case name. */
  values: Map<string, string>;
  opts: SyncOptions;
  /** Keys are never written by the action: read once, also when the plan is made again. */
  keys?: Map<string, ObjectLookup>;
}

interface SyncOptions {
  mode: 'plan' | 'apply' | 'rotate';
  env: Record<string, string | undefined>;
  now: Date;
  commit?: string;
  ledger?: LedgerBook;
  leaseTimeoutMs?: number;
}

/** The env secrets' values, read and masked before anything else. */
function desiredValues(manifest: Manifest, env: Record<string, string | undefined>): Map<string, string> {
  const values = new Map<string, string>();
  for (const s of manifest.secrets) if (s.source.kind === 'env') values.set(s.name.toLowerCase(), envValue(env, s.source.env, s.name));
  return values;
}

/** Everything the plan decides on (metadata, ledgers, the digest key, values without a digest), then the plan. */
async function prepare(run: SyncRun): Promise<Prepared> {
  const { ctx, manifest, values, opts } = run;
  const read = await readVaultState(ctx, run.book, run.vault.name, manifest);
  run.keys ??= await lookupKeys(run.session, run.vault, manifest, ctx.limiter);
  const state: VaultState = { live: read.live, deleted: await deletedAmong(ctx, manifest, read.live), keys: run.keys };
  const digestKey = values.size ? await loadDigestKey(ctx, opts.mode !== 'plan') : undefined;
  const digest = digestsOf(values, digestKey?.key);
  const equals = await compareValues(ctx, manifest, state, digest, values);
  const plan = await planWithLedgers(run.book, {
    manifest,
    state,
    mode: opts.mode,
    now: opts.now,
    commit: opts.commit,
    recorded: read.own ? new Set(read.own.secrets ?? []) : undefined,
    digest,
    valueEquals: (name) => equals.get(name.toLowerCase()),
  });
  return { ...read, state, digestKey, plan };
}

export async function syncSecrets(session: AzureSession, vault: VaultInfo, manifest: Manifest, opts: SyncOptions): Promise<{ items: PlanItem[]; secrets: SecretVersion[] }> {
  const reserved = manifest.secrets.find((s) => isReservedSecretName(s.name));
  if (reserved) throw new VaultSyncError(`the secret name ${reserved.name} is reserved by the action`, [reserved.name]);
  const ctx: SyncContext = { ...vaultGateway(session, vault) };
  const writing = opts.mode !== 'plan';
  const values = desiredValues(manifest, opts.env);
  const book = opts.ledger ?? ledgerBook(session, vault, manifest.instance);
  const run: SyncRun = { ctx, session, vault, manifest, book, values, opts };

  let prepared = await prepare(run);
  // A run that writes takes the vault's write lease, then decides again on what the vault holds
  // now: concurrent runs end as if they had run one after the other. A refused plan takes nothing.
  const lease = writing && !refusals(prepared.plan).length && writesSecrets(prepared.plan) ? new VaultLease(ctx, vault.name, `${book.described}, run ${randomBytes(4).toString('hex')}`) : undefined;
  try {
    if (lease) {
      try {
        await lease.acquire(opts.leaseTimeoutMs ?? DEFAULT_LEASE_WAIT_MS);
      } catch (e) {
        throw withItems(
          e,
          prepared.plan.secrets.map((p) => p.item),
        );
      }
      book.forget();
      prepared = await prepare(run);
    }
    return await applyPlan(ctx, book, vault, manifest, values, prepared, writing);
  } finally {
    // A release that fails costs the next writer at most the lease's minute: never this run's result.
    await lease?.release().catch((e: unknown) => runner.info(`Key Vault ${vault.name}: write lease not released (${messageOf(e).split('\n')[0] ?? 'error'}); it runs out within a minute`));
  }
}

/** How long a run waits for another run's write lease when the caller gives no budget. */
const DEFAULT_LEASE_WAIT_MS = 600_000;

const refusals = (plan: SecretPlan): PlannedSecret[] => plan.secrets.filter((p) => p.op.kind === 'refuse');

/** True when the plan writes to the vault's secrets (not only the instance's own state). */
function writesSecrets(plan: SecretPlan): boolean {
  return plan.secrets.some((p) => p.op.kind === 'set' || p.op.kind === 'properties' || p.op.kind === 'recover' || p.op.kind === 'prune');
}

async function applyPlan(
  ctx: SyncContext,
  book: LedgerBook,
  vault: VaultInfo,
  manifest: Manifest,
  values: Map<string, string>,
  prepared: Prepared,
  writing: boolean,
): Promise<{ items: PlanItem[]; secrets: SecretVersion[] }> {
  const { live, own, state, digestKey, plan, sizeRecord } = prepared;
  const items = plan.secrets.map((p) => p.item);
  // Unchanged secrets are counted in the step's summary line; one line each only in the debug log.
  for (const it of items) (it.action === 'unchanged' ? runner.debug : runner.info)(`secret ${it.name}: ${it.action}${it.reason ? ` (${it.reason})` : ''}`);

  try {
    if (writing) {
      const refused = refusals(plan);
      if (refused.length) {
        throw new VaultSyncError(
          `refusing to write Key Vault ${vault.name}; nothing was written: ` + refused.map((p) => `${p.name}: ${p.item.reason ?? 'refused'}`).join('; '),
          refused.map((p) => p.name),
          undefined,
          items,
        );
      }
    }

    const written = new Map<string, string | undefined>();
    if (writing) {
      // The ledger first: an interrupted run leaves a recorded claim, never an unrecorded write.
      await recordSecrets(book, own, plan.record, sizeRecord);
      // Before the secrets: their digest tags mean nothing without it (a crash in between only costs value reads).
      await digestKey?.persist?.();
      await mapAll(plan.secrets, VAULT_LIMITS.concurrency, async (p) => {
        const v = await execute(ctx, p, values);
        if (v.wrote) written.set(p.name.toLowerCase(), v.version);
      });
      await recordSecrets(book, await book.own(), plan.recordAfter);
    }

    // Versions for the gate: written ones from the writes, the others from the index or a lookup.
    const wanted = mountedNames(manifest);
    const secrets: SecretVersion[] = [];
    await mapAll(manifest.secrets, VAULT_LIMITS.concurrency, async (spec) => {
      const key = spec.name.toLowerCase();
      const p = plan.secrets.find((x) => x.spec === spec);
      const changed = p?.op.kind === 'set';
      let version: string | undefined;
      const l = live.get(key);
      const k = state.keys?.get(key);
      if (isExistingKey(spec)) version = k?.state === 'found' ? k.version : undefined;
      else if (written.has(key)) version = written.get(key);
      else if (!changed && l && wanted.has(key)) version = await versionOf(ctx, l);
      secrets.push({ name: spec.name, version, changed });
    });
    secrets.sort((a, b) => manifest.secrets.findIndex((s) => s.name === a.name) - manifest.secrets.findIndex((s) => s.name === b.name));

    if (writing && ctx.index) await writeIndex(ctx, ctx.index, live);
    return { items, secrets };
  } catch (e) {
    throw withItems(e, items);
  }
}

async function execute(ctx: SyncContext, p: PlannedSecret, values: Map<string, string>): Promise<{ wrote: boolean; version?: string }> {
  const { client, limiter } = ctx;
  switch (p.op.kind) {
    case 'none':
    case 'refuse':
      return { wrote: false };
    case 'set': {
      const spec = p.spec;
      if (!spec) return { wrote: false };
      let value: string;
      if (spec.source.kind === 'env') value = values.get(spec.name.toLowerCase()) ?? '';
      else if (spec.source.kind === 'generate') {
        value = generateValue(spec.source.length, spec.source.charset);
        maskValue(value);
      } else return { wrote: false };
      if (p.op.recover) {
        runner.info(`secret ${p.name}: recovering the soft-deleted secret`);
        await recover(client, limiter, p.name);
      }
      const props = await writeVersion(client, limiter, p.name, value, p.op.properties, true);
      ctx.index?.learn(p.name, entryFor(props.version, toLive(props)));
      runner.info(`secret ${p.name}: wrote a new version`);
      return { wrote: true, version: props.version };
    }
    case 'recover': {
      runner.info(`secret ${p.name}: recovering the soft-deleted secret (its value is the wanted one: no new version)`);
      const props = await recover(client, limiter, p.name);
      if (props.version) ctx.index?.learn(p.name, entryFor(props.version, toLive(props)));
      return { wrote: true, version: props.version };
    }
    case 'properties': {
      const version = p.live ? await versionOf(ctx, p.live) : undefined;
      if (!version) throw new VaultSyncError(`secret ${p.name}: cannot find its current version to update its properties`, [p.name]);
      const props = p.op.properties;
      const updated = await limiter.run('write', () =>
        client.updateSecretProperties(p.name, version, { tags: props.tags, contentType: props.contentType, expiresOn: props.expiresOn, notBefore: props.notBefore }),
      );
      ctx.index?.learn(p.name, entryFor(updated.version ?? version, toLive(updated)));
      runner.info(`secret ${p.name}: updated properties`);
      return { wrote: false };
    }
    case 'prune': {
      const purge = p.op.purge;
      ctx.index?.forget(p.name);
      try {
        await deleteSecret(ctx, p.name, purge);
      } catch (e) {
        throw new VaultSyncError(`secret ${p.name}: prune failed: ${messageOf(e)}`, [p.name], e);
      }
      runner.info(`secret ${p.name}: deleted${purge ? ' and purged' : ' (recoverable)'}`);
      return { wrote: false };
    }
  }
}

/**
 * Verify's read of the declared secrets, the cheaper way as in the sync (vault/decide.ts): by name
 * when the instance's ledger records a vault large against the manifest, else one LIST.
 */
async function readDeclared(ctx: SyncContext, vaultName: string, manifest: Manifest, book: LedgerBook | undefined): Promise<Map<string, LiveSecret>> {
  // An unreadable ledger (verify's identity may not read it) leaves the LIST, as before the ledger kept sizes.
  const own = book ? await book.own().catch(() => undefined) : undefined;
  const names = namesToRead(manifest, undefined);
  if (chooseReads(names.length, own?.vaultSecrets) === 'by-name') {
    const live = await readByName(ctx, vaultName, names);
    if (live) return live;
  }
  return readState(ctx, vaultName, manifest.instance.key);
}

/** Current latest version of each named object (for verify-only mode), in as few calls as possible. */
export async function currentVersions(session: AzureSession, vault: VaultInfo, manifest: Manifest, ledger?: LedgerBook): Promise<SecretVersion[]> {
  const ctx: SyncContext = { ...vaultGateway(session, vault) };
  const live = await readDeclared(ctx, vault.name, manifest, ledger);
  const keys = await lookupKeys(session, vault, manifest, ctx.limiter);
  const wanted = mountedNames(manifest);
  const out: SecretVersion[] = [];
  const missing: string[] = [];
  await mapAll(manifest.secrets, VAULT_LIMITS.concurrency, async (spec) => {
    if (isExistingKey(spec)) {
      const k = keys.get(spec.name.toLowerCase());
      if (k?.state === 'missing') missing.push(spec.name);
      out.push({ name: spec.name, version: k?.state === 'found' ? k.version : undefined, changed: false });
      return;
    }
    const l = live.get(spec.name.toLowerCase());
    if (!l) {
      missing.push(spec.name);
      out.push({ name: spec.name, changed: false });
      return;
    }
    const version = wanted.has(spec.name.toLowerCase()) ? await versionOf(ctx, l) : l.version;
    out.push({ name: spec.name, version, changed: false });
  });
  if (missing.length) throw new VaultSyncError(`Key Vault ${vault.name} lacks object(s) the manifest declares: ${missing.sort().join(', ')}`, missing);
  out.sort((a, b) => manifest.secrets.findIndex((s) => s.name === a.name) - manifest.secrets.findIndex((s) => s.name === b.name));
  return out;
}

/**
 * What the audit reads of the vault, writing nothing and reading no secret value: the LIST, this
 * instance's version index (its entries as read) and the current version of each declared object
 * (from the index, else from its versions' metadata; a tie of versions created in one second is
 * settled without reading the value).
 */
export async function readVaultForAudit(
  session: AzureSession,
  vault: VaultInfo,
  manifest: Manifest,
): Promise<{ live: Map<string, LiveSecret>; index?: Map<string, IndexEntry>; secrets: SecretVersion[]; missingKeys: Set<string> }> {
  const ctx: SyncContext = { ...vaultGateway(session, vault) };
  const live = await readState(ctx, vault.name, manifest.instance.key);
  const keys = await lookupKeys(session, vault, manifest, ctx.limiter);
  const wanted = mountedNames(manifest);
  const secrets = await mapAll(manifest.secrets, VAULT_LIMITS.concurrency, async (spec): Promise<SecretVersion> => {
    const k = keys.get(spec.name.toLowerCase());
    if (isExistingKey(spec)) return { name: spec.name, version: k?.state === 'found' ? k.version : undefined, changed: false };
    const l = live.get(spec.name.toLowerCase());
    const version = l && wanted.has(spec.name.toLowerCase()) ? await versionOf(ctx, l, false) : l?.version;
    return { name: spec.name, version, changed: false };
  });
  let index: Map<string, IndexEntry> | undefined;
  for (const shard of ctx.index?.shards.values() ?? []) for (const [k, e] of shard ?? []) (index ??= new Map()).set(k, e);
  const missingKeys = new Set([...keys].filter(([, k]) => k.state === 'missing').map(([name]) => name));
  return { live, index, secrets, missingKeys };
}
