// Pure: evaluate the gate on one snapshot of the cluster. The watcher (index.ts) calls this after
// every change it sees and stops when it passes, or at the deadline with `final: true`.
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { Manifest, MountedObject, TargetSpec } from '../manifest/types.ts';
import type { SecretVersion } from '../plan/types.ts';
import { mountedVersions, spcpsFor } from '../kube/spcps.ts';
import type { Workload } from '../kube/workloads.ts';
import { currentPods, isPodReady, refOf, rolloutStatus, templateOf } from '../kube/workloads.ts';
import { needsNewPod, objectFileName } from '../rotate/discovery.ts';
import type { ConsumedTarget } from '../rotate/discovery.ts';
import { expectedVersion, indexVersions, mountedVersionsDigest, objectId } from '../rotate/decide.ts';
import type { VersionsByName } from '../rotate/decide.ts';
import { consumersIn } from '../rotate/index.ts';
import type { NamespaceSnapshot } from '../rotate/index.ts';
import { classifyMountFailure, crashLoop, dedupe, oneLine, summarizeMountMessage } from './diagnose.ts';
import type { Diagnosis, DiagnosisCause } from './diagnose.ts';
import { DIGEST_ANNOTATION } from '../names.ts';

export interface PodObjectReport {
  object: string;
  expected?: string;
  mounted?: string;
  ok: boolean;
}

export interface PodReport {
  namespace: string;
  pod: string;
  node?: string;
  workload?: string;
  phase: string;
  ready: boolean;
  objects: PodObjectReport[];
  lastEvent?: string;
  ok: boolean;
}

/** A synced Kubernetes Secret as the gate sees it: key names and SHA-256 digests of the values only. */
export interface SyncedSecretState {
  namespace: string;
  name: string;
  keys: Record<string, string>;
}

export interface GateSnapshot {
  namespaces: NamespaceSnapshot[];
  events: CoreV1Event[];
  secrets: SyncedSecretState[];
}

export interface GateOptions {
  /** When the secrets changed: env consumers must run pods created after it. */
  changedAt?: Date;
  /** The cluster's service-account issuer, for federation diagnoses. */
  issuer?: string;
  /** At the deadline: explain everything still pending. */
  final: boolean;
}

export interface GateEvaluation {
  passed: boolean;
  pods: PodReport[];
  diagnoses: Diagnosis[];
  /** What is still awaited (value-free, for the log). */
  pending: string[];
  warnings: string[];
  /** A failure waiting cannot fix (driver not installed): stop early. */
  fatal: boolean;
  /**
   * Every rollout is complete and every failing pod is ready but holds an old version that nothing
   * will refresh (rotation: restart, no rollout under way): only a restart helps, waiting does not.
   */
  settled: boolean;
}

function time(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v) return Date.parse(v);
  return 0;
}

function eventTime(e: CoreV1Event): number {
  return Math.max(time(e.lastTimestamp), time(e.eventTime), time(e.firstTimestamp), time(e.metadata?.creationTimestamp));
}

function podEvents(pod: V1Pod, events: readonly CoreV1Event[]): CoreV1Event[] {
  const uid = pod.metadata?.uid;
  return events
    .filter(
      (e) =>
        e.involvedObject?.kind === 'Pod' &&
        e.involvedObject.namespace === pod.metadata?.namespace &&
        (e.involvedObject.uid ? e.involvedObject.uid === uid : e.involvedObject.name === pod.metadata?.name),
    )
    .sort((a, b) => eventTime(b) - eventTime(a));
}

function podPhase(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const waiting = statuses.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  if (waiting) return waiting;
  return pod.status?.phase ?? 'Unknown';
}

function crashLooping(pod: V1Pod): string | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.find((s) => s.state?.waiting?.reason === 'CrashLoopBackOff')?.name;
}

function label(c: ConsumedTarget, o: MountedObject, multi: boolean): string {
  const name = o.alias && o.alias !== o.secret ? `${o.secret} (${o.alias})` : o.secret;
  return multi ? `${c.target.secretProviderClass}/${name}` : name;
}

interface PodCheck {
  report: PodReport;
  staleCsi: string[];
  staleEnv: string[];
  unmountedSpcs: TargetSpec[];
  failedMount?: string;
  /** A stale object belongs to a target the driver's auto-rotation refreshes (rotation: csi). */
  awaitingCsiRotation: boolean;
}

/** What one pod's objects showed, filled target by target. */
type ObjectFindings = Omit<PodCheck, 'report' | 'failedMount'> & { objects: PodObjectReport[] };

