// The shape nearly every manifest and kubeconfig has, read in one pass over its lines: block
// mappings and sequences whose values each fit on one line (scalars, and flow collections of scalars
// such as `vault: { name: kv, resourceGroup: rg }`). Anything else (anchors, tags, nested flow
// collections, multi-line or escaped scalars, tabs, duplicate keys, ...) is declined, and the caller
// parses the text with the `yaml` library as before, which then also words the errors. Accepted text
// gives the data and the positions yaml would give (test/unit/util/block-yaml.test.ts compares both,
// text by text). Why it exists: yaml runs cold in each run's new process, and its lexer, parser,
// composer and toJS took about 90 ms of a 500 x 20 no-op's CPU (docs/performance.md, "The manifest's parse").

/** 1-based line and column of a node's first character. */
export interface SourcePosition {
  line: number;
  col: number;
}

/** Keys and list indexes from the root, e.g. `['targets', 0, 'objects', 1, 'alias']`. */
export type YamlPath = ReadonlyArray<string | number>;

/** Where the nodes of one YAML text are (the manifest's SourceMap over yaml's document, or this reader's). */
export interface YamlLocator {
  /**
   * SourcePosition of a node. `value`: the value node (falls back to its key when the value is empty);
   * `key`: the mapping key naming it (falls back to the value, e.g. for list items).
   * A path that does not exist resolves to its nearest existing ancestor.
   */
  locate(path: YamlPath, at?: 'key' | 'value'): SourcePosition;
  /** Whether the path exists in the source. */
  has(path: YamlPath): boolean;
}

/** What the caller's yaml parse would refuse beyond YAML itself: the reader declines such a text. */
export interface BlockYamlBounds {
  /** yaml lexer tokens (the reader declines a text that could have more). */
  maxTokens: number;
  /** Entries of one mapping. */
  maxMappingEntries: number;
}

/** A text as data, with where each node is. */
export interface BlockYaml {
  data: Record<string, unknown>;
  map: YamlLocator;
}

/** Where a node and, for a mapping entry, its key are (as yaml's ranges: the first character). */
type Located = LocatedMap | LocatedSeq | LocatedScalar;

interface LocatedMap {
  kind: 'map';
  at: SourcePosition;
  entries: Map<string, { key: SourcePosition; value: Located }>;
}

interface LocatedSeq {
  kind: 'seq';
  at: SourcePosition;
  items: Located[];
}

interface LocatedScalar {
  kind: 'scalar';
  at: SourcePosition;
  /** Nothing written (`key:`): positions then fall back to the key, as for yaml's empty scalar. */
  empty: boolean;
}

interface Line {
  /** 1-based line number. */
  no: number;
  /** Column (0-based) where `text` starts. */
  indent: number;
  text: string;
}

/** Nesting read here; a manifest or kubeconfig needs about six levels, and yaml takes anything deeper. */
const MAX_DEPTH = 64;

/** Thrown inside the reader when the text leaves the subset; never escapes it. */
class Declined extends Error {}

/**
 * Characters the subset admits: printable ASCII, line feeds, and the BMP outside surrogates and the
 * byte-order mark. Tabs, carriage returns, control characters and astral characters go to yaml.
 */
const OUTSIDE_SUBSET = /[^\n\x20-\x7E\u00A0-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD]/;
/** A key the subset reads as a string: a name of letters, digits and `_./-`, up to 200 characters. */
const KEY_NAME = '[A-Za-z_][A-Za-z0-9_./-]{0,199}';
/** A block mapping's key: the name, followed by `:` and a space or the line's end. */
const KEY = new RegExp(`^(${KEY_NAME}):(?: +|$)`);
/** A key inside a flow mapping, matched where the entry starts (sticky): the name, then `:` and a space. */
const FLOW_KEY = new RegExp(`(${KEY_NAME}): +`, 'y');
/** Plain keys yaml's core schema reads as something other than a string, or that toJS treats apart. */
const NOT_STRING_KEYS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE', '__proto__']);
/**
 * Starts that make a scalar something other than plain (indicators), or that yaml refuses. `-`, `?`
 * and `:` are indicators only before a space: `--login` is a plain scalar.
 */
