// Test-side Azure: the deployer's credential and ARM clients against the sandbox, vaults of a test's
// own (so their request counts are the test's alone), and what a target needs on the shared vault
// kv-sandbox (an identity, its federation and role, secret versions).
import { randomBytes, randomUUID } from 'node:crypto';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { armClients, federatedCredential, useRunnerEnv, type ArmClients } from '../sandbox/azure/sdk-clients.ts';
import { shortId } from './ids.ts';
import { control, sandboxEnv, world, type WorldDump } from './sandbox.ts';
import { retryUntilOk, waitFor } from './wait.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-00000000aaaa';
export const DEPLOYER_CLIENT_ID = '11111111-1111-1111-1111-111111111111';
export const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
export const KEY_VAULT_SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
/** The sandbox's seeded RBAC vault, shared by the suites that do not need request counts of their own. */
export const SHARED_VAULT = 'kv-sandbox';
export const SHARED_VAULT_RG = 'rg-sandbox';
/** Where the suites' user-assigned identities live. */
export const IDS_RG = 'rg-ids';

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

/** The deployer's object id (the principal of DEPLOYER_CLIENT_ID in the sandbox's Entra). */
export async function deployerObjectId(): Promise<string> {
  const p = (await world()).principals.find((x) => x.clientId === DEPLOYER_CLIENT_ID);
  if (!p) throw new Error('deployer principal missing from the sandbox world');
  return p.objectId;
}

type WorldVault = WorldDump['vaults'][number];

/** The vault `name` once the sandbox lists it (a POST that failed may still have made it), or undefined after `ms`. */
const listedVault = (name: string, ms: number): Promise<WorldVault | undefined> =>
  waitFor(`vault ${name} in the sandbox world`, async () => (await world()).vaults.find((v) => v.name === name), ms, 100).catch(() => undefined);

/** The proxy port the sandbox picks (`default`), or a random one in a range the world leaves alone (`own`). */
export type ProxyPortChoice = 'default' | 'own';

export interface NewVaultOptions {
  port?: ProxyPortChoice;
  /** RBAC (default) or access policies (`accessPolicies` then lists them). */
  rbac?: boolean;
  accessPolicies?: unknown[];
}

/** POST /vault/vaults: a new vault `<prefix><random>` in the sandbox world, with its own proxy. */
export async function addVault(prefix: string, o: NewVaultOptions = {}): Promise<WorldVault> {
  // With `own`: another suite may be adding vaults at the same moment, so each attempt asks for a
  // port of its own (a 400 EADDRINUSE is retried with another one).
  for (let attempt = 0; ; attempt++) {
    const name = `${prefix}${shortId(4)}`;
    const used = new Set((await world()).vaults.map((v) => v.proxyPort));
    let proxyPort: number | undefined;
    if (o.port === 'own') {
      do proxyPort = 27150 + Math.floor(Math.random() * 200);
      while (used.has(proxyPort));
    }
    const body = { name, enableRbacAuthorization: o.rbac ?? true, ...(o.accessPolicies ? { accessPolicies: o.accessPolicies } : {}), ...(proxyPort ? { proxyPort } : {}) };
    try {
      return { name, ...(await control<{ id: string; vaultUri: string }>('POST', '/vault/vaults', body)) };
    } catch (e) {
      // The background vault sync can open the proxy port first: then the vault exists anyway.
      const found = await listedVault(name, 1_000);
      if (found) return found;
      if (o.port !== 'own' || attempt >= 15) throw e;
    }
  }
}

/** Removes a vault a test added (its contents go with it). */
export async function removeVault(name: string): Promise<void> {
  await control('DELETE', `/vault/vaults/${name}`).catch(() => undefined);
}

