import type { Kysely } from 'kysely';

/**
 * The merchant console (issue #5): console users (one merchant each, scrypt password hashes,
 * lockout counters) and their sessions, stored in the database so several Pier processes share them.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .createTable('console_users')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    /** lower-cased; one console user per e-mail address across the whole Pier */
    .addColumn('email', 'varchar(200)', (c) => c.notNull().unique())
    .addColumn('password_hash', 'varchar(200)', (c) => c.notNull())
    /** consecutive failed sign-ins since the last success or lock */
    .addColumn('failed_count', 'integer', (c) => c.notNull().defaultTo(0))
    /** UNIX seconds; 0 when not locked */
    .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_login_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('console_users_merchant').on('console_users').columns(['merchant_id']).execute();

  await db.schema
    .createTable('console_sessions')
    /** sha256 of the cookie value; the cookie itself is never stored */
    .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(40)', (c) => c.notNull().references('console_users.id'))
    .addColumn('merchant_id', 'varchar(40)', (c) => c.notNull().references('merchants.id'))
    /** the synchronizer token every state-changing request must echo */
    .addColumn('csrf_token', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('console_sessions_user').on('console_sessions').columns(['user_id']).execute();
}
