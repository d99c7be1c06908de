import type { Kysely } from 'kysely';

/**
 * Console sessions and access tokens are purged after they end (src/jobs/handlers/ended-row-purge.ts,
 * docs/decisions/0067-console-retention.md). The purge finds them by a range on when they end:
 * these indexes keep each lookup a range scan however many rows there are (rate_limit_buckets
 * already has its window_start index, migration 008).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.createIndex('console_sessions_expires_at').on('console_sessions').columns(['expires_at']).execute();
  await db.schema.createIndex('console_sessions_last_seen_at').on('console_sessions').columns(['last_seen_at']).execute();
  await db.schema.createIndex('access_tokens_expires_at').on('access_tokens').columns(['expires_at']).execute();
}
