import { sql, type Kysely } from 'kysely';
import type { Store } from './db.js';
import type { Database } from './types.js';

/**
 * Runs `work` so that PostgreSQL plans its statements with no sequential and no bitmap scan: in a
 * transaction of its own, under `set_config(…, true)` (SET LOCAL: this transaction only). SQLite
 * runs `work` as it is (its planner does not weigh table sizes it has no statistics of).
 *
 * For statements that read a few rows of a table that may be large, through an index, and whose
 * plan may have been made when the table was nearly empty. A connection keeps its generic plan of
 * a named statement (store/pg-prepared.ts) until autovacuum analyses the tables; one made at
 * install, or before a burst such as a month's first schedules, read whole tables: the schedule
 * claim updated its rows after a scan of every schedule, the webhook batch's events were read by a
 * scan of every event (5 ms a batch with 10,000), and with statistics older than the queue the
 * webhook claim took the oldest pending rows by a bitmap scan that reads and sorts every
 * due row (4.9 ms a claim with 20,000 queued, against ~1.3 ms walking the index in order). Such a
 * statement has nothing to gain from either scan; the round trips this adds cost far less than one.
 */
export function byIndexOnly<T>(store: Store, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (store.dialect !== 'postgres') return work(store.db);
  return store.db.transaction().execute(async (trx) => {
    await sql`SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`.execute(trx);
    return work(trx);
  });
}
