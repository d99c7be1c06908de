import { afterAll, vi } from 'vitest';
import { resetDbClockForTests } from '../../src/store/db-clock.js';

/**
 * Runs before each test file. The suite runs files without module isolation (vitest.config.ts:
 * each worker imports src once, not once per file, which took a third of the suite's time), so
 * what one file leaves in the process's shared state is put back here before the next file runs
 * in the same worker: the environment, the database clock a TestClock moved, and spies.
 */
const envAtStart = { ...process.env };
resetDbClockForTests();

afterAll(() => {
  for (const k of Object.keys(process.env)) if (!(k in envAtStart)) delete process.env[k];
  Object.assign(process.env, envAtStart);
  resetDbClockForTests();
  vi.restoreAllMocks();
});
