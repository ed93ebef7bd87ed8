import { describe, expect, it } from '@jest/globals';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { evaluateGate } from '../../../src/gate/evaluate.ts';
import type { GateSnapshot, SyncedSecretState } from '../../../src/gate/evaluate.ts';
import type { NamespaceSnapshot } from '../../../src/rotate/index.ts';
import type { SpcPodStatus } from '../../../src/kube/spcps.ts';
import { discoverConsumption } from '../../../src/rotate/discovery.ts';
import { indexVersions, mountedVersionsDigest } from '../../../src/rotate/decide.ts';
import type { SecretVersion } from '../../../src/plan/types.ts';
import { csiVolume, deployment, manifest, obj, pod, podSpec, replicaSet, spcps, target } from '../rotate/helpers.ts';
import { DIGEST_ANNOTATION } from '../../../src/names.ts';

const t = target({
  namespace: 'payments',
  secretProviderClass: 'payments-secrets',
  serviceAccount: 'api',
  objects: [obj('db-password'), obj('api-key')],
  syncTo: { secretName: 'payments-env', type: 'Opaque', labels: {}, annotations: {}, keys: [{ key: 'DB', object: 'db-password' }] },
});
const m = manifest([t]);
const expected: SecretVersion[] = [
  { name: 'db-password', version: 'v2', changed: true },
  { name: 'api-key', version: 'k1', changed: false },
];
const csiSpec = podSpec({ volumes: [csiVolume('secrets', 'payments-secrets')] });
const envSpec = podSpec({ containers: [{ name: 'app', envFrom: [{ secretRef: { name: 'payments-env' } }] }] });

function world(
  opts: {
    spec?: typeof csiSpec;
    versions?: Record<string, string> | null;
    podOver?: Parameters<typeof pod>[2];
    mutatePod?: (p: V1Pod) => void;
    events?: CoreV1Event[];
    secrets?: SyncedSecretState[];
    spcpsServed?: boolean;
    depOver?: Parameters<typeof deployment>[3];
    mutateDep?: (d: ReturnType<typeof deployment>) => void;
    extraSpcps?: SpcPodStatus[];
  } = {},
): GateSnapshot {
  const d = deployment('payments', 'api', opts.spec ?? csiSpec, opts.depOver);
  opts.mutateDep?.(d);
  const rs = replicaSet(d, 'api-abc');
  const p = pod(rs, 'api-abc-1', { spec: opts.spec ?? csiSpec, ...opts.podOver });
  opts.mutatePod?.(p);
  const statuses: SpcPodStatus[] = [...(opts.extraSpcps ?? [])];
  if (opts.versions !== null) statuses.push(spcps(p, 'payments-secrets', opts.versions ?? { 'secret/db-password': 'v2', 'secret/api-key': 'k1' }));
  const ns: NamespaceSnapshot = {
    namespace: 'payments',
    workloads: [{ kind: 'Deployment', obj: d }],
    replicaSets: [rs],
    pods: [p],
    spcps: statuses,
    spcpsServed: opts.spcpsServed ?? true,
  };
  return { namespaces: [ns], events: opts.events ?? [], secrets: opts.secrets ?? [] };
}

function failedMount(message: string, podName = 'api-abc-1'): CoreV1Event {
  return {
    metadata: { name: `${podName}.1`, namespace: 'payments' },
    involvedObject: { kind: 'Pod', name: podName, namespace: 'payments', uid: `uid-${podName}` },
    reason: 'FailedMount',
    type: 'Warning',
    message,
    lastTimestamp: new Date('2026-01-01T00:01:00Z'),
  };
}

