// One resource read over the manifest's target namespaces: cluster-wide pages instead of one list per
// namespace, so a no-op's Kubernetes requests do not grow with the namespaces. When the first page is
// not the whole list, the apiserver's count of the items left decides: the remaining pages are read
// when they are fewer than the namespaces' lists would be, else the per-namespace lists. Those also
// decide when the cluster-wide list is refused (RBAC scoped to namespaces is common for deployers),
// fails midway, or gives no count (selectors).
import { KUBE_CONCURRENCY } from '../names.ts';
import { mapUntilError } from '../util/concurrency.ts';

/** Cluster-wide page size asked for (client-go's default pager page). */
export const ACROSS_PAGE = 500;

type Namespaced = { metadata?: { namespace?: string } };

/** A list answer: typed lists carry `_continue`, custom objects' plain JSON `continue`. */
export interface ListPage<T> {
  items?: T[];
  metadata?: { _continue?: string; continue?: string; remainingItemCount?: number };
}

function continueToken(page: ListPage<unknown>): string | undefined {
  return page.metadata?._continue || page.metadata?.continue || undefined;
}

/**
 * Pure: how many more cluster-wide pages to read after a first page that is not the whole list, or
 * undefined when the per-namespace lists cost no more (or the apiserver gave no count).
 */
export function pagesWorthReading(remainingItems: number | undefined, pageSize: number, namespaces: number): number | undefined {
  if (remainingItems === undefined || !Number.isFinite(remainingItems) || remainingItems < 0) return undefined;
  const pages = Math.ceil(remainingItems / pageSize);
  return pages < namespaces ? pages : undefined;
}

/** Pure: a single namespace is read by its own list (a cluster-wide one would cost as much and read more). */
export function listsClusterWide(namespaces: number): boolean {
  return namespaces > 1;
}

/** Keeps the page's items of the target namespaces only (a page of pods of other teams is dropped). */
function addItems<T extends Namespaced>(out: Map<string, T[]>, page: ListPage<T>): void {
  for (const item of page.items ?? []) out.get(item.metadata?.namespace ?? '')?.push(item);
}

export interface AcrossLists<T> {
  /** One cluster-wide page: `limit` items at most, after `continueToken` when given. */
  cluster: (limit: number, continueToken?: string) => Promise<ListPage<T>>;
  /** One namespace's list (its errors are the caller's, as before). */
  namespaced: (namespace: string) => Promise<ListPage<T>>;
}

type Run = <R>(fn: () => Promise<R>) => Promise<R>;
const direct: Run = (fn) => fn();

/** The cluster-wide pages, while they cost less than the per-namespace lists; undefined otherwise. */
async function clusterPages<T extends Namespaced>(namespaces: readonly string[], lists: AcrossLists<T>, run: Run, pageSize: number): Promise<Map<string, T[]> | undefined> {
  if (!listsClusterWide(namespaces.length)) return undefined;
  try {
    let page = await run(() => lists.cluster(pageSize));
    const out = new Map<string, T[]>(namespaces.map((ns) => [ns, []]));
    addItems(out, page);
    let token = continueToken(page);
    const more = token ? pagesWorthReading(page.metadata?.remainingItemCount, pageSize, namespaces.length) : 0;
    if (more === undefined) return undefined;
    // One page over the count is allowed for items added meanwhile; a list still growing past it is left.
    for (let read = 0; token; read++) {
      if (read > more) return undefined;
      const after = token;
      page = await run(() => lists.cluster(pageSize, after));
      addItems(out, page);
      token = continueToken(page);
    }
    return out;
  } catch {
    // Forbidden cluster-wide, an expired continue token, any other failure: the per-namespace lists decide.
    return undefined;
  }
}

/** Items of each namespace, from cluster-wide pages when they cost less, else one list per namespace. */
export async function listAcross<T extends Namespaced>(namespaces: readonly string[], lists: AcrossLists<T>, run: Run = direct, pageSize: number = ACROSS_PAGE): Promise<Map<string, T[]>> {
  const whole = await clusterPages(namespaces, lists, run, pageSize);
  if (whole) return whole;
  const pages = await mapUntilError(namespaces, KUBE_CONCURRENCY, (ns) => run(() => lists.namespaced(ns)));
  return new Map(namespaces.map((ns, i) => [ns, pages[i]?.items ?? []]));
}
