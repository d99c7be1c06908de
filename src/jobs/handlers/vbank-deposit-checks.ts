import { claimDepositChecks, runDepositCheck, type DepositCheck } from '../../core/virtual-accounts/deposit-checks.js';
import type { Deps } from '../../core/deps.js';
import { MerchantRoom } from '../merchant-room.js';
import type { JobQueue } from '../runner.js';

/**
 * Issued virtual accounts to ask the PG about, in case their deposit notice never reached Pier
 * (core/virtual-accounts/deposit-checks.ts, decision 0086). Few at a time: each is one inquiry at
 * the merchant's PG, and nothing about them is urgent to the second.
 *
 * At most `perMerchant` of the lane's checks run for one merchant at once (default half the lane,
 * so 1 of 2; MerchantRoom): a merchant whose PG holds each inquiry until the read timeout would
 * otherwise take both slots, and every other merchant's checks would wait behind all of its checks
 * due earlier, one read timeout per two of them (decision 0093).
 */
export function vbankDepositCheckQueue(deps: Deps, o: { batchSize?: number; concurrency?: number; perMerchant?: number } = {}): JobQueue<DepositCheck> {
  const concurrency = o.concurrency ?? 2;
  const room = new MerchantRoom(o.perMerchant ?? Math.max(1, Math.floor(concurrency / 2)));
  return {
    name: 'vbank-deposit-checks',
    batchSize: o.batchSize ?? 20,
    concurrency,
    async claim(_owner, limit) {
      const take = room.forClaim(limit);
      const checks = await claimDepositChecks(deps, take.limit, take.leftOut);
      for (const c of checks) room.took(c.merchantId);
      return checks;
    },
    async run(job) {
      try {
        await runDepositCheck(deps, job);
      } finally {
        room.ended(job.merchantId);
      }
    },
  };
}
