// readKubeState against a fake API: what clean-up learns from the cluster before planning.
import { describe, expect, test } from '@jest/globals';
import { readKubeState } from '../../../src/cleanup/index.ts';
import { planCleanup } from '../../../src/cleanup/plan.ts';
import type { KubeSession } from '../../../src/kube/client.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { instanceId } from '../../../src/render/labels.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import { ACTION_NAME, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../../../src/names.ts';

interface FakeObj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    managedFields?: { manager: string; subresource?: string }[];
    deletionTimestamp?: Date;
    uid?: string;
    resourceVersion?: string;
  };
}

const m: Manifest = {
  apiVersion: 'akv-aks/v1',
  instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: 'c1' }),
  vault: { name: 'kv-app', resourceGroup: 'rg' },
  cluster: { name: 'c1' },
  identityDefaults: { tags: {} },
  secrets: [{ name: 's', source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false }],
  targets: [
    {
      namespace: 'pay',
      createNamespace: true,
      serviceAccount: 'api',
      identity: { mode: 'external', clientId: 'c', principalId: 'p' },
      access: { scope: 'vault', role: 'Key Vault Secrets User' },
      secretProviderClass: 'pay-spc',
      objects: [{ secret: 's', objectType: 'secret' }],
      rotation: 'restart',
    },
  ],
  prune: false,
  purge: false,
};
const owned = { [MANAGED_BY_LABEL]: ACTION_NAME, [INSTANCE_LABEL]: instanceId(m) };
const notFound = (): never => {
  throw Object.assign(new Error('not found'), { code: 404 });
};

function fakeKube(objects: FakeObj[], opts: { forbid?: string[]; missingKinds?: string[] } = {}): { kube: KubeSession; listed: string[] } {
  const listed: string[] = [];
  const matches = (o: FakeObj, selector?: string): boolean =>
    !selector ||
    selector.split(',').every((kv) => {
      const [k, v] = kv.split('=');
      return o.metadata.labels?.[k!] === v;
    });
  const get = (kind: string, name: string, namespace?: string): FakeObj => objects.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace) ?? notFound();
  const kube = {
    core: {
      readNamespace: async ({ name }: { name: string }) => get('Namespace', name),
      readNamespacedServiceAccount: async ({ name, namespace }: { name: string; namespace: string }) => get('ServiceAccount', name, namespace),
      listServiceAccountForAllNamespaces: async ({ labelSelector }: { labelSelector?: string }) => ({ items: objects.filter((o) => o.kind === 'ServiceAccount' && matches(o, labelSelector)) }),
      listNamespace: async ({ labelSelector }: { labelSelector?: string }) => ({ items: objects.filter((o) => o.kind === 'Namespace' && matches(o, labelSelector)) }),
    },
    custom: {
      getNamespacedCustomObject: async ({ name, namespace }: { name: string; namespace: string }) => get('SecretProviderClass', name, namespace),
      listClusterCustomObject: async ({ labelSelector }: { labelSelector?: string }) => ({ items: objects.filter((o) => o.kind === 'SecretProviderClass' && matches(o, labelSelector)) }),
    },
    objects: {
      list: async (_apiVersion: string, kind: string, namespace?: string) => {
        listed.push(`${kind}@${namespace ?? ''}`);
        if (opts.forbid?.includes(kind)) throw Object.assign(new Error('forbidden'), { code: 403 });
        if (opts.missingKinds?.includes(kind)) throw Object.assign(new Error('no such kind'), { code: 404 });
        return { metadata: {}, items: objects.filter((o) => o.kind === kind && o.metadata.namespace === namespace) };
      },
    },
  } as unknown as KubeSession;
  return { kube, listed };
}

const applied = (): FakeObj[] => [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pay', labels: owned, managedFields: [{ manager: 'akv-aks-action' }], uid: 'u-ns', resourceVersion: '1' } },
  {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'api', namespace: 'pay', labels: owned, managedFields: [{ manager: 'akv-aks-action' }, { manager: 'kube-controller-manager', subresource: 'status' }] },
  },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'pay' } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: 'pay' } },
  { apiVersion: 'secrets-store.csi.x-k8s.io/v1', kind: 'SecretProviderClass', metadata: { name: 'pay-spc', namespace: 'pay', labels: owned, managedFields: [{ manager: 'akv-aks-action' }] } },
];

const kubeLines = (state: Awaited<ReturnType<typeof readKubeState>>): string[] =>
  planCleanup({ manifest: m, vault: { id: '/v', name: 'kv-app', rbac: true, tenantId: 't' }, kube: state, identities: [] })
    .filter((s) => s.item.kind !== 'secret')
    .map((s) => `${s.item.action} ${s.item.kind} ${s.item.name}`);

describe('readKubeState', () => {
  test('an untouched apply: owned objects found with their managers (status entries ignored), namespace content listed', async () => {
    const { kube, listed } = fakeKube(applied());
    const state = await readKubeState(kube, m);
    expect(state.objects.find((o) => o.kind === 'ServiceAccount')?.managers).toEqual(['akv-aks-action']);
    expect(state.objects.find((o) => o.kind === 'Namespace')).toMatchObject({ uid: 'u-ns', resourceVersion: '1', deleting: false });
    expect(state.content.pay?.map((e) => `${e.kind}/${e.name}`).sort()).toEqual(['ConfigMap/kube-root-ca.crt', 'SecretProviderClass/pay-spc', 'ServiceAccount/api', 'ServiceAccount/default']);
    expect(listed.every((l) => l.endsWith('@pay'))).toBe(true);
    expect(kubeLines(state)).toEqual(['delete secret-provider-class pay/pay-spc', 'delete service-account pay/api', 'delete namespace pay']);
  });

  test('a kind the cluster does not serve is skipped; one it may not list keeps the namespace', async () => {
    const skipped = await readKubeState(fakeKube(applied(), { missingKinds: ['Ingress', 'CronJob'] }).kube, m);
    expect(kubeLines(skipped)).toContain('delete namespace pay');
    const forbidden = await readKubeState(fakeKube(applied(), { forbid: ['Secret'] }).kube, m);
    expect(kubeLines(forbidden)).toContain('keep namespace pay');
    expect(planCleanup({ manifest: m, vault: { id: '/v', name: 'kv-app', rbac: true, tenantId: 't' }, kube: forbidden, identities: [] }).find((s) => s.item.kind === 'namespace')?.item.reason).toBe(
      'holds objects the action does not own: Secret/(cannot list: HTTP 403)',
    );
  });

  test('an unlabelled namespace of the same name is neither deleted nor searched', async () => {
    const objects = applied().map((o) => (o.kind === 'Namespace' ? { ...o, metadata: { ...o.metadata, labels: {} } } : o));
    const { kube, listed } = fakeKube(objects);
    const state = await readKubeState(kube, m);
    expect(listed).toEqual([]);
    expect(kubeLines(state)).toEqual(['delete secret-provider-class pay/pay-spc', 'delete service-account pay/api', 'keep namespace pay']);
  });

  test('nothing there: every declared object reported as not found', async () => {
    const state = await readKubeState(fakeKube([]).kube, m);
    expect(state.objects).toEqual([]);
    expect(kubeLines(state)).toEqual(['unchanged secret-provider-class pay/pay-spc', 'unchanged service-account pay/api', 'unchanged namespace pay']);
  });
});
