import type { Kysely } from 'kysely';

/**
 * Reconciliation that always finishes (issue #10): every payment attempt and refund Pier may have
 * to settle by asking the PG carries its own `next_check_at` (the database's clock, UNIX seconds)
 * and `check_count`. A check that cannot settle the row moves it back (1 min, 5 min, 1 h, 1 day),
 * so rows the PG cannot answer for never fill every batch ahead of one it can.
 * See docs/decisions/0009-reconciliation-and-time.md.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  for (const table of ['payments', 'payment_cancels']) {
    await db.schema.alterTable(table).addColumn('next_check_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable(table).addColumn('check_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  }
  await db.schema.createIndex('payments_reconcile').on('payments').columns(['pg_state', 'next_check_at']).execute();
  await db.schema.createIndex('payment_cancels_reconcile').on('payment_cancels').columns(['state', 'next_check_at']).execute();
}
