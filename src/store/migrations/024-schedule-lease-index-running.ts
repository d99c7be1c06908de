import { sql, type Kysely } from 'kysely';

/**
 * `payment_schedules_lease (state, lease_until)` becomes partial, `WHERE state = 'running'`: it
 * serves the claim's walk of leases that ran out (`state = 'running' AND lease_until <= now`),
 * which is all it was made for (decision 0077).
 *
 * As a full index it also matched every walk of waiting schedules (`state = 'scheduled'`): the
 * claim's own walk of due schedules, and the first look and the per-merchant walks of a claim that
 * leaves merchants out (decision 0076). Its entries of waiting schedules all have lease_until 0,
 * so B-tree deduplication makes it a few pages, and PostgreSQL without statistics of the table
 * (a table autovacuum has not analysed yet: a fresh install, a month's first burst of schedules)
 * estimated one waiting row and chose it: a walk of every waiting schedule, due or not, sorted to
 * take the oldest few. A connection keeps such a generic plan until the table is analysed.
 * Partial, it cannot match a walk of waiting schedules, which then take `payment_schedules_due`
 * and `payment_schedules_merchant_due` in order and stop at their LIMIT, whatever the statistics
 * say (the technique of decision 0031, migration 016). The lease walk writes its predicate as a
 * literal (run.ts dueConditions): a partial index serves only a statement whose WHERE states it.
 *
 * The columns stay as they were (state first), so the walk's plan reads as before. Rebuilding the
 * index holds writes to `payment_schedules` while it runs (a second or so per million schedules).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('payment_schedules_lease').ifExists().execute();
  await sql`create index payment_schedules_lease on payment_schedules (state, lease_until) where state = 'running'`.execute(db);
}
