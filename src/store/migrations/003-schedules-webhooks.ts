import { sql, type Kysely } from 'kysely';

/**
 * Scheduled payments, the webhook outbox and sandbox time (issue #4). Background work is rows
 * (design.md principle 5): a schedule and a webhook delivery each carry when they are due, how
 * often they were tried, and a lease (`lease_owner`, `lease_until`) that a worker takes with a
 * conditional UPDATE (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and that expires if it dies.
 */
export async function up(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const autoId = sql.raw(dialect === 'postgres' ? 'bigserial' : 'integer');

  await db.schema
    .createTable('payment_schedules')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('customer_uid', 'varchar(80)', (c) => c.notNull())
    .addColumn('merchant_uid', 'varchar(40)', (c) => c.notNull())
    .addColumn('customer_id', 'varchar(80)')
    .addColumn('pg_provider', 'varchar(16)', (c) => c.notNull())
    .addColumn('pg_id', 'varchar(80)', (c) => c.notNull())
    // `scheduled` (waiting), `running` (leased by a worker), `executed`, `revoked`
    .addColumn('state', 'varchar(12)', (c) => c.notNull())
    .addColumn('schedule_at', 'bigint', (c) => c.notNull())
    // when a worker may take it next: schedule_at, or later after a technical failure
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'varchar(80)')
    .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
    // the current (or final) charge attempt; its payment row gives payment_status
    .addColumn('imp_uid', 'varchar(32)')
    .addColumn('amount', 'bigint', (c) => c.notNull())
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
    .addColumn('card_quota', 'integer', (c) => c.notNull())
    .addColumn('promotion_id', 'varchar(80)')
    // accepted V1 fields Pier passes on nowhere (product_type, bypass, extra…), JSON
    .addColumn('options', 'text')
    .addColumn('fail_reason', 'varchar(512)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('executed_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('revoked_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint('payment_schedules_merchant_uid', ['merchant_id', 'merchant_uid'])
    .execute();
  await db.schema.createIndex('payment_schedules_due').on('payment_schedules').columns(['state', 'due_at']).execute();
  await db.schema.createIndex('payment_schedules_lease').on('payment_schedules').columns(['state', 'lease_until']).execute();
  await db.schema.createIndex('payment_schedules_customer').on('payment_schedules').columns(['merchant_id', 'customer_uid', 'schedule_at']).execute();
  await db.schema.createIndex('payment_schedules_at').on('payment_schedules').columns(['merchant_id', 'schedule_at']).execute();

  // one row per merchant: where its webhooks go and the secret they are signed with
  await db.schema
    .createTable('webhook_settings')
    .addColumn('merchant_id', 'varchar(40)', (c) => c.primaryKey().references('merchants.id'))
    .addColumn('url', 'text')
    // `json` (application/json) or `form` (application/x-www-form-urlencoded)
    .addColumn('content_type', 'varchar(8)', (c) => c.notNull())
    // Standard Webhooks secret (`whsec_…`), sealed by the vault
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // the outbox: one row per payment event, written in the transaction that changed the payment
  await db.schema
    .createTable('webhook_events')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('imp_uid', 'varchar(32)', (c) => c.notNull())
    .addColumn('merchant_uid', 'varchar(40)', (c) => c.notNull())
    .addColumn('status', 'varchar(12)', (c) => c.notNull())
    .addColumn('cancellation_id', 'varchar(32)')
    .addColumn('cause', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_events_merchant').on('webhook_events').columns(['merchant_id', 'created_at']).execute();
  await db.schema.createIndex('webhook_events_imp_uid').on('webhook_events').columns(['imp_uid']).execute();

  // `pier listen` sessions: while one polls, every new event also gets a delivery for it
  await db.schema
    .createTable('webhook_listeners')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    .addColumn('forward_to', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // wall-clock UNIX seconds of the last poll; a listener silent for a minute gets nothing new
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('closed_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('webhook_listeners_merchant').on('webhook_listeners').columns(['merchant_id', 'closed_at', 'last_seen_at']).execute();

  // one row per event and target (URL or listener); retried until delivered or given up
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('event_id', 'varchar(40)', (c) => c.notNull().references('webhook_events.id'))
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('listener_id', 'varchar(40)')
    .addColumn('content_type', 'varchar(8)', (c) => c.notNull())
    // `pending`, `sending` (leased), `delivered`, `failed` (gave up)
    .addColumn('state', 'varchar(12)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    // delivery times are on the wall clock of the webhook worker, UNIX seconds
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'varchar(80)')
    .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'varchar(512)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['state', 'next_attempt_at']).execute();
  await db.schema.createIndex('webhook_deliveries_lease').on('webhook_deliveries').columns(['state', 'lease_until']).execute();
  await db.schema.createIndex('webhook_deliveries_merchant').on('webhook_deliveries').columns(['merchant_id', 'created_at']).execute();
  await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').columns(['event_id']).execute();
  await db.schema.createIndex('webhook_deliveries_listener').on('webhook_deliveries').columns(['listener_id', 'state']).execute();

  // the log: every HTTP attempt of every delivery
  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', autoId, (c) => c.primaryKey())
    .addColumn('delivery_id', 'varchar(40)', (c) => c.notNull().references('webhook_deliveries.id'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('error', 'varchar(512)')
    .addColumn('response_excerpt', 'varchar(512)')
    .execute();
  await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'attempt']).execute();

  // sandbox settings shared by every process and the CLI: one row, id 1
  await db.schema
    .createTable('sandbox_settings')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('clock_offset_ms', 'bigint', (c) => c.notNull())
    .addColumn('auto_cancel', 'integer', (c) => c.notNull())
    // KST date (YYYYMMDD) of the last daily auto-cancel run, so only one process runs it per day
    .addColumn('auto_cancel_last_day', 'varchar(8)')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('sandbox_settings').values({ id: 1, clock_offset_ms: 0, auto_cancel: 0, auto_cancel_last_day: null, updated_at: 0 }).execute();

  // send the `cancelled` webhook when the refund is recorded (also by reconciliation):
  // 0 no, 1 API cancel with enable_webhook: true, 2 console cancel
  await db.schema.alterTable('payment_cancels').addColumn('notify_webhook', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}
