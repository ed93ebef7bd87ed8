// The sandbox's own Key Vault secrets engine: one instance per vault, answering the Key Vault
// REST API for secrets (set, get, versions, list with paging, update, delete, deleted
// listings, recover, purge, backup, restore) with soft-delete semantics. It serves behind the
// authorization proxy when the lowkey-vault jar cannot be had (see lowkey.ts). Pure: no I/O,
// an injectable clock, answers as { status, body, headers }.
import { randomBytes } from 'node:crypto';
import type { KvAnswer } from './errors.ts';
import { badParameter, deletedButRecoverable, deletedSecretNotFound, kvError, secretNotFound } from './errors.ts';
import { pathSegments } from './actions.ts';
import { KEYVAULT_DATA_VERSIONS } from '../arm/api-versions.ts';

export interface StoreOptions {
  softDelete: boolean;
  retentionDays: number;
  purgeProtection: boolean;
}

/** Every data-plane version Azure publishes (list and its sources in arm/api-versions.ts). */
export const SUPPORTED_API_VERSIONS: readonly string[] = KEYVAULT_DATA_VERSIONS;
const LATEST_API_VERSION = '2026-04-01';
const MAX_VALUE_CHARS = 25 * 1024;
const MAX_PAGE = 25;
const NAME_RE = /^[0-9a-zA-Z-]{1,127}$/;

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  /** Set on the secret of a certificate (its PEM or PFX), with the key's id. */
  managed?: boolean;
  kid?: string;
}

interface SecretEntity {
  name: string;
  versions: SecretVersion[]; // creation order; last = current
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

export interface StoreRequest {
  method: string;
  pathname: string;
  query: URLSearchParams;
  body: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringTags(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function optNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : undefined;
}

/** The `recoveryLevel` (and `recoverableDays`) attributes a vault's settings give its objects. */
export function recoveryLevelOf(o: StoreOptions): { recoveryLevel: string; recoverableDays?: number } {
  if (!o.softDelete) return { recoveryLevel: 'Purgeable' };
  const custom = o.retentionDays < 90;
  const base = `${custom ? 'CustomizedRecoverable' : 'Recoverable'}${o.purgeProtection ? '' : '+Purgeable'}`;
  // Key Vault reports recoverableDays whenever soft delete is on (90 included), not only when customized.
  return { recoveryLevel: base, recoverableDays: o.retentionDays };
}

/** One page of a listing (`maxresults` 1..25, opaque `$skiptoken`, nextLink on the vault URI). */
export function pageOf(base: string, path: string, req: StoreRequest, items: Record<string, unknown>[]): KvAnswer {
  const maxRaw = req.query.get('maxresults');
  let max = MAX_PAGE;
  if (maxRaw !== null) {
    const n = Number(maxRaw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) return badParameter(`Invalid maxresults: ${maxRaw}. It must be between 1 and ${MAX_PAGE}.`);
    max = n;
  }
  const token = req.query.get('$skiptoken');
  let offset = 0;
  if (token) {
    const decoded = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(decoded) || decoded < 0) return badParameter('Invalid $skiptoken.');
    offset = decoded;
  }
  const slice = items.slice(offset, offset + max);
  const next = offset + max < items.length ? offset + max : undefined;
  const apiVersion = req.query.get('api-version') ?? LATEST_API_VERSION;
  const nextLink = next === undefined ? null : `${base}${path}?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${Buffer.from(String(next)).toString('base64url')}&maxresults=${max}`;
  return { status: 200, body: { value: slice, nextLink } };
}

export class SecretStore {
  private readonly secrets = new Map<string, SecretEntity>();
  options: StoreOptions;
  /** Serves keys and certificates (objects.ts) when set. */
  others?: { handle(req: StoreRequest, base: string): KvAnswer; options: StoreOptions; clear(): void };
  private readonly now: () => number;

