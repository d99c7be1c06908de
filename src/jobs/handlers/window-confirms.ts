import { claimWindowConfirms, DEFAULT_CONFIRM_RETRY, type ConfirmRetryPolicy } from '../../core/checkout/window-confirms.js';
import { runWindowConfirm } from '../../core/checkout/window-confirm-job.js';
import type { Deps } from '../../core/deps.js';
import type { WindowConfirmsTable } from '../../store/types.js';
import type { JobQueue } from '../runner.js';

/**
 * Window results to acknowledge to the PG (tPay resultConfirm) as a job queue: rows written before
 * each approval is recorded, retried with backoff, settled by inquiry (core/checkout/window-confirm-job.ts).
 */
export function windowConfirmQueue(deps: Deps, o: { retry?: ConfirmRetryPolicy; batchSize?: number; concurrency?: number } = {}): JobQueue<WindowConfirmsTable> {
  return {
    name: 'window-confirms',
    batchSize: o.batchSize ?? 50,
    concurrency: o.concurrency ?? 5,
    claim: (owner, limit) => claimWindowConfirms(deps, { owner, limit }),
    run: (job, owner) => runWindowConfirm(deps, job, owner, o.retry ?? DEFAULT_CONFIRM_RETRY),
  };
}
