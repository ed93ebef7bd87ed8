// The vault's write lease: runs that write to one vault take turns, so concurrent runs end as a
// sequential order would (how, with no conditional write in Key Vault: docs/architecture.md#the-write-lease).
import * as runner from '../runner/index.ts';
import type { SecretProperties } from '@azure/keyvault-secrets';
import { randomBytes } from 'node:crypto';
import { sleep } from '../util/concurrency.ts';
import type { VaultGateway } from '../keyvault/gateway.ts';
import { writeVersion } from '../keyvault/gateway.ts';
import { VAULT_LIMITS } from '../keyvault/limiter.ts';
import { ACTION_NAME, OWNER_TAG } from '../names.ts';
import { LEASE_SECRET } from '../names.ts';

export const LEASE_CONTENT_TYPE = 'application/vnd.akv-aks.lease';
const TAG_HOLDER = 'akv-aks-holder';
/** On a released version: the writes its holder started in the vault's last throttle window. */
const TAG_WRITES = 'akv-aks-writes';
/** A holder that stops renewing (a killed run) loses the lease after this long: a re-run waits at most that. */
export const LEASE_MS = 60_000;
const RENEW_EVERY_MS = 15_000;
/** Key Vault's `created` has whole seconds: past this, every version of our second is listed. */
const SECOND_PASSED_MS = 1_100;
const POLL_MS = 1_000;

export interface LeaseVersion {
  version: string;
  createdOn: number;
  updatedOn?: number;
  expiresOn?: number;
  enabled: boolean;
  holder?: string;
  writes?: string;
}

/**
 * The writes a holder started in the last window, as a tag value: `<release ms>;<ms before>:<n>,...`
 * per started second (at most 10 entries: well under the 256 characters of a tag).
 */
export function encodeWrites(times: number[], at: number): string {
  const perSecond = new Map<number, number>();
  for (const t of times) {
    const ago = Math.max(0, Math.floor((at - t) / 1000) * 1000);
    perSecond.set(ago, (perSecond.get(ago) ?? 0) + 1);
  }
  return `${at};${[...perSecond].map(([ago, n]) => `${ago}:${n}`).join(',')}`;
}

/** The start times encodeWrites recorded (each second's writes counted at its latest instant). */
export function decodeWrites(text: string | undefined): number[] {
  const m = /^(\d+);((?:\d+:\d+,?)*)$/.exec(text ?? '');
  if (!m) return [];
  const at = Number(m[1]);
  const out: number[] = [];
  for (const part of (m[2] ?? '').split(',').filter(Boolean)) {
    const [ago, n] = part.split(':').map(Number);
    for (let i = 0; i < Math.min(n ?? 0, 1000); i++) out.push(at - (ago ?? 0));
  }
  return out;
}

/**
 * The writes of the vault's last throttle window a new holder must count, from the lease's versions:
 * - those the last holder handed over in its tag: its own and those handed to it. Released
 *   versions' `updated` has whole seconds, so two short holds can tie; the tag counting the most
 *   writes still in the window is the last;
 * - the lease's own traffic no tag holds: each other contender's version (one write) and each
 *   release (one write), at the end of the service's second. A holder's own version may be
 *   counted twice: erring that way costs a moment's wait, the other way a throttled write.
 */
export function handedOverWrites(versions: LeaseVersion[], mine: string, now: number, windowMs = VAULT_LIMITS.windowMs): number[] {
  const since = now - windowMs;
  let tagged: number[] = [];
  for (const v of versions) {
    if (v.enabled || !v.writes) continue;
    const inWindow = decodeWrites(v.writes).filter((t) => t > since);
    if (inWindow.length > tagged.length) tagged = inWindow;
  }
  const secondEnd = (t: number): number => Math.min(now, Math.floor(t / 1000) * 1000 + 999);
  const lease: number[] = [];
  for (const v of versions) {
    if (v.version !== mine) lease.push(secondEnd(v.createdOn));
    if (!v.enabled && v.updatedOn !== undefined) lease.push(secondEnd(v.updatedOn));
  }
  return [...tagged, ...lease.filter((t) => t > since)];
}

