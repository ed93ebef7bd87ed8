// What the action says to the runner: log and workflow commands, inputs, outputs, the job summary
// and the job's OIDC ID token. Imported as `runner`.
export { debug, error, getInput, group, info, setFailed, setOutput, setSecret, warning } from './commands.ts';
export type { AnnotationProperties } from './commands.ts';
export { summary, Summary } from './summary.ts';
export type { SummaryCell } from './summary.ts';
export { getIDToken } from './id-token.ts';
