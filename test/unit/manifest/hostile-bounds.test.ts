// The manifest's input bounds (docs/input-bounds.md), in process: reading, YAML limits, suggestion
// search, echo rules and the validation of tags, durations, labels, annotations and aliases.
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '../../../src/manifest/load.ts';
import { MAX_MANIFEST_BYTES, MAX_OBJECTS_PER_TARGET, MAX_SECRETS, MAX_TAGS, MAX_TARGETS } from '../../../src/manifest/limits.ts';
import { ManifestReadError, readManifestText } from '../../../src/manifest/read.ts';
import manifestSchema from '../../../src/manifest/schema.json' with { type: 'json' };
import { MAX_SUGGESTION_DISTANCE, Suggester, didYouMean, editDistance } from '../../../src/manifest/suggest.ts';
import { ManifestError } from '../../../src/manifest/types.ts';

const HEAD = 'apiVersion: akv-aks/v1\nvault: { name: kv-a, resourceGroup: rg }\ncluster: { name: c }\nidentityDefaults: { resourceGroup: rg, location: westeurope }\n';

function errors(text: string): string[] {
  try {
    parseManifest(text, 'm.yaml');
  } catch (e) {
    if (e instanceof ManifestError) return e.message.split('\n');
    throw e;
  }
  return [];
}

describe('readManifestText', () => {
  const dir = mkdtempSync(join(tmpdir(), 'akv-aks-read-'));
  const read = (p: string, within?: string): string => readManifestText(join(dir, p), { shownAs: p, within });
  const failure = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(ManifestReadError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  test('a regular file up to the bound is read; one byte more is refused without reading it all', () => {
    writeFileSync(join(dir, 'ok.yaml'), 'a'.repeat(MAX_MANIFEST_BYTES));
    expect(read('ok.yaml')).toHaveLength(MAX_MANIFEST_BYTES);
    writeFileSync(join(dir, 'big.yaml'), 'a'.repeat(MAX_MANIFEST_BYTES + 1));
    expect(failure(() => read('big.yaml'))).toBe('big.yaml: error: is larger than 1048576 bytes (1 MiB), the bound for a manifest');
  });

  test('directories, devices, pseudo-files, binary and missing files: one clear line each', () => {
    mkdirSync(join(dir, 'd'));
    expect(failure(() => read('d'))).toBe('d: error: is a directory, not a manifest file');
    expect(failure(() => readManifestText('/dev/zero'))).toBe('/dev/zero: error: is a kernel pseudo-file or device, not a manifest file');
    expect(failure(() => readManifestText('/proc/self/environ'))).toBe('/proc/self/environ: error: is a kernel pseudo-file or device, not a manifest file');
    writeFileSync(join(dir, 'bin.yaml'), Buffer.from([0x61, 0x00, 0x62]));
    expect(failure(() => read('bin.yaml'))).toBe('bin.yaml: error: is not a text file (a NUL byte at offset 1)');
    writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x61, 0xe9, 0x62]));
    expect(failure(() => read('latin1.yaml'))).toBe('latin1.yaml: error: is not UTF-8 text');
    expect(failure(() => read('missing.yaml'))).toBe('missing.yaml: error: no such file');
  });

  test('within a workspace: symlinks must resolve inside it, and not into .git', () => {
    const ws = join(dir, 'ws');
    mkdirSync(join(ws, '.git'), { recursive: true });
    writeFileSync(join(ws, 'real.yaml'), 'x: 1\n');
    writeFileSync(join(ws, '.git', 'config'), '[core]\n');
    symlinkSync(join(ws, 'real.yaml'), join(ws, 'inside.yaml'));
    symlinkSync('/proc/self/environ', join(ws, 'environ.yaml'));
    symlinkSync(join(dir, 'ok.yaml'), join(ws, 'outside.yaml'));
    expect(readManifestText(join(ws, 'inside.yaml'), { within: ws })).toBe('x: 1\n');
    expect(failure(() => readManifestText(join(ws, 'environ.yaml'), { within: ws, shownAs: 'environ.yaml' }))).toMatch(/^environ\.yaml: error: resolves outside the workspace/);
    expect(failure(() => readManifestText(join(ws, 'outside.yaml'), { within: ws, shownAs: 'outside.yaml' }))).toMatch(/^outside\.yaml: error: resolves outside the workspace/);
    expect(failure(() => readManifestText(join(ws, '.git', 'config'), { within: ws, shownAs: '.git/config' }))).toBe('.git/config: error: is inside .git, not a manifest file');
  });

  test('a file name with control characters is escaped in the message', () => {
    expect(failure(() => readManifestText(join(dir, 'no\n::error::x'), { shownAs: 'no\n::error::x' }))).toBe('no\\n:\\u003aerror:\\u003ax: error: no such file');
  });
});

