// The deployer's one way to a vault's secrets for a run: one VaultSecrets (one auth challenge, the
// lost-write guard) and one request limiter (one budget against the vault's throttle) per login
// session and vault, shared by the secret sync, the manifest ledgers, verify and clean-up, with the
// data-plane operations they all need (list, read, write with recover, delete and purge).
import * as runner from '../runner/index.ts';
import type { SecretProperties } from '@azure/keyvault-secrets';
import { hasCode, messageOf, retryWhile, azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import { RateLimiter, VAULT_LIMITS } from './limiter.ts';
import { VaultSecrets } from './secrets.ts';
import { VaultSyncError } from './model.ts';
import type { VaultInfo } from './model.ts';
import { ACTION_NAME, OWNER_TAG, VAULT_PROPAGATION_MS } from '../names.ts';
import type { DeletedSecretInfo, DesiredProperties, LiveSecret } from './model.ts';
import { maskValue } from '../runner/mask.ts';
import { TAG_DIGEST } from '../names.ts';

export interface VaultGateway {
  client: VaultSecrets;
  limiter: RateLimiter;
}

export function toLive(p: SecretProperties): LiveSecret {
  return {
    name: p.name,
    version: p.version || undefined,
    enabled: p.enabled,
    tags: { ...(p.tags ?? {}) },
    contentType: p.contentType,
    createdOn: p.createdOn,
    updatedOn: p.updatedOn,
    expiresOn: p.expiresOn,
    notBefore: p.notBefore,
    managed: p.managed,
  };
}

/**
 * The vault's secrets (metadata of their current versions) in LIST pages of 25. A page that still
 * fails after the retries (src/auth/rest.ts) stops the run (never "the secret is missing"), naming the vault,
 * the page and the service's answer.
 */
export async function listLive(client: VaultSecrets, limiter: RateLimiter, vaultName: string): Promise<Map<string, LiveSecret>> {
  const live = new Map<string, LiveSecret>();
  const pages = client.secretPages();
  let n = 0;
  for (;;) {
    let page;
    try {
      page = await limiter.run('read', () => pages.next());
    } catch (e) {
      const status = azureStatusOf(e);
      throw new VaultSyncError(`Key Vault ${vaultName}: listing its secrets failed at page ${n + 1}${status ? ` (HTTP ${status})` : ''}: ${messageOf(e)}`, [], e);
    }
    if (page.done) break;
    n++;
    for (const p of page.value) live.set(p.name.toLowerCase(), toLive(p));
  }
  runner.debug(`listed ${live.size} secrets in ${n} page(s)`);
  return live;
}

export async function getDeleted(client: VaultSecrets, limiter: RateLimiter, name: string): Promise<DeletedSecretInfo | undefined> {
  try {
    const d = await limiter.run('read', () => client.getDeletedSecret(name));
    return { name: d.name, tags: { ...(d.properties.tags ?? {}) } };
  } catch (e) {
    if (azureStatusOf(e) === 404) return undefined;
    // Vaults without soft delete, or no permission on deleted secrets: treat as none (the write will tell).
    if (azureStatusOf(e) === 403 || hasCode(e, 'BadParameter')) return undefined;
    throw e;
  }
}

export async function readValue(client: VaultSecrets, limiter: RateLimiter, name: string): Promise<string | undefined> {
  try {
    const s = await limiter.run('read', () => client.getSecret(name));
    if (s.value !== undefined) maskValue(s.value);
    return s.value;
  } catch (e) {
    if (azureStatusOf(e) === 404) return undefined;
    throw e;
  }
}

/** Recovers a soft-deleted secret and waits until it can be read again (404s for a while after). */
export async function recover(client: VaultSecrets, limiter: RateLimiter, name: string): Promise<SecretProperties> {
  return retryWhile(
    async () => {
      const poller = await limiter.run('write', () => client.beginRecoverDeletedSecret(name, { intervalInMs: 1_000 }));
      return poller.pollUntilDone();
    },
    (e) => hasCode(e, 'ObjectIsBeingDeleted') || azureStatusOf(e) === 409,
    { timeoutMs: VAULT_PROPAGATION_MS, onRetry: () => runner.info(`secret ${name}: deletion still in progress, waiting to recover it`) },
  );
}

/** setSecret that waits through ObjectIsBeingDeleted and recovers on ObjectIsDeletedButRecoverable. */
export async function writeVersion(client: VaultSecrets, limiter: RateLimiter, name: string, value: string, props: DesiredProperties, mayRecover: boolean): Promise<SecretProperties> {
  return retryWhile(
    async () => {
      try {
        const s = await limiter.run('write', () =>
          client.setSecret(name, value, {
            tags: props.tags,
            contentType: props.contentType,
            expiresOn: props.expiresOn,
            notBefore: props.notBefore,
            enabled: true,
          }),
        );
        return s.properties;
      } catch (e) {
        if (hasCode(e, 'ObjectIsDeletedButRecoverable') && mayRecover) {
          runner.info(`secret ${name}: soft-deleted meanwhile, recovering`);
          const recovered = await recover(client, limiter, name);
          // The recovered version may already hold this very value (same keyed digest): no second version.
          const wanted = props.tags[TAG_DIGEST];
          if (wanted && recovered.tags?.[TAG_DIGEST] === wanted) return recovered;
          throw Object.assign(new Error('recovered; write again'), { code: 'AkvAksRetryAfterRecover' });
        }
        throw e;
      }
    },
    (e) => hasCode(e, 'ObjectIsBeingDeleted', 'AkvAksRetryAfterRecover'),
    { timeoutMs: VAULT_PROPAGATION_MS, onRetry: () => runner.info(`secret ${name}: waiting for a pending deletion to finish`) },
  );
}

/**
 * The deployer's client and limiter for a vault, one per login session: one auth challenge and one
 * request budget for the secret sync, the verify read and the state secrets (grant ledgers) alike.
 * The SDK client of its writes carries the lost-write guard, which only acts on secret PUTs.
 */
const deployerClients = new WeakMap<AzureSession, Map<string, VaultGateway>>();

export function vaultGateway(session: AzureSession, vault: Pick<VaultInfo, 'uri'>): VaultGateway {
  let perVault = deployerClients.get(session);
  if (!perVault) deployerClients.set(session, (perVault = new Map()));
  let shared = perVault.get(vault.uri);
  if (!shared) {
    const guard = async () => [(await import('./lost-write.ts')).lostWriteGuardPolicy()];
    shared = { client: new VaultSecrets(session.credential, session.cloud, vault.uri, guard), limiter: new RateLimiter(VAULT_LIMITS) };
    perVault.set(vault.uri, shared);
  }
  return shared;
}

/** Soft-deletes a secret and, with `purge`, waits for the deletion and purges it. */
export async function deleteSecret(gw: VaultGateway, name: string, purge: boolean): Promise<void> {
  const poller = await gw.limiter.run('write', () => gw.client.beginDeleteSecret(name, { intervalInMs: 1_000 }));
  if (!purge) return;
  await poller.pollUntilDone();
  await retryWhile(
    () => gw.limiter.run('write', () => gw.client.purgeDeletedSecret(name)),
    (e) => hasCode(e, 'ObjectIsBeingDeleted') || azureStatusOf(e) === 409,
    {
      timeoutMs: VAULT_PROPAGATION_MS,
    },
  );
}

/** Names of the vault's live secrets that satisfy `match` (one LIST). */
export async function listNames(gw: VaultGateway, vaultName: string, match: (name: string) => boolean): Promise<string[]> {
  return [...(await listLive(gw.client, gw.limiter, vaultName)).values()].map((l) => l.name).filter(match);
}

/** The value of an owned state secret (undefined: absent, or not written by the action). */
export async function readStateValue(gw: VaultGateway, name: string): Promise<string | undefined> {
  try {
    const s = await gw.limiter.run('read', () => gw.client.getSecret(name));
    return s.properties.tags?.[OWNER_TAG] === ACTION_NAME ? s.value : undefined;
  } catch (e) {
    if (azureStatusOf(e) === 404) return undefined;
    throw e;
  }
}

/** Writes an owned state secret (recovering it first when soft-deleted). */
export async function writeStateValue(gw: VaultGateway, name: string, value: string, contentType: string): Promise<void> {
  await writeVersion(gw.client, gw.limiter, name, value, { tags: { [OWNER_TAG]: ACTION_NAME }, contentType }, true);
}
