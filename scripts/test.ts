// `npm test`: everything CI checks, in order: types, lint (type-aware), format, unused exports, import cycles, workflow lint, the committed bundle, the
// generated docs, unit tests, then the integration and end-to-end tests against the sandbox
// (started by jest's global setup, or reused when `npm run sandbox` is already up). Ends with one
// `tests: N passed, N failed, N skipped` line. With CI=true nothing may be skipped: a skipped, pending or todo test, or a project that ran
// no test, fails the run (suites that lack something fail themselves in CI: test/support/guard.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);
const only = (name: string): boolean => !args.some((a) => a.startsWith('--only=')) || args.includes(`--only=${name}`);

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}
const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];
const ci = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

interface JestResults {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
  numRuntimeErrorTestSuites: number;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string }> }>;
}

function step(name: string, cmd: string, cmdArgs: string[]): boolean {
  process.stderr.write(`\n=== ${name}\n`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) failures.push(name);
  return r.status === 0;
}

function jest(projects: string[], extra: string[]): void {
  const name = projects.join('+');
  const out = join(root, '.sandbox', `jest-${name}.json`);
  mkdirSync(join(root, '.sandbox'), { recursive: true });
  rmSync(out, { force: true });
  step(`jest ${name}`, process.execPath, [join(root, 'scripts', 'jest.ts'), '--selectProjects', ...projects, '--json', `--outputFile=${out}`, ...extra]);
  if (!existsSync(out)) {
    totals.failed += 1; // jest died before writing results
    return;
  }
  const r = JSON.parse(readFileSync(out, 'utf8')) as JestResults;
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  totals.skipped += r.numPendingTests + r.numTodoTests;
  const skipped = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status !== 'passed' && a.status !== 'failed').map((a) => `  ${a.status}: ${relative(root, f.name)}: ${a.fullName}`));
  if (skipped.length) process.stderr.write(`\n${skipped.length} test(s) not run in ${name}:\n${skipped.join('\n')}\n`);
  if (ci && skipped.length) failures.push(`${name}: ${skipped.length} skipped/todo in CI`);
  if (ci && r.numTotalTests === 0) failures.push(`${name}: no test ran in CI`);
}

if (only('static')) {
  step('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
  step('lint', bin('eslint'), ['.']);
  step('format (prettier --check; `npm run format` fixes)', bin('prettier'), ['--check', '.']);
  step('every export of src/ is used by src/', process.execPath, [join(root, 'scripts', 'unused-exports.ts')]);
  step('no import cycle in src/ (files and folders)', process.execPath, [join(root, 'scripts', 'cycles.ts')]);
  step('workflows and workflow examples pass actionlint', process.execPath, [join(root, 'scripts', 'actionlint.ts')]);
  step('dist is a fresh build of src', process.execPath, [join(root, 'scripts', 'build.ts'), '--check']);
  step('manifest validator is generated from the schema', process.execPath, [join(root, 'scripts', 'validator.ts'), '--check']);
  step('docs reference is generated from action.yml and the schema', process.execPath, [join(root, 'scripts', 'docs.ts'), '--check']);
}
if (only('unit')) jest(['unit'], []);
// One jest run for both server-backed projects, so the sandbox starts once.
const served = ['integration', 'e2e'].filter(only);
if (served.length) jest(served, ['--runInBand', ...(ci ? [] : ['--passWithNoTests'])]);

if (failures.length) process.stderr.write(`\nfailed steps: ${failures.join(', ')}\n`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failures.length ? 1 : 0);
