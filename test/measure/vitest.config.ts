import { defineConfig } from 'vitest/config';

/** Measurements run by hand, not by the suite (decision 0076): `npx vitest run --config test/measure/vitest.config.ts`. */
export default defineConfig({ test: { include: ['test/measure/**/*.measure.ts'], testTimeout: 1_200_000, hookTimeout: 1_200_000, pool: 'forks' } });
