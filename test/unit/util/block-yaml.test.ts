// readBlockYaml against the yaml library it stands in for (manifests and kubeconfigs): every text
// it accepts must give the data and the positions (SourceMap over yaml's document) that yaml gives,
// and yaml must find nothing wrong with it. Texts come from the fixtures and from a seeded generator that mixes the subset with
// what it must decline (anchors, tags, flow collections, escapes, bad indentation, tabs, ...).
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lexer, LineCounter, parseDocument, stringify } from 'yaml';
import { readBlockYaml as readWithin } from '../../../src/util/block-yaml.ts';
import type { BlockYaml } from '../../../src/util/block-yaml.ts';
import { MAX_MAPPING_ENTRIES, MAX_YAML_TOKENS } from '../../../src/manifest/limits.ts';
import { SourceMap } from '../../../src/manifest/paths.ts';
import type { FieldPath } from '../../../src/manifest/paths.ts';

/** The reader with the manifest's bounds, as src/manifest/load.ts calls it. */
function readBlockYaml(text: string): BlockYaml | undefined {
  return readWithin(text, { maxTokens: MAX_YAML_TOKENS, maxMappingEntries: MAX_MAPPING_ENTRIES });
}

/** yaml's reading of a text, with the options of src/manifest/load.ts. */
function reference(text: string): { ok: boolean; data?: unknown; map?: SourceMap } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, merge: true });
  if (doc.errors.length > 0) return { ok: false };
  return { ok: true, data: doc.toJS({ maxAliasCount: 1000 }), map: new SourceMap(doc, lineCounter) };
}

