// `node test/bench/kube-noop.ts [--namespaces 20] [--rounds 5] [--keep]`: the Kubernetes side of a
// no-op re-run (src/kube/apply.ts applyKubeObjects + src/rotate/index.ts restartChangedWorkloads) on
// the running sandbox's cluster, with every API call counted per step (calls through the session's
// CoreV1Api / AppsV1Api / CustomObjectsApi / KubernetesObjectApi, by method, with their latency).
// N namespaces each get a target (createNamespace, ServiceAccount, SecretProviderClass) and a
// Deployment consumer (0 replicas: nothing to schedule on a shared cluster); a first apply + rotation
// puts everything in place, then each round re-runs both steps, which must write nothing.
// The namespaces are deleted at the end and waited for (--keep leaves them).
// Re-runs itself with the sandbox CA trusted (Node reads NODE_EXTRA_CA_CERTS at start only).
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { ensureCa } from '../sandbox/pki.ts';

const root = resolve(import.meta.dirname, '..', '..');
const argv = process.argv.slice(2);
const ca = ensureCa(join(root, '.sandbox', 'pki')).cert;
if (process.env.NODE_EXTRA_CA_CERTS !== ca) {
  const r = spawnSync(process.execPath, [import.meta.filename, ...argv], { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } });
  process.exit(r.status ?? 1);
}

const { connectKube } = await import('../../src/kube/client.ts');
const { applyKubeObjects } = await import('../../src/kube/apply.ts');
const { restartChangedWorkloads } = await import('../../src/rotate/index.ts');
const { adminKube, kubeconfigPath } = await import('./sandbox.ts');
type KubeSession = import('../../src/kube/client.ts').KubeSession;
type Manifest = import('../../src/manifest/types.ts').Manifest;

const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const NS = arg('namespaces', 20);
const ROUNDS = arg('rounds', 5);
const keep = argv.includes('--keep');

interface Call {
  method: string;
  ms: number;
}
let calls: Call[] = [];

/** Wraps every method of an API object so each call is recorded with its latency. */
function counted<T extends object>(api: T, group: string): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          calls.push({ method: `${group}.${prop}`, ms: performance.now() - t0 });
        }
      };
    },
  });
}

