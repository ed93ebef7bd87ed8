// Scheduler + kubelet + Secrets Store CSI Driver stand-in for the fake node, in the supervisor
// process. It watches pods (informer, no polling): binds pending pods to the node, mounts their
// `secrets-store.csi.k8s.io` volumes the way the driver and the Azure provider do (csi.ts), writes
// SecretProviderClassPodStatus objects, syncs secretObjects into Secrets, and reports pods
// Running/Ready; mount failures leave the pod ContainerCreating with FailedMount events and are
// retried with backoff, as the kubelet does.
import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  StorageV1Api,
  type CoreV1Event,
  type Informer,
  type ObjectCache,
  type V1Container,
  type V1OwnerReference,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { CSI_DRIVER, mountVolume, secretObjectData, type MountDeps, type MountedObject, type PodRef, type SecretProviderClassLike, type TokenResult } from './csi.ts';

export const SPC_GROUP = 'secrets-store.csi.x-k8s.io';
export const SPC_VERSION = 'v1';
export const INTERNAL_NODE_LABEL = 'internal.secrets-store.csi.k8s.io/node-name';
export const SECRET_MANAGED_LABEL = 'secrets-store.csi.k8s.io/managed';

export interface MountFailureRule {
  namespace?: string;
  /** Pod name prefix (or `/regex/`). */
  pod?: string;
  volume?: string;
  /** Driver error text put after `MountVolume.SetUp failed for volume "x" : `. */
  message: string;
  /** How many mount attempts it fails (default: until removed). */
  times?: number;
}

export interface CrashLoopRule {
  namespace?: string;
  /** Pod name prefix (or `/regex/`). */
  pod: string;
  container?: string;
}

export interface KubeletConfig {
  /** Re-mount every N seconds and update SPCPS + synced Secrets (0 = off, as without --enable-secret-rotation). */
  rotationIntervalSeconds: number;
  /** First retry delay of a failed mount / container config; doubles up to the max. */
  retryBaseMs: number;
  retryMaxMs: number;
  failMounts: MountFailureRule[];
  crashLoop: CrashLoopRule[];
}

export function defaultKubeletConfig(): KubeletConfig {
  return { rotationIntervalSeconds: 0, retryBaseMs: 1000, retryMaxMs: 16_000, failMounts: [], crashLoop: [] };
}

interface VolumeState {
  name: string;
  spcName?: string;
  mounted: boolean;
  objects: MountedObject[];
  /** Versions the containers see: for subPath-only volumes, frozen at the first mount. */
  containerObjects: MountedObject[];
  subPath: boolean;
  lastError?: string;
  attempts: number;
  files: Map<string, Buffer>;
  rotations: number;
  lastRotationError?: string;
}

interface PodState {
  namespace: string;
  name: string;
  uid: string;
  phase: 'Pending' | 'Running';
  waiting?: { reason: string; message: string };
  started: boolean;
  crashLooping: boolean;
  volumes: Map<string, VolumeState>;
  failures: number;
  timer?: NodeJS.Timeout;
  busy: boolean;
  again: boolean;
  waitingForSecrets: Set<string>;
  podIP?: string;
}

export interface KubeletOptions {
  kc: KubeConfig;
  nodeName: string;
  log: (message: string) => void;
  authorityHost: string;
  vaultUri: (name: string) => string | undefined | Promise<string | undefined>;
  managedIdentityToken: (clientId: string | undefined, resource: string) => Promise<TokenResult>;
  /** The AKS token proxy of identity bindings (token-proxy.ts); absent: useAzureTokenProxy mounts fail. */
  tokenProxy?: (clientId: string, tenantId: string, serviceAccountToken: string) => Promise<TokenResult>;
  /** fetch for Entra and the vault proxies (default: the global one). */
  fetch?: typeof fetch;
  config?: Partial<KubeletConfig>;
}

function matches(pattern: string | undefined, value: string): boolean {
  if (!pattern) return true;
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) return new RegExp(pattern.slice(1, -1)).test(value);
  return value.startsWith(pattern);
}

