// The one escaping module for text that came from outside (a manifest, a file name, an input) on
// its way to the log, an annotation or the step summary. Rules: docs/input-bounds.md.

/**
 * Characters that must never reach the log as they are: C0 controls (CR and LF included), DEL, C1
 * controls (NEL U+0085 included), the line and paragraph separators, bidi controls and embeddings,
 * zero-width characters, the word joiner and the byte-order mark.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
const UNSAFE_TEST = new RegExp(UNSAFE.source);

/** Longest text shown for one value in a log line; the rest is counted, not shown. */
export const MAX_SHOWN_LENGTH = 200;

function codeEscape(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** True when `text` holds a character `logSafe` would escape. */
export function hasUnsafeChars(text: string): boolean {
  return UNSAFE_TEST.test(text);
}

/**
 * `text` as one inert log line: control, separator, bidi and invisible characters become `\uXXXX`
 * (`\n`, `\r`, `\t`), and `::` becomes `:\u003a` so no part of it can start a workflow command.
 * `%` is left as it is: it means nothing in a plain line, and src/runner/commands.ts encodes it (with CR and
 * LF) in the data of the commands it writes. Cut at `max` characters with the rest counted.
 */
export function logSafe(text: string, max = MAX_SHOWN_LENGTH): string {
  return inert(text, max).replace(/::/g, ':\\u003a');
}

/** Unsafe characters escaped and the length bounded (no workflow-command rule: for the summary). */
function inert(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const escaped = cut.replace(UNSAFE, codeEscape);
  return cut === text ? escaped : `${escaped}… (${text.length - max} more characters)`;
}

/** Every line of a multi-line message made inert (the line breaks kept: they are the caller's). */
export function logSafeLines(text: string, max = 2_000): string {
  return text
    .split('\n')
    .map((l) => logSafe(l, max))
    .join('\n');
}

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;', '|': '&#124;' };

/** Text for the step summary (HTML and Markdown): markup characters as entities, then made inert. */
export function htmlEscape(text: string, max = 2_000): string {
  return inert(text, max).replace(/[&<>"'`|]/g, (c) => HTML[c]!);
}

/** A multi-line text for a `<pre>` block of the summary: each line escaped, the line breaks kept. */
export function htmlEscapeLines(text: string, max = 2_000): string {
  return text
    .split('\n')
    .map((l) => htmlEscape(l, max))
    .join('\n');
}

/** What a name from an input file may look like to be echoed in a message. */
export const SHOWABLE = /^[A-Za-z0-9_./-]{1,64}$/;

/**
 * A name or value from the manifest, for an error message: in backticks when it looks like an
 * identifier (SHOWABLE), otherwise not echoed at all (the message's position says where it is).
 */
export function shown(text: string): string {
  return SHOWABLE.test(text) ? `\`${text}\`` : 'the value at this position (not shown: not a plain name)';
}

/** Like `shown`, without the backticks (for names a sentence already sets apart). */
export function shownBare(text: string): string {
  return SHOWABLE.test(text) ? text : '(a value not shown: not a plain name)';
}
