// The authorization proxy in front of the vault emulator: one HTTPS listener per world vault on
// `vault.proxyPort` (the host of the vault's `vaultUri`). It answers the way Key Vault does:
// the bearer challenge, token verification against the Entra simulator, RBAC / access-policy
// decisions (through the world), per-vault throttling, injected faults; then hands the request
// to the backend (the built-in engine or lowkey-vault) and records it.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { HOST } from '../../ports.ts';
import type { CertPaths } from '../../pki.ts';
import type { AzureWorld, Fault, RequestRecord, VaultRecord } from '../world-api.ts';
import { classifyVaultRequest, type VaultOperation } from './actions.ts';
import type { KvAnswer } from './errors.ts';
import { badParameter, beingDeleted, deletedSecretNotFound, forbidden, internalError, invalidToken, kvError, missingToken, KV_RESOURCE, secretNotFound, throttled } from './errors.ts';
import { DEFAULT_LIMITS, VaultThrottle, type ThrottleLimits } from './throttle.ts';

export interface BackendRequest {
  method: string;
  pathname: string;
  search: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface BackendAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What serves authorized requests: the built-in engine or lowkey-vault. */
export interface VaultBackend {
  readonly kind: 'builtin' | 'lowkey';
  ensureVault(v: VaultRecord): Promise<void>;
  dropVault(name: string): Promise<void>;
  /** Deletes every object of the vault (reset). */
  clearVault(v: VaultRecord): Promise<void>;
  serve(v: VaultRecord, req: BackendRequest): Promise<BackendAnswer>;
  stop(): Promise<void>;
}

/** A LIST page that fails: the `page`-th page (1 = first) of a listing answers `status`. */
export interface ListPageFault {
  id: string;
  /** Operation ids from actions.ts, e.g. `secrets.list`, `secrets.listVersions`, `secrets.listDeleted`. */
  op: string;
  page: number;
  status: number;
  times: number;
}

export interface VaultStats {
  requests: number;
  reads: number;
  writes: number;
  throttled: number;
  byStatus: Record<string, number>;
}

class VaultState {
  readonly throttle: VaultThrottle;
  deleteSettleMs = 0;
  recoverSettleMs = 0;
  readonly deleting = new Map<string, number>();
  readonly recovering = new Map<string, number>();
  listFaults: ListPageFault[] = [];
  faults: Fault[] = [];
  /** $skiptoken → the page number it opens (learned from the nextLinks served). */
  readonly tokenPages = new Map<string, number>();
  stats: VaultStats = { requests: 0, reads: 0, writes: 0, throttled: 0, byStatus: {} };

  constructor(limits: ThrottleLimits) {
    this.throttle = new VaultThrottle(limits);
  }