/** The live version that holds the lease now (pure: the ordering rule above). */
export function leaseHolder(versions: LeaseVersion[], now: number): LeaseVersion | undefined {
  const live = versions.filter((v) => v.enabled && (v.expiresOn === undefined || v.expiresOn > now));
  live.sort((a, b) => Math.floor(a.createdOn / 1000) - Math.floor(b.createdOn / 1000) || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  return live[0];
}

function toLeaseVersion(p: SecretProperties): LeaseVersion | undefined {
  if (!p.version || !p.createdOn) return undefined;
  return {
    version: p.version,
    createdOn: p.createdOn.getTime(),
    updatedOn: p.updatedOn?.getTime(),
    expiresOn: p.expiresOn?.getTime(),
    enabled: p.enabled !== false,
    holder: p.tags?.[TAG_HOLDER],
    writes: p.tags?.[TAG_WRITES],
  };
}

export class LeaseTimeoutError extends Error {
  constructor(vaultName: string, holder: LeaseVersion | undefined, waitedMs: number) {
    const who = holder?.holder ?? 'another run';
    const until = holder?.expiresOn ? `; its lease runs until ${new Date(holder.expiresOn).toISOString()} unless renewed` : '';
    super(`another run holds the write lease of Key Vault ${vaultName} (${who})${until}; waited ${Math.round(waitedMs / 1000)} s: re-run once it has finished, or raise \`timeout\``);
    this.name = 'LeaseTimeoutError';
  }
}

export class VaultLease {
  private mine?: string;
  private renewer?: NodeJS.Timeout;
  private renewing: Promise<unknown> = Promise.resolve();

  private readonly gw: VaultGateway;
  private readonly vaultName: string;
  /** Who holds it, for other runs' messages (`owner @ cluster`, run id). */
  private readonly holder: string;

  constructor(gw: VaultGateway, vaultName: string, holder: string) {
    this.gw = gw;
    this.vaultName = vaultName;
    this.holder = holder;
  }

  get held(): boolean {
    return this.mine !== undefined;
  }

  /** Waits for the lease (up to `timeoutMs`); a no-op when already held. */
  async acquire(timeoutMs: number): Promise<void> {
    if (this.mine) return;
    const started = Date.now();
    const props = await writeVersion(
      this.gw.client,
      this.gw.limiter,
      LEASE_SECRET,
      randomBytes(12).toString('hex'),
      {
        tags: { [OWNER_TAG]: ACTION_NAME, [TAG_HOLDER]: this.holder.slice(0, 256) },
        contentType: LEASE_CONTENT_TYPE,
        expiresOn: new Date(Date.now() + LEASE_MS),
      },
      true,
    );
    const mine = props.version;
    if (!mine) throw new Error(`Key Vault ${this.vaultName}: the lease write returned no version`);
    await sleep(SECOND_PASSED_MS);
    let said = false;
    for (;;) {
      const versions = await this.versions();
      const holder = leaseHolder(versions, Date.now());
      if (!holder || holder.version === mine) {
        // The writes the previous holders made in the throttle window still count at the vault.
        this.gw.limiter.seed('write', handedOverWrites(versions, mine, Date.now()));
        break;
      }
      if (Date.now() - started > timeoutMs) {
        await this.disable(mine).catch(() => undefined);
        throw new LeaseTimeoutError(this.vaultName, holder, Date.now() - started);
      }
      if (!said) runner.info(`Key Vault ${this.vaultName}: waiting for the write lease held by ${holder.holder ?? 'another run'}`);
      said = true;
      await sleep(POLL_MS);
    }
    this.mine = mine;
    this.renewer = setInterval(() => {
      this.renewing = this.extend(mine).catch((e: unknown) => runner.info(`Key Vault ${this.vaultName}: lease renewal failed (${String(e)})`));
    }, RENEW_EVERY_MS);
    this.renewer.unref();
    runner.info(`Key Vault ${this.vaultName}: write lease taken${said ? ` after ${Math.round((Date.now() - started) / 1000)} s` : ''}`);
  }

  /** Gives the lease up (its version disabled), so the next run need not wait for the deadline. */
  async release(): Promise<void> {
    const mine = this.mine;
    if (!mine) return;
    this.mine = undefined;
    if (this.renewer) clearInterval(this.renewer);
    await this.renewing;
    await this.disable(mine);
  }

  private async versions(): Promise<LeaseVersion[]> {
    const out: LeaseVersion[] = [];
    const pages = this.gw.client.versionPages(LEASE_SECRET);
    for (;;) {
      const page = await this.gw.limiter.run('read', () => pages.next());
      if (page.done) return out;
      for (const p of page.value) {
        const v = toLeaseVersion(p);
        if (v) out.push(v);
      }
    }
  }

  private async extend(version: string): Promise<void> {
    await this.gw.limiter.run('write', () => this.gw.client.updateSecretProperties(LEASE_SECRET, version, { expiresOn: new Date(Date.now() + LEASE_MS) }));
  }

  private async disable(version: string): Promise<void> {
    const tags: Record<string, string> = { [OWNER_TAG]: ACTION_NAME, [TAG_HOLDER]: this.holder.slice(0, 256) };
    const writes = this.gw.limiter.recent('write');
    if (writes.length) tags[TAG_WRITES] = encodeWrites(writes, Date.now());
    await this.gw.limiter.run('write', () => this.gw.client.updateSecretProperties(LEASE_SECRET, version, { enabled: false, tags }));
  }
}
