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
    // A worker imports src once for all the files it runs, not once per file: per-file imports
    // were 229 s of a 585 s run on SQLite. What a file leaves in shared state (environment,
    // database clock, spies) is put back by the setup file before the next one.
    isolate: false,
    setupFiles: ['test/setup/per-file.ts'],
  },
});
