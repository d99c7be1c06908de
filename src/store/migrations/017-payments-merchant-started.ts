import type { Kysely } from 'kysely';

/**
 * `payments_merchant_started (merchant_id, started_at, imp_uid)`: a merchant's payments newest
 * first, in the console's order, without reading the rest. The console's list, count and CSV
 * export walk it a window at a time (core/console/payments.ts). Without it, a merchant with 200,000
 * payments cost 300-500 ms per console page and 2.1-2.4 s per export in one statement; on SQLite
 * that is the event loop every merchant's payments wait on (docs/decisions/0034).
 *
 * Its columns never change after the insert, so it costs each payment one index entry in its
 * first commit and nothing in its second.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.createIndex('payments_merchant_started').ifNotExists().on('payments').columns(['merchant_id', 'started_at', 'imp_uid']).execute();
}
