import { sql, type Kysely } from 'kysely';

/**
 * Background reads whose cost is what they return, not the backlog (decision 0076):
 * - `payments_reconcile_merchant (merchant_id, next_check_at, imp_uid)`, partial on the attempts
 *   reconciliation settles: its fair read walks each merchant's oldest due attempts, where it
 *   numbered every due attempt of every merchant (0.1-1 s at 100,000 in doubt). Partial, so the
 *   payments that are not in doubt (nearly all) cost no write here.
 * - `payment_cancels.merchant_id`, the refund's payment's merchant, and
 *   `payment_cancels_reconcile_merchant (merchant_id, next_check_at, cancellation_id)`, partial on
 *   the refunds reconciliation settles, for the same walk of refunds (their merchant was only on
 *   the payment, so the read joined and numbered every due refund). Written by every refund from
 *   now on; the open refunds get it here, and those a process of the previous version writes
 *   during an upgrade get it from the reconciliation pass (reconcile.ts dueRefunds), which finds
 *   them in `payment_cancels_without_merchant`, empty but then (PostgreSQL read the whole table to
 *   learn that none was left). Refunds already ended keep it null: nothing reads it of them.
 * - `payment_schedules_merchant_due (merchant_id, due_at)`, partial on waiting schedules: a claim
 *   that leaves a merchant out walks each other merchant's oldest due schedules, where the
 *   `due_at` walk read past every due schedule of the merchant left out.
 * The predicates are literals, as the statements that use them write them (a partial index serves
 * only a statement whose WHERE states its predicate; SQLite does not match a bound parameter).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await sql`create index if not exists payments_reconcile_merchant on payments (merchant_id, next_check_at, imp_uid) where pg_state in ('calling', 'in_doubt')`.execute(db);
  await db.schema.alterTable('payment_cancels').addColumn('merchant_id', 'varchar(40)').execute();
  await sql`update payment_cancels set merchant_id = (select p.merchant_id from payments p where p.imp_uid = payment_cancels.imp_uid) where state in ('pending', 'in_doubt')`.execute(db);
  await sql`create index if not exists payment_cancels_reconcile_merchant on payment_cancels (merchant_id, next_check_at, cancellation_id) where state in ('pending', 'in_doubt')`.execute(db);
  await sql`create index if not exists payment_cancels_without_merchant on payment_cancels (id) where merchant_id is null and state in ('pending', 'in_doubt')`.execute(db);
  await sql`create index if not exists payment_schedules_merchant_due on payment_schedules (merchant_id, due_at) where state = 'scheduled'`.execute(db);
}
