// The proof for bound targets (`federation: binding`) against the sandbox's kube-apiserver: the
// Kubernetes step applies the ClusterRole and ClusterRoleBinding for a bound service account, then
// the proof asks the cluster the AKS token proxy's question (SubjectAccessReview, verb
// use-managed-identity on the client id) as src/pipeline/run.ts does before any restart. A removed or
// altered ClusterRoleBinding (out of band, after the apply) is refused with the gate's words and fix;
// the healthy chain passes. The proof takes no Azure session: it can make no Entra or vault request.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeSession } from '../../../src/kube/client.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { planBindingProof } from '../../../src/identity/prove-binding-plan.ts';
import { proveBindingAccess } from '../../../src/identity/prove-binding.ts';
import { ProofError } from '../../../src/identity/prove.ts';
import type { NamespaceIdentity } from '../../../src/identity/model.ts';
import type { PlanItem } from '../../../src/plan/types.ts';
import { admin, deleteNamespace, describeKube, sandboxKube } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(120_000);

describeKube('proof of access for identity bindings (the token proxy check)', () => {
  const ns = `it-bproof-${shortId()}`;
  const clientId = randomUUID();
  const manifest = testManifest([testTarget(ns, 'id-bound', { secretProviderClass: 'app', objects: [mounted('db')], federation: 'binding' })]);
  const identities: NamespaceIdentity[] = [{ namespace: ns, mode: 'managed', name: 'id-bound', clientId, serviceAccounts: ['api'], federation: 'binding' }];
  const facts = { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', cloudName: 'AzurePublicCloud', clientIds: { [ns]: clientId } };
  let kube: KubeSession;
  let items: PlanItem[];
  let roleBinding: KubernetesObject & { subjects?: Array<{ kind: string; name: string; namespace?: string }>; roleRef?: unknown };

  const prove = (timeoutMs: number): Promise<void> => proveBindingAccess(kube, planBindingProof('changed', { targets: manifest.targets, identities, items }), { timeoutMs });
  const refusal = async (timeoutMs: number): Promise<ProofError> => {
    const e = await prove(timeoutMs).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProofError);
    return e as ProofError;
  };

  beforeAll(async () => {
    kube = sandboxKube();
    items = await applyKubeObjects(kube, manifest, facts, { mode: 'apply' });
    const crb = items.find((i) => i.kind === 'cluster-role-binding');
    expect(crb?.action).toBe('create');
    roleBinding = (await kube.objects.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: crb!.name.split('/').pop()! } })) as typeof roleBinding;
  });

  afterAll(async () => {
    if (!kube) return;
    for (const kind of ['ClusterRoleBinding', 'ClusterRole']) {
      await kube.objects.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name: roleBinding.metadata!.name } }).catch(() => undefined);
    }
    await deleteNamespace(kube, ns);
  });

  it('plans one check for the bound service account whose RBAC this run wrote', () => {
    expect(planBindingProof('changed', { targets: manifest.targets, identities, items }).map((p) => `${p.namespace}/${p.serviceAccount} ${p.clientId}`)).toEqual([`${ns}/api ${clientId}`]);
  });

  it('passes on the healthy chain the Kubernetes step applied', async () => {
    await expect(prove(30_000)).resolves.toBeUndefined();
  });

  it('refuses a removed ClusterRoleBinding with the token proxy words and the fix', async () => {
    await kube.objects.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: roleBinding.metadata!.name } });
    const e = await refusal(2_500);
    expect(e.kind).toBe('binding-not-allowed');
    expect(e.namespace).toBe(ns);
    expect(e.message).toContain(`system:serviceaccount:${ns}:api is not allowed to use-managed-identity ${clientId}`);
    expect(e.message).toContain(`use-managed-identity on resource ${clientId} of API group cid.wi.aks.azure.com`);
  });

  it('refuses a ClusterRoleBinding altered to another service account', async () => {
    await admin().objects.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: roleBinding.metadata!.name },
      subjects: [{ kind: 'ServiceAccount', name: 'someone-else', namespace: ns }],
      roleRef: roleBinding.roleRef,
    } as KubernetesObject);
    expect((await refusal(2_500)).kind).toBe('binding-not-allowed');
  });

  it('passes again once apply restores the binding (waiting through propagation)', async () => {
    // The altered one has no instance labels: apply would refuse to take it over, so it is removed.
    await kube.objects.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: roleBinding.metadata!.name } });
    const repaired = await applyKubeObjects(kube, manifest, facts, { mode: 'apply' });
    expect(repaired.find((i) => i.kind === 'cluster-role-binding')?.action).toBe('create');
    items = repaired;
    await expect(prove(30_000)).resolves.toBeUndefined();
  });
});
