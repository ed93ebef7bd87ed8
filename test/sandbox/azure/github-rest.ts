// A small GitHub REST API for the audit's issue (`issue: true`), served by the GitHub simulator under
// `/api/v3` as GitHub Enterprise Server lays it out (GITHUB_API_URL = https://HOST/api/v3). Only the
// issue calls: list a repository's issues (state, labels, sort/direction, per_page/page with a
// Link header), get, create, update (edit, close, reopen). Tokens are made through the control API,
// each for one repository with an `issues` permission, as a job's GITHUB_TOKEN is; the answers
// without a token (401 or, for a read of a private repository, 404), with a bad token (401), for a
// repository the token cannot see (404) and without the permission (403) are worded as GitHub's.
// Contract: https://docs.github.com/en/rest/issues/issues (api-version 2022-11-28).
//
// `POST /reset` forgets every repository, issue and token. Control routes: POST /github/rest/tokens { repository, issues: none|read|write } -> { token };
// GET /github/rest/repos/<owner>/<repo>/issues -> { issues } (every issue, any state, for assertions).
import { randomBytes } from 'node:crypto';
import type { HttpRequestInfo, Reply } from './http.ts';
import type { ControlResponse } from './world-api.ts';
import type { World } from './world.ts';

export const API_PREFIX = '/api/v3';
const DOCS = 'https://docs.github.com/rest/issues/issues';
type Permission = 'none' | 'read' | 'write';

interface Label {
  id: number;
  node_id: string;
  name: string;
  color: string;
  default: boolean;
  description: null;
}

interface Issue {
  id: number;
  number: number;
  state: 'open' | 'closed';
  state_reason: string | null;
  title: string;
  body: string | null;
  labels: Label[];
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

interface Repo {
  id: number;
  fullName: string;
  issues: Issue[];
}

class GithubRest {
  readonly repos = new Map<string, Repo>();
  readonly tokens = new Map<string, { repository: string; issues: Permission }>();
  private ids = 1000;

  repo(fullName: string): Repo {
    const key = fullName.toLowerCase();
    let r = this.repos.get(key);
    if (!r) this.repos.set(key, (r = { id: this.ids++, fullName, issues: [] }));
    return r;
  }

  label(name: string): Label {
    return { id: this.ids++, node_id: `LA_${randomBytes(6).toString('hex')}`, name, color: 'ededed', default: false, description: null };
  }

