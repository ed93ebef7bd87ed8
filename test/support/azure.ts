// Test-side Azure: the deployer's credential and ARM clients against the sandbox, and vaults of a
// test's own (so their request counts are the test's alone).
import { randomUUID } from 'node:crypto';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { armClients, federatedCredential, useRunnerEnv, type ArmClients } from '../sandbox/azure/sdk-clients.ts';
import { shortId } from './ids.ts';
import { control, sandboxEnv } from './sandbox.ts';
import { retryUntilOk, waitFor } from './wait.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-00000000aaaa';
export const DEPLOYER_CLIENT_ID = '11111111-1111-1111-1111-111111111111';
export const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
export const KEY_VAULT_SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';

export interface AzureSide {
  env: Record<string, string>;
  credential: TokenCredential;
  arm: ArmClients;
}

export function azureSide(): AzureSide {
  const env = sandboxEnv();
  useRunnerEnv(env);
  const credential = federatedCredential(env);
  return { env, credential, arm: armClients(env, credential) };
}

export function vaultClient(az: AzureSide, vaultUri: string): SecretClient {
  return new SecretClient(vaultUri, az.credential, { disableChallengeResourceVerification: true });
}

export interface TestVault {
  name: string;
  id: string;
  uri: string;
  client: SecretClient;
  remove(): Promise<void>;
}

interface WorldVault {
  name: string;
  id: string;
  vaultUri: string;
  proxyPort?: number;
}

const worldVaults = async (): Promise<WorldVault[]> => (await control<{ vaults: WorldVault[] }>('GET', '/world')).vaults;

/** The vault `name` once the sandbox lists it (a POST that failed may still have made it), or undefined after `ms`. */
const listedVault = (name: string, ms: number): Promise<WorldVault | undefined> =>
  waitFor(`vault ${name} in the sandbox world`, async () => (await worldVaults()).find((v) => v.name === name), ms, 100).catch(() => undefined);

/** The proxy port the sandbox picks (`default`), or a random one in a range the world leaves alone (`own`). */
export type ProxyPortChoice = 'default' | 'own';

async function addVault(prefix: string, port: ProxyPortChoice): Promise<WorldVault> {
  // With `own`: another suite may be adding vaults at the same moment, so each attempt asks for a
  // port of its own (a 400 EADDRINUSE is retried with another one).
  for (let attempt = 0; ; attempt++) {
    const name = `${prefix}${shortId(4)}`;
    const used = new Set((await worldVaults()).map((v) => v.proxyPort));
    let proxyPort: number | undefined;
    if (port === 'own') {
      do proxyPort = 27150 + Math.floor(Math.random() * 200);
      while (used.has(proxyPort));
    }
    try {
      return { name, ...(await control<{ id: string; vaultUri: string }>('POST', '/vault/vaults', { name, enableRbacAuthorization: true, ...(proxyPort ? { proxyPort } : {}) })) };
    } catch (e) {
      // The background vault sync can open the proxy port first: then the vault exists anyway.
      const found = await listedVault(name, 1_000);
      if (found) return found;
      if (port === 'default' || attempt >= 15) throw e;
    }
  }
}

/** A fresh RBAC vault; the deployer made Key Vault Secrets Officer on it through ARM; ready on the data plane. */
export async function createVault(az: AzureSide, prefix: string, port: ProxyPortChoice = 'default'): Promise<TestVault> {
  const rec = await addVault(prefix, port);
  const deployer = (await control<{ principals: Array<{ clientId: string; objectId: string }> }>('GET', '/world')).principals.find((p) => p.clientId === DEPLOYER_CLIENT_ID);
  if (!deployer) throw new Error('deployer principal missing from the sandbox world');
  const officer = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_OFFICER}`;
  // arm-authorization puts the scope after the host's slash: no leading slash (else //subscriptions).
  await az.arm.authorization.roleAssignments.create(rec.id.replace(/^\/+/, ''), randomUUID(), { roleDefinitionId: officer, principalId: deployer.objectId, principalType: 'ServicePrincipal' });
  const client = vaultClient(az, rec.vaultUri);
  await retryUntilOk(() => client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next());
  return { name: rec.name, id: rec.id, uri: rec.vaultUri, client, remove: async () => void (await control('DELETE', `/vault/vaults/${rec.name}`).catch(() => undefined)) };
}

/** Every version of `name` (metadata only), as the vault lists them. */
export async function secretVersions(client: SecretClient, name: string): Promise<Array<{ version: string; createdOn?: Date; enabled?: boolean }>> {
  const out: Array<{ version: string; createdOn?: Date; enabled?: boolean }> = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) if (p.version) out.push({ version: p.version, createdOn: p.createdOn, enabled: p.enabled });
  return out;
}
