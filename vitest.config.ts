import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/design-defaults.ts'],
    // The review command's bundle, built from the current sources before any suite runs it.
    globalSetup: ['test/support/build-review.ts'],
    testTimeout: 20_000,
    // Handlers log one JSON line per review; show it only for failing tests.
    silent: 'passed-only',
  },
});
