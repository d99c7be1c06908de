import type { Kysely } from 'kysely';

/**
 * Two indexes on `payments` that every payment paid for in both of its commits and no query used
 * (issue #14, docs/performance.md "Fewer indexes per payment"):
 * - `payments_pg_state (pg_state)` is the leading column of `payments_reconcile (pg_state,
 *   next_check_at)`, which serves every lookup by pg_state alone as well;
 * - `payments_vbank_due (pay_method, status, vbank_date)` was made for an overdue-account scan that
 *   was never written: an overdue account's lock is released by the merchant_uid unique index
 *   (attempts.ts releaseOverdueVbankLock), and the deposit deadline is checked on the row itself.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.dropIndex('payments_pg_state').ifExists().execute();
  await db.schema.dropIndex('payments_vbank_due').ifExists().execute();
}
