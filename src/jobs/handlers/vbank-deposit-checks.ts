import { claimDepositChecks, runDepositCheck, type DepositCheck } from '../../core/virtual-accounts/deposit-checks.js';
import type { Deps } from '../../core/deps.js';
import type { JobQueue } from '../runner.js';

/**
 * Issued virtual accounts to ask the PG about, in case their deposit notice never reached Pier
 * (core/virtual-accounts/deposit-checks.ts, decision 0086). Few at a time: each is one inquiry at
 * the merchant's PG, and nothing about them is urgent to the second.
 *
 * At most `perMerchant` of the lane's checks run for one merchant at once (default half the lane,
 * so 1 of 2): a merchant whose PG holds each inquiry until the read timeout would otherwise take
 * both slots, and every other merchant's checks would wait behind all of its checks due earlier,
 * one read timeout per two of them. A claim leaves out merchants at their cap and takes no more
 * rows than the fullest other merchant has room for, as the schedules lane does (decisions 0051, 0093).
 */
export function vbankDepositCheckQueue(deps: Deps, o: { batchSize?: number; concurrency?: number; perMerchant?: number } = {}): JobQueue<DepositCheck> {
  const concurrency = o.concurrency ?? 2;
  const cap = o.perMerchant ?? Math.max(1, Math.floor(concurrency / 2));
  const running = new Map<string, number>();
  return {
    name: 'vbank-deposit-checks',
    batchSize: o.batchSize ?? 20,
    concurrency,
    async claim(_owner, limit) {
      const atCap = [...running].filter(([, n]) => n >= cap).map(([merchantId]) => merchantId);
      // a claim's rows may all be one merchant's: no more than the room the fullest one has left
      const room = Math.min(limit, cap, ...[...running.values()].filter((n) => n < cap).map((n) => cap - n));
      const checks = await claimDepositChecks(deps, room, atCap);
      for (const c of checks) running.set(c.merchantId, (running.get(c.merchantId) ?? 0) + 1);
      return checks;
    },
    async run(job) {
      try {
        await runDepositCheck(deps, job);
      } finally {
        const n = (running.get(job.merchantId) ?? 1) - 1;
        if (n <= 0) running.delete(job.merchantId);
        else running.set(job.merchantId, n);
      }
    },
  };
}
