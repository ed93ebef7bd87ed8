export * from './labels.ts';
export * from './render.ts';
