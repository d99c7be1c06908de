/** Moved to `src/simulators/shared/banks.ts` (the NICEPAY simulator uses the same table); kept so older imports still resolve. */
export * from '../shared/banks.js';
