import { sql } from 'kysely';
import type { Deps } from '../../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../../lib/clock.js';
import type { JobQueue } from '../runner.js';

/**
 * How long after its expiry a checkout session whose buyer reached the PG window is kept (7 days).
 * The PG's result for it may arrive late (a browser that slept, Back/Forward, a PG retry) and is
 * matched through the session; tPay's window lives 30 minutes, so a week is many times any real delay.
 */
export const STARTED_SESSION_RETENTION_SECONDS = 7 * 24 * 3600;

/**
 * How long after its expiry a session that never reached the PG window is kept (1 hour). Nothing
 * can come back for it (no attempt, no PG transaction); the hour only lets a slow browser still be
 * shown its result page.
 */
export const UNSTARTED_SESSION_RETENTION_SECONDS = 3600;

export interface CheckoutSessionPurgeOptions {
  startedRetentionSeconds?: number;
  unstartedRetentionSeconds?: number;
  /** sessions deleted per job (one statement); default 200 */
  batchSize?: number;
  /** after a pass that found less than a full batch, wait this long before looking again (default 60 s) */
  idleIntervalMs?: number;
  /** the clock of that wait: the real time (default), not the sandbox clock */
  intervalClock?: Clock;
}

/**
 * Deletes checkout sessions after they end (issue #9 item 7): they are created anonymously, so they
 * must not pile up. A session is deleted once it is past its expiry by the retention and, if the buyer
 * reached the PG window, its payment is settled (`pg_state` `done`: paid, failed, refunded or a
 * virtual account issued). A session whose payment is still open (`window`, `calling`, `in_doubt`,
 * or any state added later) is kept, however old, so a late PG result can always be matched.
 *
 * One job is a batch of up to `batchSize` session ids, deleted in one statement that checks the
 * conditions again, so several processes may claim the same batch without harm (a delete is
 * idempotent). The batch is the job's own, not the runner's claim size: the running server's lane
 * has one slot and asks for one job at a time, which before was one session, two SELECTs and a
 * DELETE per ended session (the 200-session batch happened only in runOnce). Bounded: one batch
 * per job, and an idle pause between looks once the backlog is gone.
 */
export function checkoutSessionPurgeQueue(deps: Deps, o: CheckoutSessionPurgeOptions = {}): JobQueue<string[]> {
  const startedRetention = o.startedRetentionSeconds ?? STARTED_SESSION_RETENTION_SECONDS;
  const unstartedRetention = o.unstartedRetentionSeconds ?? UNSTARTED_SESSION_RETENTION_SECONDS;
  const idleMs = o.idleIntervalMs ?? 60_000;
  const intervalClock = o.intervalClock ?? systemClock;
  const sessionsPerJob = o.batchSize ?? 200;
  let nextLookAt = 0;

  const cutoffs = () => {
    const now = unixSeconds(deps.clock);
    return { unstarted: now - unstartedRetention, started: now - startedRetention };
  };

  return {
    name: 'checkout-session-purge',
    // jobs per claim: one batch of sessions, whatever the lane asks for (runOnce asks batchSize)
    batchSize: 1,
    concurrency: 1,
    async claim(_owner, jobs) {
      if (jobs < 1 || intervalClock.now() < nextLookAt) return [];
      const limit = sessionsPerJob;
      const { db } = deps.store;
      const c = cutoffs();
      const unstarted = await db
        .selectFrom('checkout_sessions')
        .select('id')
        .where('imp_uid', 'is', null)
        .where('expires_at', '<', c.unstarted)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      const started =
        unstarted.length < limit
          ? await db
              .selectFrom('checkout_sessions as s')
              .select('s.id')
              .where('s.expires_at', '<', c.started)
              // EXISTS, not a join: SQLite (no statistics) drove a join from payments through its
              // pg_state index, i.e. read every settled payment of the installation, synchronously
              // on the event loop, each minute (60,000 payments: 40-100 ms). This walks the ended
              // sessions by expiry and looks each one's payment up by imp_uid (decision 0022).
              .where((eb) =>
                eb.exists(
                  eb
                    .selectFrom('payments as p')
                    .select(sql<number>`1`.as('one'))
                    .whereRef('p.imp_uid', '=', 's.imp_uid')
                    .where('p.pg_state', '=', 'done'),
                ),
              )
              .orderBy('s.expires_at')
              .limit(limit - unstarted.length)
              .execute()
          : [];
      const ids = [...unstarted, ...started].map((r) => r.id);
      // a full batch means there may be more: look again at once; otherwise rest
      if (ids.length < limit) nextLookAt = intervalClock.now() + idleMs;
      return ids.length > 0 ? [ids] : [];
    },
    async run(ids) {
      const c = cutoffs();
      const res = await deps.store.db
        .deleteFrom('checkout_sessions as s')
        .where('s.id', 'in', ids)
        .where((eb) =>
          eb.or([
            eb.and([eb('s.imp_uid', 'is', null), eb('s.expires_at', '<', c.unstarted)]),
            eb.and([
              eb('s.expires_at', '<', c.started),
              eb.exists(
                eb
                  .selectFrom('payments as p')
                  .select(sql<number>`1`.as('one'))
                  .whereRef('p.imp_uid', '=', 's.imp_uid')
                  .where('p.pg_state', '=', 'done'),
              ),
            ]),
          ]),
        )
        .executeTakeFirst();
      deps.logger.debug({ purged: Number(res.numDeletedRows), claimed: ids.length }, 'ended checkout sessions purged');
    },
  };
}