describe('suggestions are bounded', () => {
  test('the banded distance agrees with the full one within the limit', () => {
    for (const [a, b] of [
      ['rotaton', 'rotation'],
      ['kitten', 'sitting'],
      ['secret', 'secrets'],
      ['abcdef', 'badcfe'],
      ['x', 'y'],
    ] as const) {
      const full = editDistance(a, b);
      expect(editDistance(a, b, 3)).toBe(Math.min(full, 4));
    }
    expect(editDistance('a'.repeat(100), 'b'.repeat(100), 3)).toBe(4);
  });

  test('200 x 200 names of 120 characters (and of 60): the band cuts every comparison short', () => {
    // The cost bound is structural (what bench measures as time): words over MAX_SUGGESTED_LENGTH get
    // no search at all, and a 60-character word against unrelated names stops within the band.
    for (const len of [120, 60]) {
      const declared = Array.from({ length: 200 }, (_, i) => `declared-${i}`.padEnd(len, 'x'));
      const wanted = Array.from({ length: 200 }, (_, i) => `missing-${i}`.padEnd(len, 'y'));
      for (const w of wanted) expect(didYouMean(w, declared)).toBeUndefined();
      expect(editDistance(wanted[0]!, declared[0]!, MAX_SUGGESTION_DISTANCE)).toBe(MAX_SUGGESTION_DISTANCE + 1);
    }
  });

  test('a Suggester stops after its budget of lookups', () => {
    const s = new Suggester(2);
    expect(s.didYouMean('secrt', ['secret'])).toBe('secret');
    expect(s.didYouMean('secrt', ['secret'])).toBe('secret');
    expect(s.didYouMean('secrt', ['secret'])).toBeUndefined();
  });
});

describe('YAML bounds', () => {
  test('merge keys used 200 times are fine; an alias bomb and an undefined alias are reported at the alias', () => {
    const targets = Array.from({ length: 200 }, (_, i) => `  - <<: *t\n    namespace: n${i}\n`).join('');
    const ok = `${HEAD}x-t: &t\n  serviceAccount: sa\n  secretProviderClass: spc\n  objects: [{ secret: a }]\nsecrets: [{ name: a, generate: {} }]\ntargets:\n${targets}`;
    expect(parseManifest(ok, 'm.yaml').manifest.targets).toHaveLength(200);
    expect(errors(ok.replace('targets:\n', 'targets:\n  - <<: *t\n    namespace: extra\n'))).toEqual([expect.stringMatching(/targets: must list at most 200 items/)]);
    const bomb = `${HEAD}x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nx-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nx-e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n`;
    expect(errors(bomb)).toEqual([expect.stringMatching(/^m\.yaml:9:\d+: error: YAML: aliases expand to more than 1000 nodes/)]);
    expect(errors(`${HEAD}secrets: *nope\n`)).toEqual(['m.yaml:5:10: error: YAML: alias *nope refers to no anchor defined before it (write `&name` on the node first)']);
  });

  test('duplicate keys are still found (one set per mapping), and errors are capped at 50', () => {
    expect(errors(`${HEAD}x-a: 1\nx-a: 2\n`)).toEqual(['m.yaml:6:1: error: YAML syntax: map keys must be unique (the same key appears twice in one mapping)']);
    const many = `${HEAD}${Array.from({ length: 120 }, (_, i) => `bad${i}: 1`).join('\n')}\n`;
    const lines = errors(many);
    expect(lines).toHaveLength(51);
    expect(lines[50]).toBe('... 70 more errors in m.yaml');
  });

  test('the schema states the count bounds of limits.ts', () => {
    const text = JSON.stringify(manifestSchema);
    expect(text).toContain(`"maxItems":${MAX_SECRETS}`);
    expect(text).toContain(`"maxItems":${MAX_TARGETS}`);
    expect(text).toContain(`"maxItems":${MAX_OBJECTS_PER_TARGET}`);
    expect(text).toContain(`"maxProperties":${MAX_TAGS}`);
  });
});

