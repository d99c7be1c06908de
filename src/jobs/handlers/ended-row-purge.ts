import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { consoleNow, SESSION_IDLE_SECONDS } from '../../core/console/sessions.js';
import type { Deps } from '../../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../../lib/clock.js';
import type { Database } from '../../store/types.js';
import type { JobQueue } from '../runner.js';

/**
 * The longest window a rate-limit rule may have (`*.windowSeconds`, at most a day: decision 0050).
 * A bucket whose window began longer ago than this counts nothing any more: the next attempt in it
 * starts a new window at 1 whatever the row holds.
 */
export const RATE_LIMIT_BUCKET_RETENTION_SECONDS = 86_400;

/**
 * How long after its expiry an access token's row is kept (1 hour): a margin for clocks of several
 * Pier processes that disagree by a little. An expired token is refused the same way as an unknown
 * one (401 `Unauthorized`), so nothing answers differently once the row is gone.
 */
export const ACCESS_TOKEN_RETENTION_SECONDS = 3600;

/** The tables this queue keeps at their live rows (decision 0067). */
export type EndedRowTable = 'console_sessions' | 'rate_limit_buckets' | 'access_tokens';

/** One job: keys of one table's ended rows, deleted in one statement that checks again that they ended. */
export interface EndedRows {
  table: EndedRowTable;
  keys: string[];
}

export interface EndedRowPurgeOptions {
  /** rows deleted per job (one statement), per table; default 200 */
  batchSize?: number;
  /** after a pass that found less than a full batch in a table, wait this long before looking in it again (default 60 s) */
  idleIntervalMs?: number;
  /** the clock of that wait: the real time (default), not the sandbox clock */
  intervalClock?: Clock;
}

/**
 * The real time in UNIX seconds, without the sandbox clock's offset. The sandbox clock only runs
 * ahead of the real time (its offset is never negative), so a row that ended by the real time has
 * ended by any sandbox time, past or future: an access token the sandbox clock issued a month ahead
 * stays until the real time passes its expiry, and is never deleted while a reset clock still
 * takes it.
 */
const realNow = consoleNow;

type Eb = ExpressionBuilder<Database, any>;

interface Condition {
  column: string;
  op: '<' | '<=' | '>';
  value: number;
}

const condition = (c: Condition) => sql<SqlBool>`${sql.ref(c.column)} ${sql.raw(c.op)} ${c.value}`;

interface TableRule {
  table: EndedRowTable;
  key: string;
  /** the ended rows, each condition a range on one indexed column (walked one by one by the claim) */
  ended(deps: Deps): Condition[];
}

/**
 * - console_sessions: ended at `expires_at` (12 h after sign-in) or after 2 h without a request
 *   (`last_seen_at`), on the console's clock (the real time, src/core/console/sessions.ts). A
 *   browser that never comes back, a cookie a newer scheme never reads (decision 0064), a session
 *   the browser's own cookie expiry forgot: nothing else ever deletes those rows.
 * - rate_limit_buckets: a window that began more than a day before Pier's clock (the clock the
 *   counting uses, the sandbox clock in sandbox mode), or more than a day after it (written while
 *   the sandbox clock ran ahead, then reset): either way the next attempt starts a new window.
 * - access_tokens: expired by the real time an hour ago.
 */
const RULES: TableRule[] = [
  {
    table: 'console_sessions',
    key: 'id_hash',
    ended: (deps) => {
      const now = consoleNow(deps);
      return [
        { column: 'expires_at', op: '<=', value: now },
        { column: 'last_seen_at', op: '<=', value: now - SESSION_IDLE_SECONDS },
      ];
    },
  },
  {
    table: 'rate_limit_buckets',
    key: 'bucket',
    ended: (deps) => {
      const now = unixSeconds(deps.clock);
      return [
        { column: 'window_start', op: '<', value: now - RATE_LIMIT_BUCKET_RETENTION_SECONDS },
        { column: 'window_start', op: '>', value: now + RATE_LIMIT_BUCKET_RETENTION_SECONDS },
      ];
    },
  },
  {
    table: 'access_tokens',
    key: 'id',
    ended: (deps) => [{ column: 'expires_at', op: '<', value: realNow(deps) - ACCESS_TOKEN_RETENTION_SECONDS }],
  },
];

/**
 * Deletes the rows that end by time and that nothing else deletes (decision 0067): console
 * sessions, sign-in rate-limit buckets, access tokens. They grow with sign-ins, attempts and
 * getToken calls, not with money, and a dead one answers as a missing one does.
 *
 * Bounded like the checkout-session purge: one job per table and pass, of at most `batchSize`
 * keys, found by a range on an indexed column (migration 021) and deleted in one statement that
 * checks the condition again, so several processes may claim the same keys without harm (a delete
 * is idempotent) and a row that came back to life meanwhile (a session touched) is kept. A table
 * whose pass found less than a full batch rests `idleIntervalMs` before it is looked at again; a
 * table with a backlog is looked at again at once, and never holds up another table's batch.
 */
export function endedRowPurgeQueue(deps: Deps, o: EndedRowPurgeOptions = {}): JobQueue<EndedRows> {
  const idleMs = o.idleIntervalMs ?? 60_000;
  const intervalClock = o.intervalClock ?? systemClock;
  const nextLookAt = new Map<EndedRowTable, number>();
  const rules = new Map(RULES.map((r) => [r.table, r]));
  const rowsPerJob = o.batchSize ?? 200;
  let turn = 0;

  const endedWhere = (rule: TableRule) => (eb: Eb): Expression<SqlBool> => eb.or(rule.ended(deps).map(condition));

  return {
    name: 'ended-row-purge',
    // jobs per claim: one per table, so a pass of runOnce() looks at every table once
    batchSize: RULES.length,
    concurrency: 1,
    async claim(_owner, limit) {
      const { db } = deps.store;
      const jobs: EndedRows[] = [];
      // the tables take turns: a claim for one job (the lane's one free slot) looks at the next
      // table, so a backlog in one never keeps the others from being looked at
      for (let looked = 0; looked < RULES.length && jobs.length < limit; looked++) {
        const rule = RULES[turn];
        turn = (turn + 1) % RULES.length;
        if (intervalClock.now() < (nextLookAt.get(rule.table) ?? 0)) continue;
        const keys = new Set<string>();
        let more = false;
        // one range scan per condition (an OR would make SQLite read the whole table)
        for (const c of rule.ended(deps)) {
          const want = rowsPerJob - keys.size;
          if (want <= 0) {
            more = true;
            break;
          }
          const rows = await db
            .selectFrom(rule.table)
            .select(sql<string>`${sql.ref(rule.key)}`.as('k'))
            .where(condition(c))
            .orderBy(sql.ref(c.column))
            .limit(want)
            .execute();
          if (rows.length === want) more = true;
          for (const r of rows) keys.add(String(r.k));
        }
        // a scan that filled its share means there may be more: look again at once; otherwise rest
        if (!more) nextLookAt.set(rule.table, intervalClock.now() + idleMs);
        if (keys.size > 0) jobs.push({ table: rule.table, keys: [...keys] });
      }
      return jobs;
    },
    async run(job) {
      const rule = rules.get(job.table);
      if (!rule) return;
      const res = await deps.store.db
        .deleteFrom(rule.table)
        .where(sql<SqlBool>`${sql.ref(rule.key)} in (${sql.join(job.keys)})`)
        .where(endedWhere(rule))
        .executeTakeFirst();
      deps.logger.debug({ table: rule.table, purged: Number(res.numDeletedRows), claimed: job.keys.length }, 'ended rows purged');
    },
  };
}
