// The proof step with real service-account tokens: TokenRequest against the sandbox cluster's
// kube-apiserver (through @kubernetes/client-node), exchanged at the Entra simulator, which fetches
// the cluster issuer's discovery document and JWKS, exactly as a pod's workload identity would.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig, WellKnownApi } from '@kubernetes/client-node';
import type { AzureSession } from '../../../src/auth/login.ts';
import { ProofError, ensureIdentities, proveAccess } from '../../../src/identity/index.ts';
import type { Manifest, SecretSpec } from '../../../src/manifest/types.ts';
import { describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { createCertificate, createKey, createTestVault, grantDeployer, sandboxSession, type SessionVault } from '../../support/session.ts';
import { control, sandboxEnv } from '../../support/sandbox.ts';
import { shortId } from '../../support/ids.ts';
import { mounted, testTarget, vaultManifest } from '../../support/manifest.ts';
import { describeUnless, sandboxLogTail } from '../../support/guard.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';

jest.setTimeout(180_000);

/** KUBECONFIG of the sandbox: the full sandbox's env.json, else the kube part started on its own. */
function kubeconfigPath(): string | undefined {
  try {
    const k = sandboxEnv().KUBECONFIG;
    if (k) return k;
  } catch {
    return undefined;
  }
  const dev = join(resolve(import.meta.dirname, '..', '..', '..'), '.sandbox', 'kube', 'env.json');
  return existsSync(dev) ? (JSON.parse(readFileSync(dev, 'utf8')) as Record<string, string>).KUBECONFIG : undefined;
}

const kubeconfig = kubeconfigPath();
const suite = describeUnless(kubeconfig && existsSync(kubeconfig) ? undefined : 'the sandbox runs without its cluster (started with --no-kube, or the control plane is not built)', sandboxLogTail);

const SECRET_VALUE = `kube-proof-${Math.random().toString(36).slice(2)}`;
const ns = `proof-${shortId(4)}`;
const cluster = 'sandbox';

let core: CoreV1Api;
let issuer: string;
let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let capture: ReturnType<typeof captureStdout>;

function manifest(identityName: string, o: { role?: string; key?: boolean; cert?: boolean } = {}): Manifest {
  const secrets: SecretSpec[] = [
    { name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false },
    ...(o.key ? [{ name: 'signing', source: { kind: 'existing' as const, objectType: 'key' as const }, tags: {}, adopt: false }] : []),
    ...(o.cert ? [{ name: 'tls', source: { kind: 'existing' as const, objectType: 'cert' as const }, tags: {}, adopt: false }] : []),
  ];
  const objects = [mounted('db-password'), ...(o.key ? [mounted('signing', { objectType: 'key' })] : []), ...(o.cert ? [mounted('tls', { objectType: 'cert' })] : [])];
  const target = testTarget(ns, identityName, { serviceAccount: 'app', access: { scope: 'vault', role: o.role ?? 'Key Vault Secrets User' }, secretProviderClass: 'app-secrets', objects });
  return vaultManifest(tv.name, secrets, [target], {}, cluster);
}

async function tokenRequest(namespace: string, serviceAccount: string): Promise<string> {
  const r = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 600 } },
  });
  const token = r.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return token;
}

