import { describe, expect, it } from '@jest/globals';
import { charsetAlphabet, generateValue, newDigestKey, valueDigest } from '../../../src/vault/values.ts';
import { mapAll } from '../../../src/util/concurrency.ts';
import { maskValue, maskValues } from '../../../src/runner/mask.ts';

describe('generateValue', () => {
  it.each(['alphanumeric', 'base64url', 'hex', 'ascii'] as const)('draws %s values of the requested length from the charset only', (charset) => {
    const alphabet = new Set(charsetAlphabet(charset));
    const values = Array.from({ length: 20 }, () => generateValue(64, charset));
    for (const v of values) {
      expect(v).toHaveLength(64);
      expect([...v].every((c) => alphabet.has(c))).toBe(true);
    }
    expect(new Set(values).size).toBe(20);
  });

  it('covers the whole alphabet (no modulo bias hiding characters)', () => {
    const seen = new Set(generateValue(4000, 'hex'));
    expect([...seen].sort().join('')).toBe('0123456789abcdef');
  });

  it('rejects impossible lengths', () => {
    expect(() => generateValue(0, 'hex')).toThrow(/length/);
    expect(() => generateValue(1.5, 'hex')).toThrow(/length/);
  });
});

describe('valueDigest', () => {
  it('is keyed and bound to the secret name', () => {
    const k1 = Buffer.from(newDigestKey());
    const k2 = Buffer.from(newDigestKey());
    const d = valueDigest(k1, 'db-password', 'hunter2');
    expect(d).toBe(valueDigest(k1, 'DB-Password', 'hunter2'));
    expect(d).not.toBe(valueDigest(k2, 'db-password', 'hunter2'));
    expect(d).not.toBe(valueDigest(k1, 'other', 'hunter2'));
    expect(d).not.toBe(valueDigest(k1, 'db-password', 'hunter3'));
    expect(d).not.toContain('hunter2');
    expect(d.length).toBeLessThanOrEqual(256);
  });
});

describe('maskValue', () => {
  it('masks the value and each non-empty line of a multi-line value', () => {
    const masked: string[] = [];
    maskValue('-----BEGIN KEY-----\nabc\r\n\n  def  \n-----END KEY-----', (v) => masked.push(v));
    expect(masked).toEqual(['-----BEGIN KEY-----\nabc\r\n\n  def  \n-----END KEY-----', '-----BEGIN KEY-----', 'abc', 'def', '-----END KEY-----']);
    const none: string[] = [];
    maskValue('', (v) => none.push(v));
    expect(none).toEqual([]);
  });

  it('splits on CR, LF and CRLF alike', () => {
    const masked: string[] = [];
    maskValue(
      'first-line\rsecond-line\r\nthird-line',
      (v) => masked.push(v),
      () => undefined,
    );
    expect(masked).toEqual(['first-line\rsecond-line\r\nthird-line', 'first-line', 'second-line', 'third-line']);
  });

  it('does not mask values or lines shorter than 3 characters, and says so without the value', () => {
    for (const value of ['x', 'ab', '   ', ' a ']) {
      const masked: string[] = [];
      const notices: string[] = [];
      maskValue(
        value,
        (v) => masked.push(v),
        (n) => notices.push(n),
      );
      expect(masked).toEqual([]);
      expect(notices).toEqual(['a secret value is shorter than 3 characters (or blank): not masked, since that mask would hide those characters in every log line']);
    }
    const masked: string[] = [];
    const notices: string[] = [];
    maskValue(
      'long-enough\nab',
      (v) => masked.push(v),
      (n) => notices.push(n),
    );
    expect(masked).toEqual(['long-enough\nab', 'long-enough']);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('has a line that is shorter than 3 characters');
    expect(notices[0]).not.toContain('ab');
  });
});

describe('maskValues', () => {
  it('masks what maskValue masks for each value, handed over at once', () => {
    const values = ['first-value', 'two\nlines', 'x', ''];
    const one: string[] = [];
    for (const v of values)
      maskValue(
        v,
        (p) => one.push(p),
        () => undefined,
      );
    const calls: string[][] = [];
    const notices: string[] = [];
    maskValues(
      values,
      (parts) => calls.push(parts),
      (n) => notices.push(n),
    );
    expect(calls).toEqual([one]);
    expect(notices).toHaveLength(1);
  });
});

describe('mapAll', () => {
  it('keeps order, bounds concurrency and surfaces the first error after all settle', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapAll([1, 2, 3, 4, 5], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 3));
      active--;
      return n * 10;
    });
    expect(out).toEqual([10, 20, 30, 40, 50]);
    expect(peak).toBe(2);
    const done: number[] = [];
    await expect(
      mapAll([1, 2, 3], 3, async (n) => {
        if (n === 2) throw new Error('boom 2');
        done.push(n);
      }),
    ).rejects.toThrow('boom 2');
    expect(done.sort()).toEqual([1, 3]);
  });
});