function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string } | undefined;
    if (parsed?.message) return parsed.message;
  } catch {
    // fall through
  }
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Names of the Secrets (and ConfigMaps) a container needs before it can be created. */
export function requiredEnvSources(containers: V1Container[]): Array<{ kind: 'secret' | 'configmap'; name: string; key?: string }> {
  const out: Array<{ kind: 'secret' | 'configmap'; name: string; key?: string }> = [];
  for (const c of containers) {
    for (const e of c.env ?? []) {
      const s = e.valueFrom?.secretKeyRef;
      if (s?.name && !s.optional) out.push({ kind: 'secret', name: s.name, key: s.key });
      const m = e.valueFrom?.configMapKeyRef;
      if (m?.name && !m.optional) out.push({ kind: 'configmap', name: m.name, key: m.key });
    }
    for (const f of c.envFrom ?? []) {
      if (f.secretRef?.name && !f.secretRef.optional) out.push({ kind: 'secret', name: f.secretRef.name });
      if (f.configMapRef?.name && !f.configMapRef.optional) out.push({ kind: 'configmap', name: f.configMapRef.name });
    }
  }
  return out;
}

/** Volumes mounted only through subPath never see rotated content (a Kubernetes limitation). */
export function subPathOnlyVolumes(pod: V1Pod): Set<string> {
  const all = new Map<string, { subPath: boolean; whole: boolean }>();
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const m of c.volumeMounts ?? []) {
      const entry = all.get(m.name) ?? { subPath: false, whole: false };
      if (m.subPath || m.subPathExpr) entry.subPath = true;
      else entry.whole = true;
      all.set(m.name, entry);
    }
  }
  return new Set([...all].filter(([, v]) => v.subPath && !v.whole).map(([k]) => k));
}

export class Kubelet {
  readonly config: KubeletConfig;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly storage: StorageV1Api;
  private readonly pods = new Map<string, PodState>();
  private podInformer?: Informer<V1Pod> & ObjectCache<V1Pod>;
  private secretInformer?: Informer<V1Secret> & ObjectCache<V1Secret>;
  private rotationTimer?: NodeJS.Timeout;
  private stopped = false;
  private nextIp = 10;
  private readonly events = new Map<string, { name: string; count: number }>();
  /** Per pod UID: the tail of its queued events (recordInBackground). */
  private readonly eventQueues = new Map<string, Promise<void>>();
  readonly stats = { binds: 0, mountAttempts: 0, mountFailures: 0, mountSuccesses: 0, tokenRequests: 0, rotations: 0, podsStarted: 0, eventsWritten: 0 };

  private readonly opts: KubeletOptions;

  constructor(opts: KubeletOptions) {
    this.opts = opts;
    this.config = { ...defaultKubeletConfig(), ...opts.config };
    this.core = opts.kc.makeApiClient(CoreV1Api);
    this.custom = opts.kc.makeApiClient(CustomObjectsApi);
    this.storage = opts.kc.makeApiClient(StorageV1Api);
  }

