// A target's surroundings on the sandbox as the action's earlier steps leave them, for suites that
// drive a later step (apply, rotate, gate) directly: the cluster session, the Azure side on the
// shared vault, and per namespace an identity federated with its service account and granted.
import { afterAll, beforeAll } from '@jest/globals';
import { readServiceAccountIssuer, type KubeSession } from '../../src/kube/client.ts';
import { createIdentity, federate, grantSecretsUser, sharedVaultSide, type SharedVaultSide, type TestIdentity } from './azure.ts';
import { deleteNamespace, sandboxKube } from './kube.ts';

export interface TargetSuite {
  readonly kube: KubeSession;
  readonly az: SharedVaultSide;
  /** The cluster's service-account issuer. */
  readonly issuer: string;
}

/**
 * Registers the suite's beforeAll (session, Azure side, issuer) and afterAll (every namespace in
 * `namespaces` deleted, including those a test pushed meanwhile); the fields are readable from then on.
 */
export function targetSuite(namespaces: string[]): TargetSuite {
  let ready: TargetSuite | undefined;
  let kube: KubeSession | undefined;
  const get = <K extends keyof TargetSuite>(key: K): TargetSuite[K] => {
    if (!ready) throw new Error('target suite: read before its set-up ran (or the set-up failed)');
    return ready[key];
  };
  beforeAll(async () => {
    kube = sandboxKube();
    ready = { kube, az: await sharedVaultSide(), issuer: await readServiceAccountIssuer(kube) };
  });
  afterAll(async () => {
    if (kube) for (const ns of namespaces) await deleteNamespace(kube, ns);
  });
  return {
    get kube() {
      return get('kube');
    },
    get az() {
      return get('az');
    },
    get issuer() {
      return get('issuer');
    },
  };
}

/**
 * The identity `id-sandbox-<ns>` federated with `<ns>/api` on `issuer` (default: the cluster's) and,
 * unless `grant` is false, Key Vault Secrets User on the shared vault.
 */
export async function targetIdentity(s: TargetSuite, ns: string, o: { issuer?: string; grant?: boolean } = {}): Promise<TestIdentity> {
  const identity = await createIdentity(s.az, `id-sandbox-${ns}`);
  await federate(s.az, identity, o.issuer ?? s.issuer, ns, 'api');
  if (o.grant !== false) await grantSecretsUser(s.az, identity);
  return identity;
}

/** What the apply step hands the cluster step: the tenant and each namespace's identity client id. */
export function identityFacts(s: TargetSuite, identities: Record<string, TestIdentity>): { tenantId: string; clientIds: Record<string, string> } {
  return { tenantId: s.az.env.AKV_AKS_SANDBOX_TENANT_ID!, clientIds: Object.fromEntries(Object.entries(identities).map(([ns, i]) => [ns, i.clientId])) };
}