const INDICATOR_START = /^(?:[,[\]{}#&*!|>'"%@`]|[-?:](?: |$))/;
/** What may follow a quoted scalar or an empty flow collection on its line: spaces, then a comment. */
const LINE_REST = /^(?: +(?:#.*)?)?$/;
/**
 * Lexer tokens a content line of the subset makes at most (yaml's Lexer): the line feed and the
 * indentation 2, a list item's `-` and spaces 2, a key's scalar marker, name, `:` and spaces 4, a
 * value's marker and scalar 2, a comment and the spaces before it 2. A flow collection makes a few
 * per entry, never more than two per character (each token but a scalar's zero-width marker takes one).
 */
function tokensOfLine(content: string): number {
  if (content.includes('{') || content.includes('[')) return 2 * content.length + 2;
  return 8 + (isSequenceItem(content) ? 2 : 0) + (content.includes('#') ? 2 : 0);
}

// YAML 1.2 core schema (the spec's 10.3.2, as yaml 2 applies it): plain scalars that are not strings.
const CORE_NULL = /^(?:~|[Nn]ull|NULL)$/;
const CORE_BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const CORE_INT = /^[-+]?[0-9]+$/;
const CORE_OCT = /^0o[0-7]+$/;
const CORE_HEX = /^0x[0-9a-fA-F]+$/;
const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const CORE_INF_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

/** The value of a plain scalar under the core schema. */
function coreValue(s: string): unknown {
  if (CORE_NULL.test(s)) return null;
  if (CORE_BOOL.test(s)) return s[0] === 't' || s[0] === 'T';
  if (CORE_INT.test(s)) return parseInt(s, 10);
  if (CORE_OCT.test(s)) return parseInt(s.slice(2), 8);
  if (CORE_HEX.test(s)) return parseInt(s.slice(2), 16);
  if (CORE_FLOAT.test(s)) return parseFloat(s);
  if (CORE_INF_NAN.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
  return s;
}

/** The key's name if the mapping may take it: a string key, not there yet, within the entry bound. */
function admitKey(name: string, entries: ReadonlyMap<string, unknown>, maxEntries: number): string {
  if (NOT_STRING_KEYS.has(name) || entries.has(name) || entries.size >= maxEntries) throw new Declined();
  return name;
}

function isSequenceItem(text: string): boolean {
  return text[0] === '-' && (text.length === 1 || text[1] === ' ');
}

/** The text's data and positions when it is in the subset, else undefined (parse it with yaml). */
export function readBlockYaml(text: string, bounds: BlockYamlBounds): BlockYaml | undefined {
  if (OUTSIDE_SUBSET.test(text)) return undefined;
  const lines = contentLines(text, bounds.maxTokens);
  if (lines === undefined || lines.length === 0 || lines[0]!.indent !== 0) return undefined;
  try {
    const reader = new Reader(lines, bounds.maxMappingEntries);
    const { value, at } = reader.block(0);
    if (reader.next !== undefined || at.kind !== 'map') return undefined;
    return { data: value as Record<string, unknown>, map: new BlockSourceMap(at) };
  } catch (e) {
    if (e instanceof Declined) return undefined;
    throw e;
  }
}

/** Lines with content (not blank, not a comment); undefined for what the subset leaves to yaml. */
function contentLines(text: string, maxTokens: number): Line[] | undefined {
  const out: Line[] = [];
  let no = 0;
  let tokens = 1; // the lexer's document-start marker
  let start = 0;
  let marker = false;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    no++;
    let indent = start;
    while (indent < end && text.charCodeAt(indent) === 32) indent++;
    if (indent < end && text[indent] !== '#') {
      const content = text.slice(indent, end);
      // Directives and document markers: only a first `---` on its own line is read here.
      if (indent === start && /^(?:---|\.\.\.)(?: |$)|^%/.test(content)) {
        if (marker || out.length > 0 || !/^--- *$/.test(content)) return undefined;
        marker = true;
      } else {
        out.push({ no, indent: indent - start, text: content });
      }
      tokens += tokensOfLine(content);
    } else {
      tokens += 3;
    }
    if (tokens > maxTokens) return undefined; // yaml states the bound, at its place
    start = end + 1;
  }
  return out;
}

/** A recursive reader over the content lines; each method starts at `lines[i]`. */
class Reader {
  readonly #lines: Line[];
  readonly #maxEntries: number;
  #i = 0;
  #depth = 0;

  constructor(lines: Line[], maxEntries: number) {
    this.#lines = lines;
    this.#maxEntries = maxEntries;
  }

  get next(): Line | undefined {
    return this.#lines[this.#i];
  }

  /** The block (mapping or sequence) whose first line is the current one, at `indent`. */
  block(indent: number): { value: unknown; at: Located } {
    return isSequenceItem(this.next!.text) ? this.#sequence(indent) : this.#mapping(indent);
  }

  #enter(): void {
    if (++this.#depth > MAX_DEPTH) throw new Declined();
  }

  #mapping(indent: number): { value: unknown; at: Located } {
    this.#enter();
    const value: Record<string, unknown> = {};
    const entries = new Map<string, { key: SourcePosition; value: Located }>();
    const first = this.next!;
    for (let line = this.next; line !== undefined && line.indent >= indent; line = this.next) {
      if (line.indent > indent || isSequenceItem(line.text)) throw new Declined();
      const m = KEY.exec(line.text);
      if (!m) throw new Declined();
      const name = admitKey(m[1]!, entries, this.#maxEntries);
      const key = { line: line.no, col: indent + 1 };
      const rest = line.text.slice(m[0].length);
      this.#i++;
      let entry: { value: unknown; at: Located };
      if (rest !== '' && rest[0] !== '#') entry = scalar(rest, line.no, indent + m[0].length, this.#maxEntries);
      else {
        const below = this.next;
        if (below !== undefined && below.indent > indent) entry = this.block(below.indent);
        else if (below !== undefined && below.indent === indent && isSequenceItem(below.text)) entry = this.#sequence(indent);
        else entry = { value: null, at: { kind: 'scalar', at: key, empty: true } };
      }
      value[name] = entry.value;
      entries.set(name, { key, value: entry.at });
    }
    this.#depth--;
    return { value, at: { kind: 'map', at: { line: first.no, col: indent + 1 }, entries } };
  }

  #sequence(indent: number): { value: unknown; at: Located } {
    this.#enter();
    const value: unknown[] = [];
    const items: Located[] = [];
    const first = this.next!;
    for (let line = this.next; line !== undefined && line.indent >= indent; line = this.next) {
      if (line.indent > indent) throw new Declined();
      if (!isSequenceItem(line.text)) break; // the next entry of the mapping this sequence is a value of
      let j = 1;
      while (line.text.charCodeAt(j) === 32) j++;
      const rest = line.text.slice(j);
      // An item on the next line, a comment, or a sequence in a sequence: left to yaml.
      if (rest === '' || rest[0] === '#' || isSequenceItem(rest)) throw new Declined();
      let item: { value: unknown; at: Located };
      if (KEY.test(rest)) {
        // A mapping that starts on the item's line: its keys are at the column of the first one.
        this.#lines[this.#i] = { no: line.no, indent: indent + j, text: rest };
        item = this.#mapping(indent + j);
      } else {
        item = scalar(rest, line.no, indent + j, this.#maxEntries);
        this.#i++;
      }
      value.push(item.value);
      items.push(item.at);
    }
    this.#depth--;
    return { value, at: { kind: 'seq', at: { line: first.no, col: indent + 1 }, items } };
  }
}

/**
 * A value that fits on its line, starting at `col` (0-based): a plain or quoted scalar, or a flow
 * mapping or sequence of such scalars (`{ name: kv, resourceGroup: rg }`, `[a, b]`).
 */
function scalar(text: string, no: number, col: number, maxEntries: number): { value: unknown; at: Located } {
  if (text[0] === '{' || text[0] === '[') {
    const { value, at, end } = flowCollection(text, no, col, maxEntries);
    if (!LINE_REST.test(text.slice(end))) throw new Declined();
    return { value, at };
  }
  if (text[0] === "'" || text[0] === '"') {
    const { value, end } = quoted(text, 0);
    if (!LINE_REST.test(text.slice(end))) throw new Declined();
    return { value, at: { kind: 'scalar', at: { line: no, col: col + 1 }, empty: false } };
  }
  if (INDICATOR_START.test(text)) throw new Declined();
  const comment = text.indexOf(' #');
  const plain = trimEndSpaces(comment < 0 ? text : text.slice(0, comment));
  // `: ` or a final `:` would make it a key; flow brackets are left to yaml.
  if (plain.includes(': ') || plain.endsWith(':') || /[[\]{}]/.test(plain)) throw new Declined();
  return { value: coreValue(plain), at: { kind: 'scalar', at: { line: no, col: col + 1 }, empty: false } };
}

/** A quoted scalar starting at `from` that closes on its line (double quotes without escapes); `end` is past the quote. */
function quoted(text: string, from: number): { value: string; end: number } {
  const q = text[from]!;
  let end = text.indexOf(q, from + 1);
  if (q === "'") while (end > 0 && text[end + 1] === "'") end = text.indexOf(q, end + 2);
  if (end < 0) throw new Declined();
  const inner = text.slice(from + 1, end);
  if (q === '"' && inner.includes('\\')) throw new Declined();
  return { value: q === "'" ? inner.replaceAll("''", "'") : inner, end: end + 1 };
}

/** A flow collection on one line whose values are scalars; `end` is past its closing bracket. */
function flowCollection(text: string, no: number, col: number, maxEntries: number): { value: unknown; at: Located; end: number } {
  const isMap = text[0] === '{';
  const close = isMap ? '}' : ']';
  const map: Record<string, unknown> = {};
  const entries = new Map<string, { key: SourcePosition; value: Located }>();
  const seq: unknown[] = [];
  const items: Located[] = [];
  let i = skipSpaces(text, 1);
  while (text[i] !== close) {
    let key: { name: string; at: SourcePosition } | undefined;
    if (isMap) {
      FLOW_KEY.lastIndex = i;
      const m = FLOW_KEY.exec(text);
      if (!m) throw new Declined();
      key = { name: admitKey(m[1]!, entries, maxEntries), at: { line: no, col: col + i + 1 } };
      i += m[0].length;
    }
    const at: Located = { kind: 'scalar', at: { line: no, col: col + i + 1 }, empty: false };
    let value: unknown;
    if (text[i] === "'" || text[i] === '"') ({ value, end: i } = quoted(text, i));
    else {
      let j = i;
      while (j < text.length && text[j] !== ',' && text[j] !== close) j++;
      const plain = trimEndSpaces(text.slice(i, j));
      // Conservative: no indicator first (not even `-`, `?`, `:` before a non-space, which flow
      // context treats apart), and no `:` or `#` anywhere (key or comment in yaml's eyes).
      if (plain === '' || INDICATOR_START.test(plain) || /^[-?:]|[:#[\]{}]/.test(plain)) throw new Declined();
      value = coreValue(plain);
      i += plain.length;
    }
    if (key) {
      map[key.name] = value;
      entries.set(key.name, { key: key.at, value: at });
    } else {
      seq.push(value);
      items.push(at);
    }
    i = skipSpaces(text, i);
    if (text[i] === ',') {
      i = skipSpaces(text, i + 1);
      if (text[i] === close) throw new Declined(); // a trailing comma: left to yaml
    } else if (text[i] !== close) throw new Declined();
  }
  const at = { line: no, col: col + 1 };
  return isMap ? { value: map, at: { kind: 'map', at, entries }, end: i + 1 } : { value: seq, at: { kind: 'seq', at, items }, end: i + 1 };
}

/** Without its trailing spaces (a loop: `/ +$/` is quadratic on a long run of spaces). */
function trimEndSpaces(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 32) end--;
  return text.slice(0, end);
}

function skipSpaces(text: string, i: number): number {
  while (text.charCodeAt(i) === 32) i++;
  return i;
}

/** YamlLocator over the positions the reader kept; answers as manifest/paths.ts's SourceMap does over yaml's nodes. */
class BlockSourceMap implements YamlLocator {
  readonly #root: Located;

  constructor(root: Located) {
    this.#root = root;
  }

  #walk(path: YamlPath): { node?: Located; key?: SourcePosition; depth: number } {
    let node: Located | undefined = this.#root;
    let key: SourcePosition | undefined;
    let depth = 0;
    for (const seg of path) {
      if (typeof seg === 'string' && node?.kind === 'map') {
        const entry = node.entries.get(seg);
        if (!entry) break;
        key = entry.key;
        node = entry.value;
      } else if (typeof seg === 'number' && node?.kind === 'seq') {
        const item: Located | undefined = node.items[seg];
        if (item === undefined) break;
        key = undefined;
        node = item;
      } else {
        break;
      }
      depth++;
    }
    return { node, key, depth };
  }

  locate(path: YamlPath, at: 'key' | 'value' = 'value'): SourcePosition {
    const found = this.#walk(path);
    const preferKey = at === 'key' || found.depth !== path.length;
    const empty = found.node === undefined || (found.node.kind === 'scalar' && found.node.empty);
    if ((preferKey || empty) && found.key) return found.key;
    if (found.node && !empty) return found.node.at;
    return found.key ?? { line: 1, col: 1 };
  }

  has(path: YamlPath): boolean {
    return this.#walk(path).depth === path.length;
  }
}