  nextId(): number {
    return this.ids++;
  }
}

const states = new WeakMap<World, GithubRest>();

function stateOf(world: World): GithubRest {
  let s = states.get(world);
  if (!s) states.set(world, (s = new GithubRest()));
  return s;
}

const error = (status: number, message: string, doc = DOCS, extra: Record<string, unknown> = {}): Reply => ({ status, body: { message, documentation_url: doc, status: String(status), ...extra } });

function issueJson(world: World, repo: Repo, i: Issue): Record<string, unknown> {
  const api = `${world.githubIssuer}${API_PREFIX}/repos/${repo.fullName}/issues/${i.number}`;
  return {
    ...i,
    node_id: `I_${i.id}`,
    url: api,
    repository_url: `${world.githubIssuer}${API_PREFIX}/repos/${repo.fullName}`,
    html_url: `https://github.com/${repo.fullName}/issues/${i.number}`,
    labels: i.labels.map((l) => ({ ...l, url: `${world.githubIssuer}${API_PREFIX}/repos/${repo.fullName}/labels/${encodeURIComponent(l.name)}` })),
    user: { login: 'github-actions[bot]', id: 41898282, type: 'Bot' },
    assignee: null,
    assignees: [],
    milestone: null,
    locked: false,
    comments: 0,
    author_association: 'NONE',
  };
}

/** Who is asking: undefined without a token, 'bad' for an unknown one. */
function caller(s: GithubRest, req: HttpRequestInfo): { repository: string; issues: Permission } | 'bad' | undefined {
  const auth = req.headers.authorization;
  if (!auth) return undefined;
  const token = /^(?:bearer|token)\s+(\S+)\s*$/i.exec(auth)?.[1];
  return (token && s.tokens.get(token)) || 'bad';
}

/** The Link header GitHub sends on a paged list (absolute URLs of the repository by id). */
function linkHeader(world: World, repo: Repo, query: URLSearchParams, page: number, last: number): string | undefined {
  const url = (p: number): string => {
    const q = new URLSearchParams(query);
    q.set('page', String(p));
    return `<${world.githubIssuer}${API_PREFIX}/repositories/${repo.id}/issues?${q.toString()}>`;
  };
  const parts: string[] = [];
  if (page > 1) parts.push(`${url(page - 1)}; rel="prev"`);
  if (page < last) parts.push(`${url(page + 1)}; rel="next"`, `${url(last)}; rel="last"`);
  if (page > 1) parts.push(`${url(1)}; rel="first"`);
  return parts.length ? parts.join(', ') : undefined;
}

function listIssues(world: World, repo: Repo, query: URLSearchParams): Reply {
  const state = query.get('state') ?? 'open';
  if (!['open', 'closed', 'all'].includes(state)) return error(422, 'Validation Failed', DOCS, { errors: [{ resource: 'Issue', field: 'state', code: 'invalid' }] });
  const labels = (query.get('labels') ?? '')
    .split(',')
    .map((l) => l.trim().toLowerCase())
    .filter(Boolean);
  const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
  const asc = query.get('direction') === 'asc';
  const matching = repo.issues
    .filter((i) => state === 'all' || i.state === state)
    .filter((i) => labels.every((l) => i.labels.some((x) => x.name.toLowerCase() === l)))
    .sort((a, b) => (asc ? a.number - b.number : b.number - a.number));
  const last = Math.max(1, Math.ceil(matching.length / perPage));
  const link = linkHeader(world, repo, query, page, last);
  return { status: 200, body: matching.slice((page - 1) * perPage, page * perPage).map((i) => issueJson(world, repo, i)), headers: link ? { link } : {} };
}

function parseJson(req: HttpRequestInfo): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(req.body.toString('utf8') || '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const invalid = (field: string, code = 'invalid'): Reply => error(422, 'Validation Failed', DOCS, { errors: [{ resource: 'Issue', field, code }] });

function labelsOf(s: GithubRest, raw: unknown): Label[] | undefined {
  if (!Array.isArray(raw) || raw.some((l) => typeof l !== 'string')) return undefined;
  return [...new Set(raw as string[])].map((n) => s.label(n));
}

function createIssue(world: World, s: GithubRest, repo: Repo, req: HttpRequestInfo): Reply {
  const b = parseJson(req);
  if (!b) return error(400, 'Problems parsing JSON');
  if (typeof b.title !== 'string' || !b.title) return invalid('title', 'missing_field');
  if (b.body !== undefined && b.body !== null && typeof b.body !== 'string') return invalid('body');
  const labels = b.labels === undefined ? [] : labelsOf(s, b.labels);
  if (!labels) return invalid('labels');
  const now = new Date().toISOString();
  const issue: Issue = {
    id: s.nextId(),
    number: repo.issues.length + 1,
    state: 'open',
    state_reason: null,
    title: b.title,
    body: (b.body as string | null | undefined) ?? null,
    labels,
    created_at: now,
    updated_at: now,
    closed_at: null,
  };
  repo.issues.push(issue);
  const json = issueJson(world, repo, issue);
  return { status: 201, body: json, headers: { location: String(json.url) } };
}

function updateIssue(world: World, s: GithubRest, repo: Repo, issue: Issue, req: HttpRequestInfo): Reply {
  const b = parseJson(req);
  if (!b) return error(400, 'Problems parsing JSON');
  if (b.title !== undefined && (typeof b.title !== 'string' || !b.title)) return invalid('title');
  if (b.state !== undefined && b.state !== 'open' && b.state !== 'closed') return invalid('state');
  if (b.state_reason !== undefined && b.state_reason !== null && !['completed', 'not_planned', 'reopened'].includes(b.state_reason as string)) return invalid('state_reason');
  const labels = b.labels === undefined ? issue.labels : labelsOf(s, b.labels);
  if (!labels) return invalid('labels');
  const now = new Date().toISOString();
  if (typeof b.title === 'string') issue.title = b.title;
  if (b.body !== undefined) issue.body = (b.body as string | null) ?? null;
  issue.labels = labels;
  if (b.state === 'closed' && issue.state === 'open') Object.assign(issue, { state: 'closed', closed_at: now, state_reason: (b.state_reason as string | undefined) ?? 'completed' });
  if (b.state === 'open' && issue.state === 'closed') Object.assign(issue, { state: 'open', closed_at: null, state_reason: 'reopened' });
  issue.updated_at = now;
  return { status: 200, body: issueJson(world, repo, issue) };
}

/** `/repos/{owner}/{repo}/issues[/{n}]` or `/repositories/{id}/issues`: the repository and the issue number. */
function route(s: GithubRest, path: string): { repo?: Repo; fullName?: string; number?: number } | undefined {
  const byName = /^\/repos\/([^/]+\/[^/]+)\/issues(?:\/(\d+))?$/.exec(path);
  if (byName) return { repo: s.repos.get(byName[1]!.toLowerCase()), fullName: byName[1], number: byName[2] ? Number(byName[2]) : undefined };
  const byId = /^\/repositories\/(\d+)\/issues$/.exec(path);
  if (byId) return { repo: [...s.repos.values()].find((r) => r.id === Number(byId[1])) };
  return undefined;
}

/** The `/api/v3/...` part of the GitHub simulator. */
export function handleRest(world: World, req: HttpRequestInfo): Reply {
  const s = stateOf(world);
  const path = req.url.pathname.slice(API_PREFIX.length);
  const r = route(s, path);
  if (!r) return error(404, 'Not Found', 'https://docs.github.com/rest');
  const who = caller(s, req);
  if (who === 'bad') return error(401, 'Bad credentials', 'https://docs.github.com/rest');
  const write = req.method !== 'GET' && req.method !== 'HEAD';
  if (!who) return write ? error(401, 'Requires authentication') : error(404, 'Not Found');
  // A job's token sees its own repository only; another private one does not exist for it.
  if (!r.repo || r.repo.fullName.toLowerCase() !== who.repository.toLowerCase()) return error(404, 'Not Found');
  if (who.issues === 'none' || (write && who.issues !== 'write')) return error(403, 'Resource not accessible by integration');
  const issue = r.number === undefined ? undefined : r.repo.issues.find((i) => i.number === r.number);
  if (r.number !== undefined && !issue) return error(404, 'Not Found');
  if (req.method === 'GET') return issue ? { status: 200, body: issueJson(world, r.repo, issue) } : listIssues(world, r.repo, req.url.searchParams);
  if (req.method === 'POST' && !issue) return createIssue(world, s, r.repo, req);
  if (req.method === 'PATCH' && issue) return updateIssue(world, s, r.repo, issue, req);
  return error(404, 'Not Found', 'https://docs.github.com/rest');
}

function controlTokens(world: World, body: unknown): ControlResponse {
  const b = (body ?? {}) as { repository?: unknown; issues?: unknown };
  if (typeof b.repository !== 'string' || !/^[\w.-]+\/[\w.-]+$/.test(b.repository)) return { status: 400, body: { error: 'repository must be owner/name' } };
  const issues = (b.issues ?? 'write') as Permission;
  if (!['none', 'read', 'write'].includes(issues)) return { status: 400, body: { error: 'issues must be none, read or write' } };
  const s = stateOf(world);
  s.repo(b.repository);
  const token = `ghs_${randomBytes(18).toString('base64url')}`;
  s.tokens.set(token, { repository: b.repository, issues });
  return { status: 201, body: { token } };
}

/** The control routes of the REST part (tokens; every issue of a repository, for assertions). */
export function registerGithubRest(world: World): void {
  world.onReset(() => void states.delete(world));
  world.registerControlRoute('POST', '/github/rest/tokens', (req) => controlTokens(world, req.body));
  world.registerControlRoute('GET', '/github/rest/repos/', (req) => {
    const fullName = /^\/github\/rest\/repos\/([^/]+\/[^/]+)\/issues$/.exec(req.path)?.[1];
    const repo = fullName ? stateOf(world).repos.get(fullName.toLowerCase()) : undefined;
    return repo ? { status: 200, body: { issues: repo.issues.map((i) => issueJson(world, repo, i)) } } : { status: 404, body: { error: `no repository ${fullName ?? ''}` } };
  });
}
