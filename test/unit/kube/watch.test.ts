// The gate's list+watch mirror against a fake transport: a watch a proxy closes at once is retried
// with backoff, not reopened in a loop; an expired one (410) re-lists.
import { describe, expect, it } from '@jest/globals';
import type { KubeSession } from '../../../src/kube/client.ts';
import { Mirror } from '../../../src/kube/watch.ts';

type OnEvent = (e: { type: string; object: unknown }) => void;

function fakeSession(watch: (onEvent: OnEvent, signal: AbortSignal) => Promise<void>): KubeSession {
  return { http: { watch: (_path: string, _q: unknown, onEvent: OnEvent, signal: AbortSignal) => watch(onEvent, signal) } } as unknown as KubeSession;
}

const list =
  (names: string[], resourceVersion = '1') =>
  async () => ({ items: names.map((name) => ({ metadata: { name, namespace: 'a' } })), metadata: { resourceVersion } });

describe('Mirror', () => {
  it('backs off when the watch ends at once without an event', async () => {
    let watches = 0;
    const m = new Mirror(
      fakeSession(async () => void watches++),
      { path: '/api/v1/namespaces/a/pods', list: list(['p1']) },
      () => undefined,
    );
    await m.start();
    await new Promise((r) => setTimeout(r, 400));
    await m.stop();
    // 250 ms then 500 ms of backoff: two or three watches in 400 ms, not hundreds.
    expect(watches).toBeGreaterThanOrEqual(1);
    expect(watches).toBeLessThanOrEqual(3);
    expect(m.lastError).toMatch(/ended at once/);
    expect(m.items().map((p) => p.metadata?.name)).toEqual(['p1']);
  });

  it('applies events, and re-lists after a 410', async () => {
    let lists = 0;
    let watches = 0;
    const changes: string[] = [];
    const session = fakeSession(async (onEvent, signal) => {
      watches++;
      if (watches === 1) {
        onEvent({ type: 'ADDED', object: { metadata: { name: 'p2', namespace: 'a', resourceVersion: '2' } } });
        onEvent({ type: 'DELETED', object: { metadata: { name: 'p1', namespace: 'a', resourceVersion: '3' } } });
        onEvent({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } });
        return;
      }
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    });
    const m = new Mirror(
      session,
      {
        path: '/api/v1/namespaces/a/pods',
        list: async () => {
          lists++;
          return list(lists === 1 ? ['p1'] : ['p2', 'p3'], String(lists * 10))();
        },
      },
      () =>
        void changes.push(
          m
            .items()
            .map((p) => p.metadata?.name)
            .join(','),
        ),
    );
    await m.start();
    const deadline = Date.now() + 2_000;
    while (watches < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await m.stop();
    expect(lists).toBe(2);
    expect(changes).toContain('p1,p2');
    expect(m.items().map((p) => p.metadata?.name)).toEqual(['p2', 'p3']);
  });
});
