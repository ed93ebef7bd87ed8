// The session's KubeConfig hands every request one shared dispatcher per cluster and TLS material,
// while headers (the credential) are still set per request. No network: the dispatchers are built
// but never connect.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { connectKube } from '../../../src/kube/client.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A kubeconfig with a CA, a client certificate and a token; the PEM contents are never parsed here. */
const kubeconfigYaml = (cert: string, token: string): string => `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: { server: "https://127.0.0.1:1111", certificate-authority-data: "${b64('ca')}" }
- name: two
  cluster: { server: "https://127.0.0.1:2222", certificate-authority-data: "${b64('ca')}" }
users:
- name: u
  user: { client-certificate-data: "${b64(cert)}", client-key-data: "${b64('key')}", token: ${token} }
contexts:
- name: ctx-one
  context: { cluster: one, user: u }
- name: ctx-two
  context: { cluster: two, user: u }
current-context: ctx-one
`;

async function authenticated(kc: KubeConfig): Promise<RequestContext> {
  const ctx = new RequestContext('https://127.0.0.1:1111/api/v1/namespaces', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx;
}

describe('the session KubeConfig shares connections', () => {
  let dir = '';
  let file = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-pool-'));
    file = join(dir, 'kubeconfig');
    writeFileSync(file, kubeconfigYaml('cert-1', 'token-1'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives every request of one cluster and TLS material the same dispatcher', async () => {
    const { kc } = connectKube({ kubeconfig: file });
    const first = await authenticated(kc);
    const second = await authenticated(kc);
    expect(first.getDispatcher()).toBeDefined();
    expect(second.getDispatcher()).toBe(first.getDispatcher());
    expect(second.getHeaders().Authorization).toBe('Bearer token-1');
  });

  it('a new credential applies at once; a new client certificate or another cluster gets its own dispatcher', async () => {
    const { kc } = connectKube({ kubeconfig: file });
    const before = (await authenticated(kc)).getDispatcher();
    kc.loadFromString(kubeconfigYaml('cert-1', 'token-2'));
    const newToken = await authenticated(kc);
    expect(newToken.getHeaders().Authorization).toBe('Bearer token-2');
    expect(newToken.getDispatcher()).toBe(before);
    kc.loadFromString(kubeconfigYaml('cert-2', 'token-2'));
    const rotated = (await authenticated(kc)).getDispatcher();
    expect(rotated).not.toBe(before);
    kc.setCurrentContext('ctx-two');
    const other = (await authenticated(kc)).getDispatcher();
    expect(other).not.toBe(rotated);
    expect(other).not.toBe(before);
  });

  it("client-node's own KubeConfig builds a dispatcher per request (why the session pools; drop the override when this fails)", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const first = await authenticated(kc);
    const second = await authenticated(kc);
    expect(first.getDispatcher()).toBeDefined();
    expect(second.getDispatcher()).not.toBe(first.getDispatcher());
  });
});
