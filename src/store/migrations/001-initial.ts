import { sql, type Kysely } from 'kysely';

/** The first schema. Written with Kysely's builder so one file serves SQLite and PostgreSQL. */
export async function up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .createTable('merchants')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_code', 'varchar(16)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(100)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('imp_key', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('secret_hash', 'varchar(200)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();

  await db.schema
    .createTable('access_tokens')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('api_key_id', 'varchar(40)', (c) => c.notNull().references('api_keys.id'))
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('access_tokens_key_expiry').on('access_tokens').columns(['api_key_id', 'expires_at']).execute();

  await db.schema
    .createTable('pg_channels')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('provider', 'varchar(16)', (c) => c.notNull())
    .addColumn('mid', 'varchar(80)', (c) => c.notNull())
    .addColumn('kind', 'varchar(8)', (c) => c.notNull())
    .addColumn('name', 'varchar(100)', (c) => c.notNull())
    .addColumn('sandbox', 'integer', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull())
    .addColumn('merchant_key_sealed', 'text', (c) => c.notNull())
    .addColumn('cancel_password_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('pg_channels_merchant_kind_provider_mid', ['merchant_id', 'kind', 'provider', 'mid'])
    .execute();

  await db.schema
    .createTable('payments')
    .addColumn('imp_uid', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('merchant_uid', 'varchar(40)', (c) => c.notNull())
    .addColumn('merchant_uid_lock', 'varchar(40)')
    .addColumn('channel_id', 'varchar(40)')
    .addColumn('pg_provider', 'varchar(16)', (c) => c.notNull())
    .addColumn('pg_id', 'varchar(80)', (c) => c.notNull())
    .addColumn('pay_method', 'varchar(16)', (c) => c.notNull())
    .addColumn('channel', 'varchar(8)', (c) => c.notNull())
    .addColumn('status', 'varchar(12)', (c) => c.notNull())
    .addColumn('pg_state', 'varchar(12)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('cancel_amount', 'bigint', (c) => c.notNull())
    .addColumn('cancel_pending_amount', 'bigint', (c) => c.notNull())
    .addColumn('tax_free', 'bigint', (c) => c.notNull())
    .addColumn('vat_amount', 'bigint')
    .addColumn('currency', 'varchar(3)', (c) => c.notNull())
    .addColumn('name', 'varchar(200)')
    .addColumn('buyer_name', 'varchar(100)')
    .addColumn('buyer_email', 'varchar(100)')
    .addColumn('buyer_tel', 'varchar(40)')
    .addColumn('buyer_addr', 'varchar(200)')
    .addColumn('buyer_postcode', 'varchar(16)')
    .addColumn('custom_data', 'text')
    .addColumn('notice_url', 'text')
    .addColumn('user_agent', 'varchar(256)')
    .addColumn('card_code', 'varchar(8)')
    .addColumn('card_name', 'varchar(40)')
    .addColumn('card_number', 'varchar(24)')
    .addColumn('card_type', 'integer')
    .addColumn('card_quota', 'integer', (c) => c.notNull())
    .addColumn('apply_num', 'varchar(20)')
    .addColumn('pg_tid', 'varchar(80)')
    .addColumn('receipt_url', 'varchar(300)')
    .addColumn('bank_code', 'varchar(8)')
    .addColumn('bank_name', 'varchar(40)')
    .addColumn('customer_uid', 'varchar(80)')
    .addColumn('customer_uid_usage', 'varchar(20)')
    .addColumn('fail_reason', 'varchar(512)')
    .addColumn('cancel_reason', 'varchar(512)')
    .addColumn('sandbox', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('paid_at', 'bigint', (c) => c.notNull())
    .addColumn('failed_at', 'bigint', (c) => c.notNull())
    .addColumn('cancelled_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('payments_merchant_uid_once', ['merchant_id', 'merchant_uid_lock'])
    .execute();
  await db.schema.createIndex('payments_merchant_uid').on('payments').columns(['merchant_id', 'merchant_uid']).execute();
  await db.schema.createIndex('payments_merchant_status_started').on('payments').columns(['merchant_id', 'status', 'started_at']).execute();
  await db.schema.createIndex('payments_customer').on('payments').columns(['merchant_id', 'customer_uid', 'started_at']).execute();
  await db.schema.createIndex('payments_pg_state').on('payments').columns(['pg_state']).execute();

  await db.schema
    .createTable('payment_cancels')
    .addColumn('id', sql.raw(dialect === 'postgres' ? 'bigserial' : 'integer'), (c) =>
      c.primaryKey(),
    )
    .addColumn('imp_uid', 'varchar(32)', (c) => c.notNull().references('payments.imp_uid'))
    .addColumn('cancellation_id', 'varchar(32)', (c) => c.notNull().unique())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('tax_free', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'varchar(512)')
    .addColumn('state', 'varchar(12)', (c) => c.notNull())
    .addColumn('pg_tid', 'varchar(80)')
    .addColumn('fail_reason', 'varchar(512)')
    .addColumn('refund_holder', 'varchar(40)')
    .addColumn('refund_bank', 'varchar(8)')
    .addColumn('refund_account', 'varchar(40)')
    .addColumn('requested_at', 'bigint', (c) => c.notNull())
    .addColumn('cancelled_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_cancels_imp_uid').on('payment_cancels').columns(['imp_uid']).execute();

  await db.schema
    .createTable('billing_keys')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('customer_uid', 'varchar(80)', (c) => c.notNull())
    .addColumn('channel_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('pg_provider', 'varchar(16)', (c) => c.notNull())
    .addColumn('pg_id', 'varchar(80)', (c) => c.notNull())
    .addColumn('sandbox', 'integer', (c) => c.notNull())
    .addColumn('billing_key_sealed', 'text', (c) => c.notNull())
    .addColumn('vault_key_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('card_code', 'varchar(8)')
    .addColumn('card_name', 'varchar(40)')
    .addColumn('card_number', 'varchar(24)')
    .addColumn('card_type', 'integer')
    .addColumn('customer_id', 'varchar(80)')
    .addColumn('customer_name', 'varchar(100)')
    .addColumn('customer_tel', 'varchar(40)')
    .addColumn('customer_email', 'varchar(100)')
    .addColumn('customer_addr', 'varchar(200)')
    .addColumn('customer_postcode', 'varchar(16)')
    .addColumn('inserted', 'bigint', (c) => c.notNull())
    .addColumn('updated', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('billing_keys_merchant_customer', ['merchant_id', 'customer_uid'])
    .execute();

  await db.schema
    .createTable('payment_prepares')
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('merchant_uid', 'varchar(40)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'varchar(3)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('payment_prepares_pk', ['merchant_id', 'merchant_uid'])
    .execute();
}
