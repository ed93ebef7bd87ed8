// lowkey-vault (com.github.nagyesta.lowkey-vault:lowkey-vault-app), the Key Vault emulator the
// issue asks for, fetched once with Maven into `.cache/lowkey-vault/` and run on 127.0.0.1
// behind the authorization proxy, one lowkey vault per world vault (created through its
// management API, with the proxy's `127.0.0.1:<proxyPort>` authority as an alias so the ids and
// nextLinks it writes point at the proxy).
//
// Version: 7.x, the current line, because it serves api-version 2025-07-01 (3.4.33, the last
// Java 17 release, stops at 7.6). Note that @azure/keyvault-secrets 4.12.0 defaults to
// 2026-04-01, which no lowkey release serves yet: clients of a lowkey-backed sandbox need
// serviceVersion "2025-07-01". 7.x needs Java 25: findJava() looks for it (AKV_AKS_JAVA, then
// the JDKs under /usr/lib/jvm, then PATH).
//
// When the registry does not serve the artifact, ensureLowkeyJar() says so and returns
// undefined; startVault then serves the vaults from the built-in engine (store.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { HOST, PORTS } from '../../ports.ts';
import type { VaultRecord } from '../world-api.ts';
import type { BackendAnswer, BackendRequest, VaultBackend } from './proxy.ts';

export const LOWKEY_GROUP = 'com.github.nagyesta.lowkey-vault';
export const LOWKEY_ARTIFACT = 'lowkey-vault-app';
export const LOWKEY_VERSION = '7.3.74';
/** How long a refused download is remembered before Maven is asked again. */
const UNAVAILABLE_TTL_MS = 24 * 3600_000;

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/**
 * Fetches the pinned lowkey-vault jar with Maven into `<cacheDir>/lowkey-vault/` once.
 * Returns its path, or undefined when it cannot be had (the reason goes to `log`).
 */
