import type { Kysely } from 'kysely';

/**
 * A channel may point at its own PG API base URL (issue #13): a NICE channel at the NICE simulator or
 * any NICE-compatible endpoint. NULL = the connector's configured host for the channel's mode.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.alterTable('pg_channels').addColumn('base_url', 'varchar(300)').execute();
}
