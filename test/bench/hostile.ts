// CPU time of the hostile-input corpus through the bundle: the timing the unit/e2e hostile suites no
// longer assert (CPU time read next to other busy processes is not a verdict a test can own). Each
// case that stops before the login runs once, one at a time; the row is the largest CPU time.
import { CASES, MAX_CPU_MS, newSecrets, runActionCase, runCliCase } from '../fixtures/manifests/hostile/corpus.ts';
import { fmtMs, verdict } from './format.ts';
import type { Row } from './format.ts';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The largest CPU time of one hostile case through `dist/index.js` and `dist/cli/index.js`. */
export async function hostileCpuRow(progress: (m: string) => void): Promise<Row> {
  const secrets = newSecrets();
  const cases = CASES.filter((c) => !(c.nonRoot === true && isRoot));
  let worst = { name: '', cpuMs: 0 };
  let runs = 0;
  for (const c of cases) {
    const measured = [...(c.action && !c.reachesLogin ? [await runActionCase('dist/index.js', c, secrets)] : []), ...(c.cli ? [await runCliCase('dist/cli/index.js', c, secrets)] : [])];
    for (const m of measured) {
      runs++;
      if (m.cpuMs > worst.cpuMs) worst = { name: c.name, cpuMs: m.cpuMs };
    }
  }
  progress(`hostile input: ${runs} runs, largest CPU time ${fmtMs(worst.cpuMs)} (${worst.name})`);
  return {
    scenario: 'hostile input (bundle)',
    metric: `largest CPU time of one case (${runs} runs)`,
    action: fmtMs(worst.cpuMs),
    baseline: '',
    ratio: '',
    target: `< ${fmtMs(MAX_CPU_MS)}`,
    verdict: verdict(runs > 0 && worst.cpuMs < MAX_CPU_MS),
  };
}
