// The CSI driver + Azure provider stand-in end to end: real kube-apiserver, the Entra simulator
// and the Key Vault proxy, identities/federation/roles set up through the ARM simulator with the
// real SDKs. A Deployment mounting a SecretProviderClass becomes Ready only once identity,
// federation and role are right, with FailedMount events naming each cause before that.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ClientAssertionCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import type { V1Pod } from '@kubernetes/client-node';
import { control } from '../../support/sandbox.ts';
import { loadWorkload } from '../../fixtures/workloads/index.ts';
import { freshNamespace, isReady, kubeClients, kubeEnv, kubelet, podEvents, podsWithLabel, waitFor, type KubeClients } from '../../sandbox/kube/test-helpers.ts';
import { PORTS } from '../../sandbox/ports.ts';

const FED_AUDIENCE = 'api://AzureADTokenExchange';
const SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
const SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
/** The cluster's service-account issuer is its API server's URL. */
const ISSUER = `https://127.0.0.1:${PORTS.kubeApiserver}`;
const T = 90_000;

const suffix = randomUUID().slice(0, 8);
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
// Test values are random and only ever compared through their hashes (nothing prints them).
const firstValue = randomBytes(18).toString('base64url');
const secondValue = randomBytes(18).toString('base64url');

let env: Record<string, string>;
let k: KubeClients;
let ns: string;
let msi: ManagedServiceIdentityClient;
let authz: AuthorizationManagementClient;
let secrets: SecretClient;
let vault: { name: string; vaultUri: string; id: string };
let identity: { clientId: string; principalId: string };
const identityName = `id-kube-${suffix}`;
let firstVersion: string;

function deployerCredential(): TokenCredential {
  return new ClientAssertionCredential(
    env.AKV_AKS_SANDBOX_TENANT_ID!,
    env.AKV_AKS_SANDBOX_CLIENT_ID!,
    async () => (await control<{ value: string }>('POST', '/github/token', { audience: FED_AUDIENCE })).value,
    { authorityHost: env.AKV_AKS_AUTHORITY_HOST, disableInstanceDiscovery: true },
  );
}

