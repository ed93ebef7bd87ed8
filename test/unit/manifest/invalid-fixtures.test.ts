// Every invalid manifest under test/fixtures/manifests/invalid/ must fail with exactly the lines of
// its sibling .expected file: `FILE:LINE:COL: error: PATH: MESSAGE`, all problems at once.
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../../../src/manifest/load.ts';
import { ManifestError, formatIssue } from '../../../src/manifest/types.ts';

const dir = fileURLToPath(new URL('../../fixtures/manifests/invalid/', import.meta.url));
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
// Only DB_PASSWORD is set; a value source naming anything else is reported as missing.
const SECRET_VALUE = 'S3cr3t-value-never-printed';
const env = { DB_PASSWORD: SECRET_VALUE };

function failure(file: string): ManifestError {
  const text = readFileSync(join(dir, file), 'utf8');
  try {
    parseManifest(text, file, { env });
  } catch (e) {
    if (e instanceof ManifestError) return e;
    throw e;
  }
  throw new Error(`${file} was accepted`);
}

test('there are at least 40 invalid manifests, each with its expected errors', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(40);
  for (const f of fixtures) expect(readdirSync(dir)).toContain(f.replace(/\.yaml$/, '.expected'));
});

describe.each(fixtures)('%s', (file) => {
  test('fails with exactly the expected lines', () => {
    const expected = readFileSync(join(dir, file.replace(/\.yaml$/, '.expected')), 'utf8')
      .trimEnd()
      .split('\n');
    const error = failure(file);
    expect(error.message.split('\n')).toEqual(expected);
    expect(error.issues.map(formatIssue)).toEqual(expected);
    for (const line of expected) expect(line).toMatch(new RegExp(`^${file.replace(/\./g, '\\.')}:\\d+:\\d+: error: `));
  });

  test('never prints a secret value', () => {
    expect(failure(file).message).not.toContain(SECRET_VALUE);
  });
});
