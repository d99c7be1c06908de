import { claimWindowConfirms, DEFAULT_CONFIRM_RETRY, type ClaimedWindowConfirm, type ConfirmRetryPolicy } from '../../core/checkout/window-confirms.js';
import { runWindowConfirm } from '../../core/checkout/window-confirm-job.js';
import type { Deps } from '../../core/deps.js';
import { MerchantRoom } from '../merchant-room.js';
import type { JobQueue } from '../runner.js';

/**
 * Window results to acknowledge to the PG (tPay resultConfirm) as a job queue: rows written before
 * each approval is recorded, retried with backoff, settled by inquiry (core/checkout/window-confirm-job.ts).
 *
 * At most `perMerchant` of the lane's rows run for one merchant at once (default half the lane, so
 * 2 of 5; MerchantRoom): a merchant whose PG holds every call until the read timeout (its MID down
 * at the PG, a channel base URL that never answers), with many rows due (the rechecks of thousands
 * of abandoned windows), would otherwise take every slot, and another merchant's approval would
 * wait unacknowledged behind all of its rows due earlier, while the PG's net-cancel clock runs
 * (decision 0107). A row whose channel is gone is not counted: it ends without a PG call.
 */
export function windowConfirmQueue(
  deps: Deps,
  o: { retry?: ConfirmRetryPolicy; batchSize?: number; concurrency?: number; perMerchant?: number } = {},
): JobQueue<ClaimedWindowConfirm> {
  const concurrency = o.concurrency ?? 5;
  const room = new MerchantRoom(o.perMerchant ?? Math.max(1, Math.floor(concurrency / 2)));
  return {
    name: 'window-confirms',
    batchSize: o.batchSize ?? 50,
    concurrency,
    async claim(owner, limit) {
      const take = room.forClaim(limit);
      const rows = await claimWindowConfirms(deps, { owner, limit: take.limit, skipMerchants: take.leftOut });
      for (const r of rows) if (r.merchantId !== null) room.took(r.merchantId);
      return rows;
    },
    async run(job, owner) {
      try {
        await runWindowConfirm(deps, job, owner, o.retry ?? DEFAULT_CONFIRM_RETRY);
      } finally {
        if (job.merchantId !== null) room.ended(job.merchantId);
      }
    },
  };
}
