// The local cluster itself, against the real kube-apiserver + kube-controller-manager: kubeconfig as
// aks-set-context writes it, anonymous issuer discovery, TokenRequest, CRDs, the fake node, and the
// kubelet stand-in's scheduling, env-from-Secret waiting, crash-loop knob and pod deletion.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiextensionsV1Api, StorageV1Api, VersionApi } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { freshNamespace, isReady, kubeClients, kubeEnv, kubelet, podEvents, podsWithLabel, waitFor, type KubeClients } from '../../sandbox/kube/test-helpers.ts';
import { PORTS } from '../../sandbox/ports.ts';

/** The cluster's service-account issuer is its API server's URL. */
const ISSUER = `https://127.0.0.1:${PORTS.kubeApiserver}`;
const T = 90_000;
let k: KubeClients;
let ns: string;

beforeAll(async () => {
  k = kubeClients();
  ns = await freshNamespace(k.core, 'kube-cluster');
}, 60_000);

afterAll(async () => {
  await k.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('control plane', () => {
  it(
    'has a kubeconfig with context sandbox and a client certificate, trusted through the sandbox CA',
    async () => {
      const cfg = parse(readFileSync(kubeEnv().KUBECONFIG!, 'utf8')) as {
        'current-context': string;
        clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data': string } }>;
        users: Array<{ user: Record<string, string> }>;
      };
      expect(cfg['current-context']).toBe('sandbox');
      expect(cfg.clusters[0]!.cluster.server).toBe(ISSUER);
      // the cluster's CA is the sandbox CA, which the NODE_EXTRA_CA_CERTS bundle carries
      const clusterCa = Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString().trim();
      expect(clusterCa).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(readFileSync(kubeEnv().NODE_EXTRA_CA_CERTS!, 'utf8').includes(clusterCa)).toBe(true);
      expect(Object.keys(cfg.users[0]!.user).sort()).toEqual(['client-certificate-data', 'client-key-data']);
      const version = await k.kc.makeApiClient(VersionApi).getCode();
      expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    },
    T,
  );

  it(
    'serves the service-account issuer discovery documents anonymously',
    async () => {
      const res = await fetch(`${ISSUER}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { issuer: string; jwks_uri: string };
      expect(doc.issuer).toBe(ISSUER);
      const jwks = (await (await fetch(doc.jwks_uri)).json()) as { keys: Array<{ kty: string; alg: string }> };
      expect(jwks.keys.length).toBeGreaterThan(0);
      expect(jwks.keys[0]!.kty).toBe('RSA');
      // everything else stays closed to anonymous callers
      expect((await fetch(`${ISSUER}/api/v1/namespaces/default/secrets`)).status).toBe(403);
    },
    T,
  );

  it(
    'issues TokenRequest tokens with the workload-identity audience and the issuer',
    async () => {
      await k.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'tr-sa' } } });
      const res = await k.core.createNamespacedServiceAccountToken({
        name: 'tr-sa',
        namespace: ns,
        body: { spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 600 } },
      });
      const payload = JSON.parse(Buffer.from(res.status!.token!.split('.')[1]!, 'base64url').toString()) as { iss: string; sub: string; aud: string[] };
      expect(payload.iss).toBe(ISSUER);
      expect(payload.sub).toBe(`system:serviceaccount:${ns}:tr-sa`);
      expect(payload.aud).toEqual(['api://AzureADTokenExchange']);
    },
    T,
  );

  it(
    'has the upstream Secrets Store CRDs, the CSIDriver with tokenRequests, and a Ready node',
    async () => {
      const ext = k.kc.makeApiClient(ApiextensionsV1Api);
      for (const name of ['secretproviderclasses.secrets-store.csi.x-k8s.io', 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io']) {
        const crd = await ext.readCustomResourceDefinition({ name });
        expect(crd.spec.versions.map((v) => v.name)).toContain('v1');
      }
      const driver = await k.kc.makeApiClient(StorageV1Api).readCSIDriver({ name: 'secrets-store.csi.k8s.io' });
      expect(driver.spec.tokenRequests?.map((t) => t.audience)).toEqual(['api://AzureADTokenExchange']);
      const node = await k.core.readNode({ name: 'aks-nodepool1-0' });
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    },
    T,
  );
});

describe('controllers and the kubelet stand-in', () => {
  it(
    'runs a Deployment: ReplicaSet, pods bound to the node, Running and Ready',
    async () => {
      await k.apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name: 'plain' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'plain' } },
            template: { metadata: { labels: { app: 'plain' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
          },
        },
      });
      const pods = await waitFor('2 ready pods', async () => {
        const list = await podsWithLabel(k.core, ns, 'app=plain');
        return list.length === 2 && list.every(isReady) ? list : undefined;
      });
      for (const p of pods) {
        expect(p.spec?.nodeName).toBe('aks-nodepool1-0');
        expect(p.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
        expect(p.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
      }
      const reasons = await waitFor(
        'Scheduled and Started events',
        async () => {
          const r = (await podEvents(k.core, ns, pods[0]!.metadata!.name!)).map((e) => e.reason);
          return r.includes('Scheduled') && r.includes('Started') ? r : undefined;
        },
        10_000,
      );
      expect(reasons).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
      const dep = await waitFor('deployment available', async () => {
        const d = await k.apps.readNamespacedDeployment({ name: 'plain', namespace: ns });
        return d.status?.availableReplicas === 2 ? d : undefined;
      });
      expect(dep.status?.readyReplicas).toBe(2);
    },
    T,
  );

  it(
    'holds a pod in CreateContainerConfigError until the Secret its env reads exists',
    async () => {
      await k.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'env-pod' },
          spec: { containers: [{ name: 'app', image: 'busybox', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'later', key: 'k' } } }] }] },
        },
      });
      const waiting = await waitFor('CreateContainerConfigError', async () => {
        const p = await k.core.readNamespacedPod({ name: 'env-pod', namespace: ns });
        return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
      });
      expect(waiting.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe('secret "later" not found');
      expect((await podEvents(k.core, ns, 'env-pod', 'Failed'))[0]?.message).toBe('Error: secret "later" not found');
      await k.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'later' }, stringData: { k: 'v' } } });
      await waitFor('env-pod ready', async () => isReady(await k.core.readNamespacedPod({ name: 'env-pod', namespace: ns })));
    },
    T,
  );

  it(
    'crash-loops a pod on request and lets it recover',
    async () => {
      await kubelet('PATCH', '/config', { crashLoop: [{ namespace: ns, pod: 'crashy' }] });
      try {
        await k.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'crashy' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } } });
        const p = await waitFor('CrashLoopBackOff', async () => {
          const pod = await k.core.readNamespacedPod({ name: 'crashy', namespace: ns });
          return pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? pod : undefined;
        });
        expect(isReady(p)).toBe(false);
        expect(p.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThan(0);
      } finally {
        await kubelet('PATCH', '/config', { crashLoop: [] });
      }
      await waitFor('crashy ready after the knob is cleared', async () => isReady(await k.core.readNamespacedPod({ name: 'crashy', namespace: ns })));
    },
    T,
  );

  it(
    'injects mount failures on request, then mounts for real (here: the SPC does not exist)',
    async () => {
      await kubelet('PATCH', '/config', { failMounts: [{ namespace: ns, pod: 'inject', message: 'rpc error: code = Unknown desc = injected by the test', times: 1 }] });
      await k.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'inject' },
          spec: {
            containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'kv', mountPath: '/mnt/kv', readOnly: true }] }],
            volumes: [{ name: 'kv', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: 'nope' } } }],
          },
        },
      });
      const messages = await waitFor('both FailedMount events', async () => {
        const m = (await podEvents(k.core, ns, 'inject', 'FailedMount')).map((e) => e.message ?? '');
        return m.length >= 2 ? m : undefined;
      });
      expect(messages).toContain('MountVolume.SetUp failed for volume "kv" : rpc error: code = Unknown desc = injected by the test');
      expect(messages).toContain(
        `MountVolume.SetUp failed for volume "kv" : rpc error: code = Unknown desc = failed to get secretproviderclass ${ns}/nope, error: secretproviderclasses.secrets-store.csi.x-k8s.io "nope" not found`,
      );
      const pod = await k.core.readNamespacedPod({ name: 'inject', namespace: ns });
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
      const st = await kubelet<{ config: { failMounts: unknown[] } }>('GET', '/status');
      expect(st.config.failMounts).toEqual([]);
    },
    T,
  );

  it(
    'deletes pods for good and garbage-collects a deleted Deployment',
    async () => {
      await k.apps.deleteNamespacedDeployment({ name: 'plain', namespace: ns, propagationPolicy: 'Background' });
      await waitFor('pods of the deleted deployment gone', async () => (await podsWithLabel(k.core, ns, 'app=plain')).length === 0, 60_000);
      const status = await kubelet<{ pods: Array<{ namespace: string; name: string }> }>('GET', '/status');
      expect(status.pods.filter((p) => p.namespace === ns && p.name.startsWith('plain-'))).toEqual([]);
    },
    T,
  );
});
