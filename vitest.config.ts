import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file gets its own fresh database; files run in parallel workers.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2 } },
  },
});
