// The action's Kubernetes transport against a real local HTTPS server (a CA and certificates made
// with openssl, as the sandbox makes its own): TLS verified against the kubeconfig's CA, the client
// certificate and token presented, one keep-alive connection for sequential calls, the apiserver's
// Status as KubeApiError, and a watch read event by event across chunk boundaries.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCa, issueServerCert } from '../../sandbox/pki.ts';
import { KubeApiError, KubeHttp, withQuery } from '../../../src/kube/http.ts';
import type { ClusterAccess } from '../../../src/kube/kubeconfig.ts';
import { errorSummary, kubeStatusOf } from '../../../src/kube/client.ts';

let dir: string;
let server: Server;
let url: string;
let ca: Buffer;
let client: { cert: Buffer; key: Buffer };
let connections = 0;
const seen: Array<{ method?: string; url?: string; auth?: string; clientCert: boolean; type?: string; body: string }> = [];
let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-http-'));
  ca = readFileSync(ensureCa(dir).cert);
  const s = issueServerCert(dir, 'apiserver');
  const c = issueServerCert(dir, 'deployer');
  client = { cert: readFileSync(c.cert), key: readFileSync(c.key) };
  server = createServer({ cert: readFileSync(s.cert), key: readFileSync(s.key), ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, clientCert: (req.socket as TLSSocket).authorized, type: req.headers['content-type'], body });
      handler(req, res);
    });
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const access = (o: Partial<ClusterAccess> = {}): ClusterAccess => ({ context: 'x', cluster: 'c', server: url, ca, insecureSkipTlsVerify: false, auth: { kind: 'token', token: 'tok' }, ...o });

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('KubeHttp', () => {
  it('verifies the server against the CA, presents the certificate and token, and reuses one connection', async () => {
    handler = (req, res) => json(res, 200, { kind: 'Namespace', metadata: { name: req.url?.split('/').pop() } });
    const http = new KubeHttp(access({ ...client }));
    const before = connections;
    seen.length = 0;
    for (let i = 0; i < 5; i++) await expect(http.json({ method: 'GET', path: `/api/v1/namespaces/ns-${i}` })).resolves.toMatchObject({ metadata: { name: `ns-${i}` } });
    expect(connections - before).toBe(1);
    expect(seen.every((s) => s.auth === 'Bearer tok' && s.clientCert)).toBe(true);
    http.close();
  });

  it('refuses a server the CA did not sign unless the kubeconfig skips verification', async () => {
    handler = (_req, res) => json(res, 200, {});
    await expect(new KubeHttp(access({ ca: undefined })).json({ method: 'GET', path: '/version' })).rejects.toThrow(/self-signed|unable to verify|certificate/);
    await expect(new KubeHttp(access({ ca: undefined, insecureSkipTlsVerify: true })).json({ method: 'GET', path: '/version' })).resolves.toEqual({});
  });

  it('sends a server-side apply as JSON with its content type and query', async () => {
    handler = (_req, res) => json(res, 200, { applied: true });
    seen.length = 0;
    const http = new KubeHttp(access());
    await http.json({
      method: 'PATCH',
      path: '/api/v1/namespaces/a/serviceaccounts/api',
      query: { fieldManager: 'akv-aks', force: true, dryRun: undefined },
      body: { kind: 'ServiceAccount' },
      contentType: 'application/apply-patch+yaml',
    });
    expect(seen[0]).toMatchObject({
      method: 'PATCH',
      url: '/api/v1/namespaces/a/serviceaccounts/api?fieldManager=akv-aks&force=true',
      type: 'application/apply-patch+yaml',
      body: '{"kind":"ServiceAccount"}',
    });
    http.close();
  });

  it("turns an error answer into KubeApiError with the apiserver's status and message", async () => {
    handler = (_req, res) => json(res, 403, { kind: 'Status', status: 'Failure', message: 'serviceaccounts is forbidden: User "u" cannot list resource', reason: 'Forbidden', code: 403 });
    const err = await new KubeHttp(access()).json({ method: 'GET', path: '/api/v1/serviceaccounts' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(kubeStatusOf(err)).toBe(403);
    expect(errorSummary(err)).toBe('HTTP 403: serviceaccounts is forbidden: User "u" cannot list resource');
  });

  it('reads a watch event by event, whatever the chunking, until the server ends it', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const lines = [
        { type: 'ADDED', object: { metadata: { name: 'a' } } },
        { type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '7' } } },
      ]
        .map((e) => JSON.stringify(e) + '\n')
        .join('');
      res.write(lines.slice(0, 10));
      setTimeout(() => {
        res.write(lines.slice(10, 50));
        res.end(lines.slice(50));
      }, 20);
    };
    seen.length = 0;
    const events: string[] = [];
    await new KubeHttp(access()).watch('/api/v1/namespaces/a/pods', { resourceVersion: '5' }, (e) => events.push(`${e.type} ${JSON.stringify(e.object)}`), new AbortController().signal);
    expect(events).toEqual(['ADDED {"metadata":{"name":"a"}}', 'MODIFIED {"metadata":{"name":"a","resourceVersion":"7"}}']);
    expect(seen[0]?.url).toBe('/api/v1/namespaces/a/pods?resourceVersion=5&watch=true');
  });

  it('ends a watch whose stream is not JSON as failed, without throwing out of the stream', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
      setTimeout(() => res.end('<html>proxy error</html>\n'), 10);
    };
    const events: string[] = [];
    await expect(new KubeHttp(access()).watch('/api/v1/pods', {}, (e) => events.push(e.type), new AbortController().signal)).rejects.toThrow('the watch of /api/v1/pods sent a line that is not JSON');
    expect(events).toEqual(['ADDED']);
  });

  it('never quotes an answer that is not JSON: a cut list of Secrets carries their values', async () => {
    const value = 'c2VjcmV0LXZhbHVlLW5vdC10by1sZWFr';
    handler = (req, res) => {
      res.writeHead(req.url?.includes('broken') ? 502 : 200, { 'content-type': 'application/json' });
      res.end(`{"kind":"SecretList","items":[{"data":{"password":"${value}"`);
    };
    const http = new KubeHttp(access());
    const cut = await http.json({ method: 'GET', path: '/api/v1/namespaces/a/secrets' }).catch((e: Error) => e);
    expect((cut as Error).message).toMatch(/^the answer to GET \/api\/v1\/namespaces\/a\/secrets is not JSON \(\d+ bytes\)$/);
    const failed = await http.json({ method: 'GET', path: '/broken' }).catch((e: unknown) => e);
    expect(errorSummary(failed)).toMatch(/^HTTP 502: /);
    for (const e of [cut, failed]) expect(`${(e as Error).message} ${errorSummary(e)}`).not.toContain(value);
    http.close();
  });

  it('builds queries without empty values, after an existing one', () => {
    expect(withQuery('/api/v1/pods', { labelSelector: 'a=b,c in (d)', limit: 500, continue: undefined, fieldSelector: '' })).toBe('/api/v1/pods?labelSelector=a%3Db%2Cc+in+%28d%29&limit=500');
    expect(withQuery('/x?y=1', { z: 2 })).toBe('/x?y=1&z=2');
  });
});
