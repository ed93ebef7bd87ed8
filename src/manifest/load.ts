// Reads, validates and normalises a manifest. Every problem is collected and thrown at once as a
// ManifestError whose issues carry the exact position and field path of the offending key or value.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { SourceMap, formatPath } from './paths.ts';
import type { FieldPath } from './paths.ts';
import { normalise } from './semantic.ts';
import { checkStructure } from './structure.ts';
import { ManifestError } from './types.ts';
import type { ManifestDocument, ManifestIssue } from './types.ts';

export interface LoadOptions {
  /**
   * The environment `from: { env }` sources read from. When given, a source variable that is unset
   * or empty is an error (named, never printed). When absent, sources are not checked.
   */
  env?: Record<string, string | undefined>;
  /** GITHUB_REPOSITORY: with the file name as given, the manifest's default owner (manifest/instance.ts). */
  repository?: string;
}

function byPosition(a: ManifestIssue, b: ManifestIssue): number {
  return a.line - b.line || a.col - b.col || a.message.localeCompare(b.message);
}

/** Parses and validates manifest text; `file` is used in messages only. Throws ManifestError. */
export function parseManifest(text: string, file: string, opts: LoadOptions = {}): ManifestDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, merge: true });

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ManifestIssue => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      let message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      if (e.code === 'MULTIPLE_DOCS') message = 'the manifest must be one YAML document (found another after `---`)';
      else if (e.code === 'DUPLICATE_KEY') message = `${message} (the same key appears twice in one mapping)`;
      else if (/end with an? [}\]]/.test(message)) {
        const open = unclosedBracket(text, e.pos[0]);
        if (open !== undefined) {
          const at = lineCounter.linePos(open);
          message = `${message} (the \`${text[open]}\` at line ${at.line}, column ${at.col} is not closed)`;
        }
      }
      return { file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${lowerFirst(message)}` };
    });
    throw new ManifestError(dedupe(issues).sort(byPosition));
  }

  const map = new SourceMap(doc, lineCounter);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
    throw new ManifestError([
      { file, line: pos.line, col: pos.col, path: '', message: 'the manifest must be a YAML mapping (starting with `apiVersion: akv-aks/v1`)' },
    ]);
  }

  const issues: ManifestIssue[] = [];
  const issueAt = (path: FieldPath, message: string, at: 'key' | 'value' = 'value'): ManifestIssue => {
    const pos = map.locate(path, at);
    return { file, line: pos.line, col: pos.col, path: formatPath(path), message };
  };

  const structural = checkStructure(data);
  const structuralPaths = new Set<string>();
  for (const s of structural) {
    const issue = issueAt(s.path, s.message, s.at);
    structuralPaths.add(issue.path);
    issues.push(issue);
  }

  const manifest = normalise(data, {
    env: opts.env,
    repository: opts.repository,
    path: file,
    lineOf: (path) => map.locate(path, 'value').line,
    issue: (path, message, at) => {
      const issue = issueAt(path, message, at);
      // A field already reported by the structure check is not reported twice.
      if (!structuralPaths.has(issue.path)) issues.push(issue);
    },
  });

  if (issues.length > 0 || !manifest) {
    if (issues.length === 0) issues.push({ file, line: 1, col: 1, path: '', message: 'invalid manifest' });
    throw new ManifestError(dedupe(issues).sort(byPosition));
  }

  return {
    file,
    manifest,
    locate: (path) => (map.has(path) ? map.locate(path, 'value') : undefined),
  };
}

/** Reads `file` (synchronously: the manifest is read once, before anything else) and parses it. */
export function loadManifest(file: string, opts: LoadOptions = {}): ManifestDocument {
  const text = readFileSync(file, 'utf8');
  return parseManifest(text, file, opts);
}

/** Offset of the innermost flow bracket still open at `end` (outside quotes and comments). */
function unclosedBracket(text: string, end: number): number | undefined {
  const stack: number[] = [];
  let quote: string | undefined;
  for (let i = 0; i < end && i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < end && text[i] !== '\n') i++;
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s,[{:]/.test(text[i - 1]!))) quote = c;
    else if (c === '{' || c === '[') stack.push(i);
    else if ((c === '}' || c === ']') && stack.length > 0) stack.pop();
  }
  return stack.at(-1);
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

function dedupe(issues: ManifestIssue[]): ManifestIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const id = `${i.line}:${i.col}:${i.path}:${i.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
