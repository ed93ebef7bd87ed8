// The Key Vault data plane of the sandbox: per-vault HTTPS authorization proxies (proxy.ts) in
// front of a vault emulator, plus the `/vault/...` control routes.
//
// Backend: lowkey-vault when its jar can be had (lowkey.ts), else the built-in engine
// (store.ts secrets, objects.ts keys and certificates). AKV_AKS_SANDBOX_VAULT_BACKEND=
// builtin|lowkey|auto (default auto) chooses. On this project's machines the Maven registry
// answers "not found" for com.github.nagyesta.lowkey-vault (every version tried), so `auto`
// serves from the built-in engine; the refusal is remembered for a day in .cache/lowkey-vault/.
//
// Control routes (plain HTTP on the control port; `vault` omitted = every vault):
//   GET    /vault/vaults                      listeners, limits, usage, stats (no values)
//   POST   /vault/vaults                      {name, enableRbacAuthorization?, accessPolicies?, ...} → 201 VaultRecord
//   DELETE /vault/vaults/<name>               stops its proxy, drops its contents, removes it from the world
//   PUT    /vault/throttle                    {enabled?, create?, other?, windowMs?, vault?}
//   POST   /vault/throttle/reset              {vault?}: empties the sliding windows
//   PUT    /vault/settle                      {vault?, deleteMs?, recoverMs?}: ObjectIsBeingDeleted / 404 windows
//   POST   /vault/faults                      {vault?, method?, pathPattern?, times?, effect}: like the world's faults, per vault
//   POST   /vault/faults/list-page            {vault?, op?, page, status?, times?}: the Nth LIST page fails
//   DELETE /vault/faults                      {vault?}: clears this part's faults and settle windows
//   POST   /vault/clear                       {vault?}: deletes every object (live and deleted)
//   GET    /vault/stats                       per-vault request counts
import { join } from 'node:path';
import { issueServerCert, pkcs12, ensureCa } from '../../pki.ts';
import type { RunningPart, SandboxContext } from '../../types.ts';
import type { AzureWorld, ControlRequest, ControlResponse, Fault, NewVault } from '../world-api.ts';
import { BuiltinBackend } from './builtin.ts';
import { ensureLowkeyJar, findJava, LowkeyBackend } from './lowkey.ts';
import { VaultProxy, type ListPageFault, type VaultBackend } from './proxy.ts';
import { DEFAULT_LIMITS } from './throttle.ts';

export { ensureLowkeyJar } from './lowkey.ts';

export interface RunningVault extends RunningPart {
  proxy: VaultProxy;
  backend: VaultBackend;
}

export interface StartVaultOptions {
  backend?: 'auto' | 'builtin' | 'lowkey';
  /** Certificate for the proxies (default: `vault-proxy` issued by the sandbox CA). */
  certName?: string;
  /** Register the `/vault/` control routes (default true). */
  controlRoutes?: boolean;
  /** Poll the world for vaults added or removed by others (default 250 ms; 0 = off). */
  syncIntervalMs?: number;
}

async function chooseBackend(ctx: SandboxContext, mode: 'auto' | 'builtin' | 'lowkey'): Promise<VaultBackend> {
  const log = (m: string): void => ctx.log('vault', m);
  if (mode === 'builtin') return new BuiltinBackend();
  const jar = await ensureLowkeyJar(ctx.cacheDir, log);
  const java = jar ? await findJava(25) : undefined;
  if (jar && java) {
    const cert = issueServerCert(ctx.pkiDir, 'lowkey-vault');
    const keyStore = pkcs12(ctx.pkiDir, 'lowkey-vault', cert);
    const b = new LowkeyBackend({ jar, java, keyStore, caPath: ensureCa(ctx.pkiDir).cert, logFile: join(ctx.stateDir, 'lowkey-vault.log'), log });
    await b.start();
    return b;
  }
  if (mode === 'lowkey') throw new Error(jar ? 'lowkey-vault needs Java 25 (set AKV_AKS_JAVA)' : 'lowkey-vault jar unavailable');
  log(jar ? 'no Java 25 runtime for lowkey-vault: serving the vaults from the built-in engine' : 'serving the vaults from the built-in engine');
  return new BuiltinBackend();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, what: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new Error(`${what} must be a number >= ${min}`);
  return v;
}