suite('proveAccess with TokenRequest tokens from the sandbox cluster (skipped when no sandbox cluster is running)', () => {
  beforeAll(async () => {
    capture = captureStdout();
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig ?? '');
    core = kc.makeApiClient(CoreV1Api);
    const disco = (await kc.makeApiClient(WellKnownApi).getServiceAccountIssuerOpenIDConfiguration()) as unknown;
    issuer = ((typeof disco === 'string' ? JSON.parse(disco) : disco) as { issuer: string }).issuer;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app' } } });
    session = await sandboxSession();
    tv = await createTestVault(session, { rbac: true, prefix: 'kv-k-' });
    vault = await describeVault(session, manifest('unused'));
    await syncSecrets(session, vault, manifest('unused'), { mode: 'apply', env: { DB_PASSWORD: SECRET_VALUE }, now: new Date() });
  });

  afterAll(async () => {
    capture?.stop();
    await core?.deleteNamespace({ name: ns }).catch(() => undefined);
    await tv?.remove();
  });

  it('the cluster issuer is the kube-apiserver URL', () => {
    expect(issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+/);
  });

  it('waits through the propagation delays, then reads the mounted secret as the pod would', async () => {
    const id = `id-${cluster}-${shortId(4)}`;
    const before = (await control<{ config: Record<string, number> }>('GET', '/config')).config;
    await control('PATCH', '/config', { ficPropagationMs: 2_000, rbacPropagationMs: 3_000 });
    let r;
    try {
      r = await ensureIdentities(session, vault, manifest(id), { mode: 'apply', issuer });
    } finally {
      await control('PATCH', '/config', { ficPropagationMs: before.ficPropagationMs ?? 0, rbacPropagationMs: before.rbacPropagationMs ?? 0 });
    }
    const started = Date.now();
    await proveAccess(session, vault, manifest(id), r.identities, tokenRequest, { timeoutMs: 60_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(visibleLog(capture.text())).toMatch(new RegExp(`proof: ${ns}/app read 1 object`));
  });

  it('a credential federated on another issuer fails naming both issuers', async () => {
    const id = `id-${cluster}-${shortId(4)}`;
    const wrong = issuer.endsWith('/') ? issuer.slice(0, -1) : `${issuer}/`;
    const r = await ensureIdentities(session, vault, manifest(id), { mode: 'apply', issuer: wrong });
    const err = await proveAccess(session, vault, manifest(id), r.identities, tokenRequest, { timeoutMs: 3_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProofError);
    expect((err as ProofError).kind).toBe('federation-mismatch');
    expect((err as Error).message).toContain(JSON.stringify(issuer));
    expect((err as Error).message).toContain(JSON.stringify(wrong));
  });

  /**
   * Proof of one mounted key or certificate: with Key Vault Secrets User (secret values only) it fails
   * naming the object; with Key Vault Certificate User (which adds keys/read and certificates/read) it passes.
   */
  async function deniedThenAllowed(kind: 'key' | 'cert', word: string, name: string): Promise<void> {
    const id = `id-${cluster}-${shortId(4)}`;
    const denied = manifest(id, { [kind]: true });
    const r = await ensureIdentities(session, vault, denied, { mode: 'apply', issuer });
    const err = await proveAccess(session, vault, denied, r.identities, tokenRequest, { timeoutMs: 3_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProofError);
    expect((err as ProofError).kind).toBe('missing-role');
    expect((err as Error).message).toContain(`may not read ${word} ${name} from ${tv.name}`);
    const allowed = manifest(id, { [kind]: true, role: 'Key Vault Certificate User' });
    const again = await ensureIdentities(session, vault, allowed, { mode: 'apply', issuer });
    await proveAccess(session, vault, allowed, again.identities, tokenRequest, { timeoutMs: 60_000 });
  }

  it('reads a mounted key through the keys API, as the provider does', async () => {
    await grantDeployer(session, tv.id, 'Key Vault Crypto Officer');
    await createKey(session, tv, 'signing');
    await deniedThenAllowed('key', 'key', 'signing');
    expect(visibleLog(capture.text())).toMatch(new RegExp(`proof: ${ns}/app read 2 object`));
  });

  it('reads a mounted certificate through the certificates API, as the provider does: its backing secret is not enough', async () => {
    await grantDeployer(session, tv.id, 'Key Vault Administrator');
    await createCertificate(session, tv, 'tls');
    await deniedThenAllowed('cert', 'certificate', 'tls');
  });

  it('logs no secret value and no token', () => {
    const log = visibleLog(capture.text());
    expect(log).not.toContain(SECRET_VALUE);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\./);
  });
});
