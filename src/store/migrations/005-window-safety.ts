import type { Kysely } from 'kysely';

/**
 * Payment-window money safety (issue #9): the acknowledgement of a window result to the PG (tPay
 * `resultConfirm`) is a durable job row. The PG net-cancels approvals it never hears back about,
 * so a confirm that fails (or a process that dies before sending it) is retried with backoff from
 * this row, and settled by asking the PG (`trans_search`) when it keeps failing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('window_confirms')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('imp_uid', 'varchar(32)', (c) => c.notNull())
    .addColumn('channel_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('pg_tid', 'varchar(80)', (c) => c.notNull())
    // `pending` (to send, or leased by a worker), `done` (acknowledged, or nothing left to acknowledge), `failed` (gave up)
    .addColumn('state', 'varchar(12)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'varchar(80)')
    .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'varchar(512)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('window_confirms_tid', ['imp_uid', 'pg_tid'])
    .execute();
  await db.schema.createIndex('window_confirms_due').on('window_confirms').columns(['state', 'due_at']).execute();
}
