// How the secret sync reads the vault's state in a run (pure; the I/O is in vault/index.ts): either
// LIST the whole vault (pages of 25, whatever other manifests keep there), or read by name only the
// secrets this manifest instance declares or its ledger records (one versions page each, no value),
// whichever costs fewer requests. The vault's size is known only from a LIST, so the instance's
// ledger keeps the count its last LIST saw while that count makes reads by name the cheaper choice;
// without it the run lists. Design notes: docs/performance.md ("Cost follows the manifest").
import type { ManifestInstance } from '../manifest/instance.ts';
import type { Manifest } from '../manifest/types.ts';
import type { LiveSecret } from '../keyvault/model.ts';
import { TAG_INSTANCE, TAG_MANIFEST } from '../names.ts';
import { isOwned, isReservedSecretName, tagValue } from './plan.ts';

/** Key Vault's largest page of a secrets or versions listing. */
export const LIST_PAGE_SIZE = 25;

export type StateReads = 'list' | 'by-name';

/** Requests a LIST of a vault holding `secrets` secrets costs. */
export function listPages(secrets: number): number {
  return Math.max(1, Math.ceil(secrets / LIST_PAGE_SIZE));
}

/**
 * The names a read by name covers (lower-case, sorted): the declared secrets (keys live in another
 * API) and those the ledger records as this instance's, so a dropped secret is still seen and pruned.
 */
export function namesToRead(manifest: Manifest, recorded: readonly string[] | undefined): string[] {
  const names = new Set<string>();
  for (const s of manifest.secrets) if (!(s.source.kind === 'existing' && s.source.objectType === 'key')) names.add(s.name.toLowerCase());
  for (const r of recorded ?? []) if (!isReservedSecretName(r)) names.add(r.toLowerCase());
  return [...names].sort();
}

/**
 * LIST, or one request per name (a secret with more than 25 versions costs more; rare) against the
 * vault's LIST pages plus the version-index read that only a LIST run needs. Unknown size: LIST.
 */
export function chooseReads(names: number, vaultSecrets: number | undefined): StateReads {
  if (vaultSecrets === undefined) return 'list';
  return names <= listPages(vaultSecrets) ? 'by-name' : 'list';
}

/**
 * True when a LIST shows secrets a read by name would miss, so this instance must keep listing:
 * secrets carrying its instance tag that its ledger does not record (its ledger could not be
 * written), and secrets an older release wrote for its manifest path (reported, never pruned).
 */
export function listShowsMore(live: Iterable<LiveSecret>, names: ReadonlySet<string>, instance: ManifestInstance): boolean {
  for (const l of live) {
    const key = l.name.toLowerCase();
    if (names.has(key) || !isOwned(l.tags) || isReservedSecretName(key)) continue;
    const writer = l.tags[TAG_INSTANCE];
    if (writer === instance.key) return true;
    if (!writer && instance.path !== undefined && l.tags[TAG_MANIFEST] === tagValue(instance.path)) return true;
  }
  return false;
}

/**
 * After a LIST: the vault size the ledger should hold (only while it makes reads by name cheaper),
 * and whether that alone is worth a ledger write (only when it changes the next run's choice, so a
 * no-op whose vault merely grew or shrank a little writes nothing).
 */
export function vaultSizeRecord(o: { names: number; seen: number; stored: number | undefined; listShowsMore: boolean }): { record: number | undefined; rewrite: boolean } {
  const record = !o.listShowsMore && chooseReads(o.names, o.seen) === 'by-name' ? o.seen : undefined;
  return { record, rewrite: chooseReads(o.names, o.stored) !== chooseReads(o.names, record) };
}

/**
 * A secret's current version from the metadata of all its versions: the newest by `created`.
 * Key Vault's times have whole seconds, so several versions of the newest second leave it
 * `undecided` (the run then lists, where the LIST attributes tell them apart); none: undefined.
 */
export function currentOfVersions(versions: readonly LiveSecret[]): LiveSecret | 'undecided' | undefined {
  if (!versions.length) return undefined;
  const second = (v: LiveSecret): number => Math.floor((v.createdOn?.getTime() ?? 0) / 1000);
  const top = Math.max(...versions.map(second));
  const newest = versions.filter((v) => second(v) === top);
  return newest.length > 1 ? 'undecided' : newest[0];
}
