export * from './labels.ts';
export * from './render.ts';
export * from './rbac.ts';
