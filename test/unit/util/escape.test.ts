import { describe, expect, test } from '@jest/globals';
import { hasUnsafeChars, htmlEscape, htmlEscapeLines, logSafe, logSafeLines, shown } from '../../../src/util/escape.ts';

describe('logSafe', () => {
  test('line breaks, controls, separators, bidi and zero-width characters become escapes', () => {
    expect(logSafe('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(logSafe('\u001b[31mred\u001b[0m')).toBe('\\u001b[31mred\\u001b[0m');
    expect(logSafe('x\u0085y\u2028z\u2029w')).toBe('x\\u0085y\\u2028z\\u2029w');
    expect(logSafe('a\u202eb\u2066c\u200bd\ufeffe\u00adf')).toBe('a\\u202eb\\u2066c\\u200bd\\ufeffe\\u00adf');
    expect(logSafe('\u007f\u0000')).toBe('\\u007f\\u0000');
  });

  test('no part of a value can start a workflow command', () => {
    const out = logSafe('ok\n::warning title=x::pwned\n::stop-commands::tok');
    expect(out).not.toMatch(/\n/);
    expect(out).not.toContain('::');
    expect(logSafe('::error::x')).toBe(':\\u003aerror:\\u003ax');
  });

  test('plain text, % and Unicode letters are kept; long text is cut with the rest counted', () => {
    expect(logSafe('db-password 100% é ü 🔑')).toBe('db-password 100% é ü 🔑');
    expect(logSafe('x'.repeat(250))).toBe(`${'x'.repeat(200)}… (50 more characters)`);
    expect(logSafe('x'.repeat(20), 10)).toBe(`${'x'.repeat(10)}… (10 more characters)`);
  });

  test("logSafeLines keeps the caller's line breaks and escapes inside each line", () => {
    expect(logSafeLines('one\ntwo\u001b')).toBe('one\ntwo\\u001b');
    expect(logSafeLines('a\r\nb')).toBe('a\\r\nb');
  });

  test('hasUnsafeChars', () => {
    expect(hasUnsafeChars('plain-name.txt')).toBe(false);
    for (const c of ['\n', '\r', '\u0085', '\u2028', '\u202e', '\u200b', '\u0000']) expect(hasUnsafeChars(`a${c}b`)).toBe(true);
  });
});

describe('htmlEscape', () => {
  test('markup characters become entities, controls escapes', () => {
    expect(htmlEscape('<script>alert("x")</script> & `y` | \'z\'')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#96;y&#96; &#124; &#39;z&#39;');
    expect(htmlEscape('a\nb\u001b')).toBe('a\\nb\\u001b');
    expect(htmlEscapeLines('<a>\n<b>')).toBe('&lt;a&gt;\n&lt;b&gt;');
  });
});

describe('shown', () => {
  test('identifiers in backticks, anything else not echoed', () => {
    expect(shown('db-password')).toBe('`db-password`');
    expect(shown('config/db.yaml')).toBe('`config/db.yaml`');
    for (const v of ['KEY=value', 'a b', '\u001b[31m', 'x'.repeat(65), '', '`', 'a:b']) expect(shown(v)).toBe('the value at this position (not shown: not a plain name)');
  });
});
