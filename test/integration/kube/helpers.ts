// Integration helpers for the Kubernetes side: the sandbox cluster session, the Azure-side setup a
// target needs (managed identity, federated credential, Key Vault role, secrets) done with the real
// SDKs against the sandbox's ARM / Entra / vault, typed manifests, and sample workloads.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import type { V1Deployment, V1PodSpec } from '@kubernetes/client-node';
import type { KubeSession } from '../../../src/kube/client.ts';
import { connectKube, kubeStatusOf } from '../../../src/kube/client.ts';
import type { Manifest, MountedObject, TargetSpec } from '../../../src/manifest/types.ts';
import { armClients, federatedCredential, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';
import type { ArmClients } from '../../sandbox/azure/sdk-clients.ts';
import { sandboxEnv } from '../../support/sandbox.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import { shortId } from '../../support/ids.ts';

export const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
export const VAULT = 'kv-sandbox';
export const VAULT_RG = 'rg-sandbox';
export const IDS_RG = 'rg-ids';

const root = resolve(import.meta.dirname, '..', '..', '..');

/**
 * The sandbox cluster's kubeconfig: from `.sandbox/env.json` (full `npm run sandbox -- up`), else from
 * `.sandbox/kube/env.json` (the kube part started next to the Azure part by test/sandbox/kube/dev.ts).
 */
export function sandboxKubeconfig(): string | undefined {
  try {
    const env = sandboxEnv();
    if (env.KUBECONFIG) return env.KUBECONFIG;
  } catch {
    return undefined;
  }
  const dev = join(root, '.sandbox', 'kube', 'env.json');
  if (!existsSync(dev)) return undefined;
  return (JSON.parse(readFileSync(dev, 'utf8')) as Record<string, string>).KUBECONFIG;
}

/** The kubelet/CSI stand-in's control base URL (AKV_AKS_SANDBOX_KUBELET). */
export function kubeletBase(): string {
  const env = sandboxEnv();
  if (env.AKV_AKS_SANDBOX_KUBELET) return env.AKV_AKS_SANDBOX_KUBELET;
  const dev = join(root, '.sandbox', 'kube', 'env.json');
  const fromDev = existsSync(dev) ? (JSON.parse(readFileSync(dev, 'utf8')) as Record<string, string>).AKV_AKS_SANDBOX_KUBELET : undefined;
  if (!fromDev) throw new Error('no kubelet control URL in the sandbox environment');
  return fromDev;
}

/** Calls the kubelet stand-in's control routes (GET /status, PATCH /config, POST /rotate). */
export async function kubeletControl(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(new URL(path, kubeletBase()), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`kubelet ${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

export function kubeAvailable(): boolean {
  return sandboxKubeconfig() !== undefined;
}

export { shortId };

export interface AzureSide {
  env: Record<string, string>;
  credential: TokenCredential;
  arm: ArmClients;
  secrets: SecretClient;
  vaultId: string;
}

export async function azureSide(): Promise<AzureSide> {
  const env = sandboxEnv();
  useRunnerEnv(env);
  const credential = federatedCredential(env);
  const arm = armClients(env, credential);
  const vault = await arm.keyVault.vaults.get(VAULT_RG, VAULT);
  const vaultUri = vault.properties.vaultUri;
  if (!vaultUri || !vault.id) throw new Error('sandbox vault has no vaultUri');
  const secrets = new SecretClient(vaultUri, credential, { disableChallengeResourceVerification: true, serviceVersion: '2025-07-01' });
  return { env, credential, arm, secrets, vaultId: vault.id };
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

/** Key Vault Secrets User on the vault for the identity. */
export async function grantSecretsUser(az: AzureSide, identity: TestIdentity): Promise<void> {
  const sub = az.env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!;
  await az.arm.authorization.roleAssignments.create(az.vaultId.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${KEY_VAULT_SECRETS_USER}`,
    principalId: identity.principalId,
    principalType: 'ServicePrincipal',
  });
}

/** Writes a new version and returns its id. The value is random and never printed. */
export async function writeSecret(az: AzureSide, name: string): Promise<string> {
  const s = await az.secrets.setSecret(name, randomBytes(24).toString('base64url'));
  const version = s.properties.version;
  if (!version) throw new Error(`no version returned for ${name}`);
  return version;
}

export function sandboxKube(): KubeSession {
  return connectKube({ kubeconfig: sandboxKubeconfig() });
}

export async function deleteNamespace(kube: KubeSession, name: string): Promise<void> {
  try {
    await kube.core.deleteNamespace({ name });
  } catch (err) {
    if (kubeStatusOf(err) !== 404) throw err;
  }
}

export function mounted(secret: string, extra: Partial<MountedObject> = {}): MountedObject {
  return { secret, objectType: 'secret', ...extra };
}

export function testTarget(namespace: string, identityName: string, over: Partial<TargetSpec> & { secretProviderClass: string; objects: MountedObject[] }): TargetSpec {
  return {
    namespace,
    createNamespace: true,
    serviceAccount: 'api',
    identity: { mode: 'managed', name: identityName, resourceGroup: IDS_RG, location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    rotation: 'restart',
    ...over,
  };
}

/**
 * The cluster name of this test file's manifests. It makes the instance label (vault + cluster)
 * unique, so label-scoped listing and pruning never reach objects other runs left in the shared
 * sandbox cluster.
 */
export const TEST_CLUSTER = `it-${randomBytes(3).toString('hex')}`;

export function testManifest(targets: TargetSpec[], over: Partial<Manifest> = {}): Manifest {
  const names = [...new Set(targets.flatMap((t) => t.objects.map((o) => o.secret)))];
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: TEST_CLUSTER }),
    vault: { name: VAULT, resourceGroup: VAULT_RG },
    cluster: { name: TEST_CLUSTER },
    identityDefaults: { tags: {} },
    secrets: names.map((name) => ({ name, source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false })),
    targets,
    prune: false,
    purge: false,
    ...over,
  };
}

export function csiPodSpec(spc: string, serviceAccount = 'api', extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    serviceAccountName: serviceAccount,
    containers: [{ name: 'app', image: 'registry.invalid/app:1', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets', readOnly: true }] }],
    volumes: [{ name: 'secrets', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: spc } } }],
    ...extra,
  };
}

export function envPodSpec(secretName: string, serviceAccount = 'api'): V1PodSpec {
  return {
    serviceAccountName: serviceAccount,
    containers: [{ name: 'app', image: 'registry.invalid/app:1', envFrom: [{ secretRef: { name: secretName } }] }],
  };
}

export function deploymentOf(namespace: string, name: string, spec: V1PodSpec, replicas = 1): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec },
    },
  };
}

export async function readDeployment(kube: KubeSession, namespace: string, name: string): Promise<V1Deployment> {
  return kube.apps.readNamespacedDeployment({ namespace, name });
}

/** The session with every API call recorded into `calls` as `group.method` (requests counted at the client). */
export function countingSession(s: KubeSession, calls: () => string[]): KubeSession {
  const counted = <T extends object>(api: T, group: string): T =>
    new Proxy(api, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          calls().push(`${group}.${prop}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...s, core: counted(s.core, 'core'), apps: counted(s.apps, 'apps'), custom: counted(s.custom, 'custom'), objects: counted(s.objects, 'objects') };
}
