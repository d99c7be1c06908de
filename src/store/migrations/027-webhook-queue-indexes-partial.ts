import { sql, type Kysely } from 'kysely';

/**
 * The webhook queue's two claim indexes keep only the rows a claim looks for (decision 0083):
 * - `webhook_deliveries_due (state, next_attempt_at)` → `WHERE state = 'pending'`: the walk of
 *   deliveries waiting for their next attempt;
 * - `webhook_deliveries_lease (state, lease_until)` → `WHERE state = 'sending'`: the walk of leases
 *   that ran out.
 *
 * As full indexes they held an entry for every delivery ever made (delivered and failed rows are
 * the table's history and never leave it), and each delivery moved its entries in both twice: at
 * its claim (pending → sending) and at its record (sending → delivered), two deletes and two
 * inserts each time. Partial, a delivery enters the first at its creation, moves to the second at
 * its claim and leaves both at its record: the indexes hold the queue, not the history.
 *
 * Every statement that should take them states its predicate as a literal (a partial index serves
 * only a statement whose WHERE says so; a bound `state = $1` does not in a PostgreSQL generic plan): the claim's two walks
 * (webhooks/deliveries.ts claimTerms), the metrics' queue gauges and the sandbox clock's reset.
 * The columns stay as they were (state first), so the walks' plans read as before. Rebuilding the
 * indexes holds writes to `webhook_deliveries` while it runs (a second or so per million rows).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_due').ifExists().execute();
  await sql`create index webhook_deliveries_due on webhook_deliveries (state, next_attempt_at) where state = 'pending'`.execute(db);
  await db.schema.dropIndex('webhook_deliveries_lease').ifExists().execute();
  await sql`create index webhook_deliveries_lease on webhook_deliveries (state, lease_until) where state = 'sending'`.execute(db);
}
