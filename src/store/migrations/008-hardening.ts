import type { Kysely } from 'kysely';

/**
 * Issue #10 hardening: attempt counters for the sign-in rate limits (POST /users/getToken, console
 * sign-in), kept in the database so every Pier process on one PostgreSQL counts the same attempts.
 * One row per bucket (`getToken:ip:203.0.113.9`, `getToken:key:<sha256>` …), a fixed window.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .createTable('rate_limit_buckets')
    .addColumn('bucket', 'varchar(120)', (c) => c.primaryKey())
    /** UNIX seconds the current window began */
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rate_limit_buckets_window').on('rate_limit_buckets').columns(['window_start']).execute();
}
