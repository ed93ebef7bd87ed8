// Reading and writing the manifest ledgers (model.ts) in the vault, through the run's vault gateway.
// One LedgerBook per run and vault: each ledger is read at most once, the others only when a step
// needs to know who else relies on something (a prune, a conflict, a change of grants, clean-up).
import * as runner from '../runner/index.ts';
import { messageOf, azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import { describeInstance } from '../manifest/instance.ts';
import type { ManifestInstance } from '../manifest/instance.ts';
import { VAULT_LIMITS } from '../keyvault/limiter.ts';
import { listNames, readStateValue, vaultGateway, writeStateValue } from '../keyvault/gateway.ts';
import type { VaultGateway } from '../keyvault/gateway.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { LEDGER_CONTENT_TYPE, claimsUnchanged, decodeLedger, encodeLedger, isLedgerName, ledgerName, nextLedger, sameLedger } from './model.ts';
import type { GrantLedger, LedgerClaims } from './model.ts';
import { mapAll } from '../util/concurrency.ts';

export class LedgerBook {
  readonly instance: ManifestInstance;
  private readonly gw: VaultGateway;
  private readonly vaultName: string;
  private readonly read = new Map<string, Promise<GrantLedger | undefined>>();
  private names?: Promise<string[]>;

  constructor(gw: VaultGateway, vaultName: string, instance: ManifestInstance) {
    this.gw = gw;
    this.vaultName = vaultName;
    this.instance = instance;
  }

  /** This instance's ledger secret name. */
  get name(): string {
    return ledgerName(this.instance.key);
  }

  /** `owner @ cluster`, as ledgers name their instance. */
  get described(): string {
    return describeInstance(this.instance);
  }

  /** Forgets what was read (after waiting for the write lease, other runs may have written). */
  forget(): void {
    this.read.clear();
    this.names = undefined;
  }

  /** The ledger names a LIST the caller already made showed (spares this book its own LIST). */
  sawNames(names: string[]): void {
    this.names ??= Promise.resolve(names.filter(isLedgerName));
  }

  own(): Promise<GrantLedger | undefined> {
    return this.byName(this.name);
  }

  /** The ledger of another instance, by its key (undefined: none, or unreadable as a ledger). */
  ofInstance(key: string): Promise<GrantLedger | undefined> {
    return this.byName(ledgerName(key));
  }

  /** Every other instance's ledger in the vault (one LIST unless names were seen, one GET each). */
  async others(): Promise<GrantLedger[]> {
    this.names ??= listNames(this.gw, this.vaultName, isLedgerName);
    const names = (await this.names).filter((n) => n.toLowerCase() !== this.name);
    const ledgers = await mapAll(names, VAULT_LIMITS.concurrency, (n) => this.byName(n.toLowerCase()));
    return ledgers.filter((l): l is GrantLedger => l !== undefined && l.instance !== this.instance.key);
  }

  /** Writes this instance's ledger when its content differs from what the vault holds. */
  async write(next: GrantLedger): Promise<boolean> {
    const prev = await this.own();
    if (sameLedger(prev, next)) return false;
    await writeStateValue(this.gw, this.name, encodeLedger(next), LEDGER_CONTENT_TYPE);
    this.read.set(this.name, Promise.resolve(next));
    if (this.names) {
      const known = await this.names;
      if (!known.some((n) => n.toLowerCase() === this.name)) this.names = Promise.resolve([...known, this.name]);
    }
    return true;
  }

  private byName(name: string): Promise<GrantLedger | undefined> {
    let p = this.read.get(name);
    if (!p) this.read.set(name, (p = readStateValue(this.gw, name).then(decodeLedger)));
    return p;
  }
}

/** The run's ledger book for a vault (the gateway is shared with the other Key Vault steps). */
export function ledgerBook(session: AzureSession, vault: Pick<VaultInfo, 'uri' | 'name'>, instance: ManifestInstance): LedgerBook {
  return new LedgerBook(vaultGateway(session, vault), vault.name, instance);
}

/** Every ledger in the vault, this instance's included (clean-up). */
export async function readLedgers(book: LedgerBook): Promise<GrantLedger[]> {
  const own = await book.own();
  return [...(own ? [own] : []), ...(await book.others())];
}

/**
 * Records this manifest's grants before they are made. The other manifests' ledgers are read only
 * when its claims change; the ledger is written only when its content changes.
 */
export async function recordGrants(book: LedgerBook, claims: LedgerClaims): Promise<void> {
  try {
    const prev = await book.own();
    let next = nextLedger(prev, claims);
    if (!claimsUnchanged(prev, next)) next = nextLedger(prev, claims, await book.others());
    if (!(await book.write(next))) return;
    runner.info(`manifest ledger ${book.name}: ${next.assignments.length} role assignment(s), ${Object.keys(next.policies).length} access-policy principal(s) recorded`);
  } catch (e) {
    // A workflow identity that may read but not write secrets (a manifest of `existing` secrets only)
    // still gets its grants; without the record, clean-up keeps what it cannot attribute.
    if (azureStatusOf(e) !== 403) throw e;
    runner.warning(
      `grant ledger ${book.name} not written (${messageOf(e).split('\n')[0] ?? 'Forbidden'}): the grants are made, but clean-up will not know which of them the action added or shares with other manifests`,
    );
  }
}
