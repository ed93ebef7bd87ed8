// Suites that need something absent (a built bundle, the sandbox's cluster, reference data beside
// the repository) skip with the reason in their title on a developer's machine; with CI=true they
// fail instead, with the reason and the sandbox's log, so a broken build never ends green.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = resolve(import.meta.dirname, '..', '..');

export const inCi = (): boolean => Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/** The last lines of the sandbox supervisor's log (the control-plane build's too), for CI failures. */
export function sandboxLogTail(lines = 60): string {
  const log = join(root, '.sandbox', 'supervisor.log');
  if (!existsSync(log)) return '(no .sandbox/supervisor.log)';
  return readFileSync(log, 'utf8').split('\n').slice(-lines).join('\n');
}

type Describe = typeof describe;
type It = typeof it;

function cannotRun(missing: string, log?: () => string): () => never {
  return () => {
    throw new Error(`${missing}${log ? `\n--- log ---\n${log()}` : ''}`);
  };
}

/** `describe`, unless `missing` names what the suite lacks: then skipped (locally) or failed (CI). */
export function describeUnless(missing: string | undefined, log?: () => string): Describe {
  if (!missing) return describe;
  if (inCi()) {
    const failing = (name: string): void => describe(name, () => it(`cannot run: ${missing}`, cannotRun(missing, log)));
    return Object.assign(failing, { each: () => failing }) as unknown as Describe;
  }
  const skipped = (name: string, fn: () => void): void => describe.skip(`${name} (SKIPPED: ${missing})`, fn);
  return Object.assign(skipped, { each: describe.skip.each }) as unknown as Describe;
}

/** `it`, unless `missing` names what the test lacks: then skipped (locally) or failed (CI). */
export function itUnless(missing: string | undefined, log?: () => string): It {
  if (!missing) return it;
  if (inCi()) return ((name: string) => it(`${name} (cannot run: ${missing})`, cannotRun(missing, log))) as unknown as It;
  return ((name: string, fn: () => Promise<unknown>, timeout?: number) => it.skip(`${name} (SKIPPED: ${missing})`, fn, timeout)) as unknown as It;
}

/**
 * Suites that compare the project's own copies with reference data beside the repository
 * (../shared/<parts>: the upstream CRDs, the guides, Azure REST examples), which a clone from GitHub
 * does not have. Present: the suite runs. Absent: skipped locally, failed in CI, unless the
 * environment declares it absent (AKV_AKS_REFERENCE_DATA=absent, as the GitHub CI workflow does):
 * then one test checks that declaration instead.
 */
export function withReferenceData(...parts: string[]): { dir: string; describe: Describe } {
  const dir = join(root, '..', 'shared', ...parts);
  const shown = join('..', 'shared', ...parts);
  if (!existsSync(dir) && process.env.AKV_AKS_REFERENCE_DATA === 'absent') {
    const declared = (name: string): void => describe(name, () => it(`not run: ${shown} is declared absent (AKV_AKS_REFERENCE_DATA=absent)`, () => expect(existsSync(dir)).toBe(false)));
    return { dir, describe: Object.assign(declared, { each: () => declared }) as unknown as Describe };
  }
  return { dir, describe: describeUnless(existsSync(dir) ? undefined : `reference data ${shown} is not beside the repository`) };
}
