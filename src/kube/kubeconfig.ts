// The kubeconfig, read as kubectl reads it: KUBECONFIG (several files, the first one naming an
// entry wins), else ~/.kube/config, else the pod's service account when the runner runs in a
// cluster. Resolved into what one connection needs: the server, its TLS material and how to
// authenticate. Design note: docs/architecture.md, "Kubernetes connections".
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { readBlockYaml } from '../util/block-yaml.ts';

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

/** A client-go exec credential plugin (kubelogin on AKS): command, args, env, API version. */
export interface ExecPlugin {
  command: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  apiVersion: string;
  /** The kubeconfig's directory: a relative command is resolved against it, as kubectl does. */
  baseDir: string;
  /** Whether the plugin wants the cluster's details in KUBERNETES_EXEC_INFO. */
  provideClusterInfo: boolean;
}

export type KubeAuth =
  { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'token-file'; path: string } | { kind: 'basic'; username: string; password: string } | { kind: 'exec'; plugin: ExecPlugin };

/** Everything one connection to the cluster needs. Holds credentials: never log it. */
export interface ClusterAccess {
  context: string;
  cluster: string;
  server: string;
  ca?: Buffer;
  /** A client certificate and key (PEM), when the user authenticates with one. */
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  auth: KubeAuth;
}

interface Named<T> {
  name: string;
  value: T;
  /** Directory of the file the entry came from (relative paths are relative to it). */
  dir: string;
}

type Entry = Record<string, unknown>;

interface Merged {
  currentContext?: string;
  clusters: Map<string, Named<Entry>>;
  users: Map<string, Named<Entry>>;
  contexts: Map<string, Named<Entry>>;
}

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const record = (v: unknown): Entry => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Entry) : {});

function addNamed(into: Map<string, Named<Entry>>, list: unknown, field: string, dir: string): void {
  if (!Array.isArray(list)) return;
  for (const item of list as unknown[]) {
    const r = record(item);
    const name = str(r.name);
    if (name && !into.has(name)) into.set(name, { name, value: record(r[field]), dir });
  }
}

/** A kubeconfig is read as kubectl reads it, without the manifest's bounds. */
const UNBOUNDED = { maxTokens: Infinity, maxMappingEntries: Infinity };

/** One kubeconfig file merged into `into` (the first file naming a cluster, user or context wins). */
function readConfigFile(file: string, into: Merged): void {
  let doc: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    doc = readBlockYaml(text, UNBOUNDED)?.data ?? parse(text);
  } catch (e) {
    throw new KubeConfigError(`cannot load kubeconfig ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = record(doc);
  const dir = dirname(file);
  into.currentContext ??= str(r['current-context']);
  addNamed(into.clusters, r.clusters, 'cluster', dir);
  addNamed(into.users, r.users, 'user', dir);
  addNamed(into.contexts, r.contexts, 'context', dir);
}

/** The kubeconfig files kubectl would read: the given one, else KUBECONFIG's list, else ~/.kube/config. */
export function kubeconfigFiles(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (file) return [file];
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (fromEnv.length) return fromEnv.filter((f) => existsSync(f));
  const home = join(env.HOME || homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

function fileOrData(entry: Entry, key: string, dir: string, what: string): Buffer | undefined {
  const data = str(entry[`${key}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry[key]);
  if (!file) return undefined;
  const path = isAbsolute(file) ? file : join(dir, file);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new KubeConfigError(`cannot read the ${what} ${path} named by the kubeconfig: ${(e as Error).message}`);
  }
}

