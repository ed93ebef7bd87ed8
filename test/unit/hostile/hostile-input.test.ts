// Issue 12's hostile-input corpus through the sources of the action's entry (src/main.ts) and of
// the CLI (src/cli/main.ts); test/e2e/bad-input.test.ts runs the same corpus through the bundle.
import { jest } from '@jest/globals';
import { hostileSuite } from '../../fixtures/manifests/hostile/suite.ts';

jest.setTimeout(5 * 60_000);

hostileSuite({ action: 'src/main.ts', cli: 'src/cli/main.ts' });
