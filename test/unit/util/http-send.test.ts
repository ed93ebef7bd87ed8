// The action's own requests (login, ARM and Key Vault reads) honour HTTP(S)_PROXY and NO_PROXY as the
// Azure SDKs' clients do: a real local server plays the proxy and another the service.
import { afterAll, describe, expect, it } from '@jest/globals';
import { httpSend } from '../../../src/util/http-send.ts';
import { closeServers, serve } from '../../support/local-http.ts';

/** A server that answers its name and records what it was asked. */
function named(name: string, seen: string[]): Promise<string> {
  return serve((req, _body, res) => {
    seen.push(`${name} ${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
}

const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await closeServers();
});

describe('httpSend behind a proxy', () => {
  it('sends through the proxy the environment names, and straight to the hosts NO_PROXY lists', async () => {
    const seen: string[] = [];
    const proxy = await named('proxy', seen);
    const service = await named('service', seen);
    process.env.HTTP_PROXY = proxy;
    process.env.NO_PROXY = '127.0.0.1';
    const viaProxy = await httpSend('http://management.example.invalid/subscriptions?api-version=2022-12-01', { method: 'GET', headers: {}, maxBytes: 1024 }, 'GET /subscriptions');
    const direct = await httpSend(`${service}/secrets`, { method: 'GET', headers: {}, maxBytes: 1024 }, 'GET /secrets');
    expect(viaProxy.text).toBe('proxy');
    expect(direct.text).toBe('service');
    expect(seen).toEqual(['proxy GET http://management.example.invalid/subscriptions?api-version=2022-12-01', 'service GET /secrets']);
  });
});
