// The audit issue's pure parts: which issue to open, update, reopen or close; the Link header's next
// page; the body (marker, escaped cells); and the manifest's `audit.expiryWarning` field.
import { describe, expect, test } from '@jest/globals';
import { issueBody, issueTitle } from '../../../src/audit/format.ts';
import { decideIssue, nextPage } from '../../../src/audit/issue.ts';
import type { FoundIssue } from '../../../src/audit/issue.ts';
import { auditSection, issueMarker } from '../../../src/audit/model.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import { parseManifest } from '../../../src/manifest/load.ts';

const want = { title: 't', body: 'b', clean: false };
const issue = (number: number, state: FoundIssue['state'], body = 'old'): FoundIssue => ({ number, state, title: 't', body });

describe('decideIssue', () => {
  test('findings: create when none, update the open one, reopen a closed one, leave an identical one', () => {
    expect(decideIssue([], want).decision).toEqual({ op: 'create' });
    expect(decideIssue([issue(3, 'open')], want).decision).toEqual({ op: 'update', number: 3, reopen: false });
    expect(decideIssue([issue(3, 'closed')], want).decision).toEqual({ op: 'update', number: 3, reopen: true });
    expect(decideIssue([issue(3, 'open', 'b')], want).decision).toEqual({ op: 'none', number: 3 });
  });

  test('clean: close the open one, nothing otherwise', () => {
    expect(decideIssue([issue(3, 'open')], { ...want, clean: true }).decision).toEqual({ op: 'close', number: 3 });
    expect(decideIssue([issue(3, 'closed')], { ...want, clean: true }).decision).toEqual({ op: 'none', number: 3 });
    expect(decideIssue([], { ...want, clean: true }).decision).toEqual({ op: 'none', number: undefined });
  });

  test('several carry the marker (two runs raced): the oldest is kept, the other open ones closed', () => {
    const r = decideIssue([issue(9, 'open'), issue(4, 'closed'), issue(7, 'open'), issue(8, 'closed')], want);
    expect(r.decision).toEqual({ op: 'update', number: 4, reopen: true });
    expect(r.duplicates).toEqual([7, 9]);
  });
});

test('nextPage follows rel="next" under the API URL only', () => {
  const link = '<https://ghe.example/api/v3/repositories/1/issues?state=all&page=2>; rel="next", <https://ghe.example/api/v3/repositories/1/issues?page=5>; rel="last"';
  expect(nextPage(link, 'https://ghe.example/api/v3')).toBe('/repositories/1/issues?state=all&page=2');
  expect(nextPage('<https://evil.example/x?page=2>; rel="next"', 'https://api.github.com')).toBeUndefined();
  expect(nextPage('<https://api.github.com/x?page=1>; rel="prev"', 'https://api.github.com')).toBeUndefined();
  expect(nextPage(undefined, 'https://api.github.com')).toBeUndefined();
});

test('the body starts with the instance marker and escapes every cell', () => {
  const instance = manifestInstance({ repository: 'contoso/app', path: 'akv-aks.yaml', cluster: 'c1' });
  const a = auditSection(instance.key, new Date(0), [{ kind: 'pod-stale', object: 'ns/<b>|x', message: 'm `x`', fix: 'f' }], 'any', []);
  const body = issueBody(instance, a, { manifest: 'akv-aks.yaml', vault: 'kv' });
  expect(body.split('\n')[0]).toBe(issueMarker(instance.key));
  expect(body).toContain('| pod-stale | drift | ns/&lt;b&gt;&#124;x | m &#96;x&#96; | f |');
  expect(issueTitle(instance, a)).toBe('akv-aks audit: 1 finding (1 drift, 0 expiry) for contoso/app:akv-aks.yaml @ c1');
  const clean = issueBody(instance, auditSection(instance.key, new Date(0), [], 'any', []), { manifest: 'akv-aks.yaml', vault: 'kv' });
  expect(clean).toContain('Nothing to report');
});

test('manifest audit.expiryWarning: a duration, absent by default, refused when not one', () => {
  const base = 'apiVersion: akv-aks/v1\nvault: { name: kv-app, resourceGroup: rg }\ncluster: { name: c1 }\n';
  expect(parseManifest(base, 'm.yaml').manifest.audit).toBeUndefined();
  expect(parseManifest(`${base}audit: { expiryWarning: 2w }\n`, 'm.yaml').manifest.audit).toEqual({ expiryWarningSeconds: 14 * 86_400 });
  expect(() => parseManifest(`${base}audit: { expiryWarning: soon }\n`, 'm.yaml')).toThrow(/audit\.expiryWarning/);
});
