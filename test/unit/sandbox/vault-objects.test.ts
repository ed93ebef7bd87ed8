import { describe, expect, it } from '@jest/globals';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { KeyCertStore } from '../../sandbox/azure/vault/objects.ts';
import { SecretStore, type StoreOptions } from '../../sandbox/azure/vault/store.ts';

const BASE = 'https://127.0.0.1:27100/';

function engine(opts: Partial<StoreOptions> = {}): SecretStore {
  const o: StoreOptions = { softDelete: true, retentionDays: 90, purgeProtection: false, ...opts };
  const s = new SecretStore(o);
  s.others = new KeyCertStore(o, s);
  return s;
}

function call(s: SecretStore, method: string, path: string, body?: unknown, query: Record<string, string> = {}) {
  return s.handle({ method, pathname: path, query: new URLSearchParams({ 'api-version': '7.6', ...query }), body }, BASE);
}

type KeyBundle = {
  key: Record<string, unknown> & { kid: string; key_ops: string[] };
  attributes: { enabled: boolean; recoveryLevel: string };
  tags?: Record<string, string>;
  managed?: boolean;
  recoveryId?: string;
};
type CertBundle = { id: string; kid: string; sid: string; x5t: string; cer: string; attributes: { nbf: number; exp: number }; policy: { secret_props: { contentType: string } } };
type Page = { value: Array<Record<string, unknown>>; nextLink: string | null };

describe('keys in the built-in engine', () => {
  it('creates RSA and EC keys, answering public members only, and lists them with versions', () => {
    const s = engine();
    const rsa = call(s, 'POST', '/keys/signing/create', { kty: 'RSA', key_size: 2048, tags: { use: 'sig' } });
    expect(rsa.status).toBe(200);
    const kb = rsa.body as KeyBundle;
    expect(kb.key.kid).toMatch(/^https:\/\/127\.0\.0\.1:27100\/keys\/signing\/[0-9a-f]{32}$/);
    expect(kb.key.kty).toBe('RSA');
    expect(typeof kb.key.n).toBe('string');
    expect(kb.key.e).toBe('AQAB');
    expect(kb.key.d).toBeUndefined();
    expect(kb.tags).toEqual({ use: 'sig' });
    const ec = call(s, 'POST', '/keys/ec/create', { kty: 'EC', crv: 'P-384' }).body as KeyBundle;
    expect(ec.key.crv).toBe('P-384');
    expect(ec.key.x).toBeDefined();
    call(s, 'POST', '/keys/signing/create', { kty: 'RSA' });
    expect((call(s, 'GET', '/keys/signing/versions').body as Page).value).toHaveLength(2);
    const latest = call(s, 'GET', '/keys/signing/').body as KeyBundle;
    expect(latest.key.kid).not.toBe(kb.key.kid);
    const old = call(s, 'GET', `/keys/signing/${kb.key.kid.split('/').pop()}`).body as KeyBundle;
    expect(old.key.n).toBe(kb.key.n);
    expect((call(s, 'GET', '/keys').body as Page).value.map((x) => x.kid)).toEqual([`${BASE}keys/ec`, `${BASE}keys/signing`]);
    expect(call(s, 'POST', '/keys/bad/create', { kty: 'DSA' }).status).toBe(400);
    expect(call(s, 'GET', '/keys/none').status).toBe(404);
  });

  it('imports a JWK without keeping private members in answers', () => {
    const s = engine();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    const r = call(s, 'PUT', '/keys/imported', { key: jwk });
    expect(r.status).toBe(200);
    const b = r.body as KeyBundle;
    expect(b.key.n).toBe(jwk.n);
    expect(JSON.stringify(r.body)).not.toContain(String(jwk.d));
  });

  it('soft-deletes, refuses the name, recovers and purges keys', () => {
    const s = engine();
    call(s, 'POST', '/keys/k/create', { kty: 'EC' });
    const d = call(s, 'DELETE', '/keys/k');
    expect((d.body as KeyBundle).recoveryId).toBe(`${BASE}deletedkeys/k`);
    expect(call(s, 'GET', '/keys/k').status).toBe(404);
    const again = call(s, 'POST', '/keys/k/create', { kty: 'EC' });
    expect(again.status).toBe(409);
    expect((again.body as { error: { innererror: { code: string } } }).error.innererror.code).toBe('ObjectIsDeletedButRecoverable');
    expect((call(s, 'GET', '/deletedkeys').body as Page).value).toHaveLength(1);
    expect(call(s, 'POST', '/deletedkeys/k/recover').status).toBe(200);
    expect(call(s, 'GET', '/keys/k').status).toBe(200);
    call(s, 'DELETE', '/keys/k');
    expect(call(s, 'DELETE', '/deletedkeys/k').status).toBe(204);
    expect(call(s, 'GET', '/deletedkeys/k').status).toBe(404);
  });
});

