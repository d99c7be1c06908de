import type { Deps } from '../../core/deps.js';
import { claimDueSchedules, DEFAULT_SCHEDULE_POLICY, runClaimedSchedule, type ScheduleRow, type ScheduleRunPolicy } from '../../core/schedules/run.js';
import { unixSeconds } from '../../lib/clock.js';
import type { JobQueue } from '../runner.js';

/**
 * Scheduled payments as a job queue: due schedules are claimed (leased) and charged at
 * schedule_at, on the deps clock (the sandbox clock in sandbox mode, so advancing it runs them).
 */
export function scheduleQueue(
  deps: Deps,
  o: { policy?: Partial<ScheduleRunPolicy>; batchSize?: number; concurrency?: number; refillAt?: number } = {},
): JobQueue<ScheduleRow> {
  const policy: ScheduleRunPolicy = { ...DEFAULT_SCHEDULE_POLICY, ...o.policy };
  return {
    name: 'schedules',
    batchSize: o.batchSize ?? 50,
    concurrency: o.concurrency ?? 16,
    // claims of half the lane: a claim costs about the same for 1 row or 8 (docs/performance.md)
    refillAt: o.refillAt ?? 8,
    claim: (owner, limit) => claimDueSchedules(deps.store, { now: unixSeconds(deps.clock), owner, leaseSeconds: policy.leaseSeconds, limit }),
    async run(s, owner) {
      const { outcome, impUid } = await runClaimedSchedule(deps, s, owner, policy, { retryTechnical: true });
      deps.logger.info({ merchant_uid: s.merchant_uid, imp_uid: impUid, outcome }, 'scheduled payment run');
    },
  };
}