export async function startVault(ctx: SandboxContext, world: AzureWorld, opts: StartVaultOptions = {}): Promise<RunningVault> {
  const envMode = process.env.AKV_AKS_SANDBOX_VAULT_BACKEND;
  const mode = opts.backend ?? (envMode === 'builtin' || envMode === 'lowkey' ? envMode : 'auto');
  const backend = await chooseBackend(ctx, mode);
  const cert = issueServerCert(ctx.pkiDir, opts.certName ?? 'vault-proxy');
  const proxy = new VaultProxy({ world, backend, cert, log: (m) => ctx.log('vault', m) });
  await proxy.sync({ strict: true });
  for (const l of proxy.listening()) ctx.log('vault', `vault ${l.name}: https://127.0.0.1:${l.port}/ (${backend.kind})`);

  let syncing = false;
  const interval = opts.syncIntervalMs ?? 250;
  const timer =
    interval > 0
      ? setInterval(() => {
          if (syncing) return;
          syncing = true;
          proxy
            .sync()
            .catch((e: unknown) => ctx.log('vault', `sync: ${(e as Error).message}`))
            .finally(() => {
              syncing = false;
            });
        }, interval)
      : undefined;
  timer?.unref();

  world.onReset(async () => {
    proxy.defaultLimits = { ...DEFAULT_LIMITS };
    for (const [, st] of proxy.allStates()) {
      st.resetFaults();
      st.throttle.setLimits(DEFAULT_LIMITS);
      st.throttle.reset();
      st.stats = { requests: 0, reads: 0, writes: 0, throttled: 0, byStatus: {} };
    }
    await proxy.sync();
    for (const v of world.vaults()) await backend.clearVault(v);
  });

  if (opts.controlRoutes !== false) registerRoutes(world, proxy, backend);

  let stopped = false;
  return {
    name: `vault (${backend.kind})`,
    proxy,
    backend,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      await proxy.stop();
      await backend.stop();
    },
  };
}

