/**
 * The database failing at the moment Pier records what a PG answered (decision 0119), as another
 * session causes it: the shared fault of test/money-path-db-faults.test.ts and
 * test/checkout/window-db-faults.test.ts.
 */
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { vi } from 'vitest';
import type { TestPier } from './harness.js';

/** what a database error says that no merchant, no buyer and no info line may see */
export const DATABASE_WORDS = /SQLITE|database is locked|terminating connection|administrator command|statement timeout|pier_t_|postgres:\/\/|syntax error|constraint|update "payments"|insert into/i;

/**
 * Another session keeps Pier from writing: SQLite, the write lock (BEGIN IMMEDIATE on its own
 * connection), which Pier waits for its lock wait (the harness's `sqliteLockWaitMs`) and then fails;
 * PostgreSQL, the payment's row (FOR UPDATE), and `fail` ends the Pier connection that waits for it
 * (pg_terminate_backend), as a failover or an operator would.
 */
export async function lockOut(pier: Pick<TestPier, 'sqliteFile' | 'databaseUrl'>, impUid: string): Promise<{ fail(): Promise<void>; release(): Promise<void> }> {
  if (pier.sqliteFile) {
    const other = new SQLite(pier.sqliteFile);
    other.exec('BEGIN IMMEDIATE');
    return {
      async fail() {},
      async release() {
        other.exec('COMMIT');
        other.close();
      },
    };
  }
  const other = new pg.Client({ connectionString: pier.databaseUrl });
  await other.connect();
  await other.query('BEGIN');
  await other.query('SELECT 1 FROM payments WHERE imp_uid = $1 FOR UPDATE', [impUid]);
  return {
    async fail() {
      const waiting = async () =>
        (await other.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`)).rows as { pid: number }[];
      await vi.waitUntil(async () => (await waiting()).length > 0, { timeout: 10_000, interval: 10 });
      for (const { pid } of await waiting()) await other.query('SELECT pg_terminate_backend($1)', [pid]);
    },
    async release() {
      await other.query('COMMIT');
      await other.end();
    },
  };
}
