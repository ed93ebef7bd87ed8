// One HTTP(S) request with node's own client, for the calls the action makes outside the SDKs (the
// Entra token request, the runner's ID-token endpoint, the ARM and Key Vault reads). The global fetch
// would load a second HTTP stack (undici) at start for them, about 35 ms of every run.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface HttpSendOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** An answer longer than this is not the service's: the request is dropped. */
  maxBytes: number;
}

/** The request never got a whole answer (refused, reset, DNS, too long): worth a retry, unlike an error status. */
export class NetworkError extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'NetworkError';
  }
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
let agents: { http: HttpAgent; https: HttpsAgent } | undefined;

/**
 * The process' keep-alive agents (idle sockets closed after 5 s, as node's global agents). HTTPS
 * connections share one TLS context (the default CAs and NODE_EXTRA_CA_CERTS): node would build one
 * per connection, about 1.5 ms each. When the environment names a proxy they use it (and NO_PROXY),
 * as the Azure SDKs' clients do: node's built-in proxy support (`proxyEnv`, Node 24.5+).
 */
function agentFor(protocol: string): HttpAgent {
  if (!agents) {
    const proxy = PROXY_VARIABLES.some((v) => process.env[v]) ? { proxyEnv: process.env } : {};
    agents = {
      http: new HttpAgent({ keepAlive: true, timeout: 5_000, ...proxy }),
      https: new HttpsAgent({ keepAlive: true, timeout: 5_000, secureContext: createSecureContext(), ...proxy }),
    };
  }
  return protocol === 'http:' ? agents.http : agents.https;
}

/** Sends one request and reads the whole answer as UTF-8; `what` names the call in a NetworkError. */
export function httpSend(url: string, o: HttpSendOptions, what: string): Promise<HttpAnswer> {
  const target = new URL(url);
  const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
  const agent = agentFor(target.protocol);
  const headers = o.body === undefined ? o.headers : { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) };
  return new Promise((resolve, reject) => {
    const onAnswer = (res: IncomingMessage): void => {
      readBounded(res, o.maxBytes).then(
        (text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
        (e: unknown) => reject(new NetworkError(what, e)),
      );
    };
    const req = send(target, { method: o.method, headers, signal: o.signal, agent }, onAnswer);
    req.on('error', (e) => reject(o.signal?.aborted ? e : new NetworkError(what, e)));
    req.end(o.body);
  });
}

/** A whole answer as UTF-8; one longer than `maxBytes` is dropped (the response fails). */
export function readBounded(res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) res.destroy(new Error(`the answer is longer than ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** The first value of a response header, if any. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name.toLowerCase()];
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
}
