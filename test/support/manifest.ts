// Typed manifests for suites that call a step directly (no YAML): targets on the shared vault
// kv-sandbox under a cluster name of the test file's own, or on a vault of the suite's own.
import { randomBytes } from 'node:crypto';
import { manifestInstance } from '../../src/manifest/instance.ts';
import type { Manifest, MountedObject, SecretSpec, TargetSpec } from '../../src/manifest/types.ts';
import { IDS_RG, SHARED_VAULT, SHARED_VAULT_RG } from './azure.ts';

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
const TEST_CLUSTER = `it-${randomBytes(3).toString('hex')}`;

/** A manifest of `targets`, every mounted object declared as an existing secret. */
export function testManifest(targets: TargetSpec[], over: Partial<Manifest> = {}): Manifest {
  const names = [...new Set(targets.flatMap((t) => t.objects.map((o) => o.secret)))];
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: TEST_CLUSTER }),
    vault: { name: SHARED_VAULT, resourceGroup: SHARED_VAULT_RG },
    cluster: { name: TEST_CLUSTER },
    identityDefaults: { tags: {} },
    secrets: names.map((name) => ({ name, source: { kind: 'existing', objectType: 'secret' }, tags: {}, adopt: false })),
    targets,
    prune: false,
    purge: false,
    ...over,
  };
}

/** A manifest of `secrets` mounted by `targets` on the suite's own vault `vault`, for the cluster `cluster` (default `sandbox`). */
export function vaultManifest(vault: string, secrets: SecretSpec[], targets: TargetSpec[], over: Partial<Manifest> = {}, cluster = 'sandbox'): Manifest {
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster }),
    vault: { name: vault, resourceGroup: SHARED_VAULT_RG },
    cluster: { name: cluster },
    identityDefaults: { resourceGroup: IDS_RG, location: 'westeurope', tags: {} },
    secrets,
    targets,
    prune: false,
    purge: false,
    ...over,
  };
}
