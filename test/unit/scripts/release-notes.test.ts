// The release workflow's notes come from CHANGELOG.md; the version in package.json must have them.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { releaseNotes } from '../../../scripts/release-notes.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');
const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');

describe('release notes from CHANGELOG.md', () => {
  it('the version in package.json has a non-empty section', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const notes = releaseNotes(changelog, version);
    expect(notes).toMatch(/^### (Added|Changed|Deprecated|Removed|Fixed|Security)$/m);
    expect(notes).not.toContain(`## [`);
  });

  it('takes one section only, up to the next one or the link references', () => {
    const text = [
      '# Changelog',
      '',
      '## [Unreleased]',
      '',
      '## [1.1.0] - 2027-01-01',
      '',
      '### Fixed',
      '',
      '- b',
      '',
      '## [1.0.0] - 2026-12-02',
      '',
      '### Added',
      '',
      '- a',
      '',
      '[1.0.0]: https://example.test',
    ].join('\n');
    expect(releaseNotes(text, '1.1.0')).toBe('### Fixed\n\n- b');
    expect(releaseNotes(text, '1.0.0')).toBe('### Added\n\n- a');
  });

  it('refuses a version without a section, or with an empty one', () => {
    expect(() => releaseNotes(changelog, '9.9.9')).toThrow('CHANGELOG.md has no section ## [9.9.9]');
    expect(() => releaseNotes('## [2.0.0]\n\n## [1.0.0]\n- a', '2.0.0')).toThrow('is empty');
  });
});
