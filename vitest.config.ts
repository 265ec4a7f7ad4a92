import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds the dashboard (dist/web) for the browser tests when it is missing or stale.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end tests start real servers; two cores, so keep the pool small.
    maxWorkers: 2,
  },
});
