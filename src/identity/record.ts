// Reading and writing the grant ledgers (ledger.ts) in the vault.
import * as core from '@actions/core';
import { messageOf, statusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import type { VaultInfo } from '../vault/index.ts';
import { listSecretNames, readStateSecrets, writeStateSecret } from '../vault/index.ts';
import { LEDGER_CONTENT_TYPE, claimsUnchanged, decodeLedger, encodeLedger, isLedgerName, ledgerName, nextLedger, sameLedger } from './ledger.ts';
import type { GrantLedger, LedgerClaims } from './ledger.ts';

/** Every grant ledger in the vault: those named (e.g. from the secret sync's LIST), else one LIST now. */
export async function readLedgers(session: AzureSession, vault: VaultInfo, named?: string[]): Promise<GrantLedger[]> {
  const names = named ?? (await listSecretNames(session, vault, isLedgerName));
  const values = await readStateSecrets(session, vault, names);
  return [...values.values()].map(decodeLedger).filter((l): l is GrantLedger => l !== undefined);
}

/**
 * Records this manifest's grants before they are made. Reads its own ledger (when the LIST showed
 * one), and the other manifests' only when its claims change; writes only when the content changes.
 */
export async function recordGrants(session: AzureSession, vault: VaultInfo, claims: LedgerClaims): Promise<void> {
  try {
    await writeLedger(session, vault, claims);
  } catch (e) {
    // A workflow identity that may read but not write secrets (a manifest of `existing` secrets only)
    // still gets its grants; without the record, clean-up keeps what it cannot attribute.
    if (statusOf(e) !== 403) throw e;
    core.warning(`grant ledger ${ledgerName(claims.instance)} not written (${messageOf(e).split('\n')[0] ?? 'Forbidden'}): the grants are made, but clean-up will not know which of them the action added or shares with other manifests`);
  }
}

async function writeLedger(session: AzureSession, vault: VaultInfo, claims: LedgerClaims): Promise<void> {
  const own = ledgerName(claims.instance);
  const listed = vault.ledgerNames;
  const known = listed === undefined || listed.some((n) => n.toLowerCase() === own);
  const prev = known ? decodeLedger((await readStateSecrets(session, vault, [own])).get(own)) : undefined;
  let next = nextLedger(prev, claims);
  if (!claimsUnchanged(prev, next)) {
    const others = (await readLedgers(session, vault, listed)).filter((l) => l.instance !== next.instance);
    next = nextLedger(prev, claims, others);
  }
  if (sameLedger(prev, next)) return;
  await writeStateSecret(session, vault, own, encodeLedger(next), LEDGER_CONTENT_TYPE);
  if (listed && !known) vault.ledgerNames = [...listed, own];
  core.info(`grant ledger ${own}: ${next.assignments.length} role assignment(s), ${Object.keys(next.policies).length} access-policy principal(s) recorded`);
}