describe('what a message echoes', () => {
  test('keys and values that are not plain names are shown by position only', () => {
    const lines = errors(`${HEAD}"KEY=s3cr3t-value": 1\n"\\e[31m": 2\nconstructor: 3\n__proto__: 4\n`);
    expect(lines.join('\n')).not.toMatch(/s3cr3t|\u001b|native code|function Object/);
    expect(lines).toContain('m.yaml:5:1: error: […]: unknown field (its name is not shown: not a plain name)');
    expect(lines).toContain('m.yaml:7:1: error: constructor: unknown field `constructor`');
    expect(lines).toContain('m.yaml:8:1: error: __proto__: unknown field `__proto__`');
  });
});

describe('validation of Key Vault and Kubernetes limits', () => {
  const withSecret = (fields: string): string => `${HEAD}secrets:\n  - { name: a, generate: {}, ${fields} }\n`;
  test('durations past 100 years, too many or reserved tags', () => {
    expect(errors(withSecret('expires: 99999999999999999999d'))).toEqual([expect.stringMatching(/secrets\[0\]\.expires: is longer than 100 years/)]);
    expect(errors(`${HEAD}secrets:\n  - { name: a, generate: { rotateAfter: 9999999999999d } }\n`)).toEqual([expect.stringMatching(/secrets\[0\]\.generate\.rotateAfter: is longer than 100 years/)]);
    const eight = Array.from({ length: 8 }, (_, i) => `t${i}: v`).join(', ');
    expect(errors(withSecret(`tags: { ${eight} }`))).toEqual([expect.stringMatching(/secrets\[0\]\.tags: must have at most 7 entries: Key Vault allows 15 tags and the action sets 8 of its own/)]);
    expect(errors(withSecret('tags: { akv-aks-digest: x }'))).toEqual([expect.stringMatching(/tag `akv-aks-digest` is reserved/)]);
    expect(errors(withSecret(`tags: { ${Array.from({ length: 7 }, (_, i) => `t${i}: v`).join(', ')} }`))).toEqual([]);
  });

  const target = (objects: string, sync = ''): string =>
    `${HEAD}secrets: [{ name: a, generate: {} }]\ntargets:\n  - namespace: n\n    serviceAccount: sa\n    secretProviderClass: spc\n    objects: [${objects}]\n${sync}`;
  test('alias file names', () => {
    expect(errors(target('{ secret: a, alias: ..data }'))).toEqual([expect.stringMatching(/alias: must not start with '\.\.'/)]);
    expect(errors(target('{ secret: a, alias: "a\\u200bb" }'))).toEqual([expect.stringMatching(/alias: must not contain control, invisible or bidirectional characters/)]);
    expect(errors(target(`{ secret: a, alias: "${'é'.repeat(128)}" }`))).toEqual([expect.stringMatching(/alias: must be at most 255 bytes in UTF-8 .*got 256/)]);
    expect(errors(target(`{ secret: a, alias: "${'é'.repeat(127)}" }`))).toEqual([]);
  });

  test('label and annotation syntax', () => {
    const sync = (labels: string, annotations = '{}'): string => `    syncTo: { secretName: s, labels: ${labels}, annotations: ${annotations} }\n`;
    expect(errors(target('{ secret: a }', sync('{ app.kubernetes.io/name: web, tier: "", x: a.b_c-d }', '{ "example.com/note": "any text: ok" }')))).toEqual([]);
    expect(errors(target('{ secret: a }', sync('{ "-bad": x }')))).toEqual([expect.stringMatching(/labels\["-bad"\]: label name must be a Kubernetes qualified name/)]);
    expect(errors(target('{ secret: a }', sync('{ ok: "has space" }')))).toEqual([expect.stringMatching(/labels\.ok: label value must be at most 63/)]);
    expect(errors(target('{ secret: a }', sync(`{ ok: ${'v'.repeat(64)} }`)))).toEqual([expect.stringMatching(/labels\.ok: label value must be at most 63/)]);
    expect(errors(target('{ secret: a }', sync('{}', '{ "Bad_Prefix/x": y }')))).toEqual([
      expect.stringMatching(/annotations\["Bad_Prefix\/x"\]: annotation name must be a Kubernetes qualified name/),
    ]);
  });
});
