import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ first: workers and CLI processes run the built code.
    globalSetup: ['test/global-setup.ts'],
    // The slow suite (multi-GB pipes) runs only through `npm run test:slow`.
    exclude: process.env.BOOTPORT_SLOW ? [] : ['test/slow/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
