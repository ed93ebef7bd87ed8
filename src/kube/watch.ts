// A list+watch mirror of one namespaced collection, calling back on every change. Used by the gate
// so it reacts to events instead of polling: no fixed sleeps anywhere; the only timer is the
// reconnect backoff after a failed watch.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ListOf } from './api.ts';
import type { KubeSession } from './client.ts';
import { errorSummary, kubeStatusOf } from './client.ts';

export interface MirrorSpec<T extends KubernetesObject> {
  /** API path of the collection, e.g. /api/v1/namespaces/ns/pods. */
  path: string;
  list: () => Promise<ListOf<T>>;
  fieldSelector?: string;
}

interface WatchEvent {
  type: string;
  object: unknown;
}

/** A watch that ends this soon without an event is treated as failed (backoff), not as the server's timeout. */
const QUICK_END_MS = 1_000;

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class Mirror<T extends KubernetesObject> {
  readonly path: string;
  /** Set when the collection is not served (404), e.g. a CRD that is not installed. */
  notServed = false;
  /** True once a list succeeded: before that the mirror knows nothing. */
  listed = false;
  /** Last error of the list or the watch, value-free. */
  lastError?: string;
  private readonly objects = new Map<string, T>();
  private resourceVersion?: string;
  private stopped = false;
  private retryMs = 250;
  private retryTimer?: NodeJS.Timeout;
  private abort?: AbortController;
  private readonly kube: KubeSession;
  private readonly spec: MirrorSpec<T>;
  private readonly onChange: () => void;

  constructor(kube: KubeSession, spec: MirrorSpec<T>, onChange: () => void) {
    this.kube = kube;
    this.spec = spec;
    this.onChange = onChange;
    this.path = spec.path;
  }

  /** Lists, then watches; resolves once the first list is in (or failed). */
  async start(): Promise<void> {
    if (await this.relist()) this.watchFrom();
  }

  /** Replaces the mirror with a fresh list; whether it succeeded (else a retry is scheduled). */
  private async relist(): Promise<boolean> {
    try {
      const list = await this.spec.list();
      this.objects.clear();
      for (const o of list.items ?? []) this.objects.set(keyOf(o), o);
      this.resourceVersion = list.metadata?.resourceVersion;
      this.listed = true;
      this.lastError = undefined;
      // An empty list changes nothing visible: tell the owner the mirror now knows its collection.
      queueMicrotask(this.onChange);
      return true;
    } catch (err) {
      this.failed(err, true);
      return false;
    }
  }

  private watchFrom(): void {
    if (this.stopped) return;
    const abort = new AbortController();
    this.abort = abort;
    let expired = false;
    let statusError: { code?: number; body: string } | undefined;
    const opened = Date.now();
    let events = 0;
    const onEvent = (e: WatchEvent): void => {
      events++;
      if (e.type === 'ERROR') {
        // 410 Gone: the resource version is too old (re-list); any other Status ends this watch too.
        const status = e.object as { code?: number } | undefined;
        expired = status?.code === 410;
        if (!expired) statusError = { code: status?.code, body: JSON.stringify(status ?? {}) };
        abort.abort();
        return;
      }
      const o = e.object as T;
      const rv = o.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (e.type === 'BOOKMARK') return;
      if (e.type === 'DELETED') this.objects.delete(keyOf(o));
      else this.objects.set(keyOf(o), o);
      this.retryMs = 250;
      this.onChange();
    };
    const query = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, fieldSelector: this.spec.fieldSelector };
    const ended = (err?: unknown): void => {
      if (this.stopped) return;
      if (expired) void this.relist().then((ok) => ok && this.watchFrom());
      else if (statusError || err !== undefined) this.failed(statusError ?? err, false);
      // Ended at once with nothing said (a proxy closing it): backed off, not reopened in a loop.
      else if (events === 0 && Date.now() - opened < QUICK_END_MS) this.failed(new Error(`the watch of ${this.spec.path} ended at once`), false);
      // The server ended the watch (its timeout): continue from the last version seen.
      else this.watchFrom();
    };
    this.kube.http.watch(this.spec.path, query, onEvent, abort.signal).then(
      () => ended(),
      (err: unknown) => ended(err),
    );
  }

  private failed(err: unknown, listing: boolean): void {
    if (this.stopped) return;
    if (kubeStatusOf(err) === 404) {
      this.notServed = true;
      this.onChange();
      return;
    }
    this.lastError = errorSummary(err);
    // Reconnect with backoff; the mirror keeps what it had until the next list.
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      if (listing || !this.listed) void this.relist().then((ok) => ok && this.watchFrom());
      else this.watchFrom();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 5_000);
  }

  items(): T[] {
    return [...this.objects.values()];
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort?.abort();
    return Promise.resolve();
  }
}
