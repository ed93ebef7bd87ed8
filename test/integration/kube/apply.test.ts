// Server-side apply, plan (dry run), ownership and pruning against the sandbox's kube-apiserver.
// No Azure is needed: placeholders stand for ids the Azure side would provide.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type { KubeSession } from '../../../src/kube/client.ts';
import { applyKubeObjects } from '../../../src/kube/apply.ts';
import { SPC_GROUP, SPC_PLURAL, SPC_VERSION } from '../../../src/kube/spcps.ts';
import { admin, deleteNamespace, describeKube, sandboxKube } from '../../support/kube.ts';
import { mounted, testManifest, testTarget } from '../../support/manifest.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(60_000);

describeKube('applyKubeObjects against the sandbox API server', () => {
  const id = shortId();
  const ns = `it-apply-${id}`;
  const existingNs = `it-apply-user-${id}`;
  let kube: KubeSession;
  const facts = { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientIds: { [ns]: '00000000-0000-0000-0000-0000000000c1' } };
  const twoSpcs = (): ReturnType<typeof testManifest> =>
    testManifest([testTarget(ns, 'id-x', { secretProviderClass: 'one', objects: [mounted('s-one')] }), testTarget(ns, 'id-x', { secretProviderClass: 'two', objects: [mounted('s-two')] })]);
  const spcNames = async (namespace: string): Promise<string[]> => {
    const list = (await kube.custom.listNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPC_PLURAL })) as { items: Array<{ metadata: { name: string } }> };
    return list.items.map((i) => i.metadata.name).sort();
  };

  beforeAll(() => {
    kube = sandboxKube();
  });
  afterAll(async () => {
    if (!kube) return;
    await deleteNamespace(kube, ns);
    await deleteNamespace(kube, existingNs);
  });

  it('applies, re-applies unchanged, plans an update as a value-free diff', async () => {
    expect((await applyKubeObjects(kube, twoSpcs(), facts, { mode: 'apply' })).map((i) => i.action)).toEqual(['create', 'create', 'create', 'create']);
    expect((await applyKubeObjects(kube, twoSpcs(), facts, { mode: 'apply' })).map((i) => i.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    const changed = { ...facts, clientIds: { [ns]: '00000000-0000-0000-0000-0000000000c2' } };
    const plan = await applyKubeObjects(kube, twoSpcs(), changed, { mode: 'plan' });
    expect(plan.find((i) => i.kind === 'service-account')).toMatchObject({ action: 'update', reason: 'changed: metadata.annotations[azure.workload.identity/client-id]' });
    expect(plan.find((i) => i.name === `${ns}/one`)).toMatchObject({ action: 'update', reason: 'changed: spec.parameters.clientID' });
    // The dry run wrote nothing.
    const sa = await kube.core.readNamespacedServiceAccount({ namespace: ns, name: 'api' });
    expect(sa.metadata?.annotations?.['azure.workload.identity/client-id']).toBe(facts.clientIds[ns]);
  });

  it('keeps dropped objects without prune, prunes only its own with prune: true', async () => {
    // Someone else's SPC in the same namespace, without the action's labels.
    await admin().custom.createNamespacedCustomObject({
      group: SPC_GROUP,
      version: SPC_VERSION,
      namespace: ns,
      plural: SPC_PLURAL,
      body: { apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClass', metadata: { name: 'not-ours' }, spec: { provider: 'azure', parameters: {} } },
    });
    const onlyOne = testManifest([testTarget(ns, 'id-x', { secretProviderClass: 'one', objects: [mounted('s-one')] })]);
    const kept = await applyKubeObjects(kube, onlyOne, facts, { mode: 'apply' });
    expect(kept.find((i) => i.name === `${ns}/two`)).toMatchObject({ action: 'keep' });
    expect(await spcNames(ns)).toEqual(['not-ours', 'one', 'two']);

    const planPrune = await applyKubeObjects(kube, { ...onlyOne, prune: true }, facts, { mode: 'plan' });
    expect(planPrune.find((i) => i.name === `${ns}/two`)).toMatchObject({ action: 'prune' });
    expect(await spcNames(ns)).toEqual(['not-ours', 'one', 'two']);

    const pruned = await applyKubeObjects(kube, { ...onlyOne, prune: true }, facts, { mode: 'apply' });
    expect(pruned.filter((i) => i.action === 'prune').map((i) => i.name)).toEqual([`${ns}/two`]);
    expect(await spcNames(ns)).toEqual(['not-ours', 'one']);
    expect(pruned.some((i) => i.name.includes('not-ours'))).toBe(false);
  });

  it('refuses a missing namespace without createNamespace, and never takes over fields another manager owns', async () => {
    const noCreate = testManifest([testTarget(existingNs, 'id-y', { createNamespace: false, secretProviderClass: 'x', objects: [mounted('s')] })]);
    await expect(applyKubeObjects(kube, noCreate, facts, { mode: 'apply' })).rejects.toThrow(/does not exist: create it or set createNamespace: true/);
    const plan = await applyKubeObjects(kube, noCreate, facts, { mode: 'plan' });
    expect(plan.filter((i) => i.namespace === existingNs).map((i) => `${i.kind}:${i.action}`)).toEqual(['service-account:refuse', 'secret-provider-class:refuse']);
    // What the first tests left in the other namespace is not declared here: kept, never pruned without prune.
    expect(plan.filter((i) => i.namespace === ns).every((i) => i.action === 'keep')).toBe(true);

    await admin().core.createNamespace({ body: { metadata: { name: existingNs } } });
    await admin().core.createNamespacedServiceAccount({
      namespace: existingNs,
      fieldManager: 'helm',
      body: { metadata: { name: 'api', annotations: { 'azure.workload.identity/client-id': 'someone-elses' } } },
    });
    await expect(applyKubeObjects(kube, noCreate, facts, { mode: 'apply' })).rejects.toThrow(/another manager owns/);
    const sa = await kube.core.readNamespacedServiceAccount({ namespace: existingNs, name: 'api' });
    expect(sa.metadata?.annotations?.['azure.workload.identity/client-id']).toBe('someone-elses');
  });

  it('adopts a pre-existing object without conflicts, and never prunes it', async () => {
    await admin().core.createNamespacedServiceAccount({ namespace: existingNs, fieldManager: 'helm', body: { metadata: { name: 'worker', labels: { team: 'a' } } } });
    const withWorker = testManifest([testTarget(existingNs, 'id-y', { createNamespace: false, serviceAccount: 'worker', secretProviderClass: 'w', objects: [mounted('s')] })]);
    const items = await applyKubeObjects(kube, withWorker, facts, { mode: 'apply' });
    expect(items.find((i) => i.name === `${existingNs}/worker`)).toMatchObject({ kind: 'service-account', action: 'adopt' });
    const sa = await kube.core.readNamespacedServiceAccount({ namespace: existingNs, name: 'worker' });
    expect(sa.metadata?.labels?.team).toBe('a');
    expect(sa.metadata?.annotations?.['akv-aks-action/adopted']).toBe('true');
    // Re-applied: unchanged, the mark kept.
    const again = await applyKubeObjects(kube, withWorker, facts, { mode: 'apply' });
    expect(again.find((i) => i.name === `${existingNs}/worker`)).toMatchObject({ action: 'unchanged' });
    // Dropped with prune: its SPC goes, the adopted ServiceAccount stays.
    const other = testManifest(
      [
        testTarget(existingNs, 'id-y', {
          createNamespace: false,
          serviceAccount: undefined,
          identity: { mode: 'kubelet', clientId: '00000000-0000-0000-0000-0000000000k1' },
          secretProviderClass: 'k',
          objects: [mounted('s')],
        }),
      ],
      { prune: true },
    );
    const pruned = await applyKubeObjects(kube, other, facts, { mode: 'apply' });
    expect(pruned.find((i) => i.name === `${existingNs}/worker`)).toMatchObject({ action: 'keep', reason: 'existed before the action (adopted): never deleted' });
    expect(pruned.find((i) => i.name === `${existingNs}/w`)).toMatchObject({ action: 'prune' });
    await expect(kube.core.readNamespacedServiceAccount({ namespace: existingNs, name: 'worker' })).resolves.toBeDefined();
  });
});
