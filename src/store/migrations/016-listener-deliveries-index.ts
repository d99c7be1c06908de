import { sql, type Kysely } from 'kysely';

/**
 * `webhook_deliveries_listener (listener_id, state)` becomes partial, `WHERE listener_id IS NOT
 * NULL`: it serves `pier listen` sessions (`listener_id = ?`), which is all it was made for.
 *
 * As a full index it also matched the webhook worker's claim (`listener_id IS NULL AND state =
 * 'pending'`), and PostgreSQL chose it whenever its statistics were older than the queue — a burst
 * of due schedules or payments fills an empty table faster than autovacuum analyses it. That plan
 * reads every pending delivery (and every dead version of one) and sorts them to take the oldest
 * few: a claim of 32 rows with 5,000 queued took 8 ms, 2.7 ms on average over a 10,000-schedule
 * run. Partial, it cannot match a claim of URL deliveries, which then walks
 * `webhook_deliveries_due (state, next_attempt_at)` in order and stops at its LIMIT, whatever the
 * statistics say (docs/performance.md, "Eighth round").
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_listener').ifExists().execute();
  await db.schema
    .createIndex('webhook_deliveries_listener')
    .on('webhook_deliveries')
    .columns(['listener_id', 'state'])
    .where(sql.ref('listener_id'), 'is not', null)
    .execute();
}