function execPlugin(user: Entry, dir: string, userName: string): ExecPlugin {
  const exec = record(user.exec);
  const command = str(exec.command);
  if (!command) throw new KubeConfigError(`kubeconfig user "${userName}" has an exec plugin without a command`);
  const args = Array.isArray(exec.args) ? (exec.args as unknown[]).map(String) : [];
  const env = Array.isArray(exec.env) ? (exec.env as unknown[]).map(record).map((e) => ({ name: String(e.name ?? ''), value: String(e.value ?? '') })) : [];
  return { command, args, env, apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1', baseDir: dir, provideClusterInfo: exec.provideClusterInfo === true };
}

function authOf(user: Entry, dir: string, userName: string): KubeAuth {
  if (user['auth-provider']) {
    const provider = str(record(user['auth-provider']).name) ?? 'unnamed';
    throw new KubeConfigError(
      `kubeconfig user "${userName}" uses the "${provider}" auth-provider, which kubectl itself dropped: convert the kubeconfig to an exec plugin (azure/aks-set-context with use-kubelogin: true, or kubelogin convert-kubeconfig)`,
    );
  }
  if (user.exec) return { kind: 'exec', plugin: execPlugin(user, dir, userName) };
  const token = str(user.token);
  if (token) return { kind: 'token', token };
  const tokenFile = str(user.tokenFile);
  if (tokenFile) return { kind: 'token-file', path: isAbsolute(tokenFile) ? tokenFile : join(dir, tokenFile) };
  const username = str(user.username);
  if (username) return { kind: 'basic', username, password: String(user.password ?? '') };
  return { kind: 'none' };
}

function inClusterAccess(env: NodeJS.ProcessEnv): ClusterAccess | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(join(IN_CLUSTER_DIR, 'token'))) return undefined;
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    context: 'in-cluster',
    cluster: 'in-cluster',
    server,
    ca: readFileSync(join(IN_CLUSTER_DIR, 'ca.crt')),
    insecureSkipTlsVerify: false,
    auth: { kind: 'token-file', path: join(IN_CLUSTER_DIR, 'token') },
  };
}

/** Resolves the kubeconfig (file given, else KUBECONFIG / ~/.kube/config / in-cluster) for a context (default: current). */
export function loadClusterAccess(opts: { kubeconfig?: string; context?: string } = {}, env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const files = kubeconfigFiles(opts.kubeconfig, env);
  if (!files.length) {
    const inCluster = opts.context ? undefined : inClusterAccess(env);
    if (inCluster) return inCluster;
    throw new KubeConfigError(`cannot load kubeconfig ${opts.kubeconfig ?? env.KUBECONFIG ?? '~/.kube/config'}: no such file`);
  }
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const f of files) readConfigFile(f, merged);
  const contextName = opts.context ?? merged.currentContext;
  if (!contextName) throw new KubeConfigError('kubeconfig has no current cluster: run azure/aks-set-context first or give the kubeconfig / context inputs');
  const context = merged.contexts.get(contextName);
  if (!context) {
    const known = [...merged.contexts.keys()];
    throw new KubeConfigError(`kubeconfig has no context "${contextName}" (known: ${known.length ? known.join(', ') : 'none'})`);
  }
  const clusterName = str(context.value.cluster) ?? '';
  const cluster = merged.clusters.get(clusterName);
  const server = str(cluster?.value.server);
  if (!cluster || !server) throw new KubeConfigError(`kubeconfig context "${contextName}" names no cluster with a server: run azure/aks-set-context first or give the kubeconfig / context inputs`);
  if (str(cluster.value['proxy-url'])) throw new KubeConfigError(`kubeconfig cluster "${clusterName}" goes through a proxy-url, which this action does not support`);
  const userName = str(context.value.user) ?? '';
  const user = merged.users.get(userName);
  const userEntry = user?.value ?? {};
  const userDir = user?.dir ?? cluster.dir;
  return {
    context: contextName,
    cluster: clusterName,
    server: server.replace(/\/+$/, ''),
    ca: fileOrData(cluster.value, 'certificate-authority', cluster.dir, 'certificate authority'),
    cert: fileOrData(userEntry, 'client-certificate', userDir, 'client certificate'),
    key: fileOrData(userEntry, 'client-key', userDir, 'client key'),
    insecureSkipTlsVerify: cluster.value['insecure-skip-tls-verify'] === true,
    tlsServerName: str(cluster.value['tls-server-name']),
    auth: authOf(userEntry, userDir, userName),
  };
}
