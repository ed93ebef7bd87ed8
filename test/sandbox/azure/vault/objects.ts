// Keys and certificates for the built-in vault engine, enough for what the action and the CSI
// provider stand-in read: create/import, get (latest or a version), list, versions, update,
// delete with soft delete, deleted listings, recover, purge. A certificate version brings its
// managed key and secret (same name, same version id), as in Key Vault; its secret holds the
// PEM (certificate + private key) or a PKCS#12 file. No cryptographic operations.
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathSegments } from './actions.ts';
import type { KvAnswer } from './errors.ts';
import { badParameter, deletedButRecoverable, kvError } from './errors.ts';
import { pageOf, recoveryLevelOf, type SecretStore, type StoreOptions, type StoreRequest } from './store.ts';

const NAME_RE = /^[0-9a-zA-Z-]{1,127}$/;
const CURVES: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', 'P-256K': 'secp256k1' };
const RSA_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const EC_OPS = ['sign', 'verify'];

interface Deleted {
  deletedDate: number;
  scheduledPurgeDate: number;
}

interface Entity<V> {
  name: string;
  versions: V[];
  deleted?: Deleted;
}

interface Attrs {
  version: string;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  tags?: Record<string, string>;
  managed?: boolean;
}

interface KeyVersion extends Attrs {
  /** Public JWK members only (kty, n, e / crv, x, y); never private material. */
  jwk: Record<string, string>;
  keyOps: string[];
}

