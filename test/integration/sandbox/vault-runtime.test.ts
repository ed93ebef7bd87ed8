// Vaults added at run time (control API) as ARM and the data plane see them, with their own
// soft-delete / purge-protection settings, and keys and certificates read the way the CSI
// driver's Azure provider reads them (raw REST, api-version 7.6).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ClientAssertionCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { control, sandboxEnv } from '../../support/sandbox.ts';

const T = 60_000;
const KV_ADMIN = '00482a5a-887f-4fb3-b363-3b7fe8e74483';
const suffix = randomUUID().slice(0, 8);
const created: string[] = [];

let env: Record<string, string>;
let sub: string;
let deployer: TokenCredential;
let deployerOid: string;
let authz: AuthorizationManagementClient;
let kvm: KeyVaultManagementClient;

async function newVault(tag: string, input: Record<string, unknown> = {}): Promise<{ name: string; vaultUri: string; id: string }> {
  const v = await control<{ name: string; vaultUri: string; id: string }>('POST', '/vault/vaults', { name: `kvr${tag}${suffix}`, ...input });
  created.push(v.name);
  await authz.roleAssignments.create(v.id.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${KV_ADMIN}`,
    principalId: deployerOid,
    principalType: 'ServicePrincipal',
  });
  return v;
}

async function rest(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = await deployer.getToken('https://vault.azure.net/.default');
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token?.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  env = sandboxEnv();
  sub = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID as string;
  deployer = new ClientAssertionCredential(
    env.AKV_AKS_SANDBOX_TENANT_ID as string,
    env.AKV_AKS_SANDBOX_CLIENT_ID as string,
    async () => (await control<{ value: string }>('POST', '/github/token', { audience: 'api://AzureADTokenExchange' })).value,
    { authorityHost: env.AKV_AKS_AUTHORITY_HOST, disableInstanceDiscovery: true },
  );
  authz = new AuthorizationManagementClient(deployer, sub, {
    endpoint: env.AKV_AKS_ARM_ENDPOINT,
    $host: env.AKV_AKS_ARM_ENDPOINT,
    credentialScopes: ['https://management.azure.com/.default'],
  });
  kvm = new KeyVaultManagementClient(deployer, sub, { endpoint: env.AKV_AKS_ARM_ENDPOINT, credentials: { scopes: ['https://management.azure.com/.default'] } });
  const world = await control<{ principals: Array<{ clientId: string; objectId: string }> }>('GET', '/world');
  deployerOid = (world.principals.find((p) => p.clientId === env.AKV_AKS_SANDBOX_CLIENT_ID) as { objectId: string }).objectId;
}, T);

afterAll(async () => {
  for (const n of created) await control('DELETE', `/vault/vaults/${n}`).catch(() => undefined);
}, T);

describe('a vault added at run time', () => {
  it(
    'is served at the vaultUri ARM returns, with its own retention and purge protection',
    async () => {
      const v = await newVault('g', { enablePurgeProtection: true, softDeleteRetentionInDays: 7 });
      const arm = await kvm.vaults.get('rg-sandbox', v.name);
      expect(arm.properties.vaultUri).toBe(v.vaultUri);
      const c = new SecretClient(arm.properties.vaultUri as string, deployer, { disableChallengeResourceVerification: true });
      const s = await c.setSecret('kept', 'k1');
      expect(s.properties.recoveryLevel).toBe('CustomizedRecoverable');
      expect(s.properties.recoverableDays).toBe(7);
      await (await c.beginDeleteSecret('kept')).pollUntilDone();
      const purge = await c.purgeDeletedSecret('kept').then(
        () => undefined,
        (e: unknown) => e as { statusCode?: number },
      );
      expect(purge?.statusCode).toBe(403);
      // the vault's data disappears with it
      await control('DELETE', `/vault/vaults/${v.name}`);
      created.splice(created.indexOf(v.name), 1);
      const gone = await fetch(`${v.vaultUri}secrets?api-version=7.6`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(gone).toBe('refused');
    },
    T,
  );

  it(
    'serves keys and certificates as the CSI provider reads them',
    async () => {
      const v = await newVault('k');
      const key = await rest('POST', `${v.vaultUri}keys/signing/create?api-version=7.6`, { kty: 'RSA', key_size: 2048 });
      expect(key.status).toBe(200);
      const got = await rest('GET', `${v.vaultUri}keys/signing/?api-version=7.6`);
      expect((got.json.key as { kid: string }).kid).toBe((key.json.key as { kid: string }).kid);
      expect((got.json.key as { d?: string }).d).toBeUndefined();

      const op = await rest('POST', `${v.vaultUri}certificates/tls/create?api-version=7.6`, {
        policy: { issuer: { name: 'Self' }, x509_props: { subject: 'CN=tls.contoso.test' }, secret_props: { contentType: 'application/x-pem-file' } },
      });
      expect(op.status).toBe(202);
      const cert = await rest('GET', `${v.vaultUri}certificates/tls/?api-version=7.6`);
      expect(cert.status).toBe(200);
      expect(new X509Certificate(Buffer.from(cert.json.cer as string, 'base64')).subject).toContain('CN=tls.contoso.test');
      const version = (cert.json.id as string).split('/').pop();
      const secret = await rest('GET', `${v.vaultUri}secrets/tls/${version}?api-version=7.6`);
      expect(secret.json.contentType).toBe('application/x-pem-file');
      expect(secret.json.value as string).toContain('-----BEGIN CERTIFICATE-----');
    },
    T,
  );
});
