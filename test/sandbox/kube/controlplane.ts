// The local control plane: etcd, kube-apiserver (127.0.0.1:27643, serving cert from the sandbox CA,
// service-account issuer = its own URL) and kube-controller-manager. Data dirs are wiped at start.
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureCa } from '../pki.ts';
import { HOST, PORTS } from '../ports.ts';
import type { KubeBinaries } from './build.ts';
import { apiserverServingCert, issueClientCert, serviceAccountKeys } from './kube-pki.ts';
import { startProcess, waitUntil, type ManagedProcess } from './proc.ts';

export const CLUSTER_NAME = 'sandbox';
export const RESOURCE_GROUP = 'rg-sandbox';
export const APISERVER_URL = `https://${HOST}:${PORTS.kubeApiserver}`;
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/16';
/** The user of the kubeconfig the sandbox writes (the action's and the tests' requests). */
export const CLUSTER_USER = 'clusterUser';
/**
 * The apiserver's audit log (JSON lines, `logs/audit.log`): one Metadata event per completed request
 * of CLUSTER_USER only (the controllers and the kubelet stand-in are not logged), so a benchmark can
 * count the Kubernetes API requests of one action run.
 */
export const AUDIT_LOG = 'audit.log';
const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived', 'ResponseStarted'],
  rules: [{ level: 'Metadata', users: [CLUSTER_USER] }, { level: 'None' }],
};

/**
 * Controllers kube-controller-manager runs: all defaults except those that need a cloud, a real
 * node network or a CSR signer. Node lifecycle is off: the fake node has no kubelet heartbeats to
 * miss, so nothing should taint it and evict the pods.
 */
export const DISABLED_CONTROLLERS = ['node-lifecycle-controller', 'node-ipam-controller', 'certificatesigningrequest-signing-controller', 'persistentvolume-attach-detach-controller'];

export interface ControlPlane {
  /** The kubeconfig written for the action (context `sandbox`), as azure/aks-set-context leaves it. */
  kubeconfig: string;
  /** Logs of etcd, kube-apiserver, kube-controller-manager. */
  logDir: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  bins: KubeBinaries;
  /** `.sandbox/kube`: wiped at start. */
  dir: string;
  /** `.sandbox/pki`: the sandbox CA and server certs. */
  pkiDir: string;
  log: (message: string) => void;
  /** Called when a component exits while it should be running. */
  onCrash?: (name: string, code: number | string) => void;
}

function b64(path: string): string {
  return readFileSync(path).toString('base64');
}

export function kubeconfigYaml(opts: { server: string; caPath: string; certPath: string; keyPath: string; cluster: string; user: string; context: string }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: opts.cluster, cluster: { server: opts.server, 'certificate-authority-data': b64(opts.caPath) } }],
    users: [{ name: opts.user, user: { 'client-certificate-data': b64(opts.certPath), 'client-key-data': b64(opts.keyPath) } }],
    contexts: [{ name: opts.context, context: { cluster: opts.cluster, user: opts.user } }],
    'current-context': opts.context,
    preferences: {},
  });
}

