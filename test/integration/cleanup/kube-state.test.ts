// readKubeState against the sandbox's kube-apiserver: what clean-up learns from the cluster before
// planning. Each case has a namespace of its own holding what an untouched apply leaves there (the
// action's objects, server-side applied as its field manager, and what the cluster adds by itself).
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { readKubeState } from '../../../src/cleanup/index.ts';
import { planCleanup } from '../../../src/cleanup/plan.ts';
import type { KubeSession } from '../../../src/kube/client.ts';
import { SPC_GROUP, SPC_VERSION } from '../../../src/kube/spcps.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import type { Manifest } from '../../../src/manifest/types.ts';
import { ACTION_NAME, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../../../src/names.ts';
import { instanceId } from '../../../src/render/labels.ts';
import { shortId } from '../../support/ids.ts';
import { admin, deleteNamespace, describeKube, sandboxKube, serviceAccountSession } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { waitFor } from '../../support/wait.ts';

jest.setTimeout(120_000);

describeKube('readKubeState against the sandbox cluster', () => {
  const id = shortId();
  const ns = (c: string): string => `ks-${id}-${c}`;
  const RBAC_NS = ns('rbac');
  const READER = `akv-aks-test-kube-state-${id}`;
  /** The case's manifest: its namespace, and an instance of its own (no case sees another's labelled objects). */
  const m = (namespace: string): Manifest =>
    testManifest(
      [
        testTarget(namespace, 'unused', {
          identity: { mode: 'external', clientId: '00000000-0000-0000-0000-0000000000c1', principalId: 'p' },
          secretProviderClass: 'pay-spc',
          objects: [mounted('s')],
        }),
      ],
      { instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: namespace }), cluster: { name: namespace } },
    );
  const owned = (namespace: string): Record<string, string> => ({ [MANAGED_BY_LABEL]: ACTION_NAME, [INSTANCE_LABEL]: instanceId(m(namespace)) });
  const created: string[] = [];
  let kube: KubeSession;
  let dir = '';

  /** Server-side apply as the action's field manager. */
  const applyAsAction = (obj: KubernetesObject): Promise<unknown> => admin().objects.patch(obj, undefined, undefined, ACTION_NAME, true, PatchStrategy.ServerSideApply);

  /** What an untouched apply leaves in `namespace` (its labels `nsLabels`), once the cluster added its default ServiceAccount and CA ConfigMap. */
  async function applied(namespace: string, nsLabels: Record<string, string> = owned(namespace)): Promise<void> {
    created.push(namespace);
    await applyAsAction({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: nsLabels } });
    await applyAsAction({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace, labels: owned(namespace) } });
    await applyAsAction({
      apiVersion: `${SPC_GROUP}/${SPC_VERSION}`,
      kind: 'SecretProviderClass',
      metadata: { name: 'pay-spc', namespace, labels: owned(namespace) },
      spec: { provider: 'azure', parameters: {} },
    } as KubernetesObject);
    await waitFor(`the default ServiceAccount and kube-root-ca.crt in ${namespace}`, async () => {
      const sas = await kube.core.listNamespacedServiceAccount({ namespace });
      const cms = await admin().core.listNamespacedConfigMap({ namespace });
      return sas.items.some((s) => s.metadata?.name === 'default') && cms.items.some((c) => c.metadata?.name === 'kube-root-ca.crt');
    });
  }

  /** The session with every `objects.list` recorded as `kind@namespace`, and kinds in `notServed` answered 404 as by a cluster without them. */
  function listing(s: KubeSession, listed: string[], notServed: string[] = []): KubeSession {
    const objects = new Proxy(s.objects, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'list' || typeof v !== 'function') return v;
        return (apiVersion: string, kind: string, namespace?: string, ...rest: unknown[]) => {
          listed.push(`${kind}@${namespace ?? ''}`);
          if (notServed.includes(kind)) return Promise.reject(new ApiException(404, `the server could not find the requested resource (${kind})`, {}, {}));
          return (v as (...a: unknown[]) => unknown).apply(target, [apiVersion, kind, namespace, ...rest]);
        };
      },
    });
    return { ...s, objects };
  }

  const plan = (namespace: string, state: Awaited<ReturnType<typeof readKubeState>>) =>
    planCleanup({ manifest: m(namespace), vault: { id: '/v', name: 'kv-app', rbac: true, tenantId: 't' }, kube: state, identities: [] });
  const kubeLines = (namespace: string, state: Awaited<ReturnType<typeof readKubeState>>): string[] =>
    plan(namespace, state)
      .filter((s) => s.item.kind !== 'secret')
      .map((s) => `${s.item.action} ${s.item.kind} ${s.item.name}`);

  beforeAll(() => {
    kube = sandboxKube();
    dir = mkdtempSync(join(tmpdir(), 'kube-state-'));
  });

  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!kube) return;
    const rbac = admin().kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.deleteClusterRoleBinding({ name: READER }).catch(() => undefined);
    await rbac.deleteClusterRole({ name: READER }).catch(() => undefined);
    for (const namespace of [...created, RBAC_NS]) await deleteNamespace(kube, namespace);
  });

  it('an untouched apply: owned objects found with their managers (status entries ignored), namespace content listed', async () => {
    const a = ns('a');
    await applied(a);
    // Another manager writes the namespace's status (as a controller would): a status entry only.
    await admin().core.patchNamespaceStatus(
      { name: a, fieldManager: 'kube-controller-manager', body: { status: { conditions: [{ type: 'TestCondition', status: 'True', reason: 'Test', message: 'written through /status' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const live = await kube.core.readNamespace({ name: a });
    expect(live.metadata?.managedFields?.some((f) => f.manager === 'kube-controller-manager' && f.subresource === 'status')).toBe(true);
    const listed: string[] = [];
    const state = await readKubeState(listing(kube, listed), m(a));
    expect(state.objects.find((o) => o.kind === 'ServiceAccount')?.managers).toEqual([ACTION_NAME]);
    expect(state.objects.find((o) => o.kind === 'Namespace')?.managers).toEqual([ACTION_NAME]);
    expect(state.objects.find((o) => o.kind === 'Namespace')).toMatchObject({ uid: live.metadata?.uid, resourceVersion: live.metadata?.resourceVersion, deleting: false });
    expect(state.content[a]?.map((e) => `${e.kind}/${e.name}`).sort()).toEqual(['ConfigMap/kube-root-ca.crt', 'SecretProviderClass/pay-spc', 'ServiceAccount/api', 'ServiceAccount/default']);
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((l) => l.endsWith(`@${a}`))).toBe(true);
    expect(kubeLines(a, state)).toEqual([`delete secret-provider-class ${a}/pay-spc`, `delete service-account ${a}/api`, `delete namespace ${a}`]);
  });

  it('a kind the cluster does not serve is skipped; one it may not list keeps the namespace', async () => {
    const b = ns('b');
    await applied(b);
    const skipped = await readKubeState(listing(kube, [], ['Ingress', 'CronJob']), m(b));
    expect(kubeLines(b, skipped)).toContain(`delete namespace ${b}`);

    // A deployer that may read and list everything clean-up reads, Secrets aside (RBAC of the cluster).
    await admin().core.createNamespace({ body: { metadata: { name: RBAC_NS } } });
    await admin().core.createNamespacedServiceAccount({ namespace: RBAC_NS, body: { metadata: { name: 'reader' } } });
    const rbac = admin().kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: READER },
        rules: [
          { apiGroups: [''], resources: ['namespaces', 'serviceaccounts', 'pods', 'services', 'configmaps', 'persistentvolumeclaims'], verbs: ['get', 'list'] },
          { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['list'] },
          { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['list'] },
          { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['list'] },
          { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['list'] },
          { apiGroups: [SPC_GROUP], resources: ['secretproviderclasses'], verbs: ['get', 'list'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: READER },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: READER },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: RBAC_NS }],
      },
    });
    const reader = await serviceAccountSession(kube, RBAC_NS, 'reader', dir);
    // The binding reaches the authorizer's cache shortly after it is written.
    const forbidden = await waitFor('the reader ServiceAccount to be allowed what clean-up reads', () => readKubeState(reader, m(b)).catch(() => undefined), 30_000, 200);
    expect(kubeLines(b, forbidden)).toContain(`keep namespace ${b}`);
    expect(plan(b, forbidden).find((s) => s.item.kind === 'namespace')?.item.reason).toBe('holds objects the action does not own: Secret/(cannot list: HTTP 403)');
  });

  it('an unlabelled namespace of the same name is neither deleted nor searched', async () => {
    const c = ns('c');
    await applied(c, {});
    const listed: string[] = [];
    const state = await readKubeState(listing(kube, listed), m(c));
    expect(listed).toEqual([]);
    expect(kubeLines(c, state)).toEqual([`delete secret-provider-class ${c}/pay-spc`, `delete service-account ${c}/api`, `keep namespace ${c}`]);
  });

  it('nothing there: every declared object reported as not found', async () => {
    const d = ns('d');
    const state = await readKubeState(kube, m(d));
    expect(state.objects).toEqual([]);
    expect(kubeLines(d, state)).toEqual([`unchanged secret-provider-class ${d}/pay-spc`, `unchanged service-account ${d}/api`, `unchanged namespace ${d}`]);
  });
});