async function assign(scope: string, role: string, principalId: string): Promise<void> {
  await authz.roleAssignments.create(scope.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: `/subscriptions/${env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId,
    principalType: 'ServicePrincipal',
  });
}

async function setFic(subject: string): Promise<void> {
  await msi.federatedIdentityCredentials.createOrUpdate('rg-ids', identityName, 'kubernetes', { issuer: ISSUER, subject, audiences: [FED_AUDIENCE] });
}

async function apply(objs: ReturnType<typeof loadWorkload>): Promise<void> {
  for (const o of objs) {
    const body = o as never;
    switch (o.kind) {
      case 'ServiceAccount':
        await k.core.createNamespacedServiceAccount({ namespace: ns, body });
        break;
      case 'SecretProviderClass':
        await k.custom.createNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: ns, plural: 'secretproviderclasses', body });
        break;
      case 'Deployment':
        await k.apps.createNamespacedDeployment({ namespace: ns, body });
        break;
      case 'StatefulSet':
        await k.apps.createNamespacedStatefulSet({ namespace: ns, body });
        break;
      case 'Pod':
        await k.core.createNamespacedPod({ namespace: ns, body });
        break;
      default:
        throw new Error(`cannot apply ${o.kind}`);
    }
  }
}

/** The newest FailedMount event message of any pod matching the selector that passes `test`. */
async function failedMountMatching(selector: string, test: (m: string) => boolean): Promise<{ pod: V1Pod; message: string }> {
  return waitFor(
    `a FailedMount event for ${selector}`,
    async () => {
      for (const pod of await podsWithLabel(k.core, ns, selector)) {
        const events = await podEvents(k.core, ns, pod.metadata!.name!, 'FailedMount');
        const hit = events.sort((a, b) => String(b.lastTimestamp).localeCompare(String(a.lastTimestamp))).find((e) => test(e.message ?? ''));
        if (hit) return { pod, message: hit.message! };
      }
      return undefined;
    },
    T,
  );
}

interface Spcps {
  metadata: { name: string; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; uid: string }> };
  status: { podName: string; secretProviderClassName: string; mounted: boolean; targetPath: string; objects: Array<{ id: string; version: string }> };
}

async function spcps(pod: V1Pod, spc = 'app-secrets'): Promise<Spcps> {
  return (await k.custom.getNamespacedCustomObject({
    group: 'secrets-store.csi.x-k8s.io',
    version: 'v1',
    namespace: ns,
    plural: 'secretproviderclasspodstatuses',
    name: `${pod.metadata!.name}-${ns}-${spc}`,
  })) as Spcps;
}

const values = (): Record<string, string> => ({ CLIENT_ID: identity.clientId, TENANT_ID: env.AKV_AKS_SANDBOX_TENANT_ID!, VAULT: vault.name, SECRET: 'db-password' });

beforeAll(async () => {
  env = kubeEnv();
  k = kubeClients();
  const cred = deployerCredential();
  const armOpts = { endpoint: env.AKV_AKS_ARM_ENDPOINT, $host: env.AKV_AKS_ARM_ENDPOINT, credentialScopes: ['https://management.azure.com/.default'] };
  msi = new ManagedServiceIdentityClient(cred, env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!, armOpts);
  authz = new AuthorizationManagementClient(cred, env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!, armOpts);
  // a vault of this run, RBAC-authorised; the deployer may write secrets into it
  vault = await control('POST', '/vault/vaults', { name: `kvkube${suffix}`.slice(0, 24) });
  const world = await control<{ principals: Array<{ clientId: string; objectId: string }> }>('GET', '/world');
  const deployerOid = world.principals.find((p) => p.clientId === env.AKV_AKS_SANDBOX_CLIENT_ID)!.objectId;
  await assign(vault.id, SECRETS_OFFICER, deployerOid);
  secrets = new SecretClient(vault.vaultUri, cred, { disableChallengeResourceVerification: true });
  firstVersion = (await secrets.setSecret('db-password', firstValue)).properties.version!;
  const id = await msi.userAssignedIdentities.createOrUpdate('rg-ids', identityName, { location: 'eastus' });
  identity = { clientId: id.clientId!, principalId: id.principalId! };
  ns = await freshNamespace(k.core, 'kube-csi');
  // faster kubelet retries than the real 2-minute cap, so each fix shows within seconds
  await kubelet('PATCH', '/config', { retryBaseMs: 500, retryMaxMs: 2000 });
  await apply(loadWorkload('serviceaccount.yaml', values(), ns));
  await apply(loadWorkload('secretproviderclass.yaml', values(), ns));
}, T);

afterAll(async () => {
  await kubelet('PATCH', '/config', { retryBaseMs: 1000, retryMaxMs: 16_000, rotationIntervalSeconds: 0 }).catch(() => undefined);
  await k?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await msi?.userAssignedIdentities.delete('rg-ids', identityName).catch(() => undefined);
  if (vault) await control('DELETE', `/vault/vaults/${vault.name}`).catch(() => undefined);
});

describe('a Deployment mounting a SecretProviderClass', () => {
  it(
    'stays ContainerCreating with AADSTS70021 while the identity has no federated credential for the cluster',
    async () => {
      const [dep] = loadWorkload('deployment-spc.yaml', values(), ns);
      (dep!.spec as { replicas: number }).replicas = 1;
      await apply([dep!]);
      const { pod, message } = await failedMountMatching('app=web', (m) => m.includes('AADSTS'));
      expect(message).toMatch(/^MountVolume\.SetUp failed for volume "secrets-store01-inline" : rpc error: code = Unknown desc = failed to mount secrets store objects for pod /);
      expect(message).toContain('AADSTS70021:');
      expect(message).toContain('ClientAssertionCredential authentication failed');
      const fresh = await k.core.readNamespacedPod({ name: pod.metadata!.name!, namespace: ns });
      expect(fresh.status?.phase).toBe('Pending');
      expect(fresh.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
      expect(isReady(fresh)).toBe(false);
    },
    T,
  );

  it(
    'names the subject when the federated credential is for another service account',
    async () => {
      await setFic(`system:serviceaccount:${ns}:someone-else`);
      // AADSTS700213 (or its case-only variant), not the no-credential-for-this-issuer AADSTS70021
      const { message } = await failedMountMatching('app=web', (m) => /AADSTS7002\d{2,}:/.test(m));
      expect(message).toContain(`system:serviceaccount:${ns}:workload-sa`);
      expect(message).toContain('No matching federated identity record found');
    },
    T,
  );

  it(
    'fails with ForbiddenByRbac once federation is right but no role is assigned',
    async () => {
      await setFic(`system:serviceaccount:${ns}:workload-sa`);
      const { message } = await failedMountMatching('app=web', (m) => m.includes('ForbiddenByRbac'));
      expect(message).toContain('failed to get objectType:secret, objectName:db-password, objectVersion:');
      expect(message).toContain('RESPONSE 403: 403 Forbidden');
      expect(message).not.toContain(firstValue);
    },
    T,
  );

  it(
    'becomes Ready once the role is assigned; SPCPS carries the vault version; secretObjects synced',
    async () => {
      await assign(vault.id, SECRETS_USER, identity.principalId);
      const pod = await waitFor('web pod ready', async () => (await podsWithLabel(k.core, ns, 'app=web')).find(isReady), T);
      const status = await spcps(pod);
      expect(status.status).toEqual({
        podName: pod.metadata!.name,
        secretProviderClassName: 'app-secrets',
        mounted: true,
        targetPath: `/var/lib/kubelet/pods/${pod.metadata!.uid}/volumes/kubernetes.io~csi/secrets-store01-inline/mount`,
        objects: [{ id: 'secret/db-password', version: firstVersion }],
      });
      expect(status.metadata.labels?.['internal.secrets-store.csi.k8s.io/node-name']).toBe('aks-nodepool1-0');
      expect(status.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid })]);
      const synced = await k.core.readNamespacedSecret({ name: 'app-synced', namespace: ns });
      expect(synced.metadata?.labels?.['secrets-store.csi.k8s.io/managed']).toBe('true');
      expect(synced.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
      expect(sha(Buffer.from(synced.data!['db-password']!, 'base64'))).toBe(sha(firstValue));
    },
    T,
  );

  it(
    'starts a pod that reads env from the synced Secret, and a StatefulSet',
    async () => {
      await apply(loadWorkload('pod-env-from-synced-secret.yaml', values(), ns));
      const [sts] = loadWorkload('statefulset-spc.yaml', values(), ns);
      (sts!.spec as { replicas: number }).replicas = 1;
      await apply([sts!]);
      await waitFor('env-reader ready', async () => isReady(await k.core.readNamespacedPod({ name: 'env-reader', namespace: ns })), T);
      const db0 = await waitFor(
        'db-0 ready',
        async () => {
          const p = await k.core.readNamespacedPod({ name: 'db-0', namespace: ns });
          return isReady(p) ? p : undefined;
        },
        T,
      );
      expect((await spcps(db0)).status.objects).toEqual([{ id: 'secret/db-password', version: firstVersion }]);
    },
    T,
  );

  it(
    'reports SecretNotFound for an object missing from the vault',
    async () => {
      const [spc] = loadWorkload('secretproviderclass.yaml', { ...values(), SECRET: 'not-in-the-vault' }, ns);
      spc!.metadata.name = 'missing-secrets';
      delete (spc!.spec as { secretObjects?: unknown }).secretObjects;
      await apply([spc!]);
      await k.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'missing', labels: { app: 'missing' } },
          spec: {
            serviceAccountName: 'workload-sa',
            containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'kv', mountPath: '/mnt/kv', readOnly: true }] }],
            volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: 'missing-secrets' } } }],
          },
        },
      });
      const { message } = await failedMountMatching('app=missing', (m) => m.includes('SecretNotFound'));
      expect(message).toContain('objectName:not-in-the-vault');
      expect(message).toContain('ERROR CODE: SecretNotFound');
    },
    T,
  );

  it(
    'rotation updates SPCPS versions and the synced Secret without restarting pods; subPath mounts keep the old file',
    async () => {
      await apply(loadWorkload('pod-subpath.yaml', values(), ns));
      await waitFor('subpath-reader ready', async () => isReady(await k.core.readNamespacedPod({ name: 'subpath-reader', namespace: ns })), T);
      const before = (await podsWithLabel(k.core, ns, 'app=web')).find(isReady)!;
      const secondVersion = (await secrets.setSecret('db-password', secondValue)).properties.version!;
      expect(secondVersion).not.toBe(firstVersion);
      await kubelet('POST', '/rotate');
      const rotated = await waitFor(
        'SPCPS with the new version',
        async () => {
          const s = await spcps(before);
          return s.status.objects[0]?.version === secondVersion ? s : undefined;
        },
        T,
      );
      expect(rotated.status.objects).toEqual([{ id: 'secret/db-password', version: secondVersion }]);
      const synced = await k.core.readNamespacedSecret({ name: 'app-synced', namespace: ns });
      expect(sha(Buffer.from(synced.data!['db-password']!, 'base64'))).toBe(sha(secondValue));
      const after = await k.core.readNamespacedPod({ name: before.metadata!.name!, namespace: ns });
      expect(after.metadata?.uid).toBe(before.metadata?.uid);
      expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(0);
      const st = await kubelet<{ pods: Array<{ name: string; namespace: string; volumes: Array<{ objects: unknown; containerObjects: unknown; rotatesInContainer: boolean }> }> }>('GET', '/status');
      const sub = st.pods.find((p) => p.namespace === ns && p.name === 'subpath-reader')!.volumes[0]!;
      expect(sub.rotatesInContainer).toBe(false);
      expect(sub.objects).toEqual([{ id: 'secret/db-password', version: secondVersion }]);
      expect(sub.containerObjects).toEqual([{ id: 'secret/db-password', version: firstVersion }]);
    },
    T,
  );
});

describe('periodic rotation (rotationIntervalSeconds)', () => {
  it(
    'picks up a new version on its own once the interval is set, and stops when it is 0',
    async () => {
      const web = (await podsWithLabel(k.core, ns, 'app=web')).find(isReady)!;
      const third = (await secrets.setSecret('db-password', randomBytes(12).toString('base64url'))).properties.version!;
      await kubelet('PATCH', '/config', { rotationIntervalSeconds: 1 });
      try {
        await waitFor('SPCPS with the third version', async () => (await spcps(web)).status.objects[0]?.version === third, 30_000);
      } finally {
        await kubelet('PATCH', '/config', { rotationIntervalSeconds: 0 });
      }
      const st = await kubelet<{ config: { rotationIntervalSeconds: number } }>('GET', '/status');
      expect(st.config.rotationIntervalSeconds).toBe(0);
    },
    T,
  );
});

describe('VM managed identity (useVMManagedIdentity)', () => {
  it(
    'mounts with a node-assigned identity and fails for an identity IMDS does not know',
    async () => {
      for (const [name, idValue] of [
        ['vmmi-ok', identity.clientId],
        ['vmmi-bad', randomUUID()],
      ] as const) {
        await k.custom.createNamespacedCustomObject({
          group: 'secrets-store.csi.x-k8s.io',
          version: 'v1',
          namespace: ns,
          plural: 'secretproviderclasses',
          body: {
            apiVersion: 'secrets-store.csi.x-k8s.io/v1',
            kind: 'SecretProviderClass',
            metadata: { name },
            spec: {
              provider: 'azure',
              parameters: {
                useVMManagedIdentity: 'true',
                userAssignedIdentityID: idValue,
                keyvaultName: vault.name,
                tenantId: env.AKV_AKS_SANDBOX_TENANT_ID,
                objects: 'array:\n  - |\n    objectName: db-password\n    objectType: secret\n',
              },
            },
          },
        });
        await k.core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name, labels: { app: name } },
            spec: {
              containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'kv', mountPath: '/mnt/kv', readOnly: true }] }],
              volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: name } } }],
            },
          },
        });
      }
      await waitFor('vmmi-ok ready', async () => isReady(await k.core.readNamespacedPod({ name: 'vmmi-ok', namespace: ns })), T);
      const { message } = await failedMountMatching('app=vmmi-bad', (m) => m.includes('ManagedIdentityCredential'));
      expect(message).toContain('Identity not found');
    },
    T,
  );
});
