import { describe, expect, it } from '@jest/globals';
import type { V1DaemonSet, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { currentPods, podOwner, podsOf, rolloutStatus } from '../../../src/kube/workloads.ts';
import { deployment, pod, podSpec, replicaSet } from '../rotate/helpers.ts';

describe('ownership and current pods', () => {
  const d = deployment('ns', 'api', podSpec(), { annotations: { 'deployment.kubernetes.io/revision': '2' } });
  const oldRs = replicaSet(d, 'api-old', '1');
  const newRs = replicaSet(d, 'api-new', '2');
  const oldPod = pod(oldRs, 'api-old-1');
  const newPod = pod(newRs, 'api-new-1');
  const gone = pod(newRs, 'api-new-2');
  gone.metadata!.deletionTimestamp = new Date();

  it('maps pods to their Deployment through the ReplicaSet', () => {
    expect(podOwner(newPod, [oldRs, newRs])).toEqual({ kind: 'Deployment', namespace: 'ns', name: 'api' });
    expect(podOwner(newPod, [])).toBeUndefined();
  });

  it("live pods exclude terminating ones; current pods are the newest ReplicaSet's", () => {
    const ref = { kind: 'Deployment' as const, namespace: 'ns', name: 'api' };
    expect(podsOf(ref, [oldPod, newPod, gone], [oldRs, newRs]).map((p) => p.metadata!.name)).toEqual(['api-old-1', 'api-new-1']);
    expect(currentPods({ kind: 'Deployment', obj: d }, [oldPod, newPod, gone], [oldRs, newRs]).map((p) => p.metadata!.name)).toEqual(['api-new-1']);
  });

  it('StatefulSet current pods follow updateRevision', () => {
    const s: V1StatefulSet = {
      metadata: { name: 'db', namespace: 'ns', generation: 1 },
      spec: { replicas: 2, selector: {}, serviceName: 'db', template: {} },
      status: { replicas: 2, updateRevision: 'db-2', currentRevision: 'db-1', observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1 },
    };
    const mk = (name: string, rev: string): V1Pod => ({
      metadata: {
        name,
        namespace: 'ns',
        uid: name,
        labels: { 'controller-revision-hash': rev },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'x', controller: true }],
      },
    });
    expect(currentPods({ kind: 'StatefulSet', obj: s }, [mk('db-0', 'db-1'), mk('db-1', 'db-2')], []).map((p) => p.metadata!.name)).toEqual(['db-1']);
    expect(rolloutStatus({ kind: 'StatefulSet', obj: s }).done).toBe(false);
    s.status!.currentRevision = 'db-2';
    expect(rolloutStatus({ kind: 'StatefulSet', obj: s }).done).toBe(true);
  });
});

