// The Kubernetes API over node's https: one keep-alive agent per cluster and TLS material, JSON in
// and out, the apiserver's Status as the error, and watches as line-delimited JSON streams.
import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readBounded } from '../util/http-send.ts';
import { ExecCredentialSource } from './exec-credential.ts';
import type { ClusterAccess } from './kubeconfig.ts';

/** An error answer of the apiserver: `code` the HTTP status, `body` its Status JSON as text. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: string;
  constructor(method: string, path: string, code: number, body: string) {
    super(`HTTP ${code} on ${method} ${path.split('?')[0]}: ${statusMessage(body) ?? 'no message'}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
  }
}

/** The Status message of an error answer; nothing of a body that is not the apiserver's JSON. */
function statusMessage(body: string): string | undefined {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return body ? `an answer of ${Buffer.byteLength(body)} bytes that is not JSON` : undefined;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  /** Content type of a PATCH (merge, strategic merge, JSON patch, apply). */
  contentType?: string;
}

/** An apiserver answer longer than this is not one the action asked for. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

export function withQuery(path: string, query: Query | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

interface Credentials {
  headers: Record<string, string>;
  cert?: Buffer;
  key?: Buffer;
}

/** One cluster's connection: shared agents, credentials per request (an exec plugin's may rotate). */
export class KubeHttp {
  readonly server: URL;
  private readonly agents = new Map<string, Agent>();
  private readonly exec?: ExecCredentialSource;
  private readonly access: ClusterAccess;

  constructor(access: ClusterAccess) {
    this.access = access;
    this.server = new URL(access.server);
    if (access.auth.kind === 'exec') this.exec = new ExecCredentialSource(access.auth.plugin, access.server);
  }

  private async credentials(): Promise<Credentials> {
    const a = this.access.auth;
    const headers: Record<string, string> = {};
    let cert = this.access.cert;
    let key = this.access.key;
    if (a.kind === 'token') headers.authorization = `Bearer ${a.token}`;
    else if (a.kind === 'token-file') headers.authorization = `Bearer ${readFileSync(a.path, 'utf8').trim()}`;
    else if (a.kind === 'basic') headers.authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
    else if (this.exec) {
      const c = await this.exec.get();
      if (c.token) headers.authorization = `Bearer ${c.token}`;
      if (c.cert && c.key) ({ cert, key } = c);
    }
    return { headers, cert, key };
  }

  /** The agent for this TLS material (a rotated client certificate gets its own). */
  private agentFor(cert: Buffer | undefined, key: Buffer | undefined): Agent {
    const id = cert ? createHash('sha256').update(cert).digest('hex') : '';
    let agent = this.agents.get(id);
    if (!agent) {
      agent = new Agent({
        keepAlive: true,
        // One TLS context for the agent's connections (node would build one per connection).
        secureContext: createSecureContext({ ca: this.access.ca, cert, key }),
        rejectUnauthorized: !this.access.insecureSkipTlsVerify,
        servername: this.access.tlsServerName,
      });
      this.agents.set(id, agent);
    }
    return agent;
  }

  private async open(r: KubeRequest, signal?: AbortSignal): Promise<IncomingMessage> {
    const { headers, cert, key } = await this.credentials();
    const path = `${this.server.pathname.replace(/\/+$/, '')}${withQuery(r.path, r.query)}`;
    const body = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    if (body !== undefined) {
      headers['content-type'] = r.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    headers.accept = 'application/json';
    headers['user-agent'] = 'akv-aks-action';
    return new Promise((resolve, reject) => {
      // An IPv6 literal comes bracketed in the URL, not in the socket's host.
      const req = request({ host: this.server.hostname.replace(/^\[(.*)\]$/, '$1'), port: this.server.port || 443, path, method: r.method, headers, agent: this.agentFor(cert, key), signal }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  }

  /** One request; the parsed JSON answer, or KubeApiError. */
  async json<T>(r: KubeRequest): Promise<T> {
    const res = await this.open(r);
    const text = await readBounded(res, MAX_ANSWER_BYTES);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeApiError(r.method, r.path, status, text);
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      // JSON.parse quotes the text it failed on, and a list of Secrets carries their values.
      throw new Error(`the answer to ${r.method} ${r.path.split('?')[0]} is not JSON (${Buffer.byteLength(text)} bytes)`);
    }
  }

  /**
   * A watch: each event object in order until the server ends the stream (resolves) or it fails
   * (rejects, KubeApiError for an error answer). `signal` ends it from this side.
   */
  async watch(path: string, query: Query, onEvent: (e: { type: string; object: unknown }) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open({ method: 'GET', path, query: { ...query, watch: true } }, signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeApiError('GET', path, status, await readBounded(res, MAX_ANSWER_BYTES));
    res.setEncoding('utf8');
    let partial = '';
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          let event: { type: string; object: unknown };
          try {
            event = JSON.parse(line) as { type: string; object: unknown };
          } catch {
            // Not the apiserver's (a proxy's page, a cut line): this watch ends as failed, never the process.
            res.destroy(new Error(`the watch of ${path} sent a line that is not JSON`));
            return;
          }
          onEvent(event);
        }
      });
      res.on('end', resolve);
      res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      res.on('close', resolve);
    });
  }

  /** Closes the idle keep-alive sockets (the run is over). */
  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
