import { sql, type Kysely } from 'kysely';

/**
 * The indexes background work finds its rows by keep only those rows (decision 0088), as
 * migration 027 did for the webhook queue:
 * - `payment_schedules_due (state, due_at)` → `WHERE state = 'scheduled'`: the claim's walk of
 *   waiting schedules, its first look when it leaves merchants out, the `/metrics` gauge;
 * - `payment_schedules_merchant_due (merchant_id, due_at) WHERE state = 'scheduled'` (migration
 *   023) is rebuilt as it was, after `payment_schedules_due` (below);
 * - `payments_reconcile (pg_state, next_check_at)` is dropped, and `payments_in_window (pg_state,
 *   updated_at) WHERE pg_state = 'window'` serves the sweep of abandoned PG windows, the only read
 *   of it that `payments_reconcile_merchant` (migration 023, partial on the attempts calling or in
 *   doubt) does not serve: the `/metrics` gauges and `pier reconcile` read that one now;
 * - `payment_cancels_reconcile (state, next_check_at)` is dropped: `payment_cancels_reconcile_merchant`
 *   (023) holds the same refunds, those open, for the same readers;
 * - `window_confirms_due (state, due_at)` → `WHERE state = 'pending'`: the claim of PG
 *   acknowledgements and the sandbox clock's reset;
 * - `checkout_sessions_unstarted_expiry (imp_uid, expires_at)` → `WHERE imp_uid IS NULL`: the
 *   purge's look for sessions whose buyer never reached the PG window (lookups by imp_uid have
 *   `checkout_sessions_imp_uid`).
 *
 * As full indexes they held an entry for every row ever written (executed schedules, settled
 * payments and refunds, acknowledged results never leave their tables), and a row moved its entry
 * (a delete and an insert) when it was settled: a payment of the `again` path wrote
 * `payments_reconcile` three times, at its insert (`calling`) and at its approval (`done`), and now
 * writes neither index here. Partial, a row enters at its insert and leaves when it is settled.
 *
 * Two partial indexes of the same rows tie: PostgreSQL, before the table's first VACUUM, takes a
 * partial index built on an empty table (a new install's) for empty (its reltuples is 0), and
 * costs two such indexes alike to the last digit for a walk both can serve.
 * `payment_cancels_reconcile`, partial, took reconciliation's per-merchant walk from
 * `payment_cancels_reconcile_merchant` so (and read past other merchants' refunds): dropped, as
 * the per-merchant index serves every read of open refunds. `payment_schedules_due` cannot go (the
 * claim walks all merchants' due schedules in `due_at` order), so the per-merchant index of waiting
 * schedules is made after it (PostgreSQL took the one made last) and keeps the walk of one
 * merchant's due schedules (run.ts dueOfOthers; in `payment_schedules_due` it read past the due
 * schedules of the merchants left out, decision 0076), as since 023.
 * test/schedules/claim-left-out.test.ts checks both walks without statistics; a later migration
 * that rebuilds `payment_schedules_due` must rebuild the other after it. With statistics (after
 * autovacuum's first pass) PostgreSQL costs them apart.
 *
 * Every statement that should take them states the predicate as a literal (a partial index serves
 * only a statement whose WHERE says so; a bound parameter does not in a PostgreSQL generic plan).
 * The other columns stay as they were, the predicate's column first: SQLite, with no statistics,
 * walked `checkout_sessions_imp_uid` and sorted for the purge when the sessions' index was made
 * `(expires_at)` alone (tried). Rebuilding an index holds writes to its table while it runs (a
 * second or so per million rows each); a partial index is built from a read of the whole table but
 * writes only the open rows.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('payment_schedules_due').ifExists().execute();
  await sql`create index payment_schedules_due on payment_schedules (state, due_at) where state = 'scheduled'`.execute(db);
  await db.schema.dropIndex('payment_schedules_merchant_due').ifExists().execute();
  await sql`create index payment_schedules_merchant_due on payment_schedules (merchant_id, due_at) where state = 'scheduled'`.execute(db);
  await db.schema.dropIndex('payments_reconcile').ifExists().execute();
  await sql`create index if not exists payments_in_window on payments (pg_state, updated_at) where pg_state = 'window'`.execute(db);
  await db.schema.dropIndex('payment_cancels_reconcile').ifExists().execute();
  await db.schema.dropIndex('window_confirms_due').ifExists().execute();
  await sql`create index window_confirms_due on window_confirms (state, due_at) where state = 'pending'`.execute(db);
  await db.schema.dropIndex('checkout_sessions_unstarted_expiry').ifExists().execute();
  await sql`create index checkout_sessions_unstarted_expiry on checkout_sessions (imp_uid, expires_at) where imp_uid is null`.execute(db);
}