  constructor(options: StoreOptions, now: () => number = Date.now) {
    this.options = options;
    this.now = now;
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Drops every object (live and deleted). */
  clear(): void {
    this.secrets.clear();
    this.others?.clear();
  }

  /** Number of live and deleted secrets (for stats; never values). */
  counts(): { live: number; deleted: number } {
    let live = 0;
    let deleted = 0;
    for (const s of this.secrets.values()) {
      if (s.deleted) deleted++;
      else live++;
    }
    return { live, deleted };
  }

  private recoveryLevel(): { recoveryLevel: string; recoverableDays?: number } {
    return recoveryLevelOf(this.options);
  }

  private purgeExpired(): void {
    const now = this.seconds();
    for (const [k, s] of this.secrets) if (s.deleted && s.deleted.scheduledPurgeDate <= now) this.secrets.delete(k);
  }

  private attributes(v: SecretVersion): Record<string, unknown> {
    const a: Record<string, unknown> = { enabled: v.enabled };
    if (v.nbf !== undefined) a.nbf = v.nbf;
    if (v.exp !== undefined) a.exp = v.exp;
    a.created = v.created;
    a.updated = v.updated;
    Object.assign(a, this.recoveryLevel());
    return a;
  }

  private bundle(base: string, s: SecretEntity, v: SecretVersion, withValue: boolean): Record<string, unknown> {
    const b: Record<string, unknown> = {};
    if (withValue) b.value = v.value;
    if (v.contentType !== undefined) b.contentType = v.contentType;
    b.id = `${base}secrets/${s.name}/${v.version}`;
    b.attributes = this.attributes(v);
    if (v.tags && Object.keys(v.tags).length > 0) b.tags = v.tags;
    if (v.kid) b.kid = `${base}${v.kid}`;
    if (v.managed) b.managed = true;
    return b;
  }

  private deletedBundle(base: string, s: SecretEntity, v: SecretVersion): Record<string, unknown> {
    const b: Record<string, unknown> = {};
    if (s.deleted && this.options.softDelete) {
      b.recoveryId = `${base}deletedsecrets/${s.name}`;
      b.deletedDate = s.deleted.deletedDate;
      b.scheduledPurgeDate = s.deleted.scheduledPurgeDate;
    }
    return { ...b, ...this.bundle(base, s, v, false) };
  }

  private item(base: string, s: SecretEntity, v: SecretVersion, versioned: boolean, deleted: boolean): Record<string, unknown> {
    const it: Record<string, unknown> = {};
    if (deleted && s.deleted) {
      it.recoveryId = `${base}deletedsecrets/${s.name}`;
      it.deletedDate = s.deleted.deletedDate;
      it.scheduledPurgeDate = s.deleted.scheduledPurgeDate;
    }
    it.id = versioned ? `${base}secrets/${s.name}/${v.version}` : `${base}secrets/${s.name}`;
    it.attributes = this.attributes(v);
    if (v.tags && Object.keys(v.tags).length > 0) it.tags = v.tags;
    if (v.contentType !== undefined) it.contentType = v.contentType;
    if (v.managed) it.managed = true;
    return it;
  }

  private page(base: string, path: string, req: StoreRequest, items: Record<string, unknown>[]): KvAnswer {
    return pageOf(base, path, req, items);
  }

  private live(name: string): SecretEntity | undefined {
    const s = this.secrets.get(name.toLowerCase());
    return s && !s.deleted ? s : undefined;
  }

  private sortedEntities(deleted: boolean): SecretEntity[] {
    return [...this.secrets.values()].filter((s) => Boolean(s.deleted) === deleted && s.versions.length > 0).sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  }

  /** Adds the secret version backing a certificate version (same name and version id). */
  putManaged(name: string, v: Omit<SecretVersion, 'managed'>): void {
    const key = name.toLowerCase();
    const s = this.secrets.get(key) ?? { name, versions: [] };
    delete s.deleted;
    s.versions.push({ ...v, managed: true });
    this.secrets.set(key, s);
  }

  /** Follows its certificate: deleted, recovered or purged along with it. */
  linked(name: string, action: 'delete' | 'recover' | 'purge', deleted?: { deletedDate: number; scheduledPurgeDate: number }): void {
    const key = name.toLowerCase();
    const s = this.secrets.get(key);
    if (!s) return;
    if (action === 'purge' || (action === 'delete' && !this.options.softDelete)) this.secrets.delete(key);
    else if (action === 'delete') s.deleted = deleted;
    else delete s.deleted;
  }

  /** Answers one Key Vault secrets request. `base` is the vault URI with a trailing slash. */
  handle(req: StoreRequest, base: string): KvAnswer {
    const apiVersion = req.query.get('api-version');
    if (!apiVersion) return badParameter('The api-version query parameter (?api-version=) is required for all requests.');
    if (!SUPPORTED_API_VERSIONS.includes(apiVersion))
      return badParameter(`The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`);
    this.purgeExpired();
    const seg = pathSegments(req.pathname);
    const method = req.method.toUpperCase();
    const head = seg[0];
    if (head === 'keys' || head === 'deletedkeys' || head === 'certificates' || head === 'deletedcertificates') {
      if (this.others) return this.others.handle(req, base);
      return badParameter(`This vault engine serves secrets only; '${head}' operations are not available.`);
    }
    if (head !== 'secrets' && head !== 'deletedsecrets') return kvError(404, 'NotFound', 'The requested resource was not found.');
    const name = seg[1];
    if (name !== undefined && !(head === 'secrets' && name === 'restore') && !NAME_RE.test(name)) return badParameter(`The request URI contains an invalid name: ${name}`);

    if (head === 'deletedsecrets') {
      if (seg.length === 1 && method === 'GET') {
        const items = this.sortedEntities(true).map((s) => this.item(base, s, s.versions.at(-1) as SecretVersion, false, true));
        return this.page(base, 'deletedsecrets', req, items);
      }
      if (name === undefined) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
      const s = this.secrets.get(name.toLowerCase());
      const deleted = s && s.deleted ? s : undefined;
      if (seg.length === 2 && method === 'GET') {
        if (!deleted) return deletedSecretNotFound(name);
        return { status: 200, body: this.deletedBundle(base, deleted, deleted.versions.at(-1) as SecretVersion) };
      }
      if (seg.length === 2 && method === 'DELETE') {
        if (!deleted) return deletedSecretNotFound(name);
        if (this.options.purgeProtection)
          return kvError(
            403,
            'Forbidden',
            `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`,
          );
        this.secrets.delete(name.toLowerCase());
        return { status: 204 };
      }
      if (seg.length === 3 && seg[2] === 'recover' && method === 'POST') {
        if (!deleted) return deletedSecretNotFound(name);
        delete deleted.deleted;
        return { status: 200, body: this.bundle(base, deleted, deleted.versions.at(-1) as SecretVersion, false) };
      }
      return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    }

    // /secrets...
    if (seg.length === 1 && method === 'GET') {
      const items = this.sortedEntities(false).map((s) => this.item(base, s, s.versions.at(-1) as SecretVersion, false, false));
      return this.page(base, 'secrets', req, items);
    }
    if (name === undefined) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    if (seg.length === 2 && name === 'restore' && method === 'POST') return this.restore(req, base);
    if (seg.length === 2 && method === 'PUT') return this.set(name, req.body, base);
    if (seg.length === 2 && method === 'DELETE') return this.delete(name, base);
    if (seg.length === 3 && seg[2] === 'versions' && method === 'GET') {
      const s = this.live(name);
      if (!s) return secretNotFound(name);
      const items = [...s.versions].sort((a, b) => (a.version < b.version ? -1 : 1)).map((v) => this.item(base, s, v, true, false));
      return this.page(base, `secrets/${s.name}/versions`, req, items);
    }
    if (seg.length === 3 && seg[2] === 'backup' && method === 'POST') {
      const s = this.live(name);
      if (!s) return secretNotFound(name);
      return { status: 200, body: { value: Buffer.from(JSON.stringify({ sandboxBackup: 1, secret: s })).toString('base64url') } };
    }
    if (seg.length === 2 || seg.length === 3) {
      const version = seg[2];
      const s = this.live(name);
      const v = s ? (version ? s.versions.find((x) => x.version === version) : s.versions.at(-1)) : undefined;
      if (!s || !v) return secretNotFound(name, version);
      if (method === 'GET') {
        if (!v.enabled) return kvError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        return { status: 200, body: this.bundle(base, s, v, true) };
      }
      if (method === 'PATCH') return this.update(s, v, req.body, base);
    }
    return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
  }

  private set(name: string, body: unknown, base: string): KvAnswer {
    if (!isRecord(body) || typeof body.value !== 'string') return badParameter('The parameter value is required and must be a string.');
    if (body.value.length > MAX_VALUE_CHARS) return badParameter(`Secret value exceeds the maximum allowed size of ${MAX_VALUE_CHARS} characters.`);
    const existing = this.secrets.get(name.toLowerCase());
    if (existing?.deleted) return deletedButRecoverable('secrets', existing.name);
    const attrs = isRecord(body.attributes) ? body.attributes : {};
    const now = this.seconds();
    const v: SecretVersion = {
      version: randomBytes(16).toString('hex'),
      value: body.value,
      contentType: typeof body.contentType === 'string' ? body.contentType : undefined,
      tags: stringTags(body.tags),
      enabled: attrs.enabled === undefined ? true : attrs.enabled === true,
      nbf: optNumber(attrs.nbf),
      exp: optNumber(attrs.exp),
      created: now,
      updated: now,
    };
    const s = existing ?? { name, versions: [] };
    s.versions.push(v);
    this.secrets.set(name.toLowerCase(), s);
    return { status: 200, body: this.bundle(base, s, v, true) };
  }

  private update(s: SecretEntity, v: SecretVersion, body: unknown, base: string): KvAnswer {
    if (!isRecord(body)) return badParameter('The request body is required.');
    if (typeof body.contentType === 'string') v.contentType = body.contentType;
    if (body.tags !== undefined) v.tags = stringTags(body.tags);
    if (isRecord(body.attributes)) {
      const a = body.attributes;
      if (typeof a.enabled === 'boolean') v.enabled = a.enabled;
      if (a.nbf !== undefined) v.nbf = optNumber(a.nbf);
      if (a.exp !== undefined) v.exp = optNumber(a.exp);
    }
    v.updated = this.seconds();
    return { status: 200, body: this.bundle(base, s, v, false) };
  }

  private delete(name: string, base: string): KvAnswer {
    const s = this.live(name);
    if (!s) return secretNotFound(name);
    const latest = s.versions.at(-1) as SecretVersion;
    if (!this.options.softDelete) {
      this.secrets.delete(name.toLowerCase());
      return { status: 200, body: this.deletedBundle(base, s, latest) };
    }
    const now = this.seconds();
    s.deleted = { deletedDate: now, scheduledPurgeDate: now + this.options.retentionDays * 86_400 };
    return { status: 200, body: this.deletedBundle(base, s, latest) };
  }

  private restore(req: StoreRequest, base: string): KvAnswer {
    const body = req.body;
    if (!isRecord(body) || typeof body.value !== 'string') return badParameter('The parameter value is required.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body.value, 'base64url').toString('utf8'));
    } catch {
      return badParameter('Backup blob could not be decoded.');
    }
    if (!isRecord(parsed) || parsed.sandboxBackup !== 1 || !isRecord(parsed.secret)) return badParameter('Backup blob could not be decoded.');
    const s = parsed.secret as unknown as SecretEntity;
    if (typeof s.name !== 'string' || !Array.isArray(s.versions) || s.versions.length === 0) return badParameter('Backup blob could not be decoded.');
    if (this.secrets.has(s.name.toLowerCase())) return kvError(409, 'Conflict', `Secret ${s.name} already exists; restore is only possible when no secret with the same name exists.`);
    const copy: SecretEntity = { name: s.name, versions: s.versions.map((v) => ({ ...v })) };
    this.secrets.set(s.name.toLowerCase(), copy);
    return { status: 200, body: this.bundle(base, copy, copy.versions.at(-1) as SecretVersion, false) };
  }
}
