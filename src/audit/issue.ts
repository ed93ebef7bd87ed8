// Keeps exactly one GitHub issue per manifest instance up to date with the audit's findings, through
// the REST API with the job's token: found by the hidden marker (instance key) among the issues with
// the audit label, opened when there are findings, updated (reopened) while there are, closed when
// clean. Duplicates (two runs racing) are closed, the oldest kept. Pure decision in `decideIssue`.
import { ISSUE_LABEL, issueMarker } from './model.ts';
import type { IssueOutcome } from './model.ts';

export interface GitHubTarget {
  /** GITHUB_API_URL, e.g. https://api.github.com (GHES: https://HOST/api/v3). */
  apiUrl: string;
  /** owner/name. */
  repository: string;
  token: string;
}

export interface FoundIssue {
  number: number;
  state: 'open' | 'closed';
  title: string;
  body: string;
  html_url?: string;
}

export type IssueDecision = { op: 'create' } | { op: 'update'; number: number; reopen: boolean } | { op: 'close'; number: number } | { op: 'none'; number?: number };

/** What to do with the instance's issue: `found` are those carrying its marker (any state). */
export function decideIssue(found: readonly FoundIssue[], want: { title: string; body: string; clean: boolean }): { decision: IssueDecision; duplicates: number[] } {
  const sorted = [...found].sort((a, b) => a.number - b.number);
  const keep = sorted[0];
  const duplicates = sorted
    .slice(1)
    .filter((i) => i.state === 'open')
    .map((i) => i.number);
  if (want.clean) return { decision: keep?.state === 'open' ? { op: 'close', number: keep.number } : { op: 'none', number: keep?.number }, duplicates };
  if (!keep) return { decision: { op: 'create' }, duplicates };
  if (keep.state === 'closed') return { decision: { op: 'update', number: keep.number, reopen: true }, duplicates };
  if (keep.title === want.title && keep.body === want.body) return { decision: { op: 'none', number: keep.number }, duplicates };
  return { decision: { op: 'update', number: keep.number, reopen: false }, duplicates };
}

export class GitHubApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'GitHubApiError';
    this.status = status;
  }
}

const HINTS: Record<number, string> = {
  401: 'the token is missing or invalid: pass `github-token: ${{ github.token }}`',
  403: 'the token may not write issues: give the job `permissions: issues: write`',
  404: 'the repository is not visible to the token (or issues are disabled)',
  410: 'issues are disabled in this repository',
};

async function call<T>(t: GitHubTarget, method: string, path: string, body?: unknown): Promise<{ data: T; link?: string }> {
  const res = await fetch(`${t.apiUrl.replace(/\/+$/, '')}${path}`, {
    method,
    headers: {
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${t.token}`,
      'x-github-api-version': '2022-11-28',
      'user-agent': 'akv-aks-action',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text as it is
    }
    const hint = HINTS[res.status];
    throw new GitHubApiError(`GitHub API ${method} ${path.split('?')[0]}: HTTP ${res.status} ${message}${hint ? ` (${hint})` : ''}`, res.status);
  }
  return { data: (text ? JSON.parse(text) : undefined) as T, link: res.headers.get('link') ?? undefined };
}

/** The `rel="next"` URL's path and query from a Link header (undefined on the last page). */
export function nextPage(link: string | undefined, apiUrl: string): string | undefined {
  const next = link?.split(',').find((p) => /rel="next"/.test(p));
  const url = next && /<([^>]+)>/.exec(next)?.[1];
  if (!url) return undefined;
  const base = new URL(apiUrl.replace(/\/+$/, '') + '/');
  const u = new URL(url);
  return u.origin === base.origin && u.pathname.startsWith(base.pathname.replace(/\/$/, '')) ? u.pathname.slice(base.pathname.replace(/\/$/, '').length) + u.search : undefined;
}

/** Pages of issues read at most (100 each) while looking for the instance's marker. */
export const MAX_ISSUE_PAGES = 10;

async function findMarked(t: GitHubTarget, instanceKey: string): Promise<FoundIssue[]> {
  const marker = issueMarker(instanceKey);
  const out: FoundIssue[] = [];
  let path: string | undefined = `/repos/${t.repository}/issues?state=all&labels=${encodeURIComponent(ISSUE_LABEL)}&per_page=100`;
  for (let page = 0; path && page < MAX_ISSUE_PAGES; page++) {
    const r: { data: Array<FoundIssue & { pull_request?: unknown }>; link?: string } = await call(t, 'GET', path);
    for (const i of r.data) if (!i.pull_request && (i.body ?? '').includes(marker)) out.push(i);
    path = nextPage(r.link, t.apiUrl);
  }
  return out;
}

/** Brings the instance's issue in line with the findings; returns what it did. */
export async function syncIssue(t: GitHubTarget, instanceKey: string, want: { title: string; body: string; clean: boolean }): Promise<IssueOutcome> {
  const found = await findMarked(t, instanceKey);
  const { decision, duplicates } = decideIssue(found, want);
  const issuePath = (n: number): string => `/repos/${t.repository}/issues/${n}`;
  for (const n of duplicates) await call(t, 'PATCH', issuePath(n), { state: 'closed', state_reason: 'not_planned' });
  const urlOf = (n?: number): string | undefined => found.find((i) => i.number === n)?.html_url;
  switch (decision.op) {
    case 'create': {
      const r = await call<FoundIssue>(t, 'POST', `/repos/${t.repository}/issues`, { title: want.title, body: want.body, labels: [ISSUE_LABEL] });
      return { action: 'opened', number: r.data.number, url: r.data.html_url };
    }
    case 'update': {
      await call(t, 'PATCH', issuePath(decision.number), { title: want.title, body: want.body, labels: [ISSUE_LABEL], ...(decision.reopen ? { state: 'open', state_reason: 'reopened' } : {}) });
      return { action: decision.reopen ? 'reopened' : 'updated', number: decision.number, url: urlOf(decision.number) };
    }
    case 'close': {
      await call(t, 'PATCH', issuePath(decision.number), { body: want.body, state: 'closed', state_reason: 'completed' });
      return { action: 'closed', number: decision.number, url: urlOf(decision.number) };
    }
    case 'none':
      return { action: decision.number === undefined ? 'none' : 'unchanged', number: decision.number, url: urlOf(decision.number) };
  }
}
