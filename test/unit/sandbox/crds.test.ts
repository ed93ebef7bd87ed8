// The sandbox's Secrets Store CSI Driver CRDs (test/sandbox/kube/crds, written by the project) are
// valid for the kube-apiserver's structural-schema rules, and, when the driver's own generated CRDs
// are beside the repository (../shared/fixtures/crds), declare the same names, versions and fields.
import { describe, expect, it } from '@jest/globals';
import type { V1CustomResourceDefinition, V1JSONSchemaProps } from '@kubernetes/client-node';
import { CRD_DIR, readCrds } from '../../sandbox/kube/bootstrap.ts';
import { withReferenceData } from '../../support/guard.ts';

/** `<version> <path>: <type>` for every field of every version's schema (descriptions left out). */
function fieldSet(crd: V1CustomResourceDefinition): string[] {
  const out: string[] = [];
  const walk = (version: string, path: string, s: V1JSONSchemaProps): void => {
    out.push(`${version} ${path || '.'}: ${s.type ?? '(untyped)'}`);
    for (const [name, child] of Object.entries(s.properties ?? {})) walk(version, `${path}.${name}`, child);
    if (s.items) walk(version, `${path}[]`, s.items as V1JSONSchemaProps);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(version, `${path}{}`, s.additionalProperties as V1JSONSchemaProps);
  };
  for (const v of crd.spec.versions) walk(v.name, '', v.schema!.openAPIV3Schema!);
  return out.sort();
}

/** Group, names, scope and the versions' flags. */
function shape(crd: V1CustomResourceDefinition): unknown {
  const { group, names, scope, versions } = crd.spec;
  return { name: crd.metadata!.name, group, names, scope, versions: versions.map((v) => ({ name: v.name, served: v.served, storage: v.storage, deprecated: v.deprecated ?? false })) };
}

const own = readCrds(CRD_DIR);
const byName = (crds: V1CustomResourceDefinition[]) => new Map(crds.map((c) => [c.metadata!.name!, c]));

describe('the sandbox CRDs of the Secrets Store CSI Driver', () => {
  it('define SecretProviderClass and SecretProviderClassPodStatus, v1 stored, v1alpha1 served and deprecated', () => {
    expect(own.map(shape)).toEqual([
      expect.objectContaining({ name: 'secretproviderclasses.secrets-store.csi.x-k8s.io', scope: 'Namespaced', names: expect.objectContaining({ kind: 'SecretProviderClass' }) }),
      expect.objectContaining({ name: 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io', scope: 'Namespaced', names: expect.objectContaining({ kind: 'SecretProviderClassPodStatus' }) }),
    ]);
    for (const crd of own) {
      expect(crd.spec.versions.map((v) => [v.name, v.storage, v.deprecated ?? false])).toEqual([
        ['v1', true, false],
        ['v1alpha1', false, true],
      ]);
    }
  });

  it('give every object and field a type (a structural schema, as apiextensions.k8s.io/v1 requires)', () => {
    for (const crd of own) expect(fieldSet(crd).filter((f) => f.endsWith('(untyped)'))).toEqual([]);
  });

  it('declare the fields the action writes and the gate reads', () => {
    const [spc, status] = own.map(fieldSet);
    for (const f of ['v1 .spec.provider: string', 'v1 .spec.parameters{}: string', 'v1 .spec.secretObjects[].data[].objectName: string', 'v1 .spec.secretObjects[].type: string'])
      expect(spc).toContain(f);
    for (const f of [
      'v1 .status.mounted: boolean',
      'v1 .status.objects[].id: string',
      'v1 .status.objects[].version: string',
      'v1 .status.podName: string',
      'v1 .status.secretProviderClassName: string',
    ])
      expect(status).toContain(f);
  });
});

const upstream = withReferenceData('fixtures', 'crds');
upstream.describe("the sandbox CRDs against the driver's generated CRDs (../shared/fixtures/crds)", () => {
  it('same CRDs, names, versions and field sets with the same types', () => {
    const theirs = byName(readCrds(upstream.dir));
    const ours = byName(own);
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [name, crd] of ours) {
      expect(shape(crd)).toEqual(shape(theirs.get(name)!));
      expect(fieldSet(crd)).toEqual(fieldSet(theirs.get(name)!));
    }
  });
});
