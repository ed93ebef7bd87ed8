// Structural validation against schema.json (its generated validator), with ajv's errors turned into field paths and messages.
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { validate } from './schema-validator.generated.ts';
import { SHOWABLE } from '../util/escape.ts';
import type { FieldPath } from './paths.ts';
import { Suggester } from './suggest.ts';

export interface RawIssue {
  path: FieldPath;
  /** Point at the mapping key (unknown or missing fields) or at the value. */
  at: 'key' | 'value';
  message: string;
}

// Generated from schema.json at development time (scripts/validator.ts): no schema compile per run.
const validateSchema = validate as ValidateFunction;

/** aad-pod-identity fields people carry over from older setups: refused with a migration path. */
export const POD_IDENTITY_KEYS = new Set(['usePodIdentity', 'podIdentity', 'aadPodIdentity', 'aadpodidbinding', 'azureIdentityBinding', 'azureIdentity']);

export const POD_IDENTITY_MESSAGE =
  'aad-pod-identity (usePodIdentity) is deprecated and not supported: move to Microsoft Entra Workload ID. ' +
  'Remove this field and set `identity: { create: true }` (the action creates a user-assigned managed identity, ' +
  'federates it with `serviceAccount` and annotates the service account), or `identity: { clientId, principalId }` ' +
  'for the identity your AzureIdentity used; pods then need the label `azure.workload.identity/use: "true"` ' +
  'and `serviceAccountName` instead of `aadpodidbinding`';

/** Fields that exist elsewhere in the format, with the place they belong. */
const MISPLACED: ReadonlyMap<string, string> = new Map(
  Object.entries({
    rotateAfter: '`rotateAfter` applies only to generated secrets: put it under `generate: { rotateAfter }`',
    length: '`length` applies only to generated secrets: put it under `generate`',
    charset: '`charset` applies only to generated secrets: put it under `generate`',
    objectType: '`objectType` belongs under `existing: { objectType }` (secrets the action writes are always of type secret)',
  }),
);

