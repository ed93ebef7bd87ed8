// Reading the state of named secrets without a LIST of the vault and without reading a value: the
// versions listing of each (metadata and id of every version); the current one is the newest
// (vault/decide.ts). Used when the manifest's secrets are few against the vault's (decide.ts).
import { azureStatusOf, messageOf } from '../auth/http.ts';
import { toLive } from '../keyvault/gateway.ts';
import type { VaultGateway } from '../keyvault/gateway.ts';
import { VAULT_LIMITS } from '../keyvault/limiter.ts';
import { mapAll } from '../util/concurrency.ts';
import { VaultSyncError } from '../keyvault/model.ts';
import { currentOfVersions } from './decide.ts';
import type { LiveSecret } from '../keyvault/model.ts';

/** Every version of a secret (empty when the secret does not exist or is soft-deleted). */
async function versionsOf(gw: VaultGateway, vaultName: string, name: string): Promise<LiveSecret[]> {
  const out: LiveSecret[] = [];
  const pages = gw.client.versionPages(name);
  for (;;) {
    let page;
    try {
      page = await gw.limiter.run('read', () => pages.next());
    } catch (e) {
      const status = azureStatusOf(e);
      if (status === 404) return out;
      throw new VaultSyncError(`Key Vault ${vaultName}: reading the versions of secret ${name} failed${status ? ` (HTTP ${status})` : ''}: ${messageOf(e)}`, [name], e);
    }
    if (page.done) return out;
    for (const p of page.value) if (p.version) out.push(toLive(p));
  }
}

/**
 * The live secrets among `names` (lower-case keys), each with its current version id; undefined
 * when a secret's current version cannot be told from its versions (the caller lists instead).
 */
export async function readByName(gw: VaultGateway, vaultName: string, names: readonly string[]): Promise<Map<string, LiveSecret> | undefined> {
  const live = new Map<string, LiveSecret>();
  let undecided = false;
  await mapAll([...names], VAULT_LIMITS.concurrency, async (name) => {
    const current = currentOfVersions(await versionsOf(gw, vaultName, name));
    if (current === 'undecided') undecided = true;
    else if (current) live.set(current.name.toLowerCase(), current);
  });
  return undecided ? undefined : live;
}