/** The objects a target mounts through the CSI volume, each at the version it should hold. */
function checkMountedObjects(pod: V1Pod, c: ConsumedTarget, snap: NamespaceSnapshot, versions: VersionsByName, multi: boolean, f: ObjectFindings): void {
  const rotation = c.target.rotation;
  const status = spcpsFor(pod, c.target.secretProviderClass, snap.spcps);
  const mounted = status?.status?.mounted ? mountedVersions(status) : undefined;
  if (!mounted) f.unmountedSpcs.push(c.target);
  for (const o of c.objects) {
    const want = expectedVersion(o, versions);
    const have = mounted?.get(objectId(o));
    const versionOk = rotation === 'none' || want === undefined || have === want;
    if (have !== undefined && !versionOk) {
      f.staleCsi.push(o.secret);
      if (rotation === 'csi') f.awaitingCsiRotation = true;
    }
    f.objects.push({ object: label(c, o, multi), expected: want, mounted: mounted ? (have ?? 'absent') : undefined, ok: have !== undefined && versionOk });
  }
}

/** The keys of a target's synced Secret, and for env consumers a pod started after the change. */
function checkSyncedSecret(pod: V1Pod, w: Workload, c: ConsumedTarget, consumed: ConsumedTarget[], gs: GateSnapshot, ns: string, versions: VersionsByName, opts: GateOptions, f: ObjectFindings): void {
  const sync = c.target.syncTo;
  if (!sync || !c.ways.some((x) => x !== 'csi')) return;
  const secret = gs.secrets.find((s) => s.namespace === ns && s.name === sync.secretName);
  for (const k of sync.keys) {
    const o = c.target.objects.find((x) => objectFileName(x) === k.object);
    if (!o || !c.objects.includes(o)) continue;
    const state = secret?.keys[k.key] === undefined ? 'missing' : 'synced';
    f.objects.push({ object: `${sync.secretName}[${k.key}]`, expected: 'synced', mounted: state, ok: state === 'synced' });
  }
  if (needsNewPod(c) && c.target.rotation === 'restart') {
    const fresh = envFresh(pod, w, consumed, versions, opts);
    if (!fresh.ok) f.staleEnv.push(sync.secretName);
    f.objects.push({ object: `env from ${sync.secretName}`, expected: fresh.expected, mounted: fresh.actual, ok: fresh.ok });
  }
}

/** The pod's table row: phase, readiness, objects and its latest warning (a FailedMount first). */
function podReport(pod: V1Pod, w: Workload, ns: string, objects: PodObjectReport[], last: CoreV1Event | undefined): PodReport {
  const ref = refOf(w);
  const ready = isPodReady(pod);
  return {
    namespace: ns,
    pod: pod.metadata?.name ?? '',
    node: pod.spec?.nodeName,
    workload: `${ref.kind}/${ref.name}`,
    phase: podPhase(pod),
    ready,
    objects,
    lastEvent: last ? `${last.reason ?? ''}: ${last.reason === 'FailedMount' ? summarizeMountMessage(last.message ?? '') : oneLine(last.message ?? '', 300)}` : undefined,
    ok: ready && objects.every((o) => o.ok),
  };
}

function checkPod(pod: V1Pod, w: Workload, consumed: ConsumedTarget[], snap: NamespaceSnapshot, gs: GateSnapshot, versions: VersionsByName, opts: GateOptions): PodCheck {
  const f: ObjectFindings = { objects: [], staleCsi: [], staleEnv: [], unmountedSpcs: [], awaitingCsiRotation: false };
  for (const c of consumed) {
    if (c.ways.includes('csi')) checkMountedObjects(pod, c, snap, versions, consumed.length > 1, f);
    checkSyncedSecret(pod, w, c, consumed, gs, snap.namespace, versions, opts, f);
  }
  const events = podEvents(pod, gs.events);
  const failed = events.find((e) => e.reason === 'FailedMount');
  const report = podReport(pod, w, snap.namespace, f.objects, failed ?? events.find((e) => e.type === 'Warning'));
  const { staleCsi, staleEnv, unmountedSpcs, awaitingCsiRotation } = f;
  return { report, staleCsi, staleEnv, unmountedSpcs, failedMount: failed?.message, awaitingCsiRotation };
}

