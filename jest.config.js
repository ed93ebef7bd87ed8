// Jest runs the TypeScript sources as ESM (the project and its newest deps are ESM-only).
// Type checking is tsc's job (npm run typecheck); ts-jest only transpiles, which keeps runs fast.
const tsTransform = {
  '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
};
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: tsTransform,
  // ts-jest rewrites the sources' `.ts` import suffixes to `.js`; map them back to the files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Sandbox state (etcd's .snap files would read as obsolete jest snapshots) and build caches.
  modulePathIgnorePatterns: ['<rootDir>/.sandbox/', '<rootDir>/.cache/', '<rootDir>/dist/'],
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      // Azure-like propagation delays on for every e2e file (test/sandbox/azure/propagation.ts).
      setupFilesAfterEnv: ['<rootDir>/test/e2e/azure-propagation.setup.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
};
