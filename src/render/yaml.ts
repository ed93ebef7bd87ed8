// YAML for Kubernetes readers, most of which (kubectl's sigs.k8s.io/yaml, the CSI provider's
// go-yaml) still resolve plain scalars by YAML 1.1 rules: `yes`, `on`, `n`, `0b1010`, `1:20` and
// `2001-12-14` are booleans, numbers and dates there. Every string a YAML 1.1 or 1.2 reader would
// take for something else is double-quoted, and U+0085/U+2028/U+2029 (line breaks in YAML 1.1) are
// written as the escapes \N, \L, \P.
import { Document, parse, visit } from 'yaml';

const YAML11_BREAKS = /[\u0085\u2028\u2029]/;
const BREAK_ESCAPES: Record<string, string> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' };

// A letter other than e, then letters, digits and single hyphens: no YAML 1.1 or 1.2 number, date,
// indicator or merge key looks like that (yaml's 1.1 floats include `e1` and `E-5`), so only the
// boolean and null words need the parser's opinion. Names of secrets, keys and namespaces take this
// path; it saves two parses per scalar (about 2 s of CPU for 5,000 mounted objects).
const PLAIN_WORD = /^[A-DF-Za-df-z](?:-?[A-Za-z0-9])*$/;
// Each in lower case, capitalised or upper case, as YAML 1.1's bool and null types spell them.
const RESOLVED_WORDS = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)$/;

/** True when `text`, written plain, would not read back as this string under YAML 1.1 or 1.2. */
export function needsQuotes(text: string): boolean {
  if (PLAIN_WORD.test(text)) return RESOLVED_WORDS.test(text);
  return parsedAsOther(text);
}

/** The full check: what YAML 1.1 and 1.2 readers make of `text` written plain. */
export function parsedAsOther(text: string): boolean {
  if (YAML11_BREAKS.test(text)) return true;
  if (text.includes('\n')) return false; // a block scalar: its content is never resolved
  if (text === '<<' || text === '=') return true; // YAML 1.1's merge and value keys
  try {
    return parse(text, { version: '1.1' }) !== text || parse(text, { version: '1.2' }) !== text;
  } catch {
    return true;
  }
}

/** One YAML document: strings a reader could mistype double-quoted, map entries sorted when asked. */
export function stringifyForKube(value: unknown, opts: { sortMapEntries?: boolean } = {}): string {
  const doc = new Document(value, { sortMapEntries: opts.sortMapEntries ?? false });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && needsQuotes(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // The only raw U+0085/U+2028/U+2029 left are inside the double-quoted scalars forced above.
  return doc.toString({ lineWidth: 0 }).replace(/[\u0085\u2028\u2029]/g, (c) => BREAK_ESCAPES[c]!);
}

/** True when the yaml library writes `text` plain and every reader reads it back as this string. */
function plainAsIs(text: string): boolean {
  return PLAIN_WORD.test(text) && !RESOLVED_WORDS.test(text);
}

/**
 * What stringifyForKube writes for a flat map of strings, without building a document, when every
 * key and value is a plain word (the common case of names); undefined otherwise. A mounted object
 * is such a map, and a large manifest has thousands of them.
 */
export function plainWordMap(map: Readonly<Record<string, string>>): string | undefined {
  let out = '';
  for (const [k, v] of Object.entries(map)) {
    if (!plainAsIs(k) || !plainAsIs(v)) return undefined;
    out += `${k}: ${v}\n`;
  }
  return out || undefined;
}

/**
 * What stringifyForKube writes for `{ [key]: texts }` when each text is plainWordMap's output:
 * a sequence of literal block scalars; undefined otherwise.
 */
export function literalList(key: string, texts: readonly string[]): string | undefined {
  if (!plainAsIs(key) || texts.length === 0) return undefined;
  let out = `${key}:\n`;
  for (const t of texts) {
    if (!/^(?:[A-Za-z][A-Za-z0-9-]*: [A-Za-z][A-Za-z0-9-]*\n)+$/.test(t)) return undefined;
    out += `  - |\n${t.replace(/^(?=.)/gm, '    ')}`;
  }
  return out;
}
