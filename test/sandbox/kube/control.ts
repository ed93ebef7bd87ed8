// Control routes of the kubelet/CSI stand-in, plain HTTP on 127.0.0.1:27014 (AKV_AKS_SANDBOX_KUBELET):
//   GET   /status   pods, volumes (mounted versions, errors), config and counters
//   PATCH /config   { rotationIntervalSeconds?, retryBaseMs?, retryMaxMs?, failMounts?, crashLoop? }
//   POST  /rotate   one rotation pass now (what the rotation poll does), then the status
// The same handlers answer under `/kube/` on the Azure control API when the world offers routes.
import http from 'node:http';
import type { Kubelet, KubeletConfig } from './kubelet.ts';

export interface KubeletControlResponse {
  status: number;
  body?: unknown;
}

const KNOWN_KEYS: Array<keyof KubeletConfig> = ['rotationIntervalSeconds', 'retryBaseMs', 'retryMaxMs', 'failMounts', 'crashLoop'];

/** Validates a PATCH /config body; returns the error text or the partial config. */
export function parseConfigPatch(body: unknown): Partial<KubeletConfig> | string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object';
  const out: Partial<KubeletConfig> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (!KNOWN_KEYS.includes(k as keyof KubeletConfig)) return `unknown setting ${k} (known: ${KNOWN_KEYS.join(', ')})`;
    if (k === 'failMounts' || k === 'crashLoop') {
      if (!Array.isArray(v)) return `${k} must be an array`;
      for (const r of v as unknown[]) {
        if (!r || typeof r !== 'object') return `${k} entries must be objects`;
        if (k === 'failMounts' && typeof (r as { message?: unknown }).message !== 'string') return 'failMounts entries need a message';
        if (k === 'crashLoop' && typeof (r as { pod?: unknown }).pod !== 'string') return 'crashLoop entries need a pod (name prefix or /regex/)';
      }
      (out as Record<string, unknown>)[k] = v;
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `${k} must be a non-negative number`;
      (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

export async function handleKubeletControl(kubelet: Kubelet, method: string, path: string, body: unknown): Promise<KubeletControlResponse> {
  if (method === 'GET' && path === '/status') return { status: 200, body: kubelet.status() };
  if (method === 'PATCH' && path === '/config') {
    const patch = parseConfigPatch(body);
    if (typeof patch === 'string') return { status: 400, body: { error: patch } };
    return { status: 200, body: kubelet.updateConfig(patch) };
  }
  if (method === 'POST' && path === '/rotate') {
    await kubelet.rotateAll();
    return { status: 200, body: kubelet.status() };
  }
  return { status: 404, body: { error: `no route ${method} ${path}; use GET /status, PATCH /config, POST /rotate` } };
}

export function startKubeletControl(kubelet: Kubelet, host: string, port: number): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid JSON' }));
        return;
      }
      const path = new URL(req.url ?? '/', `http://${host}`).pathname;
      handleKubeletControl(kubelet, req.method ?? 'GET', path, body)
        .then((r) => {
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body === undefined ? '' : JSON.stringify(r.body));
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
        });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
