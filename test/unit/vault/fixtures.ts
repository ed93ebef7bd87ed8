// Manifest builders for the Azure-side unit tests (validated shapes, written by hand).
import type { Manifest, SecretSpec, TargetSpec } from '../../../src/manifest/types.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';

export function secret(name: string, over: Partial<SecretSpec> = {}): SecretSpec {
  return { name, source: { kind: 'env', env: name.toUpperCase().replace(/-/g, '_') }, tags: {}, adopt: false, ...over };
}

export function target(namespace: string, over: Partial<TargetSpec> = {}): TargetSpec {
  return {
    namespace,
    createNamespace: true,
    serviceAccount: `${namespace}-sa`,
    identity: { mode: 'managed', name: `id-sandbox-${namespace}`, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: `${namespace}-secrets`,
    objects: [],
    rotation: 'restart',
    ...over,
  };
}

export function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: 'sandbox' }),
    vault: { name: 'kv-sandbox', resourceGroup: 'rg-sandbox' },
    cluster: { name: 'sandbox' },
    identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope', tags: {} },
    secrets: [],
    targets: [],
    prune: false,
    purge: false,
    ...over,
  };
}