function summary(list: Call[]): string {
  const by = new Map<string, { n: number; ms: number }>();
  for (const c of list) {
    const e = by.get(c.method) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += c.ms;
    by.set(c.method, e);
  }
  return [...by.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(([m, e]) => `${m} x${e.n} (avg ${(e.ms / e.n).toFixed(1)} ms)`)
    .join(', ');
}

const kubeconfig = kubeconfigPath();
if (!kubeconfig) throw new Error('no sandbox cluster: npm run sandbox -- up --detach');
const raw = connectKube({ kubeconfig });
const admin = adminKube();
const kube: KubeSession = {
  ...raw,
  core: counted(raw.core, 'core'),
  apps: counted(raw.apps, 'apps'),
  custom: counted(raw.custom, 'custom'),
  objects: counted(raw.objects, 'objects'),
};

const runId = randomBytes(3).toString('hex');
const namespaces = Array.from({ length: NS }, (_, i) => `kbench-${runId}-${i}`);
const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientIds: Record<string, string> = Object.fromEntries(namespaces.map((n) => [n, randomUUID()]));
const secretNames = Array.from({ length: NS * 2 }, (_, i) => `kb-s-${i}`);
const manifest: Manifest = {
  apiVersion: 'akv-aks/v1',
  vault: { name: `kv-kbench-${runId}`, resourceGroup: 'rg-sandbox' },
  cluster: { name: 'sandbox' },
  identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope', tags: {} },
  secrets: secretNames.map((name) => ({ name, source: { kind: 'env', env: name.toUpperCase().replace(/-/g, '_') }, tags: {}, adopt: false })),
  targets: namespaces.map((namespace, t) => ({
    namespace,
    createNamespace: true,
    serviceAccount: 'bench-app',
    identity: { mode: 'managed', name: `id-${runId}-${t}`, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: 'bench-secrets',
    objects: [
      { secret: secretNames[2 * t]!, objectType: 'secret' as const },
      { secret: secretNames[2 * t + 1]!, objectType: 'secret' as const, alias: 'second' },
    ],
    syncTo: { secretName: 'bench-env', keys: [{ key: 'SECOND', object: 'second' }], type: 'Opaque', labels: {}, annotations: {} },
    rotation: 'restart',
  })),
  prune: false,
  purge: false,
} as Manifest;
const versions = secretNames.map((name) => ({ name, version: randomBytes(16).toString('hex'), changed: false }));
const facts = { tenantId, cloudName: 'AzurePublicCloud', clientIds };

async function step<T>(fn: () => Promise<T>): Promise<{ ms: number; calls: Call[]; result: T }> {
  calls = [];
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, calls, result };
}

const log = (m: string): void => {
  process.stderr.write(`[kube-noop] ${m}\n`);
};
const quiet = (): (() => void) => {
  const w = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  return () => {
    process.stdout.write = w;
  };
};

try {
  log(`${NS} namespaces (run ${runId}): first apply`);
  let restore = quiet();
  await applyKubeObjects(kube, manifest, facts, { mode: 'apply' });
  for (const ns of namespaces) {
    await admin.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'consumer', namespace: ns },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'consumer' } },
          template: {
            metadata: { labels: { app: 'consumer' } },
            spec: {
              serviceAccountName: 'bench-app',
              containers: [{ name: 'app', image: 'registry.invalid/x:1', volumeMounts: [{ name: 's', mountPath: '/mnt/s', readOnly: true }] }],
              volumes: [{ name: 's', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: 'bench-secrets' } } }],
            },
          },
        },
      },
    });
  }
  await restartChangedWorkloads(kube, manifest, versions, { mode: 'apply' });
  restore();
  const applyMs: number[] = [];
  const rotMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    restore = quiet();
    const a = await step(() => applyKubeObjects(kube, manifest, facts, { mode: 'apply' }));
    const b = await step(() => restartChangedWorkloads(kube, manifest, versions, { mode: 'apply' }));
    const p = await step(() => applyKubeObjects(kube, manifest, facts, { mode: 'plan' }));
    restore();
    const notUnchanged = [...a.result, ...b.result.items, ...p.result].filter((i) => i.action !== 'unchanged');
    if (notUnchanged.length) throw new Error(`no-op round ${r} changed something: ${JSON.stringify(notUnchanged.slice(0, 3))}`);
    const writes = [...a.calls, ...b.calls].filter((c) => /patch|create|delete|replace/i.test(c.method)).length;
    applyMs.push(a.ms);
    rotMs.push(b.ms);
    log(
      `round ${r}: kubernetes objects ${a.ms.toFixed(0)} ms (${a.calls.length} calls, ${writes} writes: ${summary(a.calls)}); rotation ${b.ms.toFixed(0)} ms (${b.calls.length} calls: ${summary(b.calls)}); plan ${p.ms.toFixed(0)} ms (${p.calls.length} calls)`,
    );
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  process.stdout.write(
    `no-op re-run, ${NS} namespaces, median of ${ROUNDS}: kubernetes objects ${med(applyMs).toFixed(0)} ms, rotation ${med(rotMs).toFixed(0)} ms, together ${(med(applyMs) + med(rotMs)).toFixed(0)} ms\n`,
  );
} finally {
  if (!keep) {
    for (const name of namespaces) await admin.core.deleteNamespace({ name }).catch(() => undefined);
    // Wait until they are gone, so the namespace controller's work does not load the next run.
    const deadline = Date.now() + 120_000;
    for (const name of namespaces) {
      while (Date.now() < deadline) {
        const gone = await admin.core.readNamespace({ name }).then(
          () => false,
          () => true,
        );
        if (gone) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}
