// A session reuses its keep-alive connections to the API server: sequential calls ride on one
// connection, a watch holds one more while open. Counted at a TCP forwarder put between the client
// and the sandbox's kube-apiserver (TLS stays end to end), so a new connection per request shows.
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { connectKube } from '../../../src/kube/client.ts';
import type { KubeSession } from '../../../src/kube/client.ts';
import { Mirror } from '../../../src/kube/watch.ts';
import { admin, deleteNamespace, describeKube, sandboxKube, sandboxKubeconfig } from '../../support/kube.ts';
import { shortId } from '../../support/ids.ts';

jest.setTimeout(60_000);

interface Forwarder {
  server: Server;
  url: string;
  /** Client connections accepted so far. */
  accepted: () => number;
  close: () => Promise<void>;
}

/** A plain TCP forwarder to `target` (https://host:port) on a free local port, counting connections. */
async function countingForwarder(target: URL): Promise<Forwarder> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    accepted += 1;
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, target.hostname, resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the forwarder has no port');
  return {
    server,
    url: `https://${target.hostname}:${address.port}`,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describeKube('connections to the API server', () => {
  const namespace = `it-conn-${shortId()}`;
  let forwarder: Forwarder;
  let dir = '';
  let kubeconfig = '';
  let session: KubeSession;

  beforeAll(async () => {
    session = sandboxKube();
    forwarder = await countingForwarder(new URL(session.server));
    // The sandbox kubeconfig (certificate data inline) with the forwarder as the server.
    const config = parse(readFileSync(sandboxKubeconfig()!, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const c of config.clusters) c.cluster.server = forwarder.url;
    dir = mkdtempSync(join(tmpdir(), 'conn-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(config));
    await admin().core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  afterAll(async () => {
    if (session) await deleteNamespace(session, namespace);
    if (forwarder) await forwarder.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sequential calls share one connection; a watch adds one while it is open', async () => {
    const kube = connectKube({ kubeconfig });
    const before = forwarder.accepted();
    for (let i = 0; i < 10; i++) await kube.core.readNamespace({ name: namespace });
    expect(forwarder.accepted() - before).toBe(1);

    let seen: () => void = () => undefined;
    const probeSeen = new Promise<void>((resolve) => (seen = resolve));
    const mirror: Mirror<V1ConfigMap> = new Mirror<V1ConfigMap>(kube, { path: `/api/v1/namespaces/${namespace}/configmaps`, list: () => admin().core.listNamespacedConfigMap({ namespace }) }, () => {
      if (mirror.items().some((c) => c.metadata?.name === 'probe')) seen();
    });
    await mirror.start();
    await admin().core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'probe' }, data: { a: '1' } } });
    await probeSeen;
    await mirror.stop();
    for (let i = 0; i < 5; i++) await admin().core.readNamespacedConfigMap({ namespace, name: 'probe' });
    // 17 requests and a watch; one connection per request would be 18.
    expect(forwarder.accepted() - before).toBeLessThanOrEqual(2);
  });

  it("the count sees client-node's own KubeConfig open a connection per request", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const before = forwarder.accepted();
    for (let i = 0; i < 5; i++) await core.readNamespace({ name: namespace });
    expect(forwarder.accepted() - before).toBe(5);
  });
});
