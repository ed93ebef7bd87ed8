import { describe, expect, test } from '@jest/globals';
import { formatPath } from '../../../src/manifest/paths.ts';
import schema from '../../../src/manifest/schema.json' with { type: 'json' };
import { DNS_SUBDOMAIN, defaultIdentityName, isIsoDateTime, parseDurationSeconds } from '../../../src/manifest/rules.ts';
import { didYouMean, editDistance } from '../../../src/manifest/suggest.ts';

describe('durations', () => {
  test.each([
    ['45s', 45],
    ['10m', 600],
    ['12h', 43200],
    ['90d', 7776000],
    ['2w', 1209600],
  ])('%s = %d seconds', (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });
  test.each(['0d', '1y', '1.5d', '30 days', 'd', '-1d', '01d', ''])('%j is not a duration', (text) => {
    expect(parseDurationSeconds(text)).toBeUndefined();
  });
});

describe('ISO date-times', () => {
  test.each(['2027-01-31T00:00:00Z', '2024-02-29T23:59:59+01:00', '2027-01-31T08:30Z', '2027-01-31T08:30:00.123Z'])('%s is valid', (t) => {
    expect(isIsoDateTime(t)).toBe(true);
  });
  test.each(['2027-02-29T00:00:00Z', '2027-13-01T00:00:00Z', '2027-01-31T24:00:00Z', '2027-01-31', '2027-01-31T00:00:00', 'tomorrow'])('%s is not', (t) => {
    expect(isIsoDateTime(t)).toBe(false);
  });
});

describe('names', () => {
  test('Key Vault object names (the schema)', () => {
    const name = schema.$defs.secretName as { pattern?: string; maxLength?: number };
    const ok = (s: string): boolean => new RegExp(name.pattern ?? '').test(s) && s.length <= (name.maxLength ?? Infinity);
    expect(ok('Db-Pass-1')).toBe(true);
    expect(ok('a'.repeat(127))).toBe(true);
    expect(ok('a'.repeat(128))).toBe(false);
    expect(ok('db_pass')).toBe(false);
    expect(ok('')).toBe(false);
  });
  test('DNS-1123', () => {
    const label = new RegExp(schema.$defs.dnsLabel.pattern);
    expect(label.test('payments-1')).toBe(true);
    expect(label.test('-payments')).toBe(false);
    expect(label.test('a.b')).toBe(false);
    expect(DNS_SUBDOMAIN.test('a.b-c')).toBe(true);
    expect(DNS_SUBDOMAIN.test('a..b')).toBe(false);
    expect(DNS_SUBDOMAIN.test('A')).toBe(false);
  });
  test('default identity names', () => {
    expect(defaultIdentityName('sandbox', 'payments')).toBe('id-sandbox-payments');
    expect(defaultIdentityName('c'.repeat(100), 'n'.repeat(60))).toHaveLength(128);
  });
});

describe('did you mean', () => {
  test('edit distance counts insertions, deletions, substitutions and transpositions', () => {
    expect(editDistance('length', 'length')).toBe(0);
    expect(editDistance('lenght', 'length')).toBe(1);
    expect(editDistance('secret', 'secrets')).toBe(1);
    expect(editDistance('serviceaccount', 'serviceAccount')).toBe(0);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
  test('suggests only close candidates', () => {
    expect(didYouMean('rotaton', ['rotation', 'objects'])).toBe('rotation');
    expect(didYouMean('colour', ['secrets', 'targets'])).toBeUndefined();
    expect(didYouMean('x', ['y', 'xy'])).toBe('y');
  });
});

describe('field paths', () => {
  test('indices in brackets, odd keys quoted', () => {
    expect(formatPath(['targets', 0, 'objects', 1, 'alias'])).toBe('targets[0].objects[1].alias');
    expect(formatPath(['targets', 0, 'syncTo', 'keys', 'tls.crt'])).toBe('targets[0].syncTo.keys["tls.crt"]');
    expect(formatPath([])).toBe('');
  });
});
