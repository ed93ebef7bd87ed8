// V8 sizes the young generation's limit by the machine's memory (128 MiB, two 64 MiB semi-spaces, on
// a 24 GB machine), grows it as soon as one phase keeps most of what it allocates (parsing a large
// manifest) and keeps that size for the rest of the run. Measured at 5,000 secrets x 100 namespaces, that was
// 125 MiB of a 300 MiB peak; the numbers and the trade-off are in docs/performance.md, "Memory".
import { setFlagsFromString } from 'node:v8';

/** The V8 option that stops the young generation from growing past its starting size (2 MiB). */
const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

/**
 * Keeps the young generation at its starting size from now on. Called before the first large
 * allocation; the option is read each time V8 considers growing it, so setting it at run time works
 * (a test spawns Node and checks), unlike the size limits, which are fixed when the heap is set up.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString(YOUNG_GENERATION_FLAG);
}