/** A fresh RBAC vault; the deployer made Key Vault Secrets Officer on it through ARM; ready on the data plane. */
export async function createVault(az: AzureSide, prefix: string, port: ProxyPortChoice = 'default'): Promise<TestVault> {
  const rec = await addVault(prefix, { port });
  const officer = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_OFFICER}`;
  // arm-authorization puts the scope after the host's slash: no leading slash (else //subscriptions).
  await az.arm.authorization.roleAssignments.create(rec.id.replace(/^\/+/, ''), randomUUID(), { roleDefinitionId: officer, principalId: await deployerObjectId(), principalType: 'ServicePrincipal' });
  const client = vaultClient(az, rec.vaultUri);
  await retryUntilOk(() => client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next());
  return { name: rec.name, id: rec.id, uri: rec.vaultUri, client, remove: () => removeVault(rec.name) };
}

/**
 * POSTs `path` of a vault's data plane (`keys/k/create`, `certificates/c/create`) with `credential`,
 * waiting through a 403 while a new role propagates; the answer's JSON.
 */
export async function vaultPost(credential: TokenCredential, vaultUri: string, path: string, body: unknown, ok: number): Promise<Record<string, unknown>> {
  return waitFor(
    `POST ${path} (HTTP 403 while a role propagates)`,
    async () => {
      const token = await credential.getToken('https://vault.azure.net/.default');
      const res = await fetch(`${vaultUri}${path}?api-version=7.6`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token?.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status === ok) return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      if (res.status !== 403) throw new Error(`POST ${path}: HTTP ${res.status} ${text}`);
      return undefined;
    },
    60_000,
    500,
  );
}

/** Every version of `name` (metadata only), as the vault lists them. */
export async function secretVersions(client: SecretClient, name: string): Promise<Array<{ version: string; createdOn?: Date; enabled?: boolean }>> {
  const out: Array<{ version: string; createdOn?: Date; enabled?: boolean }> = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) if (p.version) out.push({ version: p.version, createdOn: p.createdOn, enabled: p.enabled });
  return out;
}

export interface SharedVaultSide extends AzureSide {
  /** kv-sandbox through the SDK, as the deployer. */
  secrets: SecretClient;
  vaultId: string;
}

/** The Azure side with the shared vault kv-sandbox, read from ARM. */
export async function sharedVaultSide(): Promise<SharedVaultSide> {
  const az = azureSide();
  const vault = await az.arm.keyVault.vaults.get(SHARED_VAULT_RG, SHARED_VAULT);
  const vaultUri = vault.properties.vaultUri;
  if (!vaultUri || !vault.id) throw new Error(`sandbox vault ${SHARED_VAULT} has no vaultUri`);
  const secrets = new SecretClient(vaultUri, az.credential, { disableChallengeResourceVerification: true, serviceVersion: '2025-07-01' });
  return { ...az, secrets, vaultId: vault.id };
}

export interface TestIdentity {
  name: string;
  clientId: string;
  principalId: string;
}

/** A user-assigned identity in rg-ids (what the Azure side of the action creates per namespace). */
export async function createIdentity(az: AzureSide, name: string): Promise<TestIdentity> {
  const id = await az.arm.msi.userAssignedIdentities.createOrUpdate(IDS_RG, name, { location: 'westeurope' });
  if (!id.clientId || !id.principalId) throw new Error(`identity ${name} has no client/principal id`);
  return { name, clientId: id.clientId, principalId: id.principalId };
}

export async function federate(az: AzureSide, identity: TestIdentity, issuer: string, namespace: string, serviceAccount: string): Promise<void> {
  await az.arm.msi.federatedIdentityCredentials.createOrUpdate(IDS_RG, identity.name, `fic-${namespace}-${serviceAccount}`, {
    issuer,
    subject: `system:serviceaccount:${namespace}:${serviceAccount}`,
    audiences: ['api://AzureADTokenExchange'],
  });
}

/** Key Vault Secrets User on the shared vault for the identity. */
export async function grantSecretsUser(az: SharedVaultSide, identity: TestIdentity): Promise<void> {
  await az.arm.authorization.roleAssignments.create(az.vaultId.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER}`,
    principalId: identity.principalId,
    principalType: 'ServicePrincipal',
  });
}

/** Writes a new version to the shared vault and returns its id. The value is random and never printed. */
export async function writeSecret(az: SharedVaultSide, name: string): Promise<string> {
  const s = await az.secrets.setSecret(name, randomBytes(24).toString('base64url'));
  const version = s.properties.version;
  if (!version) throw new Error(`no version returned for ${name}`);
  return version;
}