/** Every path in the data, plus one that does not exist below each (it resolves to its ancestor). */
function paths(data: unknown, prefix: FieldPath = []): FieldPath[] {
  const out: FieldPath[] = [prefix, [...prefix, 'no-such-key'], [...prefix, 99]];
  if (Array.isArray(data)) data.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (data !== null && typeof data === 'object') for (const [k, v] of Object.entries(data)) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** Fails the test unless an accepted text reads exactly as yaml reads it; returns whether it was accepted. */
function agreesWithYaml(text: string): boolean {
  const fast = readBlockYaml(text);
  if (fast === undefined) return false;
  const ref = reference(text);
  if (!ref.ok) throw new Error(`accepted a text yaml refuses:\n${text}`);
  expect(fast.data).toStrictEqual(ref.data);
  for (const p of paths(ref.data)) {
    for (const at of ['key', 'value'] as const) {
      const mine = fast.map.locate(p, at);
      const theirs = ref.map!.locate(p, at);
      if (mine.line !== theirs.line || mine.col !== theirs.col) throw new Error(`${JSON.stringify(p)} (${at}): ${JSON.stringify(mine)} vs yaml ${JSON.stringify(theirs)} in:\n${text}`);
    }
    expect(fast.map.has(p)).toBe(ref.map!.has(p));
  }
  // The reader's bound on yaml's lexer tokens (it leaves a text that could pass MAX_YAML_TOKENS to
  // yaml): per line 8, +2 for a list item, +2 with a `#`, two a character with a flow collection.
  const lexed = [...new Lexer().lex(text)].length;
  const perLine = (l: string): number => {
    const c = l.trimStart();
    if (c === '' || c.startsWith('#')) return 3;
    if (/[{[]/.test(c)) return 2 * c.length + 2;
    return 8 + (/^-( |$)/.test(c) ? 2 : 0) + (c.includes('#') ? 2 : 0);
  };
  expect(lexed).toBeLessThanOrEqual(text.split('\n').reduce((n, l) => n + perLine(l), 1));
  return true;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// prettier-ignore
const SCALARS = [
  'a', 'hello world', 'kv-sandbox', 'akv-aks/v1', 'true', 'True', 'TRUE', 'tRUE', 'false', 'null', 'Null', 'NULL', '~',
  '0', '007', '-1', '+1', '-0', '00', '1.5', '.5', '5.', '1e3', '1E-3', '1e', 'e1', '1_0', '0o17', '0o8', '0o', '0x1f',
  '0xG', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', 'NaN', '.', '-', '+', '2026-01-01', '0.0.1', '90d', 'P1Y', 'v1',
  'a:b', 'a: b', 'a:', 'a :b', 'a #b', 'a#b', 'a # b # c', "it's", 'say "hi"', "'q'", "'q''s'", "''", "'a'' '", '""',
  '"d"', '"a\\"b"', '"a\\nb"', "'open", '"open', "'a' #c", "'a'b", '"a"#c', '"a" # c', '[]', '{}', '[ ]', '[a]',
  '{a: 1}', '[] #c', '{}x', '&x a', '*x', '!str a', '!!str 1', '|', '>', '@x', '`x', '%x', '-x', '- x', '? x', ': x',
  '{ name: kv, resourceGroup: rg }', '[a, b]', "[ 'x', \"y\" ]", "{ a: 'x', b: \"y z\" }", '{ a: 1,b: 2 }', '{a:1}', '[a,b]',
  '{ a: b c }', '{ a: b #c }', '[a] #c', '{ a: true, b: null, c: ~, d: 0x1F, e: .5 }', '{ a: }', '{ a }', '{ : a }', '[a, [b]]',
  '{ a: -1 }', "{ a: 'x' , b: y}", '{ "a": 1 }', '{ a: b, a: c }', '[ ]', '{ }', '[a,]', "['it''s']", '[a b, c]', '{ a: [] }',
  '[?x, -y]', '{ a: ?x }', '[:x]', '[-1, +1]', '{ a: --b }', '--login', '-x-', '?x', ':x', '-.5', '-0x1', '- ', '-', '?', ':', '--', '-#', ',x', 'a,b', 'a]b', 'ü', 'a\u00A0#b', '\u00A0a', 'x  ', 'http://e.x/p?q=1#f', '#', 'a\tb', 'x\r', '\uFEFFa', '😀',
];
/** Values of the subset, picked more often so that many documents are accepted and compared. */
// prettier-ignore
const COMMON = [
  'a', 'hello world', 'kv-sandbox', 'true', 'False', 'null', '~', '0', '-1', '1.5', '0x1f', '.inf', '.NaN', '90d', 'a:b', 'a#b',
  "'q''s'", '"d e"', "''", 'ü', '{ name: kv, resourceGroup: rg }', '{ env: DB_PASSWORD }', '[a, b]', '[]', '{}', "[ 'x', \"y\" ]",
];
// prettier-ignore
const KEYS = ['name', 'vault', 'from', 'env', 'targets', 'k.x/y', 'a_b', 'true', 'null', 'False', '__proto__', '<<', 'a b', '"q"', "'s'", '1', '-k', 'x'.repeat(210), 'key '];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

function value(rand: () => number): string {
  return rand() < 0.7 ? pick(rand, COMMON) : pick(rand, SCALARS);
}

/** Lines of a random node at `indent`: a mapping, a sequence or (at depth) a scalar value. */
function node(rand: () => number, indent: number, depth: number, kind: 'map' | 'seq'): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  const count = 1 + Math.floor(rand() * 4);
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    if (rand() < 0.08) out.push(' '.repeat(Math.floor(rand() * 6)) + pick(rand, ['# note', '#', '', '   ']));
    const comment = rand() < 0.1 ? pick(rand, [' # c', '  #c', '#c', ' ']) : '';
    const nested = depth < 3 && rand() < 0.45;
    if (kind === 'map') {
      const key = rand() < 0.85 ? pick(rand, ['name', 'vault', 'from', 'env', 'targets', 'k.x/y', 'a_b', 'objects', 'secret']) : pick(rand, KEYS);
      const name = rand() < 0.05 && keys.length > 0 ? keys[0]! : key;
      keys.push(name);
      if (!nested) out.push(`${pad}${name}:${rand() < 0.1 ? '' : ' '.repeat(1 + Math.floor(rand() * 2)) + value(rand)}${comment}`);
      else {
        out.push(`${pad}${name}:${comment}`);
        const child = rand() < 0.5 ? 'map' : 'seq';
        const childIndent = child === 'seq' && rand() < 0.4 ? indent : indent + pick(rand, [2, 2, 2, 4, 1]);
        out.push(...node(rand, childIndent, depth + 1, child));
      }
    } else {
      const gap = ' '.repeat(rand() < 0.9 ? 1 : 2);
      if (!nested) out.push(`${pad}-${gap}${value(rand)}${comment}`);
      else {
        const inner = node(rand, indent + 1 + gap.length, depth + 1, 'map');
        // The mapping starts on the item's line.
        const firstContent = inner.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
        inner[firstContent] = `${pad}-${gap}${inner[firstContent]!.slice(indent + 1 + gap.length)}`;
        out.push(...inner);
      }
    }
  }
  return out;
}

/** A random document; now and then one line is damaged (indentation off by one, a tab, a stray marker). */
function randomDocument(rand: () => number): string {
  const lines = node(rand, 0, 0, 'map');
  if (rand() < 0.15) lines.unshift(pick(rand, ['---', '--- ', '%YAML 1.2\n---', '# head']));
  if (rand() < 0.2) {
    const i = Math.floor(rand() * lines.length);
    lines[i] = pick(rand, [' ', '\t', '---\n', '... ', '   '.slice(1)]) + lines[i]!;
  }
  return lines.join('\n') + (rand() < 0.8 ? '\n' : '');
}

describe('readBlockYaml reads what yaml reads', () => {
  test('generated documents: every accepted one agrees, and both kinds occur', () => {
    const rand = prng(20261203);
    let accepted = 0;
    const runs = 4000;
    for (let i = 0; i < runs; i++) if (agreesWithYaml(randomDocument(rand))) accepted++;
    expect(accepted).toBeGreaterThan(runs * 0.1);
    expect(accepted).toBeLessThan(runs * 0.9);
  });

  test('the manifest fixtures: every accepted one agrees, and the plain ones are accepted', () => {
    const root = fileURLToPath(new URL('../../fixtures/manifests/', import.meta.url));
    let accepted = 0;
    for (const dir of ['valid', 'invalid', 'golden']) {
      for (const f of readdirSync(join(root, dir)).filter((n) => n.endsWith('.yaml'))) {
        if (agreesWithYaml(readFileSync(join(root, dir, f), 'utf8'))) accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(10);
  });

  test("the bench's manifest shape, as yaml writes it, is accepted", () => {
    const manifest = {
      apiVersion: 'akv-aks/v1',
      vault: { name: 'kv-bench', resourceGroup: 'rg-sandbox' },
      cluster: { name: 'bench' },
      identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope' },
      secrets: Array.from({ length: 40 }, (_, i) => ({ name: `bench-s-${i}`, from: { env: `BENCH_S_${i}` } })),
      targets: Array.from({ length: 4 }, (_, t) => ({
        namespace: `ns-${t}`,
        createNamespace: true,
        identity: { create: true, name: `id-${t}` },
        objects: Array.from({ length: 10 }, (_, i) => ({ secret: `bench-s-${t * 10 + i}` })),
      })),
    };
    const text = stringify(manifest);
    expect(agreesWithYaml(text)).toBe(true);
    expect(readBlockYaml(text)!.data).toEqual(manifest);
  });
});

describe('kubeconfigs', () => {
  // The shape `az aks get-credentials` and `kubectl config view --raw` write (values shortened).
  const kubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUU2RENDQXRDZ0F3SUJBZ0lRT
    server: https://aks-prod-dns-4f2b1c3d.hcp.westeurope.azmk8s.io:443
  name: aks-prod
contexts:
- context:
    cluster: aks-prod
    namespace: payments
    user: clusterUser_rg-prod_aks-prod
  name: aks-prod
current-context: aks-prod
kind: Config
preferences: {}
users:
- name: clusterUser_rg-prod_aks-prod
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - get-token
      - --login
      - azurecli
      - --server-id
      - 6dae42f8-4368-4678-94ff-3960e28e3630
      command: kubelogin
      env: null
      interactiveMode: IfAvailable
      provideClusterInfo: false
`;

  test('the usual kubeconfig is read, as yaml reads it', () => {
    expect(agreesWithYaml(kubeconfig)).toBe(true);
  });

  test('an install hint in a block scalar is left to yaml', () => {
    expect(readBlockYaml(kubeconfig.replace('      provideClusterInfo: false\n', '      installHint: |\n        install kubelogin\n'))).toBeUndefined();
  });
});

describe('readBlockYaml leaves to yaml', () => {
  const base = 'apiVersion: akv-aks/v1\nvault:\n  name: kv\n';
  test.each([
    ['an anchor and an alias', `${base}a: &x 1\nb: *x\n`],
    ['a merge key', `${base}<<:\n  a: 1\n`],
    ['a tag', `${base}a: !!str 1\n`],
    ['a flow mapping in a flow mapping', `${base}a: { b: { c: 1 } }\n`],
    ['a flow collection over two lines', `${base}a: [b,\n  c]\n`],
    ['a trailing comma', `${base}a: [b, c, ]\n`],
    ['a colon in a flow scalar', `${base}a: { b: http://x }\n`],
    ['a block scalar', `${base}a: |\n  text\n`],
    ['a plain scalar over two lines', `${base}a: one\n  two\n`],
    ['an escape in double quotes', `${base}a: "x\\ny"\n`],
    ['a quote left open', `${base}a: 'x\n  y'\n`],
    ['a tab', `${base}a:\tb\n`],
    ['a carriage return', base.replaceAll('\n', '\r\n')],
    ['a byte-order mark', `\uFEFF${base}`],
    ['a duplicate key', `${base}vault: again\n`],
    ['a second document', `${base}---\na: 1\n`],
    ['a directive', `%YAML 1.2\n---\n${base}`],
    ['indentation between levels', `${base} b: 1\n`],
    ['a key that is not a name', `${base}"quoted": 1\n`],
    ['a key yaml reads as a boolean', `${base}true: 1\n`],
    ['__proto__', `${base}__proto__:\n  polluted: true\n`],
    ['a sequence at the root', '- a\n- b\n'],
    ['a scalar at the root', 'just text\n'],
    ['nothing but comments', '# only\n'],
    ['an indented first line', `  ${base}`],
    ['nesting deeper than a manifest needs', Array.from({ length: 70 }, (_, i) => `${'  '.repeat(i)}k:`).join('\n') + ' v\n'],
    [
      'compact sequences nested as deep',
      Array.from({ length: 70 }, (_, i) => `${'  '.repeat(i)}- k:`)
        .join('\n')
        .slice(2) + ' v\n',
    ],
    ['a mapping larger than the bound', `${base}${Array.from({ length: MAX_MAPPING_ENTRIES + 1 }, (_, i) => `k${i}: v`).join('\n')}\n`],
    ['a flow mapping larger than the bound', `${base}a: { ${Array.from({ length: MAX_MAPPING_ENTRIES + 1 }, (_, i) => `k${i}: v`).join(', ')} }\n`],
  ])('%s', (_what, text) => {
    expect(readBlockYaml(text)).toBeUndefined();
  });

  test('a text that could pass the token bound (yaml states the bound at its place)', () => {
    const group = (g: number, size: number): string => `g${g}:\n${Array.from({ length: size }, (_, i) => `  k${i}: v`).join('\n')}\n`;
    const within = Array.from({ length: 10 }, (_, g) => group(g, 1000)).join('');
    expect(readBlockYaml(within)).toBeDefined();
    const flowAtBound = `${base}a: { ${Array.from({ length: MAX_MAPPING_ENTRIES }, (_, i) => `k${i}: v`).join(', ')} }\n`;
    expect(agreesWithYaml(flowAtBound)).toBe(true);
    const beyond = Array.from({ length: 40 }, (_, g) => group(g, 1000)).join('');
    expect(readBlockYaml(beyond)).toBeUndefined();
  });
});
