/** Moved to `src/simulators/shared/test-cards.ts` (the NICEPAY simulator uses the same rules); kept so older imports still resolve. */
export * from '../shared/test-cards.js';
