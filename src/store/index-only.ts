import type { Kysely } from 'kysely';
import type { Store } from './db.js';
import type { Database } from './types.js';

/** The planner settings of the job claims' connections (PostgreSQL). */
export const INDEX_ONLY_SETTINGS = { enable_seqscan: 'off', enable_bitmapscan: 'off' } as const;

/** INDEX_ONLY_SETTINGS as the `options` of a connection's startup (libpq's `-c name=value`). */
export const INDEX_ONLY_OPTIONS = Object.entries(INDEX_ONLY_SETTINGS)
  .map(([name, value]) => `-c ${name}=${value}`)
  .join(' ');

/** Connections of each process for job claims: a claim is one short statement. */
export const INDEX_ONLY_POOL_SIZE = 3;

/**
 * Runs `work` where PostgreSQL plans its statements with no sequential and no bitmap scan: on the
 * store's `indexOnlyDb`, connections that start with INDEX_ONLY_SETTINGS. SQLite runs `work` on
 * the store as it is (its planner does not weigh table sizes it has no statistics of).
 *
 * For the job claims: statements that read a few rows of a table that may be large, through an
 * index, and whose plan may have been made when the table was nearly empty. A connection keeps its
 * generic plan of a named statement (store/pg-prepared.ts) until autovacuum analyses the tables;
 * one made at install, or before a burst such as a month's first schedules, read whole tables: the
 * schedule claim updated its rows after a scan of every schedule, and with statistics older than
 * the queue the webhook claim took the oldest pending rows by a bitmap scan that reads and sorts
 * every due row (4.9 ms a claim with 20,000 queued, against ~1.3 ms walking the index in order).
 * Such a statement has nothing to gain from either scan. Settings given at connection start cost
 * no round trip; a transaction with SET LOCAL cost two per claim.
 */
export function byIndexOnly<T>(store: Store, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return work(store.indexOnlyDb ?? store.db);
}
