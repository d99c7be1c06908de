/**
 * Taking SQLite's write lock without blocking the event loop.
 *
 * Several processes may write one SQLite file (PIER_WORKERS, `pier` commands next to a server).
 * better-sqlite3 is synchronous, and SQLite's busy handler waits for a lock held by another process
 * by *sleeping* (usleep 1, 2, 5, 10, 15 … 100 ms, up to busy_timeout), so a worker that finds the
 * lock taken stops serving every request it holds — HTTP parsing, answers, PG calls — until the
 * other process commits, and then some. With 2 workers on one file that made `again` half as fast
 * as with 1 (bench, `workers` section).
 *
 * Here a transaction's `BEGIN IMMEDIATE` is tried with the busy timeout at 0; when the lock is
 * taken, the attempt is repeated after yielding to the event loop (setImmediate, then short timers)
 * until `waitMs` has passed, then the SQLITE_BUSY error is thrown as busy_timeout would. A write
 * Kysely runs outside a transaction is given a transaction of its own, taken the same way
 * (`writesTakeTheLock`). Reads need no lock in WAL mode; they and anything else keep the
 * connection's busy_timeout.
 */
import type SQLite from 'better-sqlite3';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';

/** How long a transaction waits for another process's write lock before failing with SQLITE_BUSY. */
export const DEFAULT_LOCK_WAIT_MS = 5000;

/** Retries after the first failed attempt: two yields to the event loop, then timers of these ms. */
const RETRY_TIMER_MS = [1, 1, 2];

export interface SqliteWriteLock {
  /**
   * BEGIN IMMEDIATE, waiting (asynchronously) for another connection's write lock; then `then`,
   * if given, at once when the lock was free.
   */
  begin<T = void>(then?: () => Promise<T>): Promise<T>;
  /**
   * The synchronous `unit` between BEGIN IMMEDIATE (as `begin`) and COMMIT; ROLLBACK when it
   * throws. When the lock is free, BEGIN, the unit and COMMIT run in one synchronous stretch (no
   * hand-off to the event loop in between). The caller holds the connection (Kysely's mutex), so
   * nothing else runs on it meanwhile.
   */
  transaction<T>(unit: () => T): Promise<T>;
  /** attempts that found the lock taken, since the store opened (tests, metrics) */
  readonly busyAttempts: number;
}

export function sqliteWriteLock(sqlite: SQLite.Database, opts: { busyTimeoutMs: number; waitMs?: number }): SqliteWriteLock {
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  // prepared once: a pragma statement that sets a value answers one row (the value), hence get()
  const noWait = sqlite.prepare('PRAGMA busy_timeout = 0');
  const restore = sqlite.prepare(`PRAGMA busy_timeout = ${Math.trunc(opts.busyTimeoutMs)}`);
  const beginImmediate = sqlite.prepare('BEGIN IMMEDIATE');
  const commit = sqlite.prepare('COMMIT');
  const rollback = sqlite.prepare('ROLLBACK');
  let busyAttempts = 0;

  let lastBusy: unknown = null;
  /** One attempt: true when the transaction has begun, false when another connection holds the lock. */
  const attempt = (): boolean => {
    noWait.get();
    try {
      beginImmediate.run();
      return true;
    } catch (err) {
      // SQLITE_BUSY, or an extended code of it (SQLITE_BUSY_RECOVERY while another connection recovers the WAL)
      if (!String((err as { code?: string }).code).startsWith('SQLITE_BUSY')) throw err;
      busyAttempts++;
      lastBusy = err;
      return false;
    } finally {
      restore.get();
    }
  };

  const lock: SqliteWriteLock = {
    get busyAttempts() {
      return busyAttempts;
    },
    transaction<T>(unit: () => T): Promise<T> {
      const inTransaction = (): Promise<T> => {
        try {
          const result = unit();
          commit.run();
          return Promise.resolve(result);
        } catch (err) {
          // a failed COMMIT, or a statement error SQLite answered with a rollback, may have ended it already
          if (sqlite.inTransaction) rollback.run();
          return Promise.reject(err);
        }
      };
      return lock.begin(inTransaction);
    },
    begin<T = void>(then?: () => Promise<T>): Promise<T> {
      let begun: boolean;
      try {
        begun = attempt();
      } catch (err) {
        return Promise.reject(err);
      }
      const next = then ?? (() => Promise.resolve() as Promise<T>);
      // the lock was free: no hand-off to the event loop before `then`
      return begun ? next() : waitForLock().then(next);
    },
  };

  /** After an attempt found the lock taken: try again, yielding to the event loop in between. */
  const waitForLock = async (): Promise<void> => {
    const deadline = performance.now() + waitMs;
    for (let retry = 0; ; retry++) {
      const timerMs = retry < 2 ? 0 : RETRY_TIMER_MS[Math.min(retry - 2, RETRY_TIMER_MS.length - 1)];
      await (timerMs === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : new Promise<void>((resolve) => setTimeout(resolve, timerMs)));
      if (attempt()) return;
      // SQLite's own "database is locked", as busy_timeout would have thrown after waiting as long
      if (performance.now() >= deadline) throw lastBusy;
    }
  };
  return lock;
}

/** Statements that write (or change the schema) and may run inside a transaction; not PRAGMA, VACUUM, ATTACH or transaction control. */
const WRITE_STATEMENT = /^\s*(with|insert|update|delete|replace|create|drop|alter)\b/i;

/**
 * Kysely's one SQLite connection, with every write that runs outside a transaction (an
 * autocommit `UPDATE … RETURNING` claiming jobs, say) put in a transaction of its own, so that it
 * too waits for the write lock through `lock` instead of sleeping in SQLite's busy handler. Such a
 * write is run here, synchronously inside the transaction, as Kysely's own SqliteConnection runs
 * a statement (`all` for a statement that returns rows, else `run`); `prepare` is the statement
 * cache Kysely uses.
 */
export function writesTakeTheLock(conn: DatabaseConnection, sqlite: SQLite.Database, prepare: (sqlText: string) => SQLite.Statement, lock: SqliteWriteLock): DatabaseConnection {
  return {
    executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      if (sqlite.inTransaction || !WRITE_STATEMENT.test(query.sql)) return conn.executeQuery<R>(query);
      const stmt = prepare(query.sql);
      if (stmt.readonly) return conn.executeQuery<R>(query);
      const parameters = query.parameters as unknown[];
      return lock.transaction((): QueryResult<R> => {
        if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
        const { changes, lastInsertRowid } = stmt.run(parameters);
        return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
      });
    },
    streamQuery: (query, chunkSize) => conn.streamQuery(query, chunkSize),
  };
}
