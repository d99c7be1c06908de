import { claimDepositChecks, runDepositCheck, type DepositCheck } from '../../core/virtual-accounts/deposit-checks.js';
import type { Deps } from '../../core/deps.js';
import type { JobQueue } from '../runner.js';

/**
 * Issued virtual accounts to ask the PG about, in case their deposit notice never reached Pier
 * (core/virtual-accounts/deposit-checks.ts, decision 0086). Few at a time: each is one inquiry at
 * the merchant's PG, and nothing about them is urgent to the second.
 */
export function vbankDepositCheckQueue(deps: Deps, o: { batchSize?: number; concurrency?: number } = {}): JobQueue<DepositCheck> {
  return {
    name: 'vbank-deposit-checks',
    batchSize: o.batchSize ?? 20,
    concurrency: o.concurrency ?? 2,
    claim: (_owner, limit) => claimDepositChecks(deps, limit),
    run: (job) => runDepositCheck(deps, job),
  };
}
