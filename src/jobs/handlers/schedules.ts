import { setTimeout as sleep } from 'node:timers/promises';
import type { Deps } from '../../core/deps.js';
import { claimDueSchedules, runClaimedSchedule, schedulePolicyFor, type ScheduleRow, type ScheduleRunPolicy } from '../../core/schedules/run.js';
import { unixSeconds } from '../../lib/clock.js';
import { MerchantRoom } from '../merchant-room.js';
import type { JobQueue } from '../runner.js';

/**
 * Scheduled payments as a job queue: due schedules are claimed (leased) and charged at
 * schedule_at, on the deps clock (the sandbox clock in sandbox mode, so advancing it runs them).
 *
 * At most `perMerchant` of the lane's rows run for one merchant at once (default half the lane):
 * a merchant whose charges hang at its PG until the read timeout would otherwise take every slot,
 * and another merchant's due schedules would wait behind all of its schedules due earlier. A claim
 * leaves out merchants at their cap and takes no more rows than the fullest other merchant has
 * room for, so no merchant goes past it (MerchantRoom, decision 0051).
 *
 * A merchant's rows are claimed again only once `merchantRefillAt` of its room is free (default
 * half the cap): a claim leaves out the merchants with less room than that, so each claim may take
 * that many rows or more, and the queue wakes its lane when a merchant's room comes back to it.
 * Claiming each time one of a lone merchant's rows finished took its room of one or two rows per
 * claim, and a claim costs about what 8 of its rows do (decision 0070).
 */
export function scheduleQueue(
  deps: Deps,
  o: {
    policy?: Partial<ScheduleRunPolicy>;
    batchSize?: number;
    concurrency?: number;
    refillAt?: number;
    perMerchant?: number;
    merchantRefillAt?: number;
    /** the pause before a run that failed is run again (default RERUN_PAUSE_MS) */
    rerunPauseMs?: number;
  } = {},
): JobQueue<ScheduleRow> {
  // leases and grace from the configured PG timeouts (decision 0056)
  const policy: ScheduleRunPolicy = { ...schedulePolicyFor(deps), ...o.policy };
  const concurrency = o.concurrency ?? 16;
  const cap = o.perMerchant ?? Math.max(1, Math.floor(concurrency / 2));
  const room = new MerchantRoom(cap, o.merchantRefillAt ?? Math.ceil(cap / 2));
  let wakeLane: () => void = () => {};
  return {
    name: 'schedules',
    batchSize: o.batchSize ?? 50,
    concurrency,
    // claims of half the lane: a claim costs about the same for 1 row or 8 (docs/performance.md)
    refillAt: o.refillAt ?? 8,
    wakeWith(wake) {
      wakeLane = wake;
    },
    async claim(owner, limit) {
      // merchants at their cap, or with less room than a batch, wait for their running rows
      const take = room.forClaim(limit);
      const rows = await claimDueSchedules(deps.store, { now: unixSeconds(deps.clock), owner, leaseSeconds: policy.leaseSeconds, limit: take.limit, skipMerchants: take.leftOut });
      for (const s of rows) room.took(s.merchant_id);
      return rows;
    },
    async run(s, owner, signal) {
      try {
        let ran: Awaited<ReturnType<typeof runClaimedSchedule>>;
        try {
          ran = await runClaimedSchedule(deps, s, owner, policy, { retryTechnical: true });
        } catch (err) {
          const again = await stillHeld(deps, s, owner, err, signal, o.rerunPauseMs ?? RERUN_PAUSE_MS);
          if (!again) throw err;
          ran = await runClaimedSchedule(deps, again, owner, policy, { retryTechnical: true });
        }
        deps.logger.info({ merchant_uid: s.merchant_uid, imp_uid: ran.impUid, outcome: ran.outcome }, 'scheduled payment run');
      } finally {
        // the merchant has room for a batch: a claim may take its rows (again). Every such finish
        // wakes, not only the one that reached it: a wake while the lane was claiming is lost
        if (room.ended(s.merchant_id)) wakeLane();
      }
    },
  };
}

/**
 * How long a scheduled run that failed waits before it is run again (once): about the job lanes'
 * idle pause, so a pool whose connections the database has just ended has let them go.
 */
export const RERUN_PAUSE_MS = 1_000;

/**
 * A run that threw (a step and the write that would hand the schedule back both failed: the
 * database ended Pier's sessions, a lock held past its wait) has nothing under way any more: each
 * PG call it made was answered or timed out before it threw. Its row, still leased to `owner`, is
 * then read again and run once more from what the database holds (its attempt's imp_uid judged, or
 * a new attempt), as a worker taking it over after the lease would; left to the lease, the charge
 * waited at least 300 s, longer with long PG timeouts (decision 0128). Null: not run again (the
 * stop began, the lease is gone, or the database still fails).
 */
async function stillHeld(deps: Deps, s: ScheduleRow, owner: string, err: unknown, signal: AbortSignal, pauseMs: number): Promise<ScheduleRow | null> {
  deps.logger.warn({ merchant_uid: s.merchant_uid, err: (err as Error).message }, 'scheduled payment run failed; running it again from its row');
  // the pause ends early (rejects) when the stop begins: then the row is left to its lease
  const paused = await sleep(pauseMs, true, { signal }).catch(() => false);
  if (!paused) return null;
  try {
    const row = await deps.store.db
      .selectFrom('payment_schedules')
      .selectAll()
      .where('id', '=', s.id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return row ?? null;
  } catch {
    return null;
  }
}
