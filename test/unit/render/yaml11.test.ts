// Rendered YAML read back by a YAML 1.1 reader (and a 1.2 one) gives the same strings.
import { describe, expect, test } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { parseManifest } from '../../../src/manifest/load.ts';
import { objectParameterEntry, renderAll, renderObjectsParameter, toYaml } from '../../../src/render/render.ts';
import { literalList, needsQuotes, parsedAsOther, plainWordMap, stringifyForKube } from '../../../src/render/yaml.ts';
import type { MountedObject, ObjectType } from '../../../src/manifest/types.ts';

const TRICKY = [
  'yes',
  'Yes',
  'YES',
  'no',
  'No',
  'on',
  'On',
  'ON',
  'off',
  'Off',
  'y',
  'Y',
  'n',
  'N',
  'true',
  'False',
  'null',
  'Null',
  '~',
  '',
  '0b1010',
  '0o17',
  '0x1F',
  '017',
  '1_000',
  '+12',
  '-3',
  '1e3',
  '.5',
  '.inf',
  '-.Inf',
  '.NaN',
  '1:20',
  '190:20:30.15',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '<<',
  '=',
  '@x',
  '`x',
  '%x',
  '!x',
  '&x',
  '*x',
  '|x',
  '>x',
  '#x',
  '? x',
  '- x',
  'a: b',
  'a #b',
  ' lead',
  'trail ',
  'a\u2028b',
  'a\u2029b',
  'a\u0085b',
  'plain',
  'db-password',
  'tls.crt',
];

describe('stringifyForKube', () => {
  test('every tricky string reads back as itself under YAML 1.1 and 1.2, with no raw line separator', () => {
    const out = stringifyForKube({ values: TRICKY, keys: Object.fromEntries(TRICKY.filter((t) => t !== '').map((t) => [t, t])) });
    expect(out).not.toMatch(/[\u0085\u2028\u2029]/);
    for (const version of ['1.1', '1.2'] as const) {
      const back = parse(out, { version }) as { values: string[]; keys: Record<string, string> };
      expect(back.values).toEqual(TRICKY);
      expect(Object.keys(back.keys)).toEqual(TRICKY.filter((t) => t !== ''));
    }
  });

  test('the word fast path agrees with the full check (every case word of YAML 1.1, random names)', () => {
    const words = ['y', 'Y', 'yes', 'Yes', 'YES', 'yEs', 'n', 'N', 'no', 'No', 'NO', 'true', 'True', 'TRUE', 'tRUE', 'false', 'False', 'FALSE'];
    words.push('on', 'On', 'ON', 'oN', 'off', 'Off', 'OFF', 'null', 'Null', 'NULL', 'nULL', 'Inf', 'NaN', 'e1', 'E5', 'e-1', 'x0', 'b1', 'o7', 'a-1', 'A-b-c', 'z9', 'yes-no');
    const alphabet = 'aeinotuyABEFLNOSTY0189-';
    let seed = 7;
    const next = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let i = 0; i < 4000; i++) words.push(Array.from({ length: 1 + next(6) }, () => alphabet[next(alphabet.length)]).join(''));
    // Many of them take the fast path (a letter other than e, then letters, digits, single hyphens).
    expect(words.filter((w) => /^[A-DF-Za-df-z](?:-?[A-Za-z0-9])*$/.test(w)).length).toBeGreaterThan(1000);
    for (const w of words) expect([w, needsQuotes(w)]).toEqual([w, parsedAsOther(w)]);
    for (const w of ['yes', 'Off', 'NULL', 'n']) expect(needsQuotes(w)).toBe(true);
  });

  test('plain names stay plain', () => {
    for (const s of ['plain', 'db-password', 'tls.crt', 'api://AzureADTokenExchange', 'kv-sandbox--sandbox']) expect(needsQuotes(s)).toBe(false);
    expect(stringifyForKube({ a: 'plain' })).toBe('a: plain\n');
  });
});

describe('the objects parameter written without a document per object', () => {
  /** What the parameter was before the direct path: one yaml document per object, then the list. */
  function viaDocuments(objects: readonly MountedObject[]): string {
    return stringifyForKube({ array: objects.map((o) => stringifyForKube(objectParameterEntry(o))) });
  }

  test('is the same text as one document per object, for plain names and for every look-alike', () => {
    const names = ['db-password', 'a', 'Z9', 'e1', 'eabc', '1abc', 'yes', 'No', 'on', 'tls.crt', 'a--b', 'x_y', 'null', ...TRICKY.filter(Boolean)];
    const types: ObjectType[] = ['secret', 'key', 'cert'];
    let seed = 11;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 1103515245 + 12345) % 2147483648) % xs.length] as T;
    for (let i = 0; i < 300; i++) {
      const objects = Array.from({ length: 1 + (i % 4) }, (): MountedObject => {
        const o: MountedObject = { secret: pick(names), objectType: pick(types) };
        if (i % 3 === 0) o.alias = pick(names);
        if (i % 5 === 0) o.version = pick(['0123456789abcdef0123456789abcdef', 'abcdef0123456789abcdef0123456789', 'v2']);
        if (i % 7 === 0) Object.assign(o, { format: pick(['pem', 'pfx']), encoding: pick(['utf-8', 'base64', 'hex']) });
        return o;
      });
      expect(renderObjectsParameter(objects)).toBe(viaDocuments(objects));
    }
  });

  test('takes the direct path only for plain words', () => {
    expect(plainWordMap({ objectName: 'db-password', objectType: 'secret' })).toBe('objectName: db-password\nobjectType: secret\n');
    for (const v of ['yes', 'e1', '1abc', 'tls.crt', 'a--b', '']) expect(plainWordMap({ objectName: v })).toBeUndefined();
    expect(literalList('array', ['objectName: a\n', 'objectName: "yes"\n'])).toBeUndefined();
    expect(literalList('array', [])).toBeUndefined();
  });
});

test('a rendered manifest with YAML 1.1 look-alikes in labels, annotations and aliases round-trips', () => {
  const text = `apiVersion: akv-aks/v1
vault: { name: kv-a, resourceGroup: rg }
cluster: { name: c }
identityDefaults: { resourceGroup: rg, location: westeurope }
secrets: [{ name: a, generate: {} }, { name: b, generate: {} }]
targets:
  - namespace: n
    serviceAccount: sa
    secretProviderClass: spc
    objects: [{ secret: a, alias: "yes" }, { secret: b, alias: "1:20" }]
    syncTo:
      secretName: s
      keys: { a-key: "yes", b-key: "1:20" }
      labels: { "on": "on", flag: "No", bin: "0b1010", day: "2001-12-14" }
      annotations: { note: "a\\u2028b\\u2029c\\u0085d", tilde: "~" }
`;
  const objects = renderAll(parseManifest(text, 'm.yaml').manifest, { tenantId: '00000000-0000-0000-0000-000000000001' });
  const out = toYaml(objects);
  expect(out).not.toMatch(/[\u0085\u2028\u2029]/);
  for (const version of ['1.1', '1.2'] as const) {
    const back = parseAllDocuments(out, { version }).map((d) => d.toJS() as unknown);
    expect(back).toEqual(JSON.parse(JSON.stringify(objects)));
    // The objects parameter, as the CSI provider reads it.
    const spc = back.find((o) => (o as { kind: string }).kind === 'SecretProviderClass') as { spec: { parameters: { objects: string } } };
    const entries = (parse(spc.spec.parameters.objects, { version }) as { array: string[] }).array.map((e) => parse(e, { version }) as { objectAlias: string });
    expect(entries.map((e) => e.objectAlias)).toEqual(['yes', '1:20']);
  }
});
