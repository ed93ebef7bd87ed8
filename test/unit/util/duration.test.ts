import { describe, expect, it } from '@jest/globals';
import { formatDuration, parseDurationMs } from '../../../src/util/duration.ts';

describe('parseDurationMs', () => {
  it.each([
    ['90', 90_000],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['30d', 2_592_000_000],
    ['2w', 1_209_600_000],
    [' 5M ', 300_000],
  ])('%s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', 'ten', '10 m', '-5s', '1.5h', '10y', 'm10'])('rejects %p', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('reads naturally', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(1_500)).toBe('1.5 s');
    expect(formatDuration(600_000)).toBe('10 min');
    expect(formatDuration(605_000)).toBe('10 min 5 s');
  });
});