/** Env consumers see new content only in pods started after the change. */
function envFresh(pod: V1Pod, w: Workload, consumed: ConsumedTarget[], versions: VersionsByName, opts: GateOptions): { ok: boolean; expected: string; actual: string } {
  const digest = mountedVersionsDigest(consumed, versions);
  const podDigest = pod.metadata?.annotations?.[DIGEST_ANNOTATION];
  const created = time(pod.metadata?.creationTimestamp);
  const createdText = created ? new Date(created).toISOString() : 'unknown';
  const expected = opts.changedAt ? `pod started after ${opts.changedAt.toISOString()}` : `pod started for versions ${digest?.slice(0, 8) ?? '?'}`;
  if (opts.changedAt && created >= opts.changedAt.getTime()) return { ok: true, expected, actual: `started ${createdText}` };
  if (digest !== undefined && podDigest === digest) return { ok: true, expected, actual: `started for versions ${podDigest.slice(0, 8)}` };
  if (podDigest !== undefined) return { ok: false, expected, actual: `started for versions ${podDigest.slice(0, 8)}` };
  const recorded = w.obj.metadata?.annotations?.[DIGEST_ANNOTATION];
  const templateDigest = templateOf(w)?.metadata?.annotations?.[DIGEST_ANNOTATION];
  if (templateDigest === undefined && recorded !== undefined) {
    return recorded === digest ? { ok: true, expected, actual: `started ${createdText}, versions recorded` } : { ok: false, expected, actual: `started ${createdText}, before the change` };
  }
  const changed = consumed.some((c) => needsNewPod(c) && c.objects.some((o) => !o.version && versions.get(o.secret.toLowerCase())?.changed));
  if (opts.changedAt && changed) return { ok: false, expected, actual: `started ${createdText}` };
  // Never restarted by the action and nothing says the pod predates the versions it must see.
  return { ok: true, expected, actual: `started ${createdText}` };
}

function diagnosePod(check: PodCheck, pod: V1Pod, manifest: Manifest, opts: GateOptions): Diagnosis | undefined {
  if (check.report.ok) return undefined;
  const ns = check.report.namespace;
  const name = check.report.pod;
  const diagnosis = (cause: DiagnosisCause, message: string, fix: string): Diagnosis => ({ cause, namespace: ns, pod: name, message, fix });
  const looping = crashLooping(pod);
  if (looping) return crashLoop(ns, name, looping);
  if (check.failedMount && check.unmountedSpcs.length) {
    const target = check.unmountedSpcs[0];
    return classifyMountFailure(check.failedMount, { namespace: ns, pod: name, target, vault: manifest.vault.name, issuer: opts.issuer });
  }
  if (check.staleCsi.length) {
    return diagnosis(
      'stale-version',
      `pod mounted an older version of ${[...new Set(check.staleCsi)].join(', ')} than the vault's current one`,
      "run the action in apply mode to restart its workload (rotation: restart), or enable the driver's secret rotation (rotation: csi) and wait for its poll interval; check objectVersion pins",
    );
  }
  if (check.staleEnv.length) {
    return diagnosis(
      'stale-version',
      `pod reads ${check.staleEnv.join(', ')} as environment variables but started before the secrets changed`,
      'restart its workload (run the action in apply mode with rotation: restart)',
    );
  }
  if (check.unmountedSpcs.length) {
    return diagnosis(
      'not-mounted',
      `no mounted SecretProviderClassPodStatus for ${check.unmountedSpcs.map((t) => t.secretProviderClass).join(', ')} and no FailedMount event yet`,
      'check that the pod is scheduled and the CSI driver runs on its node (kubectl describe pod)',
    );
  }
  const missing = check.report.objects.filter((o) => !o.ok).map((o) => o.object);
  if (missing.length) {
    return diagnosis(
      'not-mounted',
      `${missing.join(', ')} not synced`,
      'the synced Secret is created by the driver once a pod mounts the SecretProviderClass; check its secretObjects and that a pod mounts it',
    );
  }
  return diagnosis('unknown', `pod is ${check.report.phase}, not ready${check.report.lastEvent ? ` (${check.report.lastEvent})` : ''}`, 'kubectl describe pod and the container logs');
}

/** What the gate found so far across namespaces. */
interface GateFindings {
  pods: PodReport[];
  diagnoses: Diagnosis[];
  pending: string[];
  warnings: string[];
  fatal: boolean;
  /** Things still moving: a later snapshot may pass. */
  unsettled: number;
}

type Consumers = ReturnType<typeof consumersIn>;

