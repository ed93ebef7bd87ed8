// V8 sizes the young generation's limit by the machine's memory (128 MiB, two 64 MiB semi-spaces, on
// a 24 GB machine), grows it as soon as one phase keeps most of what it allocates (parsing a large
// manifest) and keeps that size for the rest of the run. Measured at 5,000 secrets x 100 namespaces, that was
// 125 MiB of a 300 MiB peak; the numbers and the trade-off are in docs/performance.md, "Memory".
import { setFlagsFromString } from 'node:v8';

/** The V8 option that stops the young generation from growing past its starting size (2 MiB). */
const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

/**
 * Manifests from this size on are read with the young generation kept small. Below it the growth is
 * worth its memory: a 500 x 20 no-op (47 KB of YAML) spent about 9 % more time in scavenges
 * without it, for 30 MiB less peak RSS (docs/performance.md, "Memory").
 */
export const LARGE_MANIFEST_CHARS = 128 * 1024;

/** Keeps the young generation small if a manifest of this length is about to be parsed; whether it did. */
export function keepYoungGenerationSmallFor(manifestChars: number): boolean {
  if (manifestChars < LARGE_MANIFEST_CHARS) return false;
  keepYoungGenerationSmall();
  return true;
}

/**
 * Keeps the young generation at its starting size from now on. Called before the first large
 * allocation; the option is read each time V8 considers growing it, so setting it at run time works
 * (a test spawns Node and checks), unlike the size limits, which are fixed when the heap is set up.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString(YOUNG_GENERATION_FLAG);
}
