// Reliability suite, bad input: every manifest of the invalid corpus (test/fixtures/manifests/invalid)
// run through the bundle as a runner runs it. Each is rejected with exactly its expected lines
// (FILE:LINE:COL: error: PATH: MESSAGE) before any request: no GitHub ID-token request from the run
// (its runner job id is unique), no login section; and the one secret value in the step's
// environment appears in no artifact.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, jest } from '@jest/globals';
import { artifacts, bundleBuilt, leaks, newWorkspace, requestRecords, root, runBundle, secretValue, usedValues, visible, type Run } from './helpers.ts';
import { describeUnless } from '../../support/guard.ts';

jest.setTimeout(5 * 60_000);

const dir = join(root, 'test', 'fixtures', 'manifests', 'invalid');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const built = await bundleBuilt();
const d = describeUnless(built ? undefined : 'dist/ has no complete bundle: run npm run build');

const DB_PASSWORD = secretValue('bad-input-db');
usedValues.set('DB_PASSWORD', DB_PASSWORD);

interface Outcome {
  file: string;
  run: Run;
  expected: string[];
}

async function runOne(file: string): Promise<Outcome> {
  const ws = newWorkspace('');
  const text = readFileSync(join(dir, file), 'utf8');
  writeFileSync(join(ws, file), text);
  const run = await runBundle(`bad-input ${file}`, { workspace: ws, env: { DB_PASSWORD }, inputs: { manifest: file }, timeoutMs: 60_000 });
  const expected = readFileSync(join(dir, file.replace(/\.yaml$/, '.expected')), 'utf8')
    .trimEnd()
    .split('\n');
  return { file, run, expected };
}

d('the invalid-manifest corpus through the bundle', () => {
  it('each manifest is rejected with its expected lines before any request', async () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    const outcomes: Outcome[] = [];
    // Four at a time: the machine is shared.
    for (let i = 0; i < files.length; i += 4) outcomes.push(...(await Promise.all(files.slice(i, i + 4).map(runOne))));
    const tokenPaths = new Set((await requestRecords()).filter((x) => x.service === 'github').map((x) => x.path));
    const problems: string[] = [];
    for (const o of outcomes) {
      const log = visible(o.run);
      // Paths in messages are as the runner sees them: the file may be printed with its workspace directory.
      const errorText = (o.run.report?.error ?? '').replace(new RegExp(`${o.run.workspace}/`, 'g'), '');
      if (o.run.exitCode !== 1) problems.push(`${o.file}: exit ${o.run.exitCode}`);
      for (const line of o.expected) if (!errorText.includes(line)) problems.push(`${o.file}: missing line ${line}`);
      if (log.includes('::group::Login')) problems.push(`${o.file}: reached the login step`);
      if ([...tokenPaths].some((p) => p.includes(`/jobs/${o.run.jobId}/`))) problems.push(`${o.file}: asked GitHub for an ID token`);
    }
    expect(problems).toEqual([]);
  });

  it('no secret value in any log, output or summary', () => {
    expect(artifacts.length).toBeGreaterThan(0);
    expect(leaks()).toEqual([]);
  });
});
