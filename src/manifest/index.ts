// Public surface of the manifest module.
export { loadManifest, parseManifest } from './load.ts';
export type { LoadOptions } from './load.ts';
export { formatPath } from './paths.ts';
export type { FieldPath } from './paths.ts';
export { manifestSchema } from './structure.ts';
export * from './rules.ts';
export * from './types.ts';