describe('rolloutStatus', () => {
  it('Deployment: like kubectl rollout status', () => {
    const d = deployment('ns', 'api', podSpec());
    expect(rolloutStatus({ kind: 'Deployment', obj: d })).toEqual({ done: true, message: 'rolled out' });
    d.status!.replicas = 2;
    expect(rolloutStatus({ kind: 'Deployment', obj: d }).message).toBe('1 old replicas pending termination');
    d.status!.replicas = 1;
    d.status!.availableReplicas = 0;
    expect(rolloutStatus({ kind: 'Deployment', obj: d }).done).toBe(false);
    d.status!.conditions = [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'timed out' }];
    expect(rolloutStatus({ kind: 'Deployment', obj: d }).stuck).toBe('timed out');
  });

  it("Deployment: complete from its pods when the controller's counters trail them", () => {
    const d = deployment('ns', 'api', podSpec(), { annotations: { 'deployment.kubernetes.io/revision': '2' } });
    d.spec!.replicas = 2;
    d.status = { observedGeneration: 1, replicas: 3, updatedReplicas: 1, availableReplicas: 0 };
    const oldRs = replicaSet(d, 'api-old', '1');
    const newRs = replicaSet(d, 'api-new', '2');
    const fresh = [pod(newRs, 'api-new-1'), pod(newRs, 'api-new-2')];
    const leaving = pod(oldRs, 'api-old-1');
    const rollout = (pods: V1Pod[]) => rolloutStatus({ kind: 'Deployment', obj: d }, pods, [oldRs, newRs]);
    expect(rollout(fresh).done).toBe(true);
    expect(rollout([...fresh, leaving])).toEqual({ done: false, message: '1 of 2 new replicas updated' });
    leaving.metadata!.deletionTimestamp = new Date();
    expect(rollout([...fresh, leaving]).done).toBe(true);
    expect(rollout(fresh.slice(0, 1)).done).toBe(false);
    expect(rollout([fresh[0]!, pod(newRs, 'api-new-3', { ready: false })]).done).toBe(false);
    d.spec!.minReadySeconds = 10;
    expect(rollout(fresh).done).toBe(false);
    d.spec!.minReadySeconds = 0;
    d.metadata!.generation = 2;
    expect(rollout(fresh).message).toBe('waiting for the controller to observe the new generation');
  });

  it('StatefulSet and DaemonSet: complete from their pods when the counters trail them, not when partitioned', () => {
    const owned = (kind: 'StatefulSet' | 'DaemonSet', name: string, labels: Record<string, string>, ready = true): V1Pod => ({
      metadata: { name, namespace: 'ns', uid: name, labels, ownerReferences: [{ apiVersion: 'apps/v1', kind, name: kind === 'StatefulSet' ? 'db' : 'agent', uid: 'x', controller: true }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const s: V1StatefulSet = {
      metadata: { name: 'db', namespace: 'ns', generation: 2 },
      spec: { replicas: 2, selector: {}, serviceName: 'db', template: {} },
      status: { replicas: 2, updateRevision: 'db-2', currentRevision: 'db-1', observedGeneration: 2, readyReplicas: 1, updatedReplicas: 1 },
    };
    const sts = (pods: V1Pod[]) => rolloutStatus({ kind: 'StatefulSet', obj: s }, pods, []);
    const fresh = [owned('StatefulSet', 'db-0', { 'controller-revision-hash': 'db-2' }), owned('StatefulSet', 'db-1', { 'controller-revision-hash': 'db-2' })];
    expect(sts(fresh).done).toBe(true);
    expect(sts([fresh[0]!, owned('StatefulSet', 'db-1', { 'controller-revision-hash': 'db-1' })])).toEqual({ done: false, message: '1 of 2 pods ready' });
    expect(sts([fresh[0]!, owned('StatefulSet', 'db-1', { 'controller-revision-hash': 'db-2' }, false)]).done).toBe(false);
    s.spec!.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
    expect(sts(fresh).done).toBe(false);

    const ds: V1DaemonSet = {
      metadata: { name: 'agent', namespace: 'ns', generation: 3 },
      status: { observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 1, currentNumberScheduled: 2, numberMisscheduled: 0, numberReady: 1 },
    };
    const dsp = (pods: V1Pod[]) => rolloutStatus({ kind: 'DaemonSet', obj: ds }, pods, []);
    const agents = [owned('DaemonSet', 'agent-a', { 'pod-template-generation': '3' }), owned('DaemonSet', 'agent-b', { 'pod-template-generation': '3' })];
    expect(dsp(agents).done).toBe(true);
    expect(dsp([agents[0]!, owned('DaemonSet', 'agent-b', { 'pod-template-generation': '2' })]).done).toBe(false);
    expect(dsp(agents.slice(0, 1)).done).toBe(false);
  });

  it('DaemonSet: every scheduled pod updated and available', () => {
    const ds: V1DaemonSet = {
      metadata: { name: 'agent', generation: 3 },
      status: { observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 2, currentNumberScheduled: 2, numberMisscheduled: 0, numberReady: 2 },
    };
    expect(rolloutStatus({ kind: 'DaemonSet', obj: ds }).done).toBe(false);
    ds.status!.updatedNumberScheduled = 2;
    expect(rolloutStatus({ kind: 'DaemonSet', obj: ds }).done).toBe(true);
  });
});
