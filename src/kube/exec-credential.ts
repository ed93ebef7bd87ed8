// A client-go exec credential plugin (kubelogin on AKS), run as kubectl runs it: KUBERNETES_EXEC_INFO
// in its environment, an ExecCredential on stdout (a token, or a client certificate and key), kept
// until its expirationTimestamp. Its output holds credentials: never logged.
import { execFile } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import type { ExecPlugin } from './kubeconfig.ts';
import { KubeConfigError } from './kubeconfig.ts';

export interface ExecCredential {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** Epoch ms after which it is asked for again; undefined: valid for the run. */
  expiresAt?: number;
}

/** A plugin's answer is a few KiB; a longer one is not a credential. */
const MAX_OUTPUT_BYTES = 1024 * 1024;
const TIMEOUT_MS = 120_000;
/** Asked for again this long before it expires. */
const EXPIRY_MARGIN_MS = 30_000;

/** Pure: the plugin's ExecCredential JSON, or why it is not one (without its content). */
export function parseExecCredential(stdout: string, command: string): ExecCredential {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new KubeConfigError(`the kubeconfig's exec plugin ${command} printed no ExecCredential JSON`);
  }
  const status = (doc as { status?: Record<string, unknown> } | null)?.status ?? {};
  const token = typeof status.token === 'string' && status.token ? status.token : undefined;
  const cert = typeof status.clientCertificateData === 'string' && status.clientCertificateData ? Buffer.from(status.clientCertificateData) : undefined;
  const key = typeof status.clientKeyData === 'string' && status.clientKeyData ? Buffer.from(status.clientKeyData) : undefined;
  if (!token && !(cert && key)) throw new KubeConfigError(`the kubeconfig's exec plugin ${command} returned neither a token nor a client certificate and key`);
  const expiry = typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
  return { token, cert, key, expiresAt: Number.isFinite(expiry) ? expiry : undefined };
}

function execInfo(plugin: ExecPlugin, server: string): string {
  return JSON.stringify({ apiVersion: plugin.apiVersion, kind: 'ExecCredential', spec: { interactive: false, ...(plugin.provideClusterInfo ? { cluster: { server } } : {}) } });
}

function runPlugin(plugin: ExecPlugin, server: string): Promise<string> {
  // A bare name is looked up on PATH; a path with a separator is relative to the kubeconfig.
  const command = plugin.command.includes('/') && !isAbsolute(plugin.command) ? join(plugin.baseDir, plugin.command) : plugin.command;
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: execInfo(plugin, server) };
  for (const e of plugin.env) env[e.name] = e.value;
  return new Promise((resolve, reject) => {
    execFile(command, plugin.args, { env, maxBuffer: MAX_OUTPUT_BYTES, timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        // stderr is the plugin's own message (kubelogin says what is missing); its first line only.
        const why = stderr.trim().split('\n')[0]?.slice(0, 300) || err.message.split('\n')[0];
        reject(new KubeConfigError(`the kubeconfig's exec plugin ${plugin.command} failed: ${why}`));
      } else resolve(stdout);
    });
  });
}

/** One cached credential per plugin: concurrent requests share one run of it. */
export class ExecCredentialSource {
  private current?: Promise<ExecCredential>;
  private expiresAt?: number;
  private readonly plugin: ExecPlugin;
  private readonly server: string;

  constructor(plugin: ExecPlugin, server: string) {
    this.plugin = plugin;
    this.server = server;
  }

  get(now: number = Date.now()): Promise<ExecCredential> {
    if (!this.current || (this.expiresAt !== undefined && now >= this.expiresAt - EXPIRY_MARGIN_MS)) {
      this.expiresAt = undefined;
      const p = runPlugin(this.plugin, this.server).then((out) => parseExecCredential(out, this.plugin.command));
      this.current = p;
      p.then(
        (c) => {
          if (this.current === p) this.expiresAt = c.expiresAt;
        },
        () => {
          if (this.current === p) this.current = undefined;
        },
      );
    }
    return this.current;
  }
}
