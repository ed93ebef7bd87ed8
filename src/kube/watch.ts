// A list+watch mirror of one namespaced collection (client-node's ListWatch), calling back on every
// change. Used by the gate so it reacts to events instead of polling: no fixed sleeps anywhere;
// the only timer is the reconnect backoff after a failed watch.
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { KubeSession } from './client.ts';
import { errorSummary, kubeStatusOf } from './client.ts';

export interface MirrorSpec<T extends KubernetesObject> {
  /** API path of the collection, e.g. /api/v1/namespaces/ns/pods. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  fieldSelector?: string;
}

export class Mirror<T extends KubernetesObject> {
  readonly path: string;
  /** Set when the collection is not served (404), e.g. a CRD that is not installed. */
  notServed = false;
  /** True once a list succeeded: before that the mirror knows nothing. */
  listed = false;
  /** Last error of the list or the watch, value-free. */
  lastError?: string;
  private readonly lw: ListWatch<T>;
  private stopped = false;
  private retryMs = 250;
  private retryTimer?: NodeJS.Timeout;

  constructor(kube: KubeSession, spec: MirrorSpec<T>, onChange: () => void) {
    this.path = spec.path;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await spec.list();
      this.listed = true;
      this.lastError = undefined;
      // An empty list fires no add callback: tell the owner the mirror now knows its collection.
      queueMicrotask(onChange);
      return result;
    };
    this.lw = new ListWatch<T>(spec.path, new Watch(kube.kc), list, false, undefined, spec.fieldSelector);
    const changed = (): void => {
      this.retryMs = 250;
      onChange();
    };
    this.lw.on('add', changed);
    this.lw.on('update', changed);
    this.lw.on('delete', changed);
    this.lw.on('error', (err?: unknown) => {
      if (this.stopped) return;
      if (kubeStatusOf(err) === 404) {
        this.notServed = true;
        onChange();
        return;
      }
      this.lastError = errorSummary(err);
      // Reconnect with backoff; the cache stays as it was until the next list.
      this.retryTimer = setTimeout(() => {
        if (!this.stopped) void this.lw.start();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5_000);
    });
  }

  /** Lists, then watches; resolves once the first list is in (or failed). */
  async start(): Promise<void> {
    await this.lw.start();
  }

  items(): T[] {
    return [...this.lw.list()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.lw.stop();
  }
}
