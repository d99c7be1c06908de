import type { Kysely } from 'kysely';

/**
 * Each refund keeps the PG's slip of that cancel (V1 `cancel_history[].receipt_url` and
 * `cancel_receipt_urls`, issue #11). Rows from before stay null and fall back to the payment's slip.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('payment_cancels').addColumn('receipt_url', 'varchar(300)').execute();
}
