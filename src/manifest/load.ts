// Reads, validates and normalises a manifest. Every problem is collected and thrown at once as a
// ManifestError whose issues carry the exact position and field path of the offending key or value.
import { Composer, Lexer, LineCounter, Parser, YAMLParseError, isScalar, visit } from 'yaml';
import { readBlockYaml } from '../util/block-yaml.ts';
import type { YamlLocator } from '../util/block-yaml.ts';
import { SHOWABLE, logSafe } from '../util/escape.ts';
import type { Document, ParseOptions, DocumentOptions, SchemaOptions, YAMLError } from 'yaml';
import type { CST } from 'yaml';
import { MAX_ALIAS_COUNT, MAX_MAPPING_ENTRIES, MAX_MANIFEST_BYTES, MAX_YAML_TOKENS } from './limits.ts';
import { SourceMap, formatPath } from './paths.ts';
import type { FieldPath } from './paths.ts';
import { readManifestText } from './read.ts';
import type { ReadOptions } from './read.ts';
import { normalise } from './semantic.ts';
import { checkStructure } from './structure.ts';
import { Suggester } from './suggest.ts';
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
  checkSize(text, file);
  const { data, map } = readBlockYaml(text, YAML_BOUNDS) ?? parseYaml(text, file);
  const { manifest, issues } = validate(data, map, file, opts);
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

/**
 * Any YAML, with yaml's document: its syntax errors, duplicate keys and oversized mappings are
 * issues here. readBlockYaml declines every text that has one of them.
 */
function parseYaml(text: string, file: string): { data: object; map: YamlLocator } {
  const lineCounter = new LineCounter();
  const doc = boundedDocument(text, file, lineCounter);
  if (doc.errors.length > 0) throw new ManifestError(dedupe(doc.errors.map((e) => syntaxIssue(e, text, lineCounter, file))).sort(byPosition));
  const mappingProblems = mappingIssues(doc, lineCounter, file);
  if (mappingProblems.length > 0) throw new ManifestError(mappingProblems);
  return { data: mappingData(doc, lineCounter, file), map: new SourceMap(doc, lineCounter) };
}

/** The size bound, checked before parsing. */
function checkSize(text: string, file: string): void {
  if (text.length > MAX_MANIFEST_BYTES) {
    throw new ManifestError([{ file, line: 1, col: 1, path: '', message: `the manifest is larger than ${MAX_MANIFEST_BYTES} bytes (1 MiB), the bound for a manifest` }]);
  }
}

/** The bounds parseYaml enforces beyond YAML: the one-pass reader leaves a text that could pass them to it. */
const YAML_BOUNDS = { maxTokens: MAX_YAML_TOKENS, maxMappingEntries: MAX_MAPPING_ENTRIES };

/** Duplicate keys are found by mappingIssues, one set per mapping (yaml's own check compares every pair). */
const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = { prettyErrors: false, uniqueKeys: false, strict: true, merge: true };

/** Thrown from inside the parse when the lexer passes MAX_YAML_TOKENS, at that offset. */
class TokenBoundReached extends Error {
  readonly offset: number;
  constructor(offset: number) {
    super('token bound reached');
    this.offset = offset;
  }
}

const LEXER_MARKERS = new Set(['\x02', '\x18', '\x1f']);

/** The parser's tokens, lexing `text` once and stopping at MAX_YAML_TOKENS (yaml's Parser.parse, counted). */
function* boundedTokens(text: string, parser: Parser, lineCounter: LineCounter): Generator<CST.Token> {
  lineCounter.addNewLine(0);
  let tokens = 0;
  let offset = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (++tokens > MAX_YAML_TOKENS) throw new TokenBoundReached(offset);
    // The lexer's one-character markers (document, flow end, scalar) are not source text.
    if (!LEXER_MARKERS.has(lexeme)) offset += lexeme.length;
    yield* parser.next(lexeme);
  }
  yield* parser.end();
}

/**
 * The one document of `text`, as yaml's parseDocument composes it, with the token bound counted on
 * the way: the text is lexed once (a separate bounding pass lexed it twice, about 40 ms of a 500 x 20
 * manifest's start). A second document is reported as parseDocument reports it (MULTIPLE_DOCS).
 */
function boundedDocument(text: string, file: string, lineCounter: LineCounter): Document {
  const composer = new Composer(YAML_OPTIONS);
  let doc: Document | undefined;
  try {
    for (const next of composer.compose(boundedTokens(text, new Parser(lineCounter.addNewLine), lineCounter), true, text.length)) {
      if (!doc) doc = next;
      else {
        doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'));
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof TokenBoundReached)) throw e;
    const at = positionOf(text, e.offset);
    throw new ManifestError([
      { file, line: at.line, col: at.col, path: '', message: `the manifest has more than ${MAX_YAML_TOKENS} YAML tokens (the bound for a manifest); the bound is reached here` },
    ]);
  }
  if (!doc) throw new Error('yaml composed no document'); // compose(…, forceDoc = true) always yields one
  return doc;
}