  resetFaults(): void {
    this.deleteSettleMs = 0;
    this.recoverSettleMs = 0;
    this.deleting.clear();
    this.recovering.clear();
    this.listFaults = [];
    this.faults = [];
    this.tokenPages.clear();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readBody(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function takeMatching(list: Fault[], method: string, path: string): Fault | undefined {
  for (let i = 0; i < list.length; i++) {
    const f = list[i] as Fault;
    if (f.method && f.method.toUpperCase() !== method.toUpperCase()) continue;
    if (f.pathPattern !== undefined && !new RegExp(f.pathPattern).test(path)) continue;
    f.times -= 1;
    if (f.times <= 0) list.splice(i, 1);
    return { ...f };
  }
  return undefined;
}

const STATUS_CODES: Record<number, string> = {
  400: 'BadParameter',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** The answer of an injected `status` fault, shaped as a Key Vault error. */
export function faultAnswer(effect: Extract<Fault['effect'], { kind: 'status' }>): KvAnswer {
  let a: KvAnswer;
  if (effect.status === 429 && !effect.code) a = throttled(effect.retryAfterSeconds);
  else a = kvError(effect.status, effect.code ?? STATUS_CODES[effect.status] ?? `Http${effect.status}`, effect.message ?? `Injected fault: HTTP ${effect.status}.`);
  const headers: Record<string, string> = { ...(a.headers ?? {}), ...(effect.headers ?? {}) };
  if (effect.retryAfterSeconds !== undefined) headers['retry-after'] = String(effect.retryAfterSeconds);
  return { ...a, headers };
}

function listPage(st: VaultState, url: URL): number {
  const token = url.searchParams.get('$skiptoken');
  if (!token) return 1;
  return st.tokenPages.get(token) ?? 2;
}

function rememberNextPage(st: VaultState, url: URL, body: Buffer): void {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { nextLink?: unknown };
    if (typeof parsed.nextLink !== 'string') return;
    const token = new URL(parsed.nextLink).searchParams.get('$skiptoken');
    if (token) st.tokenPages.set(token, listPage(st, url) + 1);
    if (st.tokenPages.size > 10_000) st.tokenPages.clear();
  } catch {
    // not JSON: nothing to learn
  }
}

export interface ProxyOptions {
  world: AzureWorld;
  backend: VaultBackend;
  cert: CertPaths;
  log(message: string): void;
}

export class VaultProxy {
  private readonly world: AzureWorld;
  private readonly backend: VaultBackend;
  private readonly tls: { cert: Buffer; key: Buffer };
  private readonly log: (m: string) => void;
  private readonly servers = new Map<string, { server: Server; port: number; sockets: Set<Socket> }>();
  private readonly states = new Map<string, VaultState>();
  private readonly opening = new Map<string, Promise<void>>();
  defaultLimits: ThrottleLimits = { ...DEFAULT_LIMITS };

  constructor(o: ProxyOptions) {
    this.world = o.world;
    this.backend = o.backend;
    this.tls = { cert: readFileSync(o.cert.cert), key: readFileSync(o.cert.key) };
    this.log = o.log;
  }

  state(name: string): VaultState {
    const key = name.toLowerCase();
    let s = this.states.get(key);
    if (!s) {
      s = new VaultState(this.defaultLimits);
      this.states.set(key, s);
    }
    return s;
  }

  allStates(): Array<[string, VaultState]> {
    return [...this.states.entries()];
  }

  listening(): Array<{ name: string; port: number }> {
    return [...this.servers.entries()].map(([name, s]) => ({ name, port: s.port }));
  }

  /** Starts the listener (and the backend vault) of a world vault; idempotent. */
  async open(v: VaultRecord): Promise<void> {
    const key = v.name.toLowerCase();
    const existing = this.servers.get(key);
    if (existing && existing.port === v.proxyPort) return;
    const pending = this.opening.get(key);
    if (pending) return pending;
    const p = (async () => {
      if (existing) await this.close(v.name);
      await this.backend.ensureVault(v);
      const sockets = new Set<Socket>();
      const server = createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => {
        this.handle(v.name, req, res).catch((e: unknown) => {
          this.log(`proxy ${v.name}: ${(e as Error).message}`);
          if (!res.headersSent) this.send(res, internalError(), undefined);
          else res.destroy();
        });
      });
      server.on('secureConnection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.on('tlsClientError', () => {});
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(v.proxyPort, HOST, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.servers.set(key, { server, port: v.proxyPort, sockets });
      this.state(v.name);
    })();
    this.opening.set(key, p);
    try {
      await p;
    } finally {
      this.opening.delete(key);
    }
  }

  async close(name: string): Promise<void> {
    const key = name.toLowerCase();
    const s = this.servers.get(key);
    if (!s) return;
    this.servers.delete(key);
    for (const sock of s.sockets) sock.destroy();
    await new Promise<void>((r) => s.server.close(() => r()));
  }

  private readonly failed = new Map<string, { until: number; message: string }>();

  /**
   * Opens listeners for new world vaults and closes those of removed ones. `strict` throws on
   * the first vault that cannot be opened; otherwise a failure is logged once and retried after
   * 10 s (so a busy port does not flood the log).
   */
  async sync(opts: { strict?: boolean } = {}): Promise<void> {
    const want = new Map(this.world.vaults().map((v) => [v.name.toLowerCase(), v]));
    for (const name of [...this.servers.keys()]) {
      if (!want.has(name)) {
        await this.close(name);
        await this.backend.dropVault(name);
        this.states.delete(name);
      }
    }
    for (const [key, v] of want) {
      const f = this.failed.get(key);
      if (!opts.strict && f && f.until > Date.now()) continue;
      try {
        await this.open(v);
        this.failed.delete(key);
      } catch (e) {
        if (opts.strict) throw e;
        const message = (e as Error).message;
        if (f?.message !== message) this.log(`vault ${v.name}: cannot serve on port ${v.proxyPort}: ${message}`);
        this.failed.set(key, { until: Date.now() + 10_000, message });
      }
    }
  }

  async stop(): Promise<void> {
    for (const name of [...this.servers.keys()]) await this.close(name);
  }

  private send(res: ServerResponse, a: KvAnswer, vault: VaultRecord | undefined, requestHeaders?: IncomingMessage['headers']): void {
    const headers: Record<string, string> = {
      'cache-control': 'no-cache',
      pragma: 'no-cache',
      expires: '-1',
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000;includeSubDomains',
      'x-ms-request-id': randomUUID(),
      'x-ms-keyvault-service-version': '1.9.0.0-sandbox',
      ...(vault ? { 'x-ms-keyvault-region': vault.location } : {}),
      ...(a.headers ?? {}),
    };
    const clientId = requestHeaders?.['x-ms-client-request-id'];
    if (typeof clientId === 'string') headers['x-ms-client-request-id'] = clientId;
    let payload: Buffer | undefined;
    if (a.body !== undefined) {
      payload = Buffer.from(JSON.stringify(a.body));
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(payload?.length ?? 0);
    res.writeHead(a.status, headers);
    res.end(payload);
  }

  private count(st: VaultState, o: VaultOperation | undefined, status: number): void {
    st.stats.requests++;
    if (o?.write) st.stats.writes++;
    else st.stats.reads++;
    if (status === 429) st.stats.throttled++;
    st.stats.byStatus[String(status)] = (st.stats.byStatus[String(status)] ?? 0) + 1;
  }

  private async handle(vaultName: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'https://sandbox.invalid');
    const pathAndQuery = `${url.pathname}${url.search}`;
    const st = this.state(vaultName);
    const vault = this.world.vault(vaultName);
    let o: VaultOperation | undefined;
    const finish = (a: KvAnswer): void => {
      this.send(res, a, vault, req.headers);
      this.count(st, o, a.status);
      this.world.record({ service: 'keyvault', vault: vaultName, method, path: url.pathname, status: a.status, at: Date.now(), class: o?.write ? 'write' : 'read' });
    };
    const body = await readBody(req);
    if (!vault) {
      finish(kvError(404, 'VaultNotFound', `The vault ${vaultName} does not exist.`));
      return;
    }

    // 1. Injected faults (world-wide for the service, then this vault's own).
    let dropResponse = false;
    const fault = this.world.takeFault('keyvault', method, pathAndQuery) ?? takeMatching(st.faults, method, pathAndQuery);
    if (fault) {
      if (fault.effect.kind === 'reset') {
        req.socket.destroy();
        this.count(st, undefined, 0);
        this.world.record({ service: 'keyvault', vault: vaultName, method, path: url.pathname, status: 0, at: Date.now() });
        return;
      }
      if (fault.effect.kind === 'latency') await sleep(fault.effect.ms);
      if (fault.effect.kind === 'drop-response') dropResponse = true;
      if (fault.effect.kind === 'status') {
        o = classifyVaultRequest(method, url.pathname);
        finish(faultAnswer(fault.effect));
        return;
      }
    }

    // 2. Authentication: Key Vault's bearer challenge, then the Entra simulator's tokens only.
    const authority = this.world.tokenIssuer.replace(/\/v2\.0\/?$/, '');
    const auth = req.headers.authorization;
    const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
    if (!m) {
      finish(missingToken(authority));
      return;
    }
    const verified = this.world.verifyAccessToken(m[1] as string, KV_RESOURCE);
    if (!verified.ok) {
      finish(invalidToken(authority, verified.reason));
      return;
    }

    // 3. What is asked.
    o = classifyVaultRequest(method, url.pathname);
    if (!o) {
      finish(badParameter(`The request URI is not a Key Vault data-plane operation: ${method} ${url.pathname}`));
      return;
    }

    // 4. Throttling (429s are not counted).
    if (this.world.config.vaultThrottle) {
      const d = st.throttle.admit(o.bucket);
      if (!d.allowed) {
        finish(throttled(d.retryAfterSeconds));
        return;
      }
    }

    // 5. Authorization (RBAC with propagation delay, or access policies), decided by the world.
    const decision = this.world.authorizeVaultData(vault.name, verified.claims.oid, o.dataAction, o.objectName ? { kind: o.objectKind, name: o.objectName } : undefined, o.permission);
    if (!decision.allowed) {
      finish(forbidden(decision.code, decision.message));
      return;
    }

    // 6. Special faults: names being deleted / recovered, failing LIST pages.
    const special = this.specialFault(st, o, url);
    if (special) {
      finish(special);
      return;
    }

    // 7. The vault itself.
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const answer = await this.backend.serve(vault, { method, pathname: url.pathname, search: url.search, headers, body });
    if (answer.status >= 200 && answer.status < 300 && o.objectName && o.lifecycle) {
      const key = `${o.objectKind}/${o.objectName.toLowerCase()}`;
      if (o.lifecycle === 'delete' && st.deleteSettleMs > 0) st.deleting.set(key, Date.now() + st.deleteSettleMs);
      if (o.lifecycle === 'recover' && st.recoverSettleMs > 0) st.recovering.set(key, Date.now() + st.recoverSettleMs);
    }
    if (o.op.includes('.list') && answer.status === 200) rememberNextPage(st, url, answer.body);
    const out: Record<string, string> = {
      'cache-control': 'no-cache',
      'x-ms-request-id': randomUUID(),
      'x-ms-keyvault-region': vault.location,
      'x-ms-keyvault-service-version': '1.9.0.0-sandbox',
      ...answer.headers,
      'content-length': String(answer.body.length),
    };
    const cid = req.headers['x-ms-client-request-id'];
    if (typeof cid === 'string') out['x-ms-client-request-id'] = cid;
    this.count(st, o, answer.status);
    const record: Omit<RequestRecord, 'seq'> = { service: 'keyvault', vault: vaultName, method, path: url.pathname, status: answer.status, at: Date.now(), class: o.write ? 'write' : 'read' };
    if (dropResponse) {
      // The vault has done it; the client only sees its connection reset.
      req.socket.destroy();
      this.world.record({ ...record, dropped: true });
      return;
    }
    res.writeHead(answer.status, out);
    res.end(answer.body);
    this.world.record(record);
  }

  private specialFault(st: VaultState, o: VaultOperation, url: URL): KvAnswer | undefined {
    const now = Date.now();
    if (o.objectName) {
      const key = `${o.objectKind}/${o.objectName.toLowerCase()}`;
      const del = st.deleting.get(key);
      if (del !== undefined && del <= now) st.deleting.delete(key);
      const rec = st.recovering.get(key);
      if (rec !== undefined && rec <= now) st.recovering.delete(key);
      if (del !== undefined && del > now) {
        // A delete still settling: the deleted object is not visible yet and the name is busy.
        if (o.op.endsWith('.getDeleted')) return o.objectKind === 'secrets' ? deletedSecretNotFound(o.objectName) : kvError(404, 'NotFound', `Deleted object not found: ${o.objectName}`);
        if (o.write) return beingDeleted(o.objectKind, o.objectName);
      }
      if (rec !== undefined && rec > now) {
        // A recovery still settling: the object still answers 404 and cannot be written.
        if (o.op.endsWith('.get')) return o.objectKind === 'secrets' ? secretNotFound(o.objectName, o.version) : kvError(404, 'NotFound', `Object not found: ${o.objectName}`);
        if (o.write) return beingDeleted(o.objectKind, o.objectName);
      }
    }
    if (o.op.includes('.list')) {
      const page = listPage(st, url);
      const i = st.listFaults.findIndex((f) => f.op === o.op && f.page === page);
      if (i >= 0) {
        const f = st.listFaults[i] as ListPageFault;
        f.times -= 1;
        if (f.times <= 0) st.listFaults.splice(i, 1);
        return kvError(f.status, STATUS_CODES[f.status] ?? `Http${f.status}`, `Injected fault: page ${page} of ${o.op} failed.`);
      }
    }
    return undefined;
  }
}
