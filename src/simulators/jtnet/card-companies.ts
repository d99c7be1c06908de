/** Moved to `src/simulators/shared/card-companies.ts` (the NICEPAY simulator uses the same table); kept so older imports still resolve. */
export * from '../shared/card-companies.js';
