// A fleet sharing one identity through AKS identity bindings (`federation: binding`), end to end
// through the bundle: three clusters, 25 namespaces in all (more than the 20 federated credentials
// one identity may hold), one manifest per cluster.
//
// Three clusters: the sandbox has one kube-apiserver (fixed ports, one control plane in memory), so
// it is presented as three AKS clusters: three managedClusters records (aks-a, aks-b, aks-c, made
// through the control API) whose issuer is that apiserver, each manifest naming one of them and its
// own namespaces. Each cluster gets its own identity binding; the token proxy of the CSI stand-in
// serves a pod when any of the three binds the identity and RBAC allows its service account.
//
// Covered: the CSIDriver without the api://AKSIdentityBinding audience is refused before anything is
// written; then one binding per cluster, one AKS-managed credential on the identity and no
// per-service-account credential; every pod mounts and each cluster's gate passes; a missing
// ClusterRoleBinding fails the gate with the proxy's words and the fix, and apply repairs it (its
// proof asks the cluster the proxy's RBAC question before any restart);
// clean-up of one cluster removes its binding, RBAC and SecretProviderClasses and leaves the other two working.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { PatchStrategy } from '@kubernetes/client-node';
import { describeStep, e2eScenario, expectExit, fixture, type Step } from '../support/e2e.ts';
import { appDeployment, applyObject, podsOf, rolloutRestart } from '../support/kube.ts';
import { secretValue, shortId } from '../support/ids.ts';
import { control } from '../support/sandbox.ts';
import { waitFor } from '../support/wait.ts';

jest.setTimeout(20 * 60_000);

const id = shortId();
const P = `b${id}`;
const IDENTITY = `id-fleet-${id}`;
const CLUSTER_RG = `rg-aks-${id}`;
const CLUSTERS = ['aks-a', 'aks-b', 'aks-c'] as const;
type Cluster = (typeof CLUSTERS)[number];
/** 25 namespaces: 9 on aks-a, 8 on aks-b, 8 on aks-c. */
const NAMESPACES: Record<Cluster, string[]> = {
  'aks-a': Array.from({ length: 9 }, (_, i) => `ib-${id}-a${i}`),
  'aks-b': Array.from({ length: 8 }, (_, i) => `ib-${id}-b${i}`),
  'aks-c': Array.from({ length: 8 }, (_, i) => `ib-${id}-c${i}`),
};
const ALL = Object.values(NAMESPACES).flat();
const CSI_DRIVER = 'secrets-store.csi.k8s.io';

const env = { DB_PASSWORD: secretValue('fleet') };

const sc = e2eScenario({ tag: 'ib', vaultPrefix: 'kv-ib-', namespaces: ALL, identities: [IDENTITY], env });
const { runner } = sc;

const file = (c: Cluster): string => `${c}.yaml`;
const run = (label: string, c: Cluster, mode: 'apply' | 'cleanup' | 'verify', timeout = '3m'): Promise<Step> =>
  mode === 'verify'
    ? runner.run({ label, entry: 'dist/verify/index.js', workspace: sc.workspace, env: {}, inputs: { manifest: file(c), timeout } })
    : runner.run({ label, mode: mode as 'apply', workspace: sc.workspace, env, inputs: { manifest: file(c), mode } });

interface WorldDump {
  identities: Array<{ name: string; clientId: string }>;
  federatedCredentials: Array<{ clientId: string; name: string; issuer: string; subject: string }>;
}
interface ArmBinding {
  name: string;
  properties: { managedIdentity: { resourceId: string; clientId: string }; provisioningState: string; oidcIssuer: { oidcIssuerUrl: string } };
}

