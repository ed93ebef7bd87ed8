// schema.json is the documented format (editors, the generated reference in docs/manifest.md): check it is
// draft 2020-12, every field is described, and it agrees with the loader on the fixtures.
import { describe, expect, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const schema = JSON.parse(readFileSync(join(repo, 'src/manifest/schema.json'), 'utf8')) as Record<string, unknown>;

type SchemaNode = Record<string, unknown>;

function resolve(node: SchemaNode): SchemaNode {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const target = ref.replace('#/$defs/', '');
  return { ...((schema.$defs as Record<string, SchemaNode>)[target] ?? {}), ...node };
}

/** Every property of every object schema, with its path. */
function properties(node: SchemaNode, path: string, out: [string, SchemaNode][], seen = new Set<string>()): [string, SchemaNode][] {
  const n = resolve(node);
  for (const [k, child] of Object.entries((n.properties as Record<string, SchemaNode> | undefined) ?? {})) {
    out.push([`${path}${path ? '.' : ''}${k}`, child]);
    const key = `${path}.${k}`;
    if (seen.has(key)) continue;
    seen.add(key);
    properties(child, `${path}${path ? '.' : ''}${k}`, out, seen);
  }
  const items = n.items as SchemaNode | undefined;
  if (items) properties(items, `${path}[]`, out, seen);
  return out;
}

describe('schema.json', () => {
  test('is a draft 2020-12 schema ajv compiles', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const ajv = new Ajv2020({ strictTypes: false, strictRequired: false });
    ajv.addVocabulary(['patternErrorMessage', 'markdownDescription']);
    expect(() => ajv.compile(schema)).not.toThrow();
  });

  const all = properties(schema, '', []);
  test('describes the whole format', () => {
    const paths = all.map(([p]) => p);
    for (const p of [
      'apiVersion',
      'vault.name',
      'cluster.oidcIssuer',
      'identityDefaults.tags',
      'secrets[].from.env',
      'secrets[].generate.rotateAfter',
      'secrets[].existing.objectType',
      'secrets[].expires',
      'targets[].identity.kubelet.clientId',
      'targets[].access.role',
      'targets[].objects[].encoding',
      'targets[].syncTo.keys',
      'targets[].rotation',
      'prune',
      'purge',
    ]) {
      expect(paths).toContain(p);
    }
  });

  test.each(all.map(([p, n]) => [p, n]))('%s has a description', (_path, node) => {
    const d = resolve(node as SchemaNode).description;
    expect(typeof d).toBe('string');
    expect((d as string).length).toBeGreaterThan(10);
  });

  test('accepts every valid fixture (the loader accepts them too)', () => {
    const ajv = new Ajv2020({ strictTypes: false, strictRequired: false, allErrors: true });
    ajv.addVocabulary(['patternErrorMessage', 'markdownDescription']);
    const validate = ajv.compile(schema);
    const dir = join(repo, 'test/fixtures/manifests/valid');
    for (const f of readdirSync(dir)) {
      expect({ f, ok: validate(parse(readFileSync(join(dir, f), 'utf8'), { merge: true })), errors: validate.errors ?? null }).toEqual({ f, ok: true, errors: null });
    }
  });
});