function pointerToPath(pointer: string, data: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let node = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const i = Number(seg);
      out.push(i);
      node = node[i];
    } else {
      out.push(seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function describeType(v: unknown): string {
  if (v === null) return 'null (empty)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a number' : 'a decimal number';
  return `a ${typeof v}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

function valueAt(data: unknown, path: ReadonlyArray<string | number>): unknown {
  let node = data;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    if (!Object.hasOwn(node, seg)) return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** ` (got "VALUE")` for a value that may be echoed, else nothing (the position says where it is). */
function got(value: unknown): string {
  return typeof value === 'string' && SHOWABLE.test(value) ? ` (got ${JSON.stringify(value)})` : '';
}

/** What every mapping of one ajv error needs: the error, where it points, the value there. */
interface ErrorSite {
  e: ErrorObject;
  path: FieldPath;
  value: unknown;
  params: Record<string, unknown>;
  // With `verbose`, ajv hands over the schema object holding the failed keyword (schemaPath is
  // relative to whichever $ref'd definition ajv compiled separately, so it cannot be resolved).
  parentSchema: { properties?: Record<string, unknown>; patternErrorMessage?: string };
}

function unknownField({ path, params, parentSchema }: ErrorSite, suggest: Suggester): RawIssue {
  const key = String(params.additionalProperty);
  const known = Object.keys(parentSchema.properties ?? {});
  const at: FieldPath = [...path, key];
  if (POD_IDENTITY_KEYS.has(key)) return { path: at, at: 'key', message: POD_IDENTITY_MESSAGE };
  const misplaced = MISPLACED.get(key);
  if (misplaced && known.includes('generate')) return { path: at, at: 'key', message: misplaced };
  if (!SHOWABLE.test(key)) return { path: at, at: 'key', message: `unknown field (its name is not shown: not a plain name)` };
  return { path: at, at: 'key', message: `unknown field \`${key}\`${suggest.suggestion(key, known)}` };
}

function wrongType({ path, value, params }: ErrorSite): RawIssue {
  const expected = String(params.type)
    .split(',')
    .map((t) => TYPE_NAMES[t] ?? t)
    .join(' or ');
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (typeof value === 'string' && typeof last === 'number' && parent === 'objects') {
    return { path, at: 'value', message: `must be a mapping like \`{ secret: ${SHOWABLE.test(value) ? value : 'NAME'} }\`, not a string` };
  }
  return { path, at: 'value', message: `must be ${expected}, not ${describeType(value)}` };
}

function notAllowed({ e, path, value, params, parentSchema }: ErrorSite, suggest: Suggester): RawIssue {
  if (e.keyword === 'enum') {
    const allowed = (params.allowedValues as unknown[]).map(String);
    const hint = typeof value === 'string' ? suggest.suggestion(value, allowed) : '';
    return { path, at: 'value', message: `must be one of: ${allowed.join(', ')}${hint}` };
  }
  if (e.keyword === 'const') {
    const allowed = params.allowedValue;
    if (allowed === true) return { path, at: 'value', message: 'must be true (to use an existing identity, give its `name` instead)' };
    return { path, at: 'value', message: `must be ${JSON.stringify(allowed)}` };
  }
  const rule = parentSchema.patternErrorMessage ?? `must match ${String(params.pattern)}`;
  if (e.propertyName !== undefined) return { path: [...path, e.propertyName], at: 'key', message: rule };
  return { path, at: 'value', message: `${rule}${got(value)}` };
}

/** minLength, maxLength, minimum, maximum, minItems, maxItems, minProperties, maxProperties. */
function outOfBounds({ e, path, value, params }: ErrorSite): RawIssue | undefined {
  const limit = String(params.limit);
  const onKey = e.propertyName !== undefined ? [...path, e.propertyName] : undefined;
  switch (e.keyword) {
    case 'minLength':
      if (onKey) return { path: onKey, at: 'key', message: 'must not be empty' };
      return { path, at: 'value', message: params.limit === 1 ? 'must not be empty' : `must be at least ${limit} characters long` };
    case 'maxLength':
      if (onKey) return { path: onKey, at: 'key', message: `must be at most ${limit} characters long` };
      return { path, at: 'value', message: `must be at most ${limit} characters long (got ${typeof value === 'string' ? value.length : '?'})` };
    case 'minimum':
      return { path, at: 'value', message: `must be at least ${limit}` };
    case 'maximum':
      return { path, at: 'value', message: `must be at most ${limit}` };
    case 'minItems':
      return { path, at: 'value', message: `must list at least ${limit} item${params.limit === 1 ? '' : 's'}` };
    case 'maxItems':
      return { path, at: 'value', message: `must list at most ${limit} items (the bound for this list)` };
    case 'minProperties':
      return { path, at: 'value', message: 'must not be empty' };
    case 'maxProperties':
      return { path, at: 'value', message: `must have at most ${limit} entries` };
    default:
      return undefined;
  }
}

function mapError(e: ErrorObject, data: unknown, suggest: Suggester): RawIssue | undefined {
  if (e.keyword === 'propertyNames') return undefined; // the failing name is reported by the nested keyword
  const path = pointerToPath(e.instancePath, data);
  const site: ErrorSite = { e, path, value: valueAt(data, path), params: e.params as Record<string, unknown>, parentSchema: (e.parentSchema ?? {}) as ErrorSite['parentSchema'] };
  switch (e.keyword) {
    case 'additionalProperties':
      return unknownField(site, suggest);
    case 'required': {
      const missing = String(site.params.missingProperty);
      return { path: [...path, missing], at: 'key', message: `missing required field \`${missing}\`` };
    }
    case 'type':
      return wrongType(site);
    case 'enum':
    case 'const':
    case 'pattern':
      return notAllowed(site, suggest);
    default:
      return outOfBounds(site) ?? { path, at: 'value', message: e.message ?? `fails ${e.keyword}` };
  }
}

/**
 * Validates the raw document against the schema. `oneOf` alternatives (value sources, identity
 * shapes) are left to the semantic checks, which can say which combination is wrong.
 */
export function checkStructure(data: unknown, suggest = new Suggester()): RawIssue[] {
  if (validateSchema(data)) return [];
  const out: RawIssue[] = [];
  const seen = new Set<string>();
  for (const e of validateSchema.errors ?? []) {
    if (e.schemaPath.includes('/oneOf')) continue;
    const issue = mapError(e, data, suggest);
    if (!issue) continue;
    // One problem per field: a bad name that is also too long reads better as one message.
    const id = JSON.stringify(issue.path);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(issue);
  }
  return out;
}
