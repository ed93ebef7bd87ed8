// `node scripts/release-notes.ts X.Y.Z`: prints the `## [X.Y.Z]` section of CHANGELOG.md (Keep a
// Changelog), the notes of the GitHub release the release workflow publishes for tag vX.Y.Z.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The body of the changelog's section for `version`, trimmed; throws when there is none or it is empty. */
export function releaseNotes(changelog: string, version: string): string {
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## [${version}]`));
  if (start < 0) throw new Error(`CHANGELOG.md has no section ## [${version}]`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('## ') || /^\[[^\]]+\]:\s/.test(l));
  const body = (end < 0 ? rest : rest.slice(0, end)).join('\n').trim();
  if (!body) throw new Error(`CHANGELOG.md's section ## [${version}] is empty`);
  return body;
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  const version = (process.argv[2] ?? '').replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    process.stderr.write('usage: node scripts/release-notes.ts X.Y.Z\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${releaseNotes(readFileSync(join(import.meta.dirname, '..', 'CHANGELOG.md'), 'utf8'), version)}\n`);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}
