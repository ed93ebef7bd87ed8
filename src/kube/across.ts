// One resource read over the manifest's target namespaces: one cluster-wide list (a single page)
// instead of one list per namespace, so a no-op's Kubernetes requests do not grow with the
// namespaces. Falls back to the per-namespace lists, exactly as before, when the cluster-wide list is
// refused (RBAC scoped to namespaces is common for deployers), fails, or does not fit in one page.
import { KUBE_CONCURRENCY } from '../names.ts';
import { mapUntilError } from '../util/concurrency.ts';

/**
 * Largest cluster-wide page asked for (client-go's default pager page). A cluster holding more of a
 * kind costs the one wasted page plus the per-namespace lists, and never more than this many objects.
 */
export const ACROSS_PAGE = 500;

type Namespaced = { metadata?: { namespace?: string } };

/** A list answer: typed lists carry `_continue`, custom objects' plain JSON `continue`. */
export interface ListPage<T> {
  items?: T[];
  metadata?: { _continue?: string; continue?: string };
}

/** Pure: a single namespace is read by its own list (a cluster-wide one would cost as much and read more). */
export function listsClusterWide(namespaces: number): boolean {
  return namespaces > 1;
}

/** Pure: the page's items of each target namespace, or undefined when the page is not the whole list. */
export function byNamespace<T extends Namespaced>(namespaces: readonly string[], page: ListPage<T>): Map<string, T[]> | undefined {
  if (page.metadata?._continue || page.metadata?.continue) return undefined;
  const out = new Map<string, T[]>(namespaces.map((ns) => [ns, []]));
  for (const item of page.items ?? []) out.get(item.metadata?.namespace ?? '')?.push(item);
  return out;
}

export interface AcrossLists<T> {
  /** The cluster-wide list with a page limit. */
  cluster: (limit: number) => Promise<ListPage<T>>;
  /** One namespace's list (its errors are the caller's, as before). */
  namespaced: (namespace: string) => Promise<ListPage<T>>;
}

type Run = <R>(fn: () => Promise<R>) => Promise<R>;
const direct: Run = (fn) => fn();

async function clusterPage<T extends Namespaced>(namespaces: readonly string[], lists: AcrossLists<T>, run: Run): Promise<Map<string, T[]> | undefined> {
  if (!listsClusterWide(namespaces.length)) return undefined;
  try {
    return byNamespace(namespaces, await run(() => lists.cluster(ACROSS_PAGE)));
  } catch {
    // Forbidden cluster-wide (or any other failure): the per-namespace lists decide, as before.
    return undefined;
  }
}

/** Items of each namespace, from one cluster-wide page when possible, else one list per namespace. */
export async function listAcross<T extends Namespaced>(namespaces: readonly string[], lists: AcrossLists<T>, run: Run = direct): Promise<Map<string, T[]>> {
  const whole = await clusterPage(namespaces, lists, run);
  if (whole) return whole;
  const pages = await mapUntilError(namespaces, KUBE_CONCURRENCY, (ns) => run(() => lists.namespaced(ns)));
  return new Map(namespaces.map((ns, i) => [ns, pages[i]?.items ?? []]));
}