interface CertVersion extends Attrs {
  der: Buffer;
  contentType: string;
  subject: string;
  validityMonths: number;
  issuer: string;
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

function notFound(kind: 'keys' | 'certificates', name: string, version?: string): KvAnswer {
  const word = kind === 'keys' ? 'key' : 'certificate';
  const code = kind === 'keys' ? 'KeyNotFound' : 'CertificateNotFound';
  return kvError(
    404,
    code,
    `A ${word} with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. If you recently deleted this ${word} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function deletedNotFound(kind: 'keys' | 'certificates', name: string): KvAnswer {
  return kvError(404, kind === 'keys' ? 'KeyNotFound' : 'CertificateNotFound', `Deleted ${kind === 'keys' ? 'Key' : 'Certificate'} not found: ${name}`);
}

function publicJwk(k: KeyObject): Record<string, string> {
  const j = k.export({ format: 'jwk' }) as Record<string, string>;
  const out: Record<string, string> = { kty: j.kty as string };
  for (const f of ['n', 'e', 'crv', 'x', 'y']) if (j[f] !== undefined) out[f] = j[f];
  if (out.crv === 'secp256k1') out.crv = 'P-256K';
  return out;
}

/** Versioned, soft-deletable objects of one kind. */
class Collection<V extends Attrs> {
  readonly map = new Map<string, Entity<V>>();

  get(name: string): Entity<V> | undefined {
    return this.map.get(name.toLowerCase());
  }

  live(name: string): Entity<V> | undefined {
    const e = this.get(name);
    return e && !e.deleted ? e : undefined;
  }

  deleted(name: string): Entity<V> | undefined {
    const e = this.get(name);
    return e && e.deleted ? e : undefined;
  }

  sorted(deleted: boolean): Entity<V>[] {
    return [...this.map.values()].filter((e) => Boolean(e.deleted) === deleted && e.versions.length > 0).sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  }

  add(name: string, v: V): Entity<V> {
    const key = name.toLowerCase();
    const e = this.map.get(key) ?? { name, versions: [] };
    e.versions.push(v);
    this.map.set(key, e);
    return e;
  }

  purgeExpired(nowSec: number): void {
    for (const [k, e] of this.map) if (e.deleted && e.deleted.scheduledPurgeDate <= nowSec) this.map.delete(k);
  }
}

export class KeyCertStore {
  options: StoreOptions;
  private readonly keys = new Collection<KeyVersion>();
  private readonly certs = new Collection<CertVersion>();
  private readonly secrets: SecretStore;
  private readonly now: () => number;

  constructor(options: StoreOptions, secrets: SecretStore, now: () => number = Date.now) {
    this.options = options;
    this.secrets = secrets;
    this.now = now;
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  clear(): void {
    this.keys.map.clear();
    this.certs.map.clear();
  }

  private attributes(v: Attrs, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const a: Record<string, unknown> = { enabled: v.enabled };
    if (v.nbf !== undefined) a.nbf = v.nbf;
    if (v.exp !== undefined) a.exp = v.exp;
    a.created = v.created;
    a.updated = v.updated;
    Object.assign(a, recoveryLevelOf(this.options), extra);
    return a;
  }

  private deletedInfo(base: string, kind: string, e: Entity<unknown>): Record<string, unknown> {
    if (!e.deleted || !this.options.softDelete) return {};
    return { recoveryId: `${base}deleted${kind}/${e.name}`, deletedDate: e.deleted.deletedDate, scheduledPurgeDate: e.deleted.scheduledPurgeDate };
  }

  // ---- keys ----------------------------------------------------------------------------------

  private keyBundle(base: string, e: Entity<KeyVersion>, v: KeyVersion): Record<string, unknown> {
    const b: Record<string, unknown> = {
      key: { kid: `${base}keys/${e.name}/${v.version}`, ...v.jwk, key_ops: v.keyOps },
      attributes: this.attributes(v, { exportable: false }),
    };
    if (v.tags && Object.keys(v.tags).length > 0) b.tags = v.tags;
    if (v.managed) b.managed = true;
    return b;
  }

  private keyItem(base: string, e: Entity<KeyVersion>, v: KeyVersion, versioned: boolean): Record<string, unknown> {
    const it: Record<string, unknown> = {
      ...this.deletedInfo(base, 'keys', e),
      kid: versioned ? `${base}keys/${e.name}/${v.version}` : `${base}keys/${e.name}`,
      attributes: this.attributes(v, { exportable: false }),
    };
    if (v.tags && Object.keys(v.tags).length > 0) it.tags = v.tags;
    if (v.managed) it.managed = true;
    return it;
  }

  private newKey(body: Record<string, unknown>): { jwk: Record<string, string>; ops: string[] } | KvAnswer {
    const kty = String(body.kty ?? '');
    if (kty === 'RSA' || kty === 'RSA-HSM') {
      const size = optNumber(body.key_size) ?? 2048;
      if (![2048, 3072, 4096].includes(size)) return badParameter(`Invalid key size ${size}.`);
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: size });
      return { jwk: { ...publicJwk(publicKey), kty }, ops: RSA_OPS };
    }
    if (kty === 'EC' || kty === 'EC-HSM') {
      const crv = String(body.crv ?? 'P-256');
      const named = CURVES[crv];
      if (!named) return badParameter(`Invalid curve name ${crv}.`);
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: named });
      return { jwk: { ...publicJwk(publicKey), kty, crv }, ops: EC_OPS };
    }
    if (kty === 'oct' || kty === 'oct-HSM') return { jwk: { kty }, ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] };
    return badParameter(`The key type ${kty || '(none)'} is not valid.`);
  }

  private importedKey(body: Record<string, unknown>): { jwk: Record<string, string>; ops: string[] } | KvAnswer {
    if (!isRecord(body.key)) return badParameter('The parameter key is required.');
    const k = body.key;
    const kty = String(k.kty ?? '');
    try {
      if (kty.startsWith('RSA') || kty.startsWith('EC')) {
        const jwk: Record<string, unknown> = { ...k, kty: kty.startsWith('RSA') ? 'RSA' : 'EC' };
        if (jwk.crv === 'P-256K') jwk.crv = 'secp256k1';
        const pub = createPublicKey({ key: jwk as never, format: 'jwk' });
        const out = publicJwk(pub);
        if (typeof k.crv === 'string') out.crv = k.crv;
        out.kty = body.hsm === true && !kty.endsWith('-HSM') ? `${kty}-HSM` : kty;
        const ops = Array.isArray(k.key_ops) ? k.key_ops.map(String) : kty.startsWith('RSA') ? RSA_OPS : EC_OPS;
        return { jwk: out, ops };
      }
      if (kty.startsWith('oct')) return { jwk: { kty }, ops: Array.isArray(k.key_ops) ? k.key_ops.map(String) : ['encrypt', 'decrypt'] };
    } catch {
      return badParameter('The key is not a valid JSON Web Key.');
    }
    return badParameter(`The key type ${kty || '(none)'} is not valid.`);
  }

  private addKey(name: string, made: { jwk: Record<string, string>; ops: string[] }, body: Record<string, unknown>, base: string, version?: string, managed = false): KvAnswer {
    const attrs = isRecord(body.attributes) ? body.attributes : {};
    const now = this.seconds();
    const v: KeyVersion = {
      version: version ?? randomBytes(16).toString('hex'),
      jwk: made.jwk,
      keyOps: Array.isArray(body.key_ops) ? body.key_ops.map(String) : made.ops,
      enabled: attrs.enabled === undefined ? true : attrs.enabled === true,
      nbf: optNumber(attrs.nbf),
      exp: optNumber(attrs.exp),
      created: now,
      updated: now,
      tags: stringTags(body.tags),
      managed: managed || undefined,
    };
    const e = this.keys.add(name, v);
    return { status: 200, body: this.keyBundle(base, e, v) };
  }

  private handleKeys(req: StoreRequest, base: string, seg: string[], method: string): KvAnswer {
    const deletedPath = seg[0] === 'deletedkeys';
    const name = seg[1];
    if (deletedPath) {
      if (seg.length === 1 && method === 'GET')
        return pageOf(
          base,
          'deletedkeys',
          req,
          this.keys.sorted(true).map((e) => this.keyItem(base, e, e.versions.at(-1) as KeyVersion, false)),
        );
      if (!name) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
      const e = this.keys.deleted(name);
      if (!e) return deletedNotFound('keys', name);
      if (seg.length === 2 && method === 'GET') return { status: 200, body: { ...this.deletedInfo(base, 'keys', e), ...this.keyBundle(base, e, e.versions.at(-1) as KeyVersion) } };
      if (seg.length === 2 && method === 'DELETE') {
        if (this.options.purgeProtection) return kvError(403, 'Forbidden', 'Operation "purge" is not allowed because purge protection is enabled for this vault.');
        this.keys.map.delete(name.toLowerCase());
        return { status: 204 };
      }
      if (seg.length === 3 && seg[2] === 'recover' && method === 'POST') {
        delete e.deleted;
        return { status: 200, body: this.keyBundle(base, e, e.versions.at(-1) as KeyVersion) };
      }
      return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    }
    if (seg.length === 1 && method === 'GET')
      return pageOf(
        base,
        'keys',
        req,
        this.keys.sorted(false).map((e) => this.keyItem(base, e, e.versions.at(-1) as KeyVersion, false)),
      );
    if (!name) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    const body = isRecord(req.body) ? req.body : {};
    if ((seg.length === 3 && seg[2] === 'create' && method === 'POST') || (seg.length === 2 && method === 'PUT')) {
      const existing = this.keys.get(name);
      if (existing?.deleted) return deletedButRecoverable('keys', existing.name);
      if (existing?.versions.at(-1)?.managed) return kvError(409, 'Conflict', `Key ${existing.name} is managed by a certificate and cannot be changed directly.`);
      const made = method === 'PUT' ? this.importedKey(body) : this.newKey(body);
      if ('status' in made) return made as KvAnswer;
      return this.addKey(name, made as { jwk: Record<string, string>; ops: string[] }, body, base);
    }
    const e = this.keys.live(name);
    if (seg.length === 2 && method === 'DELETE') {
      if (!e) return notFound('keys', name);
      if (e.versions.at(-1)?.managed) return kvError(403, 'Forbidden', `Key ${e.name} is managed by a certificate; delete the certificate instead.`);
      const now = this.seconds();
      if (!this.options.softDelete) this.keys.map.delete(name.toLowerCase());
      else e.deleted = { deletedDate: now, scheduledPurgeDate: now + this.options.retentionDays * 86_400 };
      return { status: 200, body: { ...this.deletedInfo(base, 'keys', e), ...this.keyBundle(base, e, e.versions.at(-1) as KeyVersion) } };
    }
    if (seg.length === 3 && seg[2] === 'versions' && method === 'GET') {
      if (!e) return notFound('keys', name);
      const items = [...e.versions].sort((a, b) => (a.version < b.version ? -1 : 1)).map((v) => this.keyItem(base, e, v, true));
      return pageOf(base, `keys/${e.name}/versions`, req, items);
    }
    if (seg.length === 2 || seg.length === 3) {
      const version = seg[2];
      const v = e ? (version ? e.versions.find((x) => x.version === version) : e.versions.at(-1)) : undefined;
      if (!e || !v) return notFound('keys', name, version);
      if (method === 'GET') return { status: 200, body: this.keyBundle(base, e, v) };
      if (method === 'PATCH') {
        if (Array.isArray(body.key_ops)) v.keyOps = body.key_ops.map(String);
        if (body.tags !== undefined) v.tags = stringTags(body.tags);
        if (isRecord(body.attributes)) {
          if (typeof body.attributes.enabled === 'boolean') v.enabled = body.attributes.enabled;
          if (body.attributes.nbf !== undefined) v.nbf = optNumber(body.attributes.nbf);
          if (body.attributes.exp !== undefined) v.exp = optNumber(body.attributes.exp);
        }
        v.updated = this.seconds();
        return { status: 200, body: this.keyBundle(base, e, v) };
      }
    }
    return badParameter(`The sandbox's built-in vault does not serve ${method} ${req.pathname} (no key operations).`);
  }

  // ---- certificates --------------------------------------------------------------------------

  private policy(base: string, e: Entity<CertVersion>, v: CertVersion): Record<string, unknown> {
    const kv = this.keys.get(e.name)?.versions.find((k) => k.version === v.version);
    return {
      id: `${base}certificates/${e.name}/policy`,
      key_props: { exportable: true, kty: kv?.jwk.kty ?? 'RSA', reuse_key: false },
      secret_props: { contentType: v.contentType },
      x509_props: { subject: v.subject, validity_months: v.validityMonths },
      issuer: { name: v.issuer },
      attributes: { enabled: true, created: v.created, updated: v.updated },
    };
  }

  private certBundle(base: string, e: Entity<CertVersion>, v: CertVersion): Record<string, unknown> {
    const b: Record<string, unknown> = {
      id: `${base}certificates/${e.name}/${v.version}`,
      kid: `${base}keys/${e.name}/${v.version}`,
      sid: `${base}secrets/${e.name}/${v.version}`,
      x5t: createHash('sha1').update(v.der).digest('base64url'),
      cer: v.der.toString('base64'),
      attributes: this.attributes(v),
      policy: this.policy(base, e, v),
    };
    if (v.tags && Object.keys(v.tags).length > 0) b.tags = v.tags;
    return b;
  }

  private certItem(base: string, e: Entity<CertVersion>, v: CertVersion, versioned: boolean): Record<string, unknown> {
    const it: Record<string, unknown> = {
      ...this.deletedInfo(base, 'certificates', e),
      id: versioned ? `${base}certificates/${e.name}/${v.version}` : `${base}certificates/${e.name}`,
      x5t: createHash('sha1').update(v.der).digest('base64url'),
      attributes: this.attributes(v),
    };
    if (v.tags && Object.keys(v.tags).length > 0) it.tags = v.tags;
    return it;
  }

  /** Reads PEM text (certificate + private key) or a base64 PKCS#12 file into both PEM parts. */
  private readImport(value: string, password: string | undefined): { certPem: string; keyPem: string } | KvAnswer {
    const text = value.includes('-----BEGIN') ? value : Buffer.from(value, 'base64').toString('latin1');
    let pem = text;
    if (!text.includes('-----BEGIN')) {
      const dir = mkdtempSync(join(tmpdir(), 'kv-pfx-'));
      try {
        writeFileSync(join(dir, 'in.pfx'), Buffer.from(value, 'base64'));
        pem = execFileSync('openssl', ['pkcs12', '-in', join(dir, 'in.pfx'), '-nodes', '-passin', `pass:${password ?? ''}`], {
          stdio: ['ignore', 'pipe', 'ignore'],
        }).toString('utf8');
      } catch {
        return badParameter('The specified PEM X.509 certificate content is in an unexpected format or the PKCS#12 password is wrong.');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(pem)?.[0];
    if (!cert || !key) return badParameter('The specified PEM X.509 certificate content does not contain a certificate and its private key.');
    return { certPem: cert, keyPem: key };
  }

  private selfSigned(subject: string, months: number, kty: string, size: number): { certPem: string; keyPem: string } {
    const dir = mkdtempSync(join(tmpdir(), 'kv-cert-'));
    try {
      const subj =
        '/' +
        subject
          .split(/\s*,\s*/)
          .filter(Boolean)
          .join('/');
      const newkey = kty.startsWith('EC') ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', `rsa:${size}`];
      execFileSync(
        'openssl',
        ['req', '-x509', ...newkey, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', subj, '-days', String(Math.max(1, Math.round(months * 30.4)))],
        { stdio: 'ignore' },
      );
      return { certPem: readFileSync(join(dir, 'c.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'k.pem'), 'utf8') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private secretValue(parts: { certPem: string; keyPem: string }, contentType: string): string {
    if (contentType !== 'application/x-pkcs12') return `${parts.keyPem.trim()}\n${parts.certPem.trim()}\n`;
    const dir = mkdtempSync(join(tmpdir(), 'kv-p12-'));
    try {
      writeFileSync(join(dir, 'c.pem'), `${parts.certPem}\n${parts.keyPem}\n`);
      execFileSync('openssl', ['pkcs12', '-export', '-in', join(dir, 'c.pem'), '-out', join(dir, 'o.pfx'), '-passout', 'pass:'], { stdio: 'ignore' });
      return readFileSync(join(dir, 'o.pfx')).toString('base64');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private addCert(name: string, parts: { certPem: string; keyPem: string }, body: Record<string, unknown>, base: string, issuer: string): KvAnswer {
    const policy = isRecord(body.policy) ? body.policy : {};
    const secretProps = isRecord(policy.secret_props) ? policy.secret_props : {};
    const x509Props = isRecord(policy.x509_props) ? policy.x509_props : {};
    const contentType = typeof secretProps.contentType === 'string' ? secretProps.contentType : 'application/x-pkcs12';
    const x509 = new X509Certificate(parts.certPem);
    const now = this.seconds();
    const version = randomBytes(16).toString('hex');
    const attrs = isRecord(body.attributes) ? body.attributes : {};
    const v: CertVersion = {
      version,
      der: x509.raw,
      contentType,
      subject: typeof x509Props.subject === 'string' ? x509Props.subject : x509.subject.split('\n').join(', '),
      validityMonths: optNumber(x509Props.validity_months) ?? 12,
      issuer,
      enabled: attrs.enabled === undefined ? true : attrs.enabled === true,
      nbf: Math.floor(Date.parse(x509.validFrom) / 1000),
      exp: Math.floor(Date.parse(x509.validTo) / 1000),
      created: now,
      updated: now,
      tags: stringTags(body.tags),
    };
    const e = this.certs.add(name, v);
    this.addKey(name, { jwk: publicJwk(x509.publicKey), ops: RSA_OPS }, {}, base, version, true);
    this.secrets.putManaged(name, {
      version,
      value: this.secretValue(parts, contentType),
      contentType,
      enabled: v.enabled,
      nbf: v.nbf,
      exp: v.exp,
      created: now,
      updated: now,
      kid: `keys/${e.name}/${version}`,
    });
    return { status: 200, body: this.certBundle(base, e, v) };
  }

  private operation(base: string, name: string, status = 'completed'): Record<string, unknown> {
    return {
      id: `${base}certificates/${name}/pending`,
      issuer: { name: 'Self' },
      cancellation_requested: false,
      status,
      target: `${base}certificates/${name}`,
      request_id: randomBytes(16).toString('hex'),
    };
  }

  private linked(name: string, action: 'delete' | 'recover' | 'purge', deleted?: Deleted): void {
    const k = this.keys.get(name);
    if (k) {
      if (action === 'purge' || (action === 'delete' && !this.options.softDelete)) this.keys.map.delete(name.toLowerCase());
      else if (action === 'delete') k.deleted = deleted;
      else delete k.deleted;
    }
    this.secrets.linked(name, action, deleted);
  }

  private handleCerts(req: StoreRequest, base: string, seg: string[], method: string): KvAnswer {
    const deletedPath = seg[0] === 'deletedcertificates';
    const name = seg[1];
    if (deletedPath) {
      if (seg.length === 1 && method === 'GET')
        return pageOf(
          base,
          'deletedcertificates',
          req,
          this.certs.sorted(true).map((e) => this.certItem(base, e, e.versions.at(-1) as CertVersion, false)),
        );
      if (!name) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
      const e = this.certs.deleted(name);
      if (!e) return deletedNotFound('certificates', name);
      if (seg.length === 2 && method === 'GET') return { status: 200, body: { ...this.deletedInfo(base, 'certificates', e), ...this.certBundle(base, e, e.versions.at(-1) as CertVersion) } };
      if (seg.length === 2 && method === 'DELETE') {
        if (this.options.purgeProtection) return kvError(403, 'Forbidden', 'Operation "purge" is not allowed because purge protection is enabled for this vault.');
        this.certs.map.delete(name.toLowerCase());
        this.linked(name, 'purge');
        return { status: 204 };
      }
      if (seg.length === 3 && seg[2] === 'recover' && method === 'POST') {
        delete e.deleted;
        this.linked(name, 'recover');
        return { status: 200, body: this.certBundle(base, e, e.versions.at(-1) as CertVersion) };
      }
      return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    }
    if (seg.length === 1 && method === 'GET')
      return pageOf(
        base,
        'certificates',
        req,
        this.certs.sorted(false).map((e) => this.certItem(base, e, e.versions.at(-1) as CertVersion, false)),
      );
    if (!name) return kvError(405, 'MethodNotAllowed', 'The method is not allowed.');
    const body = isRecord(req.body) ? req.body : {};
    if (seg.length === 3 && (seg[2] === 'import' || seg[2] === 'create') && method === 'POST') {
      const existing = this.certs.get(name);
      if (existing?.deleted) return deletedButRecoverable('certificates', existing.name);
      const liveKey = this.keys.live(name);
      if (!existing && liveKey && !liveKey.versions.at(-1)?.managed) return kvError(409, 'Conflict', `A key named ${name} already exists; a certificate cannot take its name.`);
      if (seg[2] === 'import') {
        if (typeof body.value !== 'string') return badParameter('The parameter value is required.');
        const parts = this.readImport(body.value, typeof body.pwd === 'string' ? body.pwd : undefined);
        if ('status' in parts) return parts as KvAnswer;
        return this.addCert(name, parts as { certPem: string; keyPem: string }, body, base, 'Unknown');
      }
      const policy = isRecord(body.policy) ? body.policy : {};
      const x509Props = isRecord(policy.x509_props) ? policy.x509_props : {};
      const keyProps = isRecord(policy.key_props) ? policy.key_props : {};
      const issuer = isRecord(policy.issuer) && typeof policy.issuer.name === 'string' ? policy.issuer.name : 'Self';
      if (issuer !== 'Self') return badParameter(`The sandbox's built-in vault issues self-signed certificates only (issuer ${issuer}).`);
      const subject = typeof x509Props.subject === 'string' ? x509Props.subject : `CN=${name}`;
      const parts = this.selfSigned(subject, optNumber(x509Props.validity_months) ?? 12, String(keyProps.kty ?? 'RSA'), optNumber(keyProps.key_size) ?? 2048);
      this.addCert(name, parts, body, base, 'Self');
      return { status: 202, body: this.operation(base, name) };
    }
    const e = this.certs.live(name);
    if (seg.length === 3 && seg[2] === 'pending' && method === 'GET') {
      if (!e) return kvError(404, 'PendingCertificateNotFound', `Pending certificate not found: ${name}`);
      return { status: 200, body: this.operation(base, e.name) };
    }
    if (seg.length === 3 && seg[2] === 'policy' && method === 'GET') {
      if (!e) return notFound('certificates', name);
      return { status: 200, body: this.policy(base, e, e.versions.at(-1) as CertVersion) };
    }
    if (seg.length === 2 && method === 'DELETE') {
      if (!e) return notFound('certificates', name);
      const now = this.seconds();
      const deleted = { deletedDate: now, scheduledPurgeDate: now + this.options.retentionDays * 86_400 };
      if (!this.options.softDelete) this.certs.map.delete(name.toLowerCase());
      else e.deleted = deleted;
      this.linked(name, 'delete', deleted);
      return { status: 200, body: { ...this.deletedInfo(base, 'certificates', e), ...this.certBundle(base, e, e.versions.at(-1) as CertVersion) } };
    }
    if (seg.length === 3 && seg[2] === 'versions' && method === 'GET') {
      if (!e) return notFound('certificates', name);
      const items = [...e.versions].sort((a, b) => (a.version < b.version ? -1 : 1)).map((v) => this.certItem(base, e, v, true));
      return pageOf(base, `certificates/${e.name}/versions`, req, items);
    }
    if (seg.length === 2 || seg.length === 3) {
      const version = seg[2];
      const v = e ? (version ? e.versions.find((x) => x.version === version) : e.versions.at(-1)) : undefined;
      if (!e || !v) return notFound('certificates', name, version);
      if (method === 'GET') return { status: 200, body: this.certBundle(base, e, v) };
      if (method === 'PATCH') {
        if (body.tags !== undefined) v.tags = stringTags(body.tags);
        if (isRecord(body.attributes) && typeof body.attributes.enabled === 'boolean') v.enabled = body.attributes.enabled;
        v.updated = this.seconds();
        return { status: 200, body: this.certBundle(base, e, v) };
      }
    }
    return badParameter(`The sandbox's built-in vault does not serve ${method} ${req.pathname}.`);
  }

  /** Answers a keys / deletedkeys / certificates / deletedcertificates request (api-version already checked). */
  handle(req: StoreRequest, base: string): KvAnswer {
    const now = this.seconds();
    this.keys.purgeExpired(now);
    this.certs.purgeExpired(now);
    const seg = pathSegments(req.pathname);
    const method = req.method.toUpperCase();
    const name = seg[1];
    if (name !== undefined && !NAME_RE.test(name)) return badParameter(`The request URI contains an invalid name: ${name}`);
    if (seg[0] === 'keys' || seg[0] === 'deletedkeys') return this.handleKeys(req, base, seg, method);
    return this.handleCerts(req, base, seg, method);
  }
}