async function armGet<T>(path: string): Promise<T> {
  const token = await sc.az.credential.getToken('https://management.azure.com/.default');
  const res = await fetch(`${sc.az.env.AKV_AKS_ARM_ENDPOINT}${path}${path.includes('?') ? '&' : '?'}api-version=2026-05-01`, { headers: { authorization: `Bearer ${token?.token ?? ''}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
const clusterPath = (c: Cluster): string => `/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/${CLUSTER_RG}/providers/Microsoft.ContainerService/managedClusters/${c}`;
const bindingsOf = async (c: Cluster): Promise<ArmBinding[]> => (await armGet<{ value: ArmBinding[] }>(`${clusterPath(c)}/identityBindings`)).value;

async function setTokenAudiences(audiences: string[]): Promise<void> {
  await sc.k.objects.patch(
    { apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: { name: CSI_DRIVER }, spec: { tokenRequests: audiences.map((audience) => ({ audience })) } } as KubernetesObject,
    undefined,
    undefined,
    'akv-aks-e2e',
    undefined,
    PatchStrategy.MergePatch,
  );
}

/** Every pod of the namespaces runs with its volume mounted (the kubelet stand-in's view). */
async function allMounted(namespaces: string[]): Promise<void> {
  await waitFor(
    `pods mounted in ${namespaces.length} namespaces`,
    async () => {
      for (const ns of namespaces) {
        const pods = await podsOf(sc.k, ns, 'app');
        if (pods.length !== 1 || pods[0]!.status?.phase !== 'Running') return undefined;
      }
      return true;
    },
    180_000,
  );
}

beforeAll(async () => {
  for (const c of CLUSTERS) {
    await control('POST', '/aks/clusters', { name: c, resourceGroup: CLUSTER_RG });
    const targets = NAMESPACES[c]
      .map((ns) => `  - { namespace: ${ns}, createNamespace: true, serviceAccount: app, identity: *fleet, secretProviderClass: kv, objects: [{ secret: ${P}-db, alias: DB_PASSWORD }] }`)
      .join('\n');
    writeFileSync(
      join(sc.workspace, file(c)),
      fixture('identity-bindings.yaml', { VAULT: sc.vault.name, CLUSTER: c, CLUSTER_RG, NAMESPACES: NAMESPACES[c].join(', '), IDENTITY, P, TARGETS: targets }),
    );
  }
});

afterAll(async () => {
  // The cluster is shared by every suite: its CSIDriver goes back to the sandbox's default audience.
  await setTokenAudiences(['api://AzureADTokenExchange']);
});

describe('identity bindings: three clusters, one identity, 25 namespaces', () => {
  it('refuses, before writing anything, a CSIDriver that does not request the api://AKSIdentityBinding token', async () => {
    await setTokenAudiences(['api://AzureADTokenExchange']);
    const s = await run('apply without the audience', 'aks-a', 'apply');
    expectExit(s, 1);
    expect(s.report.error).toContain(`CSIDriver ${CSI_DRIVER} does not request service-account tokens for audience api://AKSIdentityBinding`);
    expect(s.report.error).toContain('token for audience api://AKSIdentityBinding not found');
    expect(s.report.error).toContain('kubectl patch csidriver');
    expect((await sc.az.arm.msi.userAssignedIdentities.get('rg-ids', IDENTITY).catch(() => undefined))?.id).toBeUndefined();
    await setTokenAudiences(['api://AzureADTokenExchange', 'api://AKSIdentityBinding']);
  });

  it('apply on each cluster: one binding per cluster, one AKS-managed credential, RBAC for exactly its service accounts', async () => {
    for (const c of CLUSTERS) {
      const s = await run(`apply ${c}`, c, 'apply');
      expectExit(s, 0);
      const binding = s.report.plan.filter((i) => i.kind === 'identity-binding');
      expect(binding).toHaveLength(1);
      expect(binding[0]!.action).toBe('create');
      // The proof asked the cluster the token proxy's question for each service account, before any restart.
      for (const ns of NAMESPACES[c]) expect(s.log).toContain(`proof: ${ns}/app may use-managed-identity`);
    }
    const w = await control<WorldDump>('GET', '/world');
    const identity = w.identities.find((i) => i.name === IDENTITY)!;
    expect(identity).toBeDefined();
    // 25 service accounts, one credential: AKS's shared one, none per service account.
    expect(w.federatedCredentials.filter((f) => f.clientId === identity.clientId).map((f) => f.name)).toEqual(['aks-identity-binding']);
    for (const c of CLUSTERS) {
      const bindings = await bindingsOf(c);
      expect(bindings).toHaveLength(1);
      expect(bindings[0]!.properties.provisioningState).toBe('Succeeded');
      expect(bindings[0]!.properties.managedIdentity.clientId).toBe(identity.clientId);
      expect(bindings[0]!.properties.oidcIssuer.oidcIssuerUrl).toMatch(new RegExp(`/${identity.clientId}$`));
    }
    const roleBindings = (
      await sc.k.objects.list('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, undefined, undefined, undefined, undefined, 'app.kubernetes.io/managed-by=akv-aks-action')
    ).items as Array<KubernetesObject & { subjects?: Array<{ namespace: string; name: string }>; roleRef: { name: string } }>;
    for (const c of CLUSTERS) {
      const mine = roleBindings.filter((b) => b.subjects?.some((s) => NAMESPACES[c].includes(s.namespace)));
      expect(mine).toHaveLength(1);
      expect(mine[0]!.subjects!.map((s) => `${s.namespace}/${s.name}`).sort()).toEqual(NAMESPACES[c].map((ns) => `${ns}/app`).sort());
      const spc = (await sc.k.custom.getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: NAMESPACES[c][0]!, plural: 'secretproviderclasses', name: 'kv' })) as {
        spec: { parameters: Record<string, string> };
      };
      expect(spc.spec.parameters).toMatchObject({ useAzureTokenProxy: 'true', clientID: identity.clientId, tenantID: '72f988bf-86f1-41af-91ab-2d7cd011db47' });
    }
  });

  it('every pod of the 25 namespaces mounts, and each cluster gate passes', async () => {
    for (const ns of ALL) await applyObject(sc.k, appDeployment({ namespace: ns, name: 'app', serviceAccount: 'app', spc: 'kv', workloadIdentity: false }));
    await allMounted(ALL);
    for (const c of CLUSTERS) {
      const s = await run(`verify ${c}`, c, 'verify');
      if (s.exitCode !== 0) throw new Error(describeStep(s));
      expect(s.report.gate?.pods.length).toBe(NAMESPACES[c].length);
    }
  });

  it('a missing ClusterRoleBinding fails the gate with the proxy words and the fix; apply repairs it', async () => {
    const ns = NAMESPACES['aks-b'][0]!;
    const bindings = (
      await sc.k.objects.list('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, undefined, undefined, undefined, undefined, 'app.kubernetes.io/managed-by=akv-aks-action')
    ).items as Array<KubernetesObject & { subjects?: Array<{ namespace: string }> }>;
    const b = bindings.find((x) => x.subjects?.some((s) => s.namespace === ns))!;
    await sc.k.objects.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: b.metadata!.name } });
    await rolloutRestart(sc.k, ns, 'app');
    const s = await run('verify aks-b without RBAC', 'aks-b', 'verify', '30s');
    expectExit(s, 1);
    const diagnosis = s.report.gate?.diagnoses.find((d) => d.cause === 'binding-not-allowed');
    expect(diagnosis?.message).toMatch(new RegExp(`the AKS token proxy refused service account ${ns}/app: system:serviceaccount:${ns}:app is not allowed to use-managed-identity [0-9a-f-]{36}`));
    expect(diagnosis?.fix).toContain('use-managed-identity on resource');
    const repaired = await run('apply aks-b (repair)', 'aks-b', 'apply');
    expectExit(repaired, 0);
    expect(repaired.report.plan.find((i) => i.kind === 'cluster-role-binding')?.action).toBe('create');
    expect(repaired.log).toContain(`proof: ${ns}/app may use-managed-identity`);
    await allMounted(NAMESPACES['aks-b']);
  });

  it('clean-up of aks-a removes its binding, RBAC and SecretProviderClasses, and aks-b and aks-c keep working', async () => {
    const s = await run('cleanup aks-a', 'aks-a', 'cleanup');
    expectExit(s, 0);
    expect(s.report.plan.filter((i) => i.kind === 'identity-binding').map((i) => i.action)).toEqual(['delete']);
    expect(s.report.plan.filter((i) => i.kind === 'identity' && i.action === 'delete')).toEqual([]);
    expect(await bindingsOf('aks-a')).toEqual([]);
    expect(
      s.report.plan
        .filter((i) => i.kind === 'cluster-role' || i.kind === 'cluster-role-binding')
        .map((i) => `${i.kind} ${i.action}`)
        .sort(),
    ).toEqual(['cluster-role delete', 'cluster-role-binding delete']);
    // Its SecretProviderClasses go; its namespaces stay while the team's Deployments live in them.
    const spc = await sc.k.custom
      .getNamespacedCustomObject({ group: 'secrets-store.csi.x-k8s.io', version: 'v1', namespace: NAMESPACES['aks-a'][0]!, plural: 'secretproviderclasses', name: 'kv' })
      .then(
        () => 'present',
        (e: unknown) => String((e as { code?: number }).code),
      );
    expect(spc).toBe('404');
    expect(await bindingsOf('aks-b')).toHaveLength(1);
    const w = await control<WorldDump>('GET', '/world');
    const identity = w.identities.find((i) => i.name === IDENTITY)!;
    expect(w.federatedCredentials.filter((f) => f.clientId === identity.clientId).map((f) => f.name)).toEqual(['aks-identity-binding']);
    // A new pod on aks-c mounts through the remaining bindings.
    const ns = NAMESPACES['aks-c'][3]!;
    await rolloutRestart(sc.k, ns, 'app');
    await allMounted(NAMESPACES['aks-c']);
    for (const c of ['aks-b', 'aks-c'] as const) {
      const v = await run(`verify ${c} after aks-a clean-up`, c, 'verify');
      if (v.exitCode !== 0) throw new Error(describeStep(v));
    }
  });

  it('leaks no secret value', () => {
    expect(runner.leaks.scan()).toEqual([]);
  });
});
