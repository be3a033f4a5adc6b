import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/design-defaults.ts'],
    // The review command's bundle, built from the current sources before any suite runs it.
    globalSetup: ['test/support/build-review.ts'],
    // Two files at a time. Vitest's default is one fewer than the CPUs: one on a 2-core machine, where
    // the slow suites then run one after another although they mostly wait on child processes
    // (serverless-offline, serverless package, npm pack) rather than use the CPU.
    maxWorkers: 2,
    testTimeout: 20_000,
    // Handlers log one JSON line per review; show it only for failing tests.
    silent: 'passed-only',
  },
});
