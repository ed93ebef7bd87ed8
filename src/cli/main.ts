#!/usr/bin/env node
// Entry point of `npx akv-aks` (bundled to dist/cli/index.js): see cli.ts for the commands.
import { runCli } from './cli.ts';

process.exitCode = runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