export async function ensureLowkeyJar(
  cacheDir: string,
  log: (message: string) => void,
  opts: { force?: boolean; /** Maven command (default `mvn` on PATH). */ mvn?: string } = {},
): Promise<string | undefined> {
  const dir = join(cacheDir, 'lowkey-vault');
  const jar = join(dir, `${LOWKEY_ARTIFACT}-${LOWKEY_VERSION}.jar`);
  if (existsSync(jar)) return jar;
  mkdirSync(dir, { recursive: true });
  const marker = join(dir, `${LOWKEY_VERSION}.unavailable`);
  if (!opts.force && existsSync(marker)) {
    const at = Number(readFileSync(marker, 'utf8'));
    if (Number.isFinite(at) && Date.now() - at < UNAVAILABLE_TTL_MS) {
      log(`lowkey-vault ${LOWKEY_VERSION}: not available from the Maven registry (checked ${new Date(at).toISOString()})`);
      return undefined;
    }
  }
  log(`fetching lowkey-vault ${LOWKEY_VERSION} with Maven (first start only)`);
  const artifact = `${LOWKEY_GROUP}:${LOWKEY_ARTIFACT}:${LOWKEY_VERSION}:jar`;
  const r = await run(opts.mvn ?? 'mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${artifact}`, `-DoutputDirectory=${dir}`], 5 * 60_000);
  if (r.code === 0 && existsSync(jar)) {
    log(`lowkey-vault ${LOWKEY_VERSION} cached in ${dir}`);
    return jar;
  }
  const reason = /Could not find artifact|not found/i.test(r.out) ? 'the registry does not serve this artifact' : `mvn exited ${r.code}`;
  log(`lowkey-vault ${LOWKEY_VERSION} unavailable: ${reason}`);
  writeFileSync(marker, String(Date.now()));
  return undefined;
}

function javaMajor(java: string): Promise<number> {
  return run(java, ['-version'], 30_000).then((r) => {
    const m = /version "(\d+)(?:\.(\d+))?/.exec(r.out);
    if (!m) return 0;
    const first = Number(m[1]);
    return first === 1 ? Number(m[2] ?? 0) : first;
  });
}

/** A Java runtime of at least `minMajor` (25 for lowkey-vault 7.x). */
export async function findJava(minMajor = 25): Promise<string | undefined> {
  const candidates: string[] = [];
  if (process.env.AKV_AKS_JAVA) candidates.push(process.env.AKV_AKS_JAVA);
  const jvm = '/usr/lib/jvm';
  if (existsSync(jvm)) {
    for (const d of readdirSync(jvm).sort().reverse()) {
      const j = join(jvm, d, 'bin', 'java');
      if (existsSync(j)) candidates.push(j);
    }
  }
  candidates.push('java');
  for (const c of candidates) if ((await javaMajor(c)) >= minMajor) return c;
  return undefined;
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class LowkeyBackend implements VaultBackend {
  readonly kind = 'lowkey' as const;
  private child: ChildProcess | undefined;
  private readonly ca: Buffer;
  private readonly port = PORTS.lowkeyVault;
  private readonly vaults = new Map<string, string>(); // name -> lowkey base URI

  private readonly jar: string;
  private readonly java: string;
  private readonly keyStore: string;
  private readonly logFile: string;
  private readonly log: (m: string) => void;

  constructor(o: { jar: string; java: string; keyStore: string; caPath: string; logFile: string; log: (m: string) => void }) {
    this.jar = o.jar;
    this.java = o.java;
    this.keyStore = o.keyStore;
    this.logFile = o.logFile;
    this.log = o.log;
    this.ca = readFileSync(o.caPath);
  }

  private raw(method: string, path: string, host: string, body?: Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const req = request({ host: HOST, port: this.port, method, path, ca: this.ca, headers: { ...headers, host, 'content-length': String(body?.length ?? 0) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
          resolve({ status: res.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async start(): Promise<void> {
    const args = [
      '-jar',
      this.jar,
      `--server.port=${this.port}`,
      `--server.address=${HOST}`,
      `--app.token.port=${PORTS.lowkeyToken}`,
      `--server.ssl.key-store=file:${this.keyStore}`,
      '--server.ssl.key-store-password=changeit',
      '--LOWKEY_VAULT_NAMES=-',
    ];
    const out = openSync(this.logFile, 'a');
    this.child = spawn(this.java, args, { stdio: ['ignore', out, out] });
    this.log(`lowkey-vault starting (pid ${this.child.pid}), log: ${this.logFile}`);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`lowkey-vault exited with ${this.child.exitCode}; see ${this.logFile}`);
      try {
        const r = await this.raw('GET', '/ping', `${HOST}:${this.port}`);
        if (r.status === 200) {
          this.log('lowkey-vault ready');
          return;
        }
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('lowkey-vault did not answer /ping within 120 s');
  }

  private base(v: { name: string }): string {
    return `https://${v.name.toLowerCase()}.localhost:${this.port}`;
  }

  private mgmt(method: string, path: string, body?: unknown): Promise<RawAnswer> {
    const b = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return this.raw(method, path, `${HOST}:${this.port}`, b, b ? { 'content-type': 'application/json' } : {});
  }

  async ensureVault(v: VaultRecord): Promise<void> {
    if (this.vaults.has(v.name.toLowerCase())) return;
    const base = this.base(v);
    const custom = v.softDeleteRetentionInDays < 90;
    const recoveryLevel = !v.enableSoftDelete ? 'Purgeable' : `${custom ? 'CustomizedRecoverable' : 'Recoverable'}${v.enablePurgeProtection ? '' : '+Purgeable'}`;
    const created = await this.mgmt('POST', '/management/vault', {
      baseUri: base,
      recoveryLevel,
      ...(v.enableSoftDelete ? { recoverableDays: v.softDeleteRetentionInDays } : {}),
    });
    if (created.status >= 300) throw new Error(`lowkey-vault: creating ${base} answered ${created.status}`);
    const alias = `https://${HOST}:${v.proxyPort}`;
    const q = `baseUri=${encodeURIComponent(base)}&add=${encodeURIComponent(alias)}`;
    const aliased = await this.mgmt('PATCH', `/management/vault/alias?${q}`, {});
    if (aliased.status >= 300) throw new Error(`lowkey-vault: aliasing ${base} answered ${aliased.status}`);
    this.vaults.set(v.name.toLowerCase(), base);
  }

  async dropVault(name: string): Promise<void> {
    const base = this.vaults.get(name.toLowerCase());
    if (!base) return;
    this.vaults.delete(name.toLowerCase());
    await this.mgmt('DELETE', `/management/vault?baseUri=${encodeURIComponent(base)}`);
    await this.mgmt('DELETE', `/management/vault/purge?baseUri=${encodeURIComponent(base)}`);
  }

  async clearVault(v: VaultRecord): Promise<void> {
    await this.dropVault(v.name);
    await this.ensureVault(v);
  }

  async serve(v: VaultRecord, req: BackendRequest): Promise<BackendAnswer> {
    await this.ensureVault(v);
    const headers: Record<string, string> = {};
    for (const [k, val] of Object.entries(req.headers)) {
      if (['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) continue;
      headers[k] = val;
    }
    // The alias authority: lowkey resolves the vault from it and writes ids under the proxy's URI.
    const r = await this.raw(req.method, `${req.pathname}${req.search}`, `${HOST}:${v.proxyPort}`, req.body, headers);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(r.headers)) {
      if (['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'www-authenticate'].includes(k)) continue;
      out[k] = val;
    }
    return { status: r.status, headers: out, body: r.body };
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGTERM');
    const done = new Promise<void>((r) => c.once('exit', () => r()));
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000));
    if ((await Promise.race([done.then(() => 'done' as const), timer])) === 'timeout') c.kill('SIGKILL');
    this.child = undefined;
  }
}
