import type { Kysely } from 'kysely';

/**
 * Checkout sessions are purged after they end (src/jobs/handlers/checkout-session-purge.ts). The
 * purge looks for sessions that never reached the PG window (`imp_uid` null) by expiry, and for the
 * others by expiry alone; these two indexes keep both lookups a range scan however many sessions exist.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.createIndex('checkout_sessions_expires_at').on('checkout_sessions').columns(['expires_at']).execute();
  await db.schema.createIndex('checkout_sessions_unstarted_expiry').on('checkout_sessions').columns(['imp_uid', 'expires_at']).execute();
}
