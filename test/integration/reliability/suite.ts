// The lifecycle every reliability suite shares: the private copy of the bundle (or the reason the
// suite skips), the Azure and cluster clients, knobs undone after each scenario and each
// scenario's resources removed after the file.
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Restorer, azureSide, bundleBuilt, kube, makeScenario, type AzureSide, type Kube, type Scenario, type ScenarioOptions } from './helpers.ts';
import { describeUnless } from '../../support/guard.ts';

export interface ReliabilitySuite {
  /** Whether a complete bundle was found (the suite's `d` skips, or fails in CI, without one). */
  built: boolean;
  d: ReturnType<typeof describeUnless>;
  restorer: Restorer;
  cleanups: Array<() => Promise<unknown>>;
  readonly az: AzureSide;
  readonly k: Kube;
  /** A fresh scenario (vault, namespace, identity) removed after the file. */
  scenario(tag: string, o?: ScenarioOptions): Promise<Scenario>;
}

/** Registers the suite's hooks; call once at the top of a reliability test file. */
export async function reliabilitySuite(): Promise<ReliabilitySuite> {
  const built = await bundleBuilt();
  const restorer = new Restorer();
  const cleanups: Array<() => Promise<unknown>> = [];
  let clients: { az: AzureSide; k: Kube } | undefined;
  const ready = (): { az: AzureSide; k: Kube } => {
    if (!clients) throw new Error('the suite has no clients: it runs only when the bundle is built');
    return clients;
  };
  beforeAll(() => {
    if (built) clients = { az: azureSide(), k: kube() };
  });
  afterEach(async () => {
    await restorer.restore();
  });
  afterAll(async () => {
    await restorer.restore();
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return {
    built,
    d: describeUnless(built ? undefined : 'dist/ has no complete bundle: run npm run build'),
    restorer,
    cleanups,
    get az() {
      return ready().az;
    },
    get k() {
      return ready().k;
    },
    scenario: (tag, o) => makeScenario(ready().az, ready().k, tag, cleanups, o),
  };
}