/** A target no workload consumes has nothing to verify; CSI consumers need the driver's pod statuses. */
function checkNamespaceSetup(snap: NamespaceSnapshot, manifest: Manifest, consumers: Consumers, f: GateFindings): void {
  for (const t of manifest.targets.filter((x) => x.namespace === snap.namespace)) {
    if (!consumers.some((wc) => wc.consumed.some((c) => c.target === t))) {
      f.warnings.push(
        `no Deployment, StatefulSet or DaemonSet in ${t.namespace} mounts SecretProviderClass ${t.secretProviderClass}${t.syncTo ? ` or reads Secret ${t.syncTo.secretName}` : ''}: nothing to verify for it`,
      );
    }
  }
  if (!snap.spcpsServed && consumers.some((wc) => wc.consumed.some((c) => c.ways.includes('csi')))) {
    f.fatal = true;
    f.diagnoses.push({
      cause: 'driver-missing',
      namespace: snap.namespace,
      message: 'the cluster does not serve SecretProviderClassPodStatus (secrets-store.csi.x-k8s.io/v1): the Secrets Store CSI driver is not installed',
      fix: 'enable the azure-keyvault-secrets-provider add-on (az aks enable-addons --addons azure-keyvault-secrets-provider) or install the driver and the Azure provider',
    });
  }
}

/** The workload's rollout; returns its current pods. */
function checkRollout(wc: Consumers[number], snap: NamespaceSnapshot, f: GateFindings): V1Pod[] {
  const ref = refOf(wc.workload);
  const rollout = rolloutStatus(wc.workload, snap.pods, snap.replicaSets);
  if (!rollout.done) {
    f.pending.push(`${ref.kind} ${ref.namespace}/${ref.name}: ${rollout.message}`);
    f.unsettled++;
  }
  if (rollout.stuck) {
    f.diagnoses.push({
      cause: 'rollout-stuck',
      namespace: ref.namespace,
      message: `${ref.kind} ${ref.namespace}/${ref.name}: ${rollout.stuck}`,
      fix: 'its new pods never became available: see the pod diagnoses below, then kubectl rollout undo or fix and re-run',
    });
  }
  const current = currentPods(wc.workload, snap.pods, snap.replicaSets);
  if (current.length === 0 && rollout.done) {
    const replicas = wc.workload.kind === 'DaemonSet' ? wc.workload.obj.status?.desiredNumberScheduled : wc.workload.obj.spec?.replicas;
    if (replicas !== 0) {
      f.pending.push(`${ref.kind} ${ref.namespace}/${ref.name}: no current pods yet`);
      f.unsettled++;
    }
  }
  return current;
}

/** The workload's rollout and each of its current pods. */
function checkWorkload(wc: Consumers[number], snap: NamespaceSnapshot, gs: GateSnapshot, manifest: Manifest, versions: VersionsByName, opts: GateOptions, f: GateFindings): void {
  for (const pod of checkRollout(wc, snap, f)) {
    const check = checkPod(pod, wc.workload, wc.consumed, snap, gs, versions, opts);
    f.pods.push(check.report);
    if (check.report.ok) continue;
    f.pending.push(`pod ${check.report.namespace}/${check.report.pod}: ${check.report.phase}`);
    const d = diagnosePod(check, pod, manifest, opts);
    if (d) f.diagnoses.push(d);
    const stuckStale = check.report.ready && d?.cause === 'stale-version' && !check.awaitingCsiRotation;
    if (!stuckStale) f.unsettled++;
  }
}

export function evaluateGate(manifest: Manifest, expected: readonly SecretVersion[], gs: GateSnapshot, opts: GateOptions): GateEvaluation {
  const versions = indexVersions(expected);
  const f: GateFindings = { pods: [], diagnoses: [], pending: [], warnings: [], fatal: false, unsettled: 0 };
  for (const snap of gs.namespaces) {
    const consumers = consumersIn(snap, manifest);
    checkNamespaceSetup(snap, manifest, consumers, f);
    for (const wc of consumers) checkWorkload(wc, snap, gs, manifest, versions, opts, f);
  }
  const { pods, pending, warnings, fatal } = f;
  const passed = !fatal && pending.length === 0 && pods.every((p) => p.ok);
  let outDiagnoses = passed ? [] : dedupe(f.diagnoses);
  if (!passed && opts.final && outDiagnoses.length === 0) {
    outDiagnoses = [
      {
        cause: 'timeout',
        message: `still waiting: ${pending.slice(0, 5).join('; ')}${pending.length > 5 ? ` (+${pending.length - 5} more)` : ''}`,
        fix: 'raise the timeout input, or look at the rollout (kubectl rollout status) and the pods',
      },
    ];
  }
  const settled = !passed && !fatal && f.unsettled === 0;
  return { passed, pods, diagnoses: outDiagnoses, pending, warnings, fatal, settled };
}
