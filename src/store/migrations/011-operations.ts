import type { Kysely } from 'kysely';

/**
 * Operating Pier (issue #12): the request id that caused a payment event rides along to its webhook
 * deliveries, so the webhook worker's log lines join the request's (one payment, end to end).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.alterTable('webhook_events').addColumn('request_id', 'varchar(128)').execute();
  await db.schema.alterTable('webhook_deliveries').addColumn('request_id', 'varchar(128)').execute();
}