/** One yaml parse error as a one-line issue. */
function syntaxIssue(e: YAMLError, text: string, lineCounter: LineCounter, file: string): ManifestIssue {
  const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
  // yaml's messages can end in a quote of the source (`... in YAML stream: "<text>"`): cut there.
  let message = e.message
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .split(': ')[0]!;
  if (e.code === 'MULTIPLE_DOCS') message = 'the manifest must be one YAML document (found another after `---`)';
  else if (e.code === 'DUPLICATE_KEY') message = `${message} (the same key appears twice in one mapping)`;
  else if (/end with an? [}\]]/.test(message)) {
    const open = unclosedBracket(text, e.pos[0]);
    if (open !== undefined) {
      const at = lineCounter.linePos(open);
      message = `${message} (the \`${text[open]}\` at line ${at.line}, column ${at.col} is not closed)`;
    }
  }
  // yaml's messages can quote a few characters of the source (a tag, an escape): made inert.
  return { file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${lowerFirst(logSafe(message))}` };
}

/** The document as plain data (aliases expanded within their bound); it must be a mapping. */
function mappingData(doc: Document, lineCounter: LineCounter, file: string): object {
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    throw new ManifestError([aliasIssue(doc, lineCounter, file, e)]);
  }
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
    throw new ManifestError([{ file, line: pos.line, col: pos.col, path: '', message: 'the manifest must be a YAML mapping (starting with `apiVersion: akv-aks/v1`)' }]);
  }
  return data;
}

/** The structure check, then the semantic one; a field the structure check reported is not reported twice. */
function validate(data: object, map: YamlLocator, file: string, opts: LoadOptions): { manifest: ReturnType<typeof normalise>; issues: ManifestIssue[] } {
  const issues: ManifestIssue[] = [];
  const issueAt = (path: FieldPath, message: string, at: 'key' | 'value' = 'value'): ManifestIssue => {
    const pos = map.locate(path, at);
    return { file, line: pos.line, col: pos.col, path: formatPath(path), message };
  };
  const suggest = new Suggester();
  const structural = checkStructure(data, suggest);
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
    suggest,
    lineOf: (path) => map.locate(path, 'value').line,
    issue: (path, message, at) => {
      const issue = issueAt(path, message, at);
      if (!structuralPaths.has(issue.path)) issues.push(issue);
    },
  });
  return { manifest, issues };
}

/**
 * Reads `file` (synchronously: the manifest is read once, before anything else) as a bounded regular
 * text file (ManifestReadError otherwise) and parses it.
 */
export function loadManifest(file: string, opts: LoadOptions & ReadOptions = {}): ManifestDocument {
  const text = readManifestText(file, opts);
  return parseManifest(text, opts.shownAs ?? file, opts);
}

/** 1-based line and column of an offset. */
function positionOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** Duplicate keys and oversized mappings, at the offending key. */
function mappingIssues(doc: Document, lines: LineCounter, file: string): ManifestIssue[] {
  const out: ManifestIssue[] = [];
  const at = (offset: number | undefined, message: string): void => {
    const pos = lines.linePos(offset ?? 0);
    out.push({ file, line: pos.line, col: pos.col, path: '', message });
  };
  visit(doc, {
    Map(_key, node) {
      if (node.items.length > MAX_MAPPING_ENTRIES) {
        const key = node.items[MAX_MAPPING_ENTRIES]!.key as { range?: [number, number] } | null;
        at(key?.range?.[0] ?? node.range?.[0], `YAML: a mapping has more than ${MAX_MAPPING_ENTRIES} entries (the bound for one mapping)`);
        return visit.SKIP;
      }
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const id = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(id)) at(pair.key.range?.[0], 'YAML syntax: map keys must be unique (the same key appears twice in one mapping)');
        seen.add(id);
      }
      return undefined;
    },
  });
  return dedupe(out).sort(byPosition);
}

/** The alias a failed toJS was about: an undefined anchor, or the use past the expansion bound. */
function aliasIssue(doc: Document, lines: LineCounter, file: string, e: ReferenceError): ManifestIssue {
  const aliases: Array<{ source: string; at: number; defined: boolean }> = [];
  visit(doc, {
    Alias(_key, node) {
      aliases.push({ source: node.source, at: node.range?.[0] ?? 0, defined: node.resolve(doc) !== undefined });
    },
  });
  const undefinedAlias = aliases.find((a) => !a.defined);
  if (undefinedAlias && /unresolved|not found|undefined/i.test(e.message)) {
    const pos = lines.linePos(undefinedAlias.at);
    const name = SHOWABLE.test(undefinedAlias.source) ? ` *${undefinedAlias.source}` : '';
    return { file, line: pos.line, col: pos.col, path: '', message: `YAML: alias${name} refers to no anchor defined before it (write \`&name\` on the node first)` };
  }
  const last = aliases.at(-1);
  const pos = last ? lines.linePos(last.at) : { line: 1, col: 1 };
  return {
    file,
    line: pos.line,
    col: pos.col,
    path: '',
    message: `YAML: aliases expand to more than ${MAX_ALIAS_COUNT} nodes (the bound against alias bombs); use fewer aliases or smaller anchored nodes`,
  };
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
