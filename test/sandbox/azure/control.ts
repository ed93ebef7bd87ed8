// Control API of the sandbox for tests (plain HTTP, JSON, 127.0.0.1 only):
//   GET    /world            value-free dump of principals, identities, FICs, role assignments, vaults
//   POST   /faults           add a Fault (without id) -> { id }
//   GET    /faults           pending faults
//   DELETE /faults           clear all faults;  DELETE /faults/<id>: one
//   GET    /stats            { counts: [{service,class,method,status,count}], records: [...] }
//   GET    /stats/mark       { seq } the next record's seq: records with seq >= it come after
//   POST   /stats/reset      forget the request records
//   GET    /config           { config, github }
//   PATCH  /config           { <config knob>: value, ..., github: { repository, ref, environment, event,
//                              lifetimeSeconds, issuedAtOffsetSeconds, subject, ... } }
//   POST   /reset            world back to the seed, faults cleared, config and GitHub claims reset
//   POST   /github/token     { audience?, ...claim overrides } -> { value: <GitHub ID token> }
// Other parts add their own routes with world.registerControlRoute (`/vault/...`, `/kube/...`).
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HOST, PORTS } from '../ports.ts';
import { mintGithubToken } from './github-oidc.ts';
import { keepIdleConnections, readBody } from './http.ts';
import type { RunningServer } from './http.ts';
import type { AzureService, ControlResponse, Fault } from './world-api.ts';
import { defaultConfig, defaultGithubSettings } from './world.ts';
import type { GithubTokenSettings, World } from './world.ts';

const SERVICES: AzureService[] = ['github', 'entra', 'arm', 'keyvault'];

function bad(message: string): ControlResponse {
  return { status: 400, body: { error: message } };
}

export function validateFault(input: unknown): (Omit<Fault, 'id' | 'times'> & { times?: number }) | string {
  if (!input || typeof input !== 'object') return 'fault must be an object';
  const f = input as Record<string, unknown>;
  if (!SERVICES.includes(f.service as AzureService)) return `service must be one of ${SERVICES.join(', ')}`;
  if (f.method !== undefined && typeof f.method !== 'string') return 'method must be a string';
  if (f.pathPattern !== undefined) {
    if (typeof f.pathPattern !== 'string') return 'pathPattern must be a string';
    try {
      new RegExp(f.pathPattern);
    } catch {
      return 'pathPattern is not a valid regular expression';
    }
  }
  if (f.times !== undefined && (typeof f.times !== 'number' || !Number.isInteger(f.times) || f.times < 1)) return 'times must be a positive integer';
  const e = f.effect as Record<string, unknown> | undefined;
  if (!e || typeof e !== 'object') return 'effect is required';
  if (e.kind === 'status') {
    if (typeof e.status !== 'number' || e.status < 100 || e.status > 599) return 'effect.status must be an HTTP status';
  } else if (e.kind === 'latency') {
    if (typeof e.ms !== 'number' || e.ms < 0) return 'effect.ms must be a non-negative number';
  } else if (e.kind !== 'reset' && e.kind !== 'drop-response') return "effect.kind must be 'status', 'latency', 'reset' or 'drop-response'";
  return {
    service: f.service as AzureService,
    method: f.method as string | undefined,
    pathPattern: f.pathPattern as string | undefined,
    times: f.times as number | undefined,
    effect: e as Fault['effect'],
  };
}

export function patchConfig(world: World, body: unknown): ControlResponse {
  if (!body || typeof body !== 'object') return bad('body must be an object');
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  const ghDefaults = defaultGithubSettings() as unknown as Record<string, unknown>;
  const cfg = world.config as unknown as Record<string, unknown>;
  const nextCfg: Record<string, unknown> = {};
  const nextGh: Partial<GithubTokenSettings> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (k === 'github') {
      if (!v || typeof v !== 'object') return bad('github must be an object');
      for (const [gk, gv] of Object.entries(v as Record<string, unknown>)) {
        if (!(gk in ghDefaults)) return bad(`unknown github setting ${gk}`);
        const nullable = gk === 'environment' || gk === 'subject';
        const expected = typeof ghDefaults[gk] === 'object' ? 'string' : typeof ghDefaults[gk];
        if (!(nullable && (gv === null || typeof gv === 'string')) && typeof gv !== expected) return bad(`github.${gk} must be a ${expected}`);
        (nextGh as Record<string, unknown>)[gk] = gv;
      }
      continue;
    }
    if (!(k in defaults)) return bad(`unknown config knob ${k}`);
    if (typeof v !== typeof defaults[k]) return bad(`${k} must be a ${typeof defaults[k]}`);
    if (typeof v === 'number' && (v < 0 || !Number.isFinite(v))) return bad(`${k} must be a non-negative number`);
    nextCfg[k] = v;
  }
  Object.assign(cfg, nextCfg);
  Object.assign(world.github, nextGh);
  return { status: 200, body: { config: world.config, github: world.github } };
}

async function route(world: World, req: IncomingMessage): Promise<ControlResponse> {
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', `http://${HOST}:${PORTS.control}`);
  const path = url.pathname;
  const raw = await readBody(req);
  let body: unknown;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return bad('body is not JSON');
    }
  }
  if (method === 'GET' && path === '/world') return { status: 200, body: world.dump() };
  if (path === '/faults') {
    if (method === 'GET') return { status: 200, body: { faults: world.faults } };
    if (method === 'DELETE') {
      world.faults = [];
      return { status: 200, body: {} };
    }
    if (method === 'POST') {
      const f = validateFault(body);
      if (typeof f === 'string') return bad(f);
      return { status: 201, body: { id: world.addFault(f).id } };
    }
  }
  if (method === 'DELETE' && path.startsWith('/faults/')) {
    const id = decodeURIComponent(path.slice('/faults/'.length));
    const before = world.faults.length;
    world.faults = world.faults.filter((f) => f.id !== id);
    return { status: before === world.faults.length ? 404 : 200, body: {} };
  }
  if (method === 'GET' && path === '/stats') return { status: 200, body: world.stats() };
  if (method === 'GET' && path === '/stats/mark') return { status: 200, body: { seq: world.nextSeq } };
  if (method === 'POST' && path === '/stats/reset') {
    world.records = [];
    return { status: 200, body: {} };
  }
  if (path === '/config') {
    if (method === 'GET') return { status: 200, body: { config: world.config, github: world.github } };
    if (method === 'PATCH') return patchConfig(world, body);
  }
  if (method === 'POST' && path === '/reset') {
    await world.reset();
    return { status: 200, body: {} };
  }
  if (method === 'POST' && path === '/github/token') {
    const { audience, ...overrides } = (body ?? {}) as { audience?: string } & Partial<GithubTokenSettings>;
    return { status: 200, body: { value: mintGithubToken(world, audience, overrides) } };
  }
  const handler = world.findControlRoute(method, path);
  if (handler) return handler({ method, path, query: url.searchParams, body });
  return { status: 404, body: { error: `no control route ${method} ${path}` } };
}

function send(res: ServerResponse, r: ControlResponse): void {
  const payload = r.body === undefined ? '' : JSON.stringify(r.body);
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...(r.headers ?? {}) });
  res.end(payload);
}

export async function startControl(world: World, log: (m: string) => void): Promise<RunningServer> {
  const server = createServer((req, res) => {
    route(world, req)
      .then((r) => send(res, r))
      .catch((e: unknown) => {
        log(`control ${req.method} ${req.url} failed: ${(e as Error).message}`);
        send(res, { status: 500, body: { error: (e as Error).message } });
      });
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORTS.control, HOST, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
