import { sql, type Kysely } from 'kysely';

/**
 * The indexes background work finds its rows by keep only those rows (decision 0088), as
 * migration 027 did for the webhook queue:
 * - `payment_schedules_due (state, due_at)` → `WHERE state = 'scheduled'`: the claim's walk of
 *   waiting schedules, its first look when it leaves merchants out, the `/metrics` gauge;
 * - `payments_reconcile (pg_state, next_check_at)` → `WHERE pg_state <> 'done'`: the attempts not
 *   settled (in a PG window, calling, in doubt), which the sweep of abandoned windows, the
 *   `/metrics` gauges and `pier reconcile` look for;
 * - `payment_cancels_reconcile (state, next_check_at)` → `WHERE state IN ('pending', 'in_doubt')`:
 *   the open refunds, for the `/metrics` gauges and `pier reconcile`;
 * - `window_confirms_due (state, due_at)` → `WHERE state = 'pending'`: the claim of PG
 *   acknowledgements and the sandbox clock's reset;
 * - `checkout_sessions_unstarted_expiry (imp_uid, expires_at)` → `WHERE imp_uid IS NULL`: the
 *   purge's look for sessions whose buyer never reached the PG window (lookups by imp_uid have
 *   `checkout_sessions_imp_uid`).
 *
 * As full indexes they held an entry for every row ever written (executed schedules, settled
 * payments and refunds, acknowledged results never leave their tables), and every settled row
 * moved its entry (a delete and an insert): a payment of the `again` path wrote
 * `payments_reconcile` three times, at its insert (`calling`) and at its approval (`done`).
 * Partial, a row enters at its insert and leaves when it is settled: the indexes hold what is
 * waiting, not the history.
 *
 * Every statement that should take them states the predicate as a literal (a partial index serves
 * only a statement whose WHERE says so; a bound parameter does not in a PostgreSQL generic plan,
 * and SQLite matches the index's own expression, so `pg_state = 'window'` is written with
 * `pg_state <> 'done'`). The columns stay as they were, the predicate's column first: SQLite, with
 * no statistics, walked `checkout_sessions_imp_uid` and sorted for the purge when the sessions'
 * index was `(expires_at)` alone, and the walks' plans read as before. Rebuilding the indexes holds
 * writes to their tables while it runs (a second or so per million rows each); a partial index is
 * built from a read of the whole table but writes only the open rows.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('payment_schedules_due').ifExists().execute();
  await sql`create index payment_schedules_due on payment_schedules (state, due_at) where state = 'scheduled'`.execute(db);
  await db.schema.dropIndex('payments_reconcile').ifExists().execute();
  await sql`create index payments_reconcile on payments (pg_state, next_check_at) where pg_state <> 'done'`.execute(db);
  await db.schema.dropIndex('payment_cancels_reconcile').ifExists().execute();
  await sql`create index payment_cancels_reconcile on payment_cancels (state, next_check_at) where state in ('pending', 'in_doubt')`.execute(db);
  await db.schema.dropIndex('window_confirms_due').ifExists().execute();
  await sql`create index window_confirms_due on window_confirms (state, due_at) where state = 'pending'`.execute(db);
  await db.schema.dropIndex('checkout_sessions_unstarted_expiry').ifExists().execute();
  await sql`create index checkout_sessions_unstarted_expiry on checkout_sessions (imp_uid, expires_at) where imp_uid is null`.execute(db);
}
