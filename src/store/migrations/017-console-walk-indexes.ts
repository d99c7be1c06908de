import type { Kysely } from 'kysely';

/**
 * The indexes the console walks a merchant's rows by, newest first, a window at a time
 * (store/walk.ts, decision 0034):
 * - `payments_merchant_started (merchant_id, started_at, imp_uid)`: the payment list, its CSV export
 *   and the dashboard's sums. Without it, a merchant with 200,000 payments cost 300-500 ms per
 *   console page and 2.1-2.4 s per export in one statement; on SQLite that is the event loop every
 *   merchant's payments wait on. Its columns never change after the insert, so a payment pays for
 *   it once, in its first commit.
 * - `billing_keys_merchant_updated (merchant_id, updated, customer_uid)`: the billing-key list
 *   (42-50 ms per page with 100,000 keys before, each of them a block of SQLite's event loop).
 * - `webhook_deliveries_merchant_created (merchant_id, created_at, id)` in place of
 *   `webhook_deliveries_merchant (merchant_id, created_at)`: the delivery log (115-125 ms per page
 *   with 200,000 deliveries before). The same number of index entries per delivery.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.createIndex('payments_merchant_started').ifNotExists().on('payments').columns(['merchant_id', 'started_at', 'imp_uid']).execute();
  await db.schema.createIndex('billing_keys_merchant_updated').ifNotExists().on('billing_keys').columns(['merchant_id', 'updated', 'customer_uid']).execute();
  await db.schema.createIndex('webhook_deliveries_merchant_created').ifNotExists().on('webhook_deliveries').columns(['merchant_id', 'created_at', 'id']).execute();
  await db.schema.dropIndex('webhook_deliveries_merchant').ifExists().execute();
}
