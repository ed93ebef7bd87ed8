// Pure parts of the kube sandbox: the Go wrapper module, the kubeconfig, the CRD loader, the
// kubelet's env/subPath rules, the control-route config parser, the sample workloads.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { CRD_DIR, readCrds } from '../../sandbox/kube/bootstrap.ts';
import { etcdWrapperGoMod, kubernetesWrapperGoMod, stagingModules, stagingVersion } from '../../sandbox/kube/build.ts';
import { parseConfigPatch } from '../../sandbox/kube/control.ts';
import { requiredEnvSources, subPathOnlyVolumes } from '../../sandbox/kube/kubelet.ts';
import { loadWorkload, WORKLOAD_FILES } from '../../fixtures/workloads/index.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');

describe('control-plane build recipe', () => {
  const upstream = [
    'module k8s.io/kubernetes',
    'go 1.26.0',
    'require (',
    '\tk8s.io/api v0.0.0',
    ')',
    'replace (',
    '\tk8s.io/api => ./staging/src/k8s.io/api',
    '\tk8s.io/client-go => ./staging/src/k8s.io/client-go',
    '\tgithub.com/x/y => github.com/x/z v1.0.0',
    ')',
  ].join('\n');

  it('finds the staging modules and maps v1.N.P to v0.N.P', () => {
    expect(stagingModules(upstream)).toEqual(['k8s.io/api', 'k8s.io/client-go']);
    expect(stagingVersion('v1.37.2')).toBe('v0.37.2');
    expect(() => stagingVersion('v2.0.0-rc.1')).toThrow('unexpected Kubernetes version');
  });

  it('writes a wrapper go.mod with tool directives and one replace per staging module', () => {
    const mod = kubernetesWrapperGoMod('v1.37.2', '1.26.0', ['k8s.io/api', 'k8s.io/client-go']);
    expect(mod).toContain('require k8s.io/kubernetes v1.37.2');
    expect(mod).toContain('\tk8s.io/api => k8s.io/api v0.37.2');
    expect(mod).toContain('\tk8s.io/client-go => k8s.io/client-go v0.37.2');
    expect(mod).toContain('\tk8s.io/kubernetes/cmd/kube-apiserver');
    expect(mod).not.toContain('kube-scheduler');
    expect(etcdWrapperGoMod('v3.7.3', '1.26.0')).toContain('require go.etcd.io/etcd/server/v3 v3.7.3');
  });
});

describe('cluster bootstrap inputs', () => {
  it("reads both CRDs of the Secrets Store CSI Driver from the project's crds/", () => {
    const crds = readCrds(CRD_DIR);
    expect(crds.map((c) => c.metadata?.name).sort()).toEqual(['secretproviderclasses.secrets-store.csi.x-k8s.io', 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io']);
  });
});

describe('kubelet rules', () => {
  it('lists the non-optional Secrets and ConfigMaps containers read env from', () => {
    const sources = requiredEnvSources([
      {
        name: 'a',
        env: [
          { name: 'X', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } },
          { name: 'Y', valueFrom: { secretKeyRef: { name: 'opt', key: 'k', optional: true } } },
          { name: 'Z', valueFrom: { configMapKeyRef: { name: 'c1', key: 'k' } } },
        ],
        envFrom: [{ secretRef: { name: 's2' } }, { configMapRef: { name: 'c2', optional: true } }],
      },
    ]);
    expect(sources).toEqual([
      { kind: 'secret', name: 's1', key: 'k' },
      { kind: 'configmap', name: 'c1', key: 'k' },
      { kind: 'secret', name: 's2' },
    ]);
  });

  it('treats a volume as subPath-only when no container mounts it whole', () => {
    const pod = {
      spec: {
        containers: [
          {
            name: 'a',
            volumeMounts: [
              { name: 'v1', mountPath: '/x', subPath: 'f' },
              { name: 'v2', mountPath: '/y', subPath: 'g' },
            ],
          },
          { name: 'b', volumeMounts: [{ name: 'v2', mountPath: '/z' }] },
        ],
      },
    };
    expect([...subPathOnlyVolumes(pod)]).toEqual(['v1']);
  });
});

describe('PATCH /config parsing', () => {
  it('accepts known settings and rejects the rest', () => {
    expect(parseConfigPatch({ rotationIntervalSeconds: 5, crashLoop: [{ pod: 'web-' }] })).toEqual({ rotationIntervalSeconds: 5, crashLoop: [{ pod: 'web-' }] });
    expect(parseConfigPatch({ rotationIntervalSeconds: -1 })).toBe('rotationIntervalSeconds must be a non-negative number');
    expect(parseConfigPatch({ nope: 1 })).toMatch(/^unknown setting nope/);
    expect(parseConfigPatch({ failMounts: [{ pod: 'x' }] })).toBe('failMounts entries need a message');
    expect(parseConfigPatch([])).toBe('body must be a JSON object');
  });
});

describe('sample workloads', () => {
  const values = { CLIENT_ID: 'cid', TENANT_ID: 'tid', VAULT: 'kv-sandbox', SECRET: 'db-password' };

  it('every file parses and mounts the SPC through the secrets-store driver read-only', () => {
    for (const file of WORKLOAD_FILES) {
      const objs = loadWorkload(file, values, 'ns1');
      expect(objs.length).toBeGreaterThan(0);
      for (const o of objs) {
        expect(o.metadata.namespace).toBe('ns1');
        const spec = (o.kind === 'Pod' ? o.spec : (o.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec) as
          { volumes?: Array<{ csi?: { driver?: string; readOnly?: boolean } }> } | undefined;
        for (const v of spec?.volumes ?? []) {
          expect(v.csi?.driver).toBe('secrets-store.csi.k8s.io');
          expect(v.csi?.readOnly).toBe(true);
        }
      }
    }
    const kinds = WORKLOAD_FILES.flatMap((f) => loadWorkload(f, values).map((o) => o.kind));
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'StatefulSet', 'Pod', 'SecretProviderClass', 'ServiceAccount']));
  });

  it('fills placeholders and refuses a missing value', () => {
    const [spc] = loadWorkload('secretproviderclass.yaml', values);
    const params = (spc!.spec as { parameters: Record<string, string> }).parameters;
    expect(params.clientID).toBe('cid');
    expect(parse(params.objects!)).toEqual({ array: [expect.stringContaining('objectName: db-password')] });
    expect(() => loadWorkload('secretproviderclass.yaml', { CLIENT_ID: 'x' })).toThrow('no value for placeholder');
    expect(readFileSync(join(root, 'test', 'fixtures', 'workloads', 'pod-subpath.yaml'), 'utf8')).toContain('subPath:');
  });
});
