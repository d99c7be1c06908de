import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['node_modules/**'],
    // generous: CLI tests run child processes and browser tests drive chromium on a 2-core machine
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Each file gets its own fresh database; files run in parallel workers.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2 } },
  },
});
