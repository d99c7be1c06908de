import type { Kysely } from 'kysely';

/**
 * The payment window (issue #3): virtual-account fields on payments, and checkout sessions (one
 * per IMP.request_pay that passed validation), shared by every Pier process through the database.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  for (const [name, type] of [
    ['vbank_code', 'varchar(8)'],
    ['vbank_name', 'varchar(40)'],
    ['vbank_num', 'varchar(40)'],
    ['vbank_holder', 'varchar(100)'],
  ] as const) {
    await db.schema.alterTable('payments').addColumn(name, type).execute();
  }
  await db.schema.alterTable('payments').addColumn('vbank_date', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('payments').addColumn('vbank_issued_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();

  await db.schema
    .createTable('checkout_sessions')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('channel_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('merchant_uid', 'varchar(40)', (c) => c.notNull())
    .addColumn('imp_uid', 'varchar(32)')
    .addColumn('pay_method', 'varchar(16)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    /** `overlay` (iframe), `popup` or `redirect` (full page, m_redirect_url) */
    .addColumn('mode', 'varchar(12)', (c) => c.notNull())
    .addColumn('origin', 'varchar(300)', (c) => c.notNull())
    /** the validated request_pay parameters, JSON */
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'varchar(256)')
    /** `open`, `started` (buyer sent to the PG window), `done` */
    .addColumn('state', 'varchar(12)', (c) => c.notNull())
    /** the rsp handed to the SDK, JSON, once done */
    .addColumn('result', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('checkout_sessions_imp_uid').on('checkout_sessions').columns(['imp_uid']).execute();
  await db.schema.createIndex('payments_vbank_due').on('payments').columns(['pay_method', 'status', 'vbank_date']).execute();
}