function httpsGet(url: string, ca: Buffer, client?: { cert: Buffer; key: Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, cert: client?.cert, key: client?.key, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Resolves when nothing listens on 127.0.0.1:port (a leftover etcd would answer our health check). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { bins, dir, pkiDir, log } = opts;
  for (const port of [PORTS.etcdClient, PORTS.etcdPeer, PORTS.kubeApiserver, PORTS.kubelet]) {
    if (!(await portFree(port))) throw new Error(`127.0.0.1:${port} is already in use: is another sandbox (or a leftover etcd/kube-apiserver) running?`);
  }
  await rm(dir, { recursive: true, force: true });
  const etcdData = join(dir, 'etcd');
  const logDir = join(dir, 'logs');
  const certDir = join(dir, 'pki');
  await mkdir(etcdData, { recursive: true, mode: 0o700 });
  await mkdir(logDir, { recursive: true });
  await mkdir(certDir, { recursive: true });

  const ca = ensureCa(pkiDir);
  const serving = apiserverServingCert(pkiDir);
  const sa = serviceAccountKeys(certDir);
  const admin = issueClientCert(pkiDir, certDir, 'cluster-user', CLUSTER_USER, ['system:masters']);
  const auditPolicy = join(dir, 'audit-policy.yaml');
  await writeFile(auditPolicy, stringify(AUDIT_POLICY));
  const kcmCert = issueClientCert(pkiDir, certDir, 'kube-controller-manager', 'system:kube-controller-manager', []);

  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    kubeconfigYaml({
      server: APISERVER_URL,
      caPath: ca.cert,
      certPath: admin.cert,
      keyPath: admin.key,
      cluster: CLUSTER_NAME,
      user: `clusterUser_${RESOURCE_GROUP}_${CLUSTER_NAME}`,
      context: CLUSTER_NAME,
    }),
    { mode: 0o600 },
  );
  const kcmKubeconfig = join(certDir, 'kube-controller-manager.kubeconfig');
  await writeFile(
    kcmKubeconfig,
    kubeconfigYaml({ server: APISERVER_URL, caPath: ca.cert, certPath: kcmCert.cert, keyPath: kcmCert.key, cluster: CLUSTER_NAME, user: 'system:kube-controller-manager', context: 'kcm' }),
    { mode: 0o600 },
  );

  const processes: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...processes].reverse()) {
      await p.stop();
      log(`stopped ${p.name}`);
    }
    processes.length = 0;
  };
  const crash = (name: string) => (code: number | string) => {
    log(`${name} exited unexpectedly (${code}); see ${join(logDir, `${name}.log`)}`);
    opts.onCrash?.(name, code);
  };

  try {
    // etcd
    const etcdUrl = `http://${HOST}:${PORTS.etcdClient}`;
    const peerUrl = `http://${HOST}:${PORTS.etcdPeer}`;
    const etcd = startProcess(
      'etcd',
      bins.etcd,
      [
        '--name=sandbox',
        `--data-dir=${etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=sandbox=${peerUrl}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        '--log-level=warn',
        '--quota-backend-bytes=2147483648',
      ],
      { logPath: join(logDir, 'etcd.log'), onUnexpectedExit: crash('etcd') },
    );
    processes.push(etcd);
    await waitUntil(
      'etcd /health',
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { timeoutMs: 30_000, proc: etcd },
    );
    log(`etcd ready on ${etcdUrl}`);

    // kube-apiserver
    const apiserver = startProcess(
      'kube-apiserver',
      bins.apiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${HOST}`,
        `--advertise-address=${HOST}`,
        `--secure-port=${PORTS.kubeApiserver}`,
        `--cert-dir=${certDir}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-private-key-file=${serving.key}`,
        `--client-ca-file=${ca.cert}`,
        `--service-account-issuer=${APISERVER_URL}`,
        `--service-account-key-file=${sa.publicKey}`,
        `--service-account-signing-key-file=${sa.privateKey}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--authorization-mode=Node,RBAC',
        '--anonymous-auth=true',
        // the endpoint reconciler refuses a loopback advertise address; nothing in-cluster needs it
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        '--profiling=false',
        '--enable-priority-and-fairness=false',
        '--event-ttl=1h',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${join(logDir, AUDIT_LOG)}`,
        '--audit-log-format=json',
        '--audit-log-maxsize=200',
        '--audit-log-maxbackup=1',
        '--v=1',
      ],
      { logPath: join(logDir, 'kube-apiserver.log'), onUnexpectedExit: crash('kube-apiserver') },
    );
    processes.push(apiserver);
    const caPem = readFileSync(ca.cert);
    const client = { cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
    await waitUntil('kube-apiserver /readyz', async () => (await httpsGet(`${APISERVER_URL}/readyz`, caPem, client)).status === 200, { timeoutMs: 180_000, intervalMs: 500, proc: apiserver });
    log(`kube-apiserver ready on ${APISERVER_URL}`);

    // kube-controller-manager
    const kcm = startProcess(
      'kube-controller-manager',
      bins.controllerManager,
      [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--secure-port=0',
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${sa.privateKey}`,
        `--root-ca-file=${ca.cert}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        `--controllers=*,${DISABLED_CONTROLLERS.map((c) => `-${c}`).join(',')}`,
        '--concurrent-deployment-syncs=5',
        '--concurrent-replicaset-syncs=5',
        '--profiling=false',
        '--v=1',
      ],
      { logPath: join(logDir, 'kube-controller-manager.log'), onUnexpectedExit: crash('kube-controller-manager') },
    );
    processes.push(kcm);
    log('kube-controller-manager started');
  } catch (err) {
    await stop();
    throw err;
  }

  return { kubeconfig, logDir, processes, stop };
}