describe('evaluateGate', () => {
  it('passes when every current pod mounted exactly the expected versions', () => {
    const e = evaluateGate(m, expected, world(), { final: false });
    expect(e.passed).toBe(true);
    expect(e.pods).toHaveLength(1);
    expect(e.pods[0]!.objects).toEqual([
      { object: 'db-password', expected: 'v2', mounted: 'v2', ok: true },
      { object: 'api-key', expected: 'k1', mounted: 'k1', ok: true },
    ]);
    expect(e.pods[0]!.node).toBe('node-1');
    expect(e.pods[0]!.workload).toBe('Deployment/api');
  });

  it('an older mounted version keeps it waiting, then diagnoses a stale version', () => {
    const snap = world({ versions: { 'secret/db-password': 'v1', 'secret/api-key': 'k1' } });
    expect(evaluateGate(m, expected, snap, { final: false }).passed).toBe(false);
    const e = evaluateGate(m, expected, snap, { final: true });
    expect(e.pods[0]!.objects[0]).toEqual({ object: 'db-password', expected: 'v2', mounted: 'v1', ok: false });
    expect(e.diagnoses.map((d) => d.cause)).toEqual(['stale-version']);
    expect(e.diagnoses[0]!.message).toContain('db-password');
  });

  it('a stale but rolled-out pod under rotation: restart is settled (waiting cannot help); under csi it is not', () => {
    const snap = world({ versions: { 'secret/db-password': 'v1', 'secret/api-key': 'k1' } });
    expect(evaluateGate(m, expected, snap, { final: false }).settled).toBe(true);
    const csi = manifest([{ ...t, rotation: 'csi' }]);
    expect(evaluateGate(csi, expected, snap, { final: false }).settled).toBe(false);
    const rolling = world({
      versions: { 'secret/db-password': 'v1', 'secret/api-key': 'k1' },
      depOver: { generation: 2 },
      mutateDep: (d) => {
        d.status!.observedGeneration = 1;
      },
    });
    expect(evaluateGate(m, expected, rolling, { final: false }).settled).toBe(false);
    expect(evaluateGate(m, expected, world(), { final: false }).settled).toBe(false);
  });

  it('an SPCPS of another pod with the same name (other UID) does not count', () => {
    const snap = world({ versions: null });
    const other = spcps({ metadata: { name: 'api-abc-1', namespace: 'payments', uid: 'uid-old' } }, 'payments-secrets', { 'secret/db-password': 'v2', 'secret/api-key': 'k1' });
    snap.namespaces[0]!.spcps.push(other);
    const e = evaluateGate(m, expected, snap, { final: true });
    expect(e.passed).toBe(false);
    expect(e.diagnoses[0]!.cause).toBe('not-mounted');
  });

  it('a FailedMount AADSTS70021 event becomes the federation diagnosis with the pod table data', () => {
    const msg =
      "MountVolume.SetUp failed for volume \"secrets\" : AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://127.0.0.1:27643'. Assertion Subject: 'system:serviceaccount:payments:api'.";
    const snap = world({
      versions: null,
      podOver: { ready: false, phase: 'Pending' },
      mutatePod: (p) => {
        p.status!.containerStatuses = [{ name: 'app', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }];
      },
      events: [failedMount(msg)],
      mutateDep: (d) => {
        d.status!.availableReplicas = 0;
      },
    });
    const e = evaluateGate(m, expected, snap, { final: true, issuer: 'https://127.0.0.1:27643' });
    expect(e.passed).toBe(false);
    expect(e.pods[0]!.phase).toBe('ContainerCreating');
    expect(e.pods[0]!.lastEvent).toMatch(/^FailedMount: .*AADSTS70021/);
    expect(e.pods[0]!.objects[0]!.mounted).toBeUndefined();
    const fed = e.diagnoses.find((d) => d.cause === 'federation-mismatch');
    expect(fed?.message).toContain("presented subject 'system:serviceaccount:payments:api'");
    expect(fed?.pod).toBe('api-abc-1');
    expect(e.pending.some((p) => p.includes('Deployment payments/api'))).toBe(true);
  });

  it('a rollout past its progress deadline is diagnosed as stuck', () => {
    const snap = world({
      mutateDep: (d) => {
        d.status!.updatedReplicas = 0;
        d.status!.conditions = [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "api-abc" has timed out progressing.' }];
      },
    });
    const e = evaluateGate(m, expected, snap, { final: true });
    expect(e.diagnoses.map((d) => d.cause)).toContain('rollout-stuck');
  });

  it('waits for the controller to observe a new generation', () => {
    const e = evaluateGate(
      m,
      expected,
      world({
        depOver: { generation: 2 },
        mutateDep: (d) => {
          d.status!.observedGeneration = 1;
        },
      }),
      { final: false },
    );
    expect(e.passed).toBe(false);
    expect(e.pending[0]).toContain('observe the new generation');
  });

  it('the SPCPS CRD not served is fatal: driver missing', () => {
    const e = evaluateGate(m, expected, world({ spcpsServed: false, versions: null }), { final: false });
    expect(e.fatal).toBe(true);
    expect(e.diagnoses[0]!.cause).toBe('driver-missing');
  });

  it('CrashLoopBackOff is reported as a crash loop', () => {
    const snap = world({
      podOver: { ready: false },
      mutatePod: (p) => {
        p.status!.containerStatuses = [{ name: 'app', image: 'x', imageID: '', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } } }];
      },
    });
    const e = evaluateGate(m, expected, snap, { final: true });
    expect(e.diagnoses[0]!.cause).toBe('crash-loop');
    expect(e.diagnoses[0]!.message).toContain('container app');
  });

  it('env consumers: synced keys must exist', () => {
    const missing = evaluateGate(m, expected, world({ spec: envSpec }), { final: true });
    expect(missing.passed).toBe(false);
    expect(missing.pods[0]!.objects.find((o) => o.object === 'payments-env[DB]')?.mounted).toBe('missing');
    const synced = [{ namespace: 'payments', name: 'payments-env', keys: { DB: 'aaa' } }];
    expect(evaluateGate(m, expected, world({ spec: envSpec, secrets: synced }), { final: false }).passed).toBe(true);
    expect(evaluateGate(m, expected, world({ spec: envSpec, secrets: synced }), { final: false }).pods[0]!.objects.find((o) => o.object === 'payments-env[DB]')?.mounted).toBe('synced');
  });

  it('env consumers must run pods started for the current versions', () => {
    const synced = [{ namespace: 'payments', name: 'payments-env', keys: { DB: 'aaa' } }];
    const consumed = discoverConsumption('payments', envSpec, [t]);
    const current = mountedVersionsDigest(consumed, indexVersions(expected))!;
    const fresh = world({
      spec: envSpec,
      secrets: synced,
      mutatePod: (p) => {
        p.metadata!.annotations = { [DIGEST_ANNOTATION]: current };
      },
    });
    expect(evaluateGate(m, expected, fresh, { final: false }).passed).toBe(true);
    const stale = world({
      spec: envSpec,
      secrets: synced,
      mutatePod: (p) => {
        p.metadata!.annotations = { [DIGEST_ANNOTATION]: 'old' };
      },
    });
    const e = evaluateGate(m, expected, stale, { final: true });
    expect(e.passed).toBe(false);
    expect(e.diagnoses[0]!.cause).toBe('stale-version');
    const changedAt = new Date('2026-02-01T00:00:00Z');
    const before = evaluateGate(m, expected, world({ spec: envSpec, secrets: synced }), { final: true, changedAt });
    expect(before.passed).toBe(false);
    const after = evaluateGate(m, expected, world({ spec: envSpec, secrets: synced, podOver: { created: '2026-03-01T00:00:00Z' } }), { final: true, changedAt });
    expect(after.passed).toBe(true);
    // An older pod whose env objects did not change is fine.
    const unchanged = expected.map((x) => ({ ...x, changed: false }));
    expect(evaluateGate(m, unchanged, world({ spec: envSpec, secrets: synced }), { final: true, changedAt }).passed).toBe(true);
  });

  it('rotation none does not require the new version', () => {
    const none = manifest([{ ...t, rotation: 'none' }]);
    const e = evaluateGate(none, expected, world({ versions: { 'secret/db-password': 'v1', 'secret/api-key': 'k1' } }), { final: false });
    expect(e.passed).toBe(true);
  });

  it('a target nothing consumes passes with a warning; missing pods time out', () => {
    const snap = world();
    snap.namespaces[0]!.workloads = [];
    const e = evaluateGate(m, expected, snap, { final: true });
    expect(e.passed).toBe(true);
    expect(e.warnings[0]).toContain('payments-secrets');
    const noPods = world();
    noPods.namespaces[0]!.pods = [];
    const t2 = evaluateGate(m, expected, noPods, { final: true });
    expect(t2.passed).toBe(false);
    expect(t2.diagnoses[0]!.cause).toBe('timeout');
  });
});
