// A fetch that trusts the sandbox CA explicitly. Node reads NODE_EXTRA_CA_CERTS only at process
// start, and `npm run sandbox` may run without it, so the kubelet's calls to Entra and the vault
// proxies carry the CA themselves (plus the usual roots).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { rootCertificates } from 'node:tls';

export function caFetch(caPath: string): typeof fetch {
  const ca = [...rootCertificates, readFileSync(caPath, 'utf8')];
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 16 });
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method, headers, agent: url.protocol === 'https:' ? agent : undefined, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) h.append(k, x);
            else if (v !== undefined) h.set(k, v);
          }
          const status = res.statusCode ?? 0;
          const noBody = status === 204 || status === 304 || method === 'HEAD';
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: h }));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')));
      req.on('error', (err) => reject(Object.assign(new TypeError('fetch failed'), { cause: err })));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }) as typeof fetch;
}