describe('certificates in the built-in engine', () => {
  it('creates a self-signed certificate with its managed key and secret (PEM)', () => {
    const s = engine();
    const op = call(s, 'POST', '/certificates/web/create', {
      policy: {
        issuer: { name: 'Self' },
        x509_props: { subject: 'CN=web.contoso.test', validity_months: 12 },
        key_props: { kty: 'RSA', key_size: 2048 },
        secret_props: { contentType: 'application/x-pem-file' },
      },
    });
    expect(op.status).toBe(202);
    expect((op.body as { status: string }).status).toBe('completed');
    expect((call(s, 'GET', '/certificates/web/pending').body as { status: string }).status).toBe('completed');
    const cert = call(s, 'GET', '/certificates/web').body as CertBundle;
    const version = cert.id.split('/').pop() as string;
    const der = Buffer.from(cert.cer, 'base64');
    const x509 = new X509Certificate(der);
    expect(x509.subject).toContain('CN=web.contoso.test');
    expect(cert.x5t).toBe(createHash('sha1').update(der).digest('base64url'));
    expect(cert.kid).toBe(`${BASE}keys/web/${version}`);
    expect(cert.sid).toBe(`${BASE}secrets/web/${version}`);
    expect(cert.attributes.exp).toBe(Math.floor(Date.parse(x509.validTo) / 1000));
    const secret = call(s, 'GET', `/secrets/web/${version}`).body as { value: string; contentType: string; managed: boolean; kid: string };
    expect(secret.managed).toBe(true);
    expect(secret.contentType).toBe('application/x-pem-file');
    expect(secret.kid).toBe(cert.kid);
    expect(secret.value).toContain('-----BEGIN CERTIFICATE-----');
    expect(secret.value).toMatch(/-----BEGIN (RSA )?PRIVATE KEY-----/);
    const key = call(s, 'GET', '/keys/web').body as KeyBundle;
    expect(key.managed).toBe(true);
    expect(key.key.kid).toBe(cert.kid);
    // a managed key cannot be deleted on its own
    expect(call(s, 'DELETE', '/keys/web').status).toBe(403);
  });

  it('imports a PEM and a PKCS#12 certificate; deleting the certificate deletes its key and secret, recovery brings them back', () => {
    const s = engine();
    call(s, 'POST', '/certificates/src/create', { policy: { x509_props: { subject: 'CN=src' }, secret_props: { contentType: 'application/x-pem-file' } } });
    const pem = (call(s, 'GET', '/secrets/src').body as { value: string }).value;
    const imported = call(s, 'POST', '/certificates/copy/import', { value: pem, policy: { secret_props: { contentType: 'application/x-pem-file' } } });
    expect(imported.status).toBe(200);
    const pfxSecret = call(s, 'POST', '/certificates/pfx/create', { policy: { x509_props: { subject: 'CN=pfx' } } });
    expect(pfxSecret.status).toBe(202);
    const pfx = call(s, 'GET', '/secrets/pfx').body as { value: string; contentType: string };
    expect(pfx.contentType).toBe('application/x-pkcs12');
    const fromPfx = call(s, 'POST', '/certificates/frompfx/import', { value: pfx.value });
    expect(fromPfx.status).toBe(200);
    expect((fromPfx.body as CertBundle).cer).toBe((call(s, 'GET', '/certificates/pfx').body as CertBundle).cer);
    expect(call(s, 'POST', '/certificates/broken/import', { value: 'not a certificate' }).status).toBe(400);

    expect(call(s, 'DELETE', '/certificates/copy').status).toBe(200);
    expect(call(s, 'GET', '/secrets/copy').status).toBe(404);
    expect(call(s, 'GET', '/keys/copy').status).toBe(404);
    expect((call(s, 'GET', '/deletedcertificates').body as Page).value.map((x) => x.recoveryId)).toEqual([`${BASE}deletedcertificates/copy`]);
    expect(call(s, 'POST', '/deletedcertificates/copy/recover').status).toBe(200);
    expect(call(s, 'GET', '/secrets/copy').status).toBe(200);
    expect(call(s, 'GET', '/keys/copy').status).toBe(200);
    call(s, 'DELETE', '/certificates/copy');
    expect(call(s, 'DELETE', '/deletedcertificates/copy').status).toBe(204);
    expect(call(s, 'GET', '/deletedsecrets/copy').status).toBe(404);
    expect((call(s, 'GET', '/certificates').body as Page).value.map((x) => x.id)).toEqual([`${BASE}certificates/frompfx`, `${BASE}certificates/pfx`, `${BASE}certificates/src`]);
  });
});
