// Shared HTTPS plumbing of the Azure simulators: body reading, JSON replies, fault injection
// through world.takeFault (status / latency / connection reset) and request records.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { HOST } from '../ports.ts';
import type { CertPaths } from '../pki.ts';
import type { AzureService, Fault, RequestRecord } from './world-api.ts';
import type { World } from './world.ts';

/**
 * Idle keep-alive connections stay open for minutes, as Azure's front ends keep them: with Node's
 * 5 s default a client whose event loop is busy can pick a socket the server just closed
 * ("other side closed") — a failure of the test machine's load, not of the service.
 */
export function keepIdleConnections(server: { keepAliveTimeout: number; headersTimeout: number }): void {
  server.keepAliveTimeout = 240_000;
  server.headersTimeout = 245_000;
}

export interface HttpRequestInfo {
  method: string;
  url: URL;
  /** Raw path + query as sent. */
  rawPath: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status: number;
  /** JSON body (serialised). */
  body?: unknown;
  /** Raw text body (wins over `body`). */
  text?: string;
  headers?: Record<string, string>;
  /** Request class for the stats (default: GET/HEAD read, others write). */
  class?: RequestRecord['class'];
  /** More value-free facts for the request's record (Entra: who asked, with whose assertion). */
  record?: Pick<RequestRecord, 'clientId' | 'assertionIssuer'>;
}

export type ServiceHandler = (req: HttpRequestInfo) => Promise<Reply> | Reply;

export interface RunningServer {
  close(): Promise<void>;
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendReply(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: string | undefined;
  if (reply.text !== undefined) payload = reply.text;
  else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json; charset=utf-8';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  else headers['content-length'] = '0';
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const DEFAULT_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function defaultCode(status: number): string {
  return DEFAULT_CODES[status] ?? `Http${status}`;
}

/** The reply an injected `status` fault produces; `errorBody` shapes it for the service. */
export function faultReply(fault: Fault & { effect: { kind: 'status' } }, errorBody: (status: number, code: string, message: string) => unknown): Reply {
  const e = fault.effect;
  const code = e.code ?? defaultCode(e.status);
  const message = e.message ?? `Injected fault: ${code}.`;
  const headers: Record<string, string> = { ...(e.headers ?? {}) };
  if (e.retryAfterSeconds !== undefined) headers['retry-after'] = String(e.retryAfterSeconds);
  return { status: e.status, body: e.status === 204 ? undefined : errorBody(e.status, code, message), headers };
}

export interface ServiceOptions {
  service: AzureService;
  world: World;
  port: number;
  cert: CertPaths;
  handler: ServiceHandler;
  errorBody: (status: number, code: string, message: string) => unknown;
  log: (message: string) => void;
}

/** Starts one HTTPS simulator on 127.0.0.1:port with fault injection and request records. */
export async function startHttpsService(o: ServiceOptions): Promise<RunningServer> {
  const server = createServer({ cert: readFileSync(o.cert.cert), key: readFileSync(o.cert.key) }, (req, res) => {
    void (async () => {
      const method = (req.method ?? 'GET').toUpperCase();
      const rawPath = req.url ?? '/';
      let status = 0;
      let cls: RequestRecord['class'] | undefined;
      let dropped = false;
      let facts: Reply['record'];
      try {
        const body = await readBody(req);
        const fault = o.world.takeFault(o.service, method, rawPath);
        if (fault?.effect.kind === 'reset') {
          status = 0;
          req.socket.destroy();
          return;
        }
        if (fault?.effect.kind === 'latency') await sleep(fault.effect.ms);
        let reply: Reply;
        if (fault?.effect.kind === 'status') reply = faultReply(fault as Fault & { effect: { kind: 'status' } }, o.errorBody);
        else {
          const url = new URL(`https://${HOST}:${o.port}${rawPath.startsWith('/') ? '' : '/'}${rawPath}`);
          reply = await o.handler({ method, url, rawPath, headers: req.headers, body });
        }
        status = reply.status;
        cls = reply.class;
        facts = reply.record;
        if (fault?.effect.kind === 'drop-response') {
          dropped = true;
          req.socket.destroy();
          return;
        }
        sendReply(res, reply);
      } catch (e) {
        status = 500;
        o.log(`${method} ${rawPath.split('?')[0]} failed: ${(e as Error).message}`);
        if (!res.headersSent) sendReply(res, { status: 500, body: o.errorBody(500, 'InternalServerError', 'The sandbox simulator failed.') });
        else res.destroy();
      } finally {
        o.world.record({
          service: o.service,
          method,
          path: rawPath,
          status,
          at: Date.now(),
          class: cls ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'write'),
          ...(dropped ? { dropped } : {}),
          ...facts,
        });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    keepIdleConnections(server);
    server.listen(o.port, HOST, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function jsonBody<T = unknown>(req: HttpRequestInfo): T | undefined {
  if (req.body.length === 0) return undefined;
  return JSON.parse(req.body.toString('utf8')) as T;
}

/** application/x-www-form-urlencoded body. */
export function formBody(req: HttpRequestInfo): URLSearchParams {
  return new URLSearchParams(req.body.toString('utf8'));
}
