// The sandbox's GitHub REST simulator (test/sandbox/azure/github-rest.ts) as GitHub's contract words
// it, over HTTPS at GITHUB_API_URL: tokens scoped to one repository and an `issues` permission, the
// refusals (401, 403, 404), listing with state / labels filters and Link pagination; then the
// action's own issue client (src/audit/issue.ts) keeping exactly one issue per manifest instance.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { syncIssue } from '../../../src/audit/issue.ts';
import { issueMarker } from '../../../src/audit/model.ts';
import { control, sandboxEnv } from '../../support/sandbox.ts';

const env = sandboxEnv();
const API = env.GITHUB_API_URL!;
const repo = `contoso/gh-${randomBytes(3).toString('hex')}`;

async function token(repository: string, issues: 'none' | 'read' | 'write'): Promise<string> {
  return (await control<{ token: string }>('POST', '/github/rest/tokens', { repository, issues })).token;
}

async function gh(method: string, path: string, tok?: string, body?: unknown): Promise<{ status: number; json: unknown; link: string | null }> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { accept: 'application/vnd.github+json', ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, link: res.headers.get('link') };
}

const message = (r: { json: unknown }): string | undefined => (r.json as { message?: string }).message;

describe('GitHub REST simulator', () => {
  test('refusals as GitHub words them: no token, a bad token, another repository, no permission', async () => {
    const write = await token(repo, 'write');
    const read = await token(repo, 'read');
    const none = await token(repo, 'none');
    const other = await token(`${repo}-other`, 'write');
    const list = `/repos/${repo}/issues`;
    expect([(await gh('POST', list, undefined, { title: 't' })).status, message(await gh('POST', list, undefined, { title: 't' }))]).toEqual([401, 'Requires authentication']);
    expect(message(await gh('GET', list))).toBe('Not Found');
    expect([(await gh('GET', list, 'ghs_nope')).status, message(await gh('GET', list, 'ghs_nope'))]).toEqual([401, 'Bad credentials']);
    expect([(await gh('GET', list, other)).status, message(await gh('GET', list, other))]).toEqual([404, 'Not Found']);
    expect([(await gh('GET', list, none)).status, message(await gh('GET', list, none))]).toEqual([403, 'Resource not accessible by integration']);
    expect((await gh('GET', list, read)).status).toBe(200);
    expect([(await gh('POST', list, read, { title: 't' })).status, message(await gh('POST', list, read, { title: 't' }))]).toEqual([403, 'Resource not accessible by integration']);
    const missing = await gh('POST', list, write, { body: 'no title' });
    expect(missing.status).toBe(422);
    expect(missing.json).toMatchObject({ message: 'Validation Failed', errors: [{ resource: 'Issue', field: 'title', code: 'missing_field' }] });
  });

  test('create, list by state and labels across pages (Link rel="next"), close and reopen', async () => {
    const tok = await token(repo, 'write');
    for (let n = 0; n < 5; n++) expect((await gh('POST', `/repos/${repo}/issues`, tok, { title: `i${n}`, labels: n % 2 ? ['odd'] : [] })).status).toBe(201);
    const odd = await gh('GET', `/repos/${repo}/issues?labels=odd&state=all`, tok);
    expect((odd.json as Array<{ title: string }>).map((i) => i.title)).toEqual(['i3', 'i1']);
    const titles: string[] = [];
    let next: string | undefined = `${API}/repos/${repo}/issues?per_page=2`;
    while (next) {
      const r = await gh('GET', next.slice(API.length), tok);
      titles.push(...(r.json as Array<{ title: string }>).map((i) => i.title));
      next = /<([^>]+)>; rel="next"/.exec(r.link ?? '')?.[1];
    }
    expect(titles).toEqual(['i4', 'i3', 'i2', 'i1', 'i0']);
    const closed = await gh('PATCH', `/repos/${repo}/issues/1`, tok, { state: 'closed', state_reason: 'not_planned' });
    expect(closed.json).toMatchObject({ number: 1, state: 'closed', state_reason: 'not_planned' });
    expect((await gh('GET', `/repos/${repo}/issues`, tok)).json).toHaveLength(4); // state defaults to open
    expect((await gh('PATCH', `/repos/${repo}/issues/1`, tok, { state: 'open' })).json).toMatchObject({ state: 'open', state_reason: 'reopened', closed_at: null });
    expect((await gh('PATCH', `/repos/${repo}/issues/99`, tok, { state: 'open' })).status).toBe(404);
  });

  test("the action's client keeps exactly one issue per instance: opened, updated, closed, reopened", async () => {
    const own = `contoso/gh-sync-${randomBytes(3).toString('hex')}`;
    const target = { apiUrl: API, repository: own, token: await token(own, 'write') };
    const key = randomBytes(8).toString('hex');
    const body = (text: string): string => `${issueMarker(key)}\n${text}`;
    const issues = async (): Promise<Array<{ number: number; state: string; body: string }>> =>
      (await control<{ issues: Array<{ number: number; state: string; body: string }> }>('GET', `/github/rest/repos/${own}/issues`)).issues;
    // Another instance's issue and an unrelated one are never touched.
    await gh('POST', `/repos/${own}/issues`, target.token, { title: 'other', body: `${issueMarker('0000000000000000')}\nx`, labels: ['akv-aks-audit'] });
    await gh('POST', `/repos/${own}/issues`, target.token, { title: 'unrelated', body: 'hello' });
    expect(await syncIssue(target, key, { title: 'a', body: body('1 finding'), clean: false })).toMatchObject({ action: 'opened', number: 3 });
    expect(await syncIssue(target, key, { title: 'a', body: body('1 finding'), clean: false })).toMatchObject({ action: 'unchanged', number: 3 });
    expect(await syncIssue(target, key, { title: 'b', body: body('2 findings'), clean: false })).toMatchObject({ action: 'updated', number: 3 });
    expect(await syncIssue(target, key, { title: 'b', body: body('clean'), clean: true })).toMatchObject({ action: 'closed', number: 3 });
    expect(await syncIssue(target, key, { title: 'b', body: body('clean'), clean: true })).toMatchObject({ action: 'unchanged', number: 3 });
    expect(await syncIssue(target, key, { title: 'c', body: body('again'), clean: false })).toMatchObject({ action: 'reopened', number: 3 });
    const all = await issues();
    expect(all.filter((i) => i.body.includes(issueMarker(key))).map((i) => [i.number, i.state])).toEqual([[3, 'open']]);
    expect(all.filter((i) => !i.body.includes(issueMarker(key))).map((i) => i.state)).toEqual(['open', 'open']);
    // A refused token: the error names the status, GitHub's words and the fix.
    const readOnly = { ...target, token: await token(own, 'read') };
    await expect(syncIssue(readOnly, key, { title: 'd', body: body('x'), clean: false })).rejects.toThrow(
      /HTTP 403 Resource not accessible by integration \(the token may not write issues: give the job `permissions: issues: write`\)/,
    );
  });
});