function registerRoutes(world: AzureWorld, proxy: VaultProxy, backend: VaultBackend): void {
  const targets = (body: unknown): string[] => {
    const v = isRecord(body) ? body.vault : undefined;
    if (v === undefined) return world.vaults().map((x) => x.name);
    if (typeof v !== 'string' || !world.vault(v)) throw new Error(`unknown vault ${String(v)}`);
    return [(world.vault(v) as { name: string }).name];
  };
  const describe = (): unknown =>
    world.vaults().map((v) => {
      const st = proxy.state(v.name);
      return {
        name: v.name,
        vaultUri: v.vaultUri,
        proxyPort: v.proxyPort,
        enableRbacAuthorization: v.enableRbacAuthorization,
        listening: proxy.listening().some((l) => l.name === v.name.toLowerCase()),
        backend: backend.kind,
        throttle: { enabled: world.config.vaultThrottle, limits: st.throttle.limits, usage: st.throttle.usage() },
        settle: { deleteMs: st.deleteSettleMs, recoverMs: st.recoverSettleMs },
        faults: st.faults.length + st.listFaults.length,
        stats: st.stats,
      };
    });

  const handler = async (req: ControlRequest): Promise<ControlResponse> => {
    const path = req.path.replace(/\/+$/, '');
    const m = req.method.toUpperCase();
    const body = req.body;
    try {
      if (path === '/vault/vaults' && m === 'GET') return { status: 200, body: describe() };
      if ((path === '/vault/vaults' && m === 'POST') || (path.startsWith('/vault/vaults/') && m === 'PUT')) {
        const input = (isRecord(body) ? { ...body } : {}) as unknown as NewVault;
        if (path.startsWith('/vault/vaults/')) input.name = decodeURIComponent(path.slice('/vault/vaults/'.length));
        if (typeof input.name !== 'string' || !/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(input.name))
          return { status: 400, body: { error: 'name must be a valid vault name (3-24 characters, letters, digits, hyphens)' } };
        if (world.vault(input.name)) return { status: 409, body: { error: `vault ${input.name} already exists` } };
        const rec = world.addVault(input);
        try {
          await proxy.open(rec);
        } catch (e) {
          world.removeVault(rec.name);
          throw e;
        }
        return { status: 201, body: rec };
      }
      if (path.startsWith('/vault/vaults/') && m === 'DELETE') {
        const name = decodeURIComponent(path.slice('/vault/vaults/'.length));
        const rec = world.vault(name);
        if (!rec) return { status: 404, body: { error: `unknown vault ${name}` } };
        // World first, so the sync timer does not reopen the listener in between.
        world.removeVault(rec.name);
        await proxy.close(rec.name);
        await backend.dropVault(rec.name);
        return { status: 200, body: { removed: rec.name } };
      }
      if (path === '/vault/throttle' && (m === 'PUT' || m === 'POST')) {
        const b = isRecord(body) ? body : {};
        if (b.enabled !== undefined) {
          if (typeof b.enabled !== 'boolean') return { status: 400, body: { error: 'enabled must be a boolean' } };
          world.config.vaultThrottle = b.enabled;
        }
        const limits = { create: num(b.create, 'create', 1), other: num(b.other, 'other', 1), windowMs: num(b.windowMs, 'windowMs', 1) };
        const clean = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
        if (b.vault === undefined) proxy.defaultLimits = { ...proxy.defaultLimits, ...clean };
        for (const n of targets(body)) proxy.state(n).throttle.setLimits(clean);
        return { status: 200, body: describe() };
      }
      if (path === '/vault/throttle/reset' && m === 'POST') {
        for (const n of targets(body)) proxy.state(n).throttle.reset();
        return { status: 200, body: describe() };
      }
      if (path === '/vault/settle' && (m === 'PUT' || m === 'POST')) {
        const b = isRecord(body) ? body : {};
        const del = num(b.deleteMs, 'deleteMs');
        const rec = num(b.recoverMs, 'recoverMs');
        for (const n of targets(body)) {
          const st = proxy.state(n);
          if (del !== undefined) st.deleteSettleMs = del;
          if (rec !== undefined) st.recoverSettleMs = rec;
        }
        return { status: 200, body: describe() };
      }
      if (path === '/vault/faults' && m === 'POST') {
        if (!isRecord(body) || !isRecord(body.effect) || !['status', 'latency', 'reset', 'drop-response'].includes(String(body.effect.kind)))
          return { status: 400, body: { error: 'effect {kind: status|latency|reset|drop-response, ...} is required' } };
        if (body.pathPattern !== undefined) new RegExp(String(body.pathPattern));
        const ids: string[] = [];
        for (const n of targets(body)) {
          const f: Fault = {
            id: crypto.randomUUID(),
            service: 'keyvault',
            method: typeof body.method === 'string' ? body.method : undefined,
            pathPattern: typeof body.pathPattern === 'string' ? body.pathPattern : undefined,
            times: num(body.times, 'times', 1) ?? 1,
            effect: body.effect as Fault['effect'],
          };
          proxy.state(n).faults.push(f);
          ids.push(f.id);
        }
        return { status: 201, body: { ids } };
      }
      if (path === '/vault/faults/list-page' && m === 'POST') {
        const b = isRecord(body) ? body : {};
        const page = num(b.page, 'page', 1);
        if (page === undefined) return { status: 400, body: { error: 'page (1 = first) is required' } };
        const ids: string[] = [];
        for (const n of targets(body)) {
          const f: ListPageFault = {
            id: crypto.randomUUID(),
            op: typeof b.op === 'string' ? b.op : 'secrets.list',
            page,
            status: num(b.status, 'status', 400) ?? 500,
            times: num(b.times, 'times', 1) ?? 1,
          };
          proxy.state(n).listFaults.push(f);
          ids.push(f.id);
        }
        return { status: 201, body: { ids } };
      }
      if (path === '/vault/faults' && m === 'DELETE') {
        for (const n of targets(body)) proxy.state(n).resetFaults();
        return { status: 200, body: describe() };
      }
      if (path === '/vault/clear' && m === 'POST') {
        for (const n of targets(body)) {
          const v = world.vault(n);
          if (v) await backend.clearVault(v);
        }
        return { status: 200, body: { cleared: targets(body) } };
      }
      if (path === '/vault/stats' && m === 'GET') {
        return { status: 200, body: Object.fromEntries(world.vaults().map((v) => [v.name, proxy.state(v.name).stats])) };
      }
      return { status: 404, body: { error: `no vault control route ${m} ${req.path}` } };
    } catch (e) {
      return { status: 400, body: { error: (e as Error).message } };
    }
  };
  world.registerControlRoute('*', '/vault/', handler);
}
