import { describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { poolConnections } from '../../../src/kube/client.ts';

type Factory = (cluster: unknown, opts: Record<string, unknown>) => unknown;

describe('poolConnections', () => {
  it('hooks the library: one dispatcher per cluster and TLS material, reused across requests', () => {
    const kc = new KubeConfig();
    const made: unknown[] = [];
    (kc as unknown as { createDispatcher: Factory }).createDispatcher = (_c, opts) => {
      const d = { opts };
      made.push(d);
      return d;
    };
    expect(poolConnections(kc)).toBe(true);
    const create = (kc as unknown as { createDispatcher: Factory }).createDispatcher;
    const cluster = { name: 'c', server: 'https://127.0.0.1:1' };
    const a = create(cluster, { ca: Buffer.from('ca'), cert: Buffer.from('cert-1'), key: Buffer.from('k') });
    const b = create(cluster, { ca: Buffer.from('ca'), cert: Buffer.from('cert-1'), key: Buffer.from('k') });
    expect(b).toBe(a);
    // A rotated client certificate, another cluster: new dispatchers.
    const c = create(cluster, { ca: Buffer.from('ca'), cert: Buffer.from('cert-2'), key: Buffer.from('k') });
    const d = create({ name: 'other', server: 'https://127.0.0.1:2' }, { ca: Buffer.from('ca'), cert: Buffer.from('cert-1'), key: Buffer.from('k') });
    expect(c).not.toBe(a);
    expect(d).not.toBe(a);
    expect(made).toHaveLength(3);
  });

  it('the real client-node KubeConfig has the hook it patches', () => {
    expect(typeof (new KubeConfig() as unknown as { createDispatcher?: unknown }).createDispatcher).toBe('function');
  });

  it('changes nothing when the library has no such hook', () => {
    expect(poolConnections({} as KubeConfig)).toBe(false);
  });
});