  async start(): Promise<void> {
    const pods = makeInformer<V1Pod>(this.opts.kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    pods.on('add', (p) => this.onPod(p));
    pods.on('update', (p) => this.onPod(p));
    pods.on('delete', (p) => this.onPodDeleted(p));
    pods.on('error', (err) => this.restartInformer('pods', pods, err));
    const secrets = makeInformer<V1Secret>(this.opts.kc, '/api/v1/secrets', () => this.core.listSecretForAllNamespaces());
    secrets.on('add', (s) => this.onSecret(s));
    secrets.on('update', (s) => this.onSecret(s));
    secrets.on('error', (err) => this.restartInformer('secrets', secrets, err));
    this.secretInformer = secrets;
    this.podInformer = pods;
    await secrets.start();
    await pods.start();
    this.applyRotationTimer();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    for (const s of this.pods.values()) if (s.timer) clearTimeout(s.timer);
    await this.podInformer?.stop();
    await this.secretInformer?.stop();
  }

  private restartInformer(what: string, informer: Informer<V1Pod> | Informer<V1Secret>, err: unknown): void {
    if (this.stopped) return;
    this.opts.log(`${what} watch ended (${apiMessage(err)}); restarting`);
    setTimeout(() => {
      if (!this.stopped) informer.start().catch((e: unknown) => this.restartInformer(what, informer, e));
    }, 1000).unref();
  }

  /** Applies a partial config (PATCH /config) and resyncs what it affects. */
  updateConfig(patch: Partial<KubeletConfig>): KubeletConfig {
    for (const [k, v] of Object.entries(patch)) {
      if (v !== undefined && k in this.config) (this.config as unknown as Record<string, unknown>)[k] = v;
    }
    this.applyRotationTimer();
    // crash-loop rules and mount failures can change what running or waiting pods should show
    for (const pod of this.podInformer?.list() ?? []) {
      if (pod.spec?.nodeName === this.opts.nodeName) {
        const s = this.pods.get(pod.metadata!.uid!);
        if (s) {
          const shouldCrash = this.crashRule(pod) !== undefined;
          if (s.started && shouldCrash !== s.crashLooping) {
            s.started = false;
            this.schedule(pod, 0);
          }
        }
      }
    }
    return this.config;
  }

  status(): unknown {
    return {
      node: this.opts.nodeName,
      config: this.config,
      stats: this.stats,
      pods: [...this.pods.values()].map((s) => ({
        namespace: s.namespace,
        name: s.name,
        uid: s.uid,
        phase: s.phase,
        started: s.started,
        crashLooping: s.crashLooping,
        waiting: s.waiting,
        failures: s.failures,
        podIP: s.podIP,
        waitingForSecrets: [...s.waitingForSecrets],
        volumes: [...s.volumes.values()].map((v) => ({
          name: v.name,
          secretProviderClass: v.spcName,
          mounted: v.mounted,
          attempts: v.attempts,
          objects: v.objects,
          containerObjects: v.containerObjects,
          subPathOnly: v.subPath,
          rotatesInContainer: !v.subPath,
          rotations: v.rotations,
          lastError: v.lastError,
          lastRotationError: v.lastRotationError,
        })),
      })),
    };
  }

  // ---- pods --------------------------------------------------------------------------------

  private onPod(pod: V1Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata?.uid;
    if (!uid) return;
    if (pod.metadata?.deletionTimestamp) {
      if (pod.spec?.nodeName === this.opts.nodeName) void this.finishDeletion(pod);
      return;
    }
    if (!pod.spec?.nodeName) {
      if ((pod.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler' && pod.status?.phase === 'Pending') void this.bind(pod);
      return;
    }
    if (pod.spec.nodeName !== this.opts.nodeName) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const s = this.state(pod);
    if (!s.started && !s.timer && !s.busy) this.schedule(pod, 0);
  }

  private onPodDeleted(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const s = this.pods.get(uid);
    if (s?.timer) clearTimeout(s.timer);
    this.pods.delete(uid);
    for (const [k] of this.events) if (k.startsWith(`${uid}|`)) this.events.delete(k);
  }

  private onSecret(secret: V1Secret): void {
    const key = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
    for (const s of this.pods.values()) {
      if (!s.started && s.waitingForSecrets.has(key)) {
        const pod = this.podInformer?.get(s.name, s.namespace);
        if (pod && !s.busy) {
          if (s.timer) clearTimeout(s.timer);
          s.timer = undefined;
          this.schedule(pod, 0);
        }
      }
    }
  }

  private state(pod: V1Pod): PodState {
    const uid = pod.metadata!.uid!;
    let s = this.pods.get(uid);
    if (!s) {
      s = {
        namespace: pod.metadata!.namespace!,
        name: pod.metadata!.name!,
        uid,
        phase: 'Pending',
        started: false,
        crashLooping: false,
        volumes: new Map(),
        failures: 0,
        busy: false,
        again: false,
        waitingForSecrets: new Set(),
      };
      this.pods.set(uid, s);
    }
    return s;
  }

  private schedule(pod: V1Pod, delayMs: number): void {
    const s = this.state(pod);
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      s.timer = undefined;
      const current = this.podInformer?.get(s.name, s.namespace);
      if (!current || current.metadata?.uid !== s.uid || this.stopped) return;
      void this.sync(current);
    }, delayMs);
    s.timer.unref();
  }

  private backoff(s: PodState): number {
    return Math.min(this.config.retryMaxMs, this.config.retryBaseMs * 2 ** Math.min(s.failures - 1, 20));
  }

  private async bind(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    try {
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid: pod.metadata!.uid }, target: { apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName } },
      });
      this.stats.binds++;
      await this.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${this.opts.nodeName}`, 'default-scheduler');
    } catch (err) {
      if (statusCode(err) !== 409) this.opts.log(`binding ${namespace}/${name} failed: ${apiMessage(err)}`);
    }
  }

  private async finishDeletion(pod: V1Pod): Promise<void> {
    const s = this.pods.get(pod.metadata!.uid!);
    if (s?.timer) clearTimeout(s.timer);
    // The containers "stop" at once; the kubelet then removes the pod object for good.
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        // with a body, the API server reads the options from it only (query parameters are ignored)
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } },
      });
    } catch (err) {
      const code = statusCode(err);
      if (code !== 404 && code !== 409) this.opts.log(`deleting ${pod.metadata!.namespace}/${pod.metadata!.name} failed: ${apiMessage(err)}`);
    }
  }

  private crashRule(pod: V1Pod): CrashLoopRule | undefined {
    return this.config.crashLoop.find((r) => matches(r.namespace, pod.metadata!.namespace!) && matches(r.pod, pod.metadata!.name!));
  }

  private async sync(pod: V1Pod): Promise<void> {
    const s = this.state(pod);
    if (s.busy) {
      s.again = true;
      return;
    }
    s.busy = true;
    try {
      const ok = await this.syncOnce(pod, s);
      if (!ok && !this.stopped && this.pods.has(s.uid)) {
        s.failures++;
        this.schedule(pod, this.backoff(s));
      } else if (ok) {
        s.failures = 0;
      }
    } catch (err) {
      this.opts.log(`sync of ${s.namespace}/${s.name} failed: ${apiMessage(err)}`);
      s.failures++;
      if (!this.stopped && this.pods.has(s.uid)) this.schedule(pod, this.backoff(s));
    } finally {
      s.busy = false;
      if (s.again) {
        s.again = false;
        const current = this.podInformer?.get(s.name, s.namespace);
        if (current && current.metadata?.uid === s.uid && !s.started) this.schedule(current, 0);
      }
    }
  }

  /** One kubelet sync: mount volumes, check env sources, start containers. False = retry later. */
  private async syncOnce(pod: V1Pod, s: PodState): Promise<boolean> {
    const ref: PodRef = { name: s.name, namespace: s.namespace, uid: s.uid, serviceAccountName: pod.spec?.serviceAccountName || 'default' };
    const subPathOnly = subPathOnlyVolumes(pod);
    // 1. volumes
    for (const vol of pod.spec?.volumes ?? []) {
      if (vol.csi?.driver !== CSI_DRIVER) continue;
      let v = s.volumes.get(vol.name);
      if (!v) {
        v = { name: vol.name, mounted: false, objects: [], containerObjects: [], subPath: subPathOnly.has(vol.name), attempts: 0, files: new Map(), rotations: 0 };
        s.volumes.set(vol.name, v);
      }
      if (v.mounted) continue;
      v.attempts++;
      this.stats.mountAttempts++;
      const injected = this.takeInjectedFailure(s, vol.name);
      const outcome = injected
        ? { ok: false as const, message: `MountVolume.SetUp failed for volume "${vol.name}" : ${injected}`, reason: 'Injected', spcName: vol.csi.volumeAttributes?.secretProviderClass }
        : await mountVolume(this.mountDeps(), ref, { name: vol.name, readOnly: vol.csi.readOnly, volumeAttributes: vol.csi.volumeAttributes, nodePublishSecretRef: vol.csi.nodePublishSecretRef });
      if (!outcome.ok) {
        this.stats.mountFailures++;
        v.lastError = outcome.message;
        v.spcName = outcome.spcName;
        await this.setWaiting(pod, s, 'ContainerCreating', undefined);
        await this.event(pod, 'Warning', 'FailedMount', outcome.message);
        return false;
      }
      this.stats.mountSuccesses++;
      v.mounted = true;
      v.lastError = undefined;
      v.spcName = outcome.spcName;
      v.objects = outcome.objects;
      v.containerObjects = outcome.objects;
      v.files = outcome.files;
      const spcps = await this.writeSpcps(pod, vol.name, outcome.spcName, outcome.objects);
      await this.syncSecretObjects(pod, outcome.spc, outcome.files, spcps);
    }
    // 2. env from Secrets / ConfigMaps
    s.waitingForSecrets.clear();
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    for (const src of requiredEnvSources(containers)) {
      const problem = await this.checkEnvSource(s.namespace, src);
      if (problem) {
        if (src.kind === 'secret') s.waitingForSecrets.add(`${s.namespace}/${src.name}`);
        await this.setWaiting(pod, s, 'CreateContainerConfigError', problem);
        await this.event(pod, 'Warning', 'Failed', `Error: ${problem}`);
        return false;
      }
    }
    // 3. containers
    const crash = this.crashRule(pod);
    await this.setRunning(pod, s, crash);
    return true;
  }

  private takeInjectedFailure(s: PodState, volume: string): string | undefined {
    const i = this.config.failMounts.findIndex((r) => matches(r.namespace, s.namespace) && matches(r.pod, s.name) && (!r.volume || r.volume === volume));
    if (i < 0) return undefined;
    const rule = this.config.failMounts[i]!;
    if (rule.times !== undefined) {
      rule.times--;
      if (rule.times <= 0) this.config.failMounts.splice(i, 1);
    }
    return rule.message;
  }

  private async checkEnvSource(namespace: string, src: { kind: 'secret' | 'configmap'; name: string; key?: string }): Promise<string | undefined> {
    try {
      if (src.kind === 'secret') {
        const secret = await this.core.readNamespacedSecret({ name: src.name, namespace });
        if (src.key && !(secret.data && src.key in secret.data) && !(secret.stringData && src.key in secret.stringData)) {
          return `couldn't find key ${src.key} in Secret ${namespace}/${src.name}`;
        }
      } else {
        const cm = await this.core.readNamespacedConfigMap({ name: src.name, namespace });
        if (src.key && !(cm.data && src.key in cm.data)) return `couldn't find key ${src.key} in ConfigMap ${namespace}/${src.name}`;
      }
      return undefined;
    } catch (err) {
      if (statusCode(err) === 404) return src.kind === 'secret' ? `secret "${src.name}" not found` : `configmap "${src.name}" not found`;
      throw err;
    }
  }

  private mountDeps(): MountDeps {
    return {
      getSecretProviderClass: async (namespace, name) => {
        try {
          return (await this.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: 'secretproviderclasses', name })) as SecretProviderClassLike;
        } catch (err) {
          if (statusCode(err) === 404) return undefined;
          throw new Error(apiMessage(err));
        }
      },
      tokenAudiences: async () => {
        try {
          const d = await this.storage.readCSIDriver({ name: CSI_DRIVER });
          return (d.spec?.tokenRequests ?? []).map((t) => t.audience);
        } catch {
          return [];
        }
      },
      serviceAccountToken: async (pod, audience) => {
        this.stats.tokenRequests++;
        try {
          const res = await this.core.createNamespacedServiceAccountToken({
            name: pod.serviceAccountName,
            namespace: pod.namespace,
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: { audiences: [audience], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } },
            },
          });
          if (!res.status?.token) throw new Error('TokenRequest returned no token');
          return res.status.token;
        } catch (err) {
          throw new Error(apiMessage(err));
        }
      },
      nodePublishSecret: async (namespace, name) => {
        try {
          const secret = await this.core.readNamespacedSecret({ name, namespace });
          return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        } catch (err) {
          if (statusCode(err) === 404) return undefined;
          throw new Error(apiMessage(err));
        }
      },
      vaultUri: this.opts.vaultUri,
      authorityHost: this.opts.authorityHost,
      managedIdentityToken: this.opts.managedIdentityToken,
      ...(this.opts.tokenProxy ? { tokenProxy: this.opts.tokenProxy } : {}),
      fetch: this.opts.fetch ?? globalThis.fetch,
    };
  }

  private async writeSpcps(pod: V1Pod, volumeName: string, spcName: string, objects: MountedObject[]): Promise<{ name: string; uid?: string }> {
    const namespace = pod.metadata!.namespace!;
    const podName = pod.metadata!.name!;
    const name = `${podName}-${namespace}-${spcName}`;
    const targetPath = `/var/lib/kubelet/pods/${pod.metadata!.uid}/volumes/kubernetes.io~csi/${volumeName}/mount`;
    const body = {
      apiVersion: `${SPC_GROUP}/${SPC_VERSION}`,
      kind: 'SecretProviderClassPodStatus',
      metadata: {
        name,
        namespace,
        labels: { [INTERNAL_NODE_LABEL]: this.opts.nodeName },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata!.uid! }],
      },
      status: { podName, targetPath, mounted: true, secretProviderClassName: spcName, objects },
    };
    try {
      const created = (await this.custom.createNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: 'secretproviderclasspodstatuses', body })) as {
        metadata?: { uid?: string };
      };
      return { name, uid: created.metadata?.uid };
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
    }
    const existing = (await this.custom.getNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: 'secretproviderclasspodstatuses', name })) as {
      metadata: { labels?: Record<string, string>; ownerReferences?: unknown; uid?: string; resourceVersion?: string };
      status?: unknown;
    };
    existing.metadata.labels = { ...(existing.metadata.labels ?? {}), [INTERNAL_NODE_LABEL]: this.opts.nodeName };
    existing.metadata.ownerReferences = body.metadata.ownerReferences;
    existing.status = body.status;
    await this.custom.replaceNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: 'secretproviderclasspodstatuses', name, body: existing });
    return { name, uid: existing.metadata.uid };
  }

  /** Upstream's SecretProviderClassPodStatus reconciler + patcher: create/update Secrets, set owners. */
  private async syncSecretObjects(pod: V1Pod, spc: SecretProviderClassLike, files: Map<string, Buffer>, spcps: { name: string; uid?: string }): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const owners: V1OwnerReference[] = (pod.metadata?.ownerReferences ?? []).map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid }));
    if (owners.length === 0 && spcps.uid) owners.push({ apiVersion: `${SPC_GROUP}/${SPC_VERSION}`, kind: 'SecretProviderClassPodStatus', name: spcps.name, uid: spcps.uid });
    for (const so of spc.spec?.secretObjects ?? []) {
      const secretName = (so.secretName ?? '').trim();
      const data = secretObjectData(so, files);
      if (!data.ok) {
        await this.event(
          pod,
          'Warning',
          'FailedToCreateSecret',
          `failed to get data in spc ${namespace}/${spc.metadata?.name} for secret ${secretName}, err: ${data.error}`,
          'csi-secrets-store-controller',
        );
        continue;
      }
      const labels = { ...(so.labels ?? {}), [SECRET_MANAGED_LABEL]: 'true' };
      const type = (so.type ?? 'Opaque').trim() || 'Opaque';
      try {
        await this.core.createNamespacedSecret({
          namespace,
          body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace, labels, annotations: so.annotations, ownerReferences: owners }, type, data: data.data },
        });
        continue;
      } catch (err) {
        if (statusCode(err) !== 409) {
          await this.event(pod, 'Warning', 'FailedToCreateSecret', `failed to create Kubernetes secret ${namespace}/${secretName}: ${apiMessage(err)}`, 'csi-secrets-store-controller');
          continue;
        }
      }
      const existing = await this.core.readNamespacedSecret({ name: secretName, namespace });
      const ownerSet = new Map((existing.metadata?.ownerReferences ?? []).map((o) => [o.uid, o]));
      for (const o of owners) ownerSet.set(o.uid, o);
      await this.core.patchNamespacedSecret(
        { name: secretName, namespace, body: { metadata: { labels, annotations: so.annotations ?? null, ownerReferences: [...ownerSet.values()] }, data: data.data } },
        mergePatch,
      );
    }
  }

  // ---- status ------------------------------------------------------------------------------

  private podIp(s: PodState): string {
    if (!s.podIP) s.podIP = `10.244.0.${this.nextIp++ % 250}`;
    return s.podIP;
  }

  private async setWaiting(pod: V1Pod, s: PodState, reason: string, message: string | undefined): Promise<void> {
    if (s.waiting?.reason === reason && s.waiting.message === message) return;
    s.waiting = { reason, message: message ?? '' };
    const now = new Date().toISOString();
    const containerStatus = (c: V1Container) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: { waiting: message ? { reason, message } : { reason } },
    });
    await this.patchStatus(pod, {
      phase: 'Pending',
      hostIP: '10.224.0.4',
      hostIPs: [{ ip: '10.224.0.4' }],
      startTime: pod.status?.startTime ?? now,
      conditions: [
        { type: 'PodReadyToStartContainers', status: reason === 'ContainerCreating' ? 'False' : 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        {
          type: 'Ready',
          status: 'False',
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${(pod.spec?.containers ?? []).map((c) => c.name).join(' ')}]`,
          lastTransitionTime: now,
        },
        {
          type: 'ContainersReady',
          status: 'False',
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${(pod.spec?.containers ?? []).map((c) => c.name).join(' ')}]`,
          lastTransitionTime: now,
        },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: pod.metadata?.creationTimestamp ?? now },
      ],
      containerStatuses: (pod.spec?.containers ?? []).map(containerStatus),
    });
  }

  private async setRunning(pod: V1Pod, s: PodState, crash: CrashLoopRule | undefined): Promise<void> {
    const now = new Date().toISOString();
    const crashing = (c: V1Container) => crash !== undefined && (!crash.container || crash.container === c.name);
    const containerStatuses = (pod.spec?.containers ?? []).map((c) => {
      const id = `containerd://${randomBytes(32).toString('hex')}`;
      if (crashing(c)) {
        return {
          name: c.name,
          image: c.image ?? '',
          imageID: `${c.image ?? ''}@sha256:${randomBytes(32).toString('hex')}`,
          containerID: id,
          ready: false,
          started: false,
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 40s restarting failed container=${c.name} pod=${s.name}_${s.namespace}(${s.uid})` } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now, containerID: id } },
        };
      }
      return {
        name: c.name,
        image: c.image ?? '',
        imageID: `${c.image ?? ''}@sha256:${randomBytes(32).toString('hex')}`,
        containerID: id,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      };
    });
    // Recorded before the status update, but not waited for: client-go's event recorder hands events to
    // a broadcaster goroutine and the kubelet's status manager never blocks on them.
    for (const c of pod.spec?.containers ?? []) {
      if (crashing(c)) {
        this.recordInBackground(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${s.name}_${s.namespace}(${s.uid})`);
      } else {
        this.recordInBackground(pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
        this.recordInBackground(pod, 'Normal', 'Created', `Created container: ${c.name}`);
        this.recordInBackground(pod, 'Normal', 'Started', `Started container ${c.name}`);
      }
    }
    const allReady = containerStatuses.every((c) => c.ready);
    const unready = containerStatuses.filter((c) => !c.ready).map((c) => c.name);
    const ip = this.podIp(s);
    await this.patchStatus(pod, {
      phase: 'Running',
      hostIP: '10.224.0.4',
      hostIPs: [{ ip: '10.224.0.4' }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: pod.status?.startTime ?? now,
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        allReady
          ? { type: 'Ready', status: 'True', lastTransitionTime: now }
          : { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]`, lastTransitionTime: now },
        allReady
          ? { type: 'ContainersReady', status: 'True', lastTransitionTime: now }
          : { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]`, lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: pod.metadata?.creationTimestamp ?? now },
      ],
      initContainerStatuses: (pod.spec?.initContainers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
      })),
      containerStatuses,
    });
    s.phase = 'Running';
    s.waiting = undefined;
    s.started = true;
    s.crashLooping = crash !== undefined;
    this.stats.podsStarted++;
  }

  private async patchStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void> {
    try {
      await this.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { status } }, mergePatch);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** An event queued behind the pod's earlier ones (kept in order per pod), without waiting for it. */
  private recordInBackground(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const uid = pod.metadata!.uid!;
    const next = (this.eventQueues.get(uid) ?? Promise.resolve()).then(() => this.event(pod, type, reason, message));
    this.eventQueues.set(uid, next);
    void next.finally(() => {
      if (this.eventQueues.get(uid) === next) this.eventQueues.delete(uid);
    });
  }

  /** Records an event the way client-go's recorder does: repeats bump count and lastTimestamp. */
  private async event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, component = 'kubelet'): Promise<void> {
    const uid = pod.metadata!.uid!;
    const namespace = pod.metadata!.namespace!;
    const key = `${uid}|${component}|${reason}|${message}`;
    const now = new Date().toISOString();
    const seen = this.events.get(key);
    this.stats.eventsWritten++;
    try {
      if (seen) {
        seen.count++;
        await this.core.patchNamespacedEvent({ name: seen.name, namespace, body: { count: seen.count, lastTimestamp: now } }, mergePatch);
        return;
      }
      const name = `${pod.metadata!.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      const ev: CoreV1Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, namespace, uid, resourceVersion: pod.metadata!.resourceVersion },
        reason,
        message,
        type,
        source: component === 'kubelet' ? { component, host: this.opts.nodeName } : { component },
        reportingComponent: component,
        reportingInstance: component === 'kubelet' ? this.opts.nodeName : '',
        firstTimestamp: new Date(now),
        lastTimestamp: new Date(now),
        count: 1,
      };
      await this.core.createNamespacedEvent({ namespace, body: ev });
      this.events.set(key, { name, count: 1 });
    } catch (err) {
      if (statusCode(err) === 404 && seen) this.events.delete(key);
      else if (statusCode(err) !== 404 && !apiMessage(err).includes('is being terminated')) {
        this.opts.log(`event ${reason} for ${namespace}/${pod.metadata!.name} not written: ${apiMessage(err)}`);
      }
    }
  }

  // ---- rotation ----------------------------------------------------------------------------

  private applyRotationTimer(): void {
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    this.rotationTimer = undefined;
    const secs = this.config.rotationIntervalSeconds;
    if (secs > 0 && !this.stopped) {
      this.rotationTimer = setInterval(() => void this.rotateAll(), secs * 1000);
      this.rotationTimer.unref();
    }
  }

  /** One rotation pass (what --enable-secret-rotation does every poll interval); exposed for tests. */
  async rotateAll(): Promise<void> {
    for (const s of [...this.pods.values()]) {
      if (!s.started || s.busy) continue;
      const pod = this.podInformer?.get(s.name, s.namespace);
      if (!pod || pod.metadata?.uid !== s.uid || pod.metadata?.deletionTimestamp) continue;
      const ref: PodRef = { name: s.name, namespace: s.namespace, uid: s.uid, serviceAccountName: pod.spec?.serviceAccountName || 'default' };
      for (const vol of pod.spec?.volumes ?? []) {
        if (vol.csi?.driver !== CSI_DRIVER) continue;
        const v = s.volumes.get(vol.name);
        if (!v?.mounted) continue;
        this.stats.rotations++;
        try {
          const outcome = await mountVolume(this.mountDeps(), ref, {
            name: vol.name,
            readOnly: vol.csi.readOnly,
            volumeAttributes: vol.csi.volumeAttributes,
            nodePublishSecretRef: vol.csi.nodePublishSecretRef,
          });
          if (!outcome.ok) {
            // upstream masks remount errors (kubernetes/kubernetes#121271): the pod keeps running
            v.lastRotationError = outcome.message;
            continue;
          }
          v.lastRotationError = undefined;
          v.rotations++;
          const changed = JSON.stringify(outcome.objects) !== JSON.stringify(v.objects);
          v.objects = outcome.objects;
          v.files = outcome.files;
          if (!v.subPath) v.containerObjects = outcome.objects;
          if (changed) {
            const spcps = await this.writeSpcps(pod, vol.name, outcome.spcName, outcome.objects);
            await this.syncSecretObjects(pod, outcome.spc, outcome.files, spcps);
          }
        } catch (err) {
          v.lastRotationError = apiMessage(err);
        }
      }
    }
  }
}
