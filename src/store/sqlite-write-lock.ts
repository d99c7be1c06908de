/**
 * Waiting for SQLite's locks without blocking the event loop.
 *
 * Several processes may write one SQLite file (PIER_WORKERS, `pier` commands next to a server).
 * better-sqlite3 is synchronous, and SQLite's busy handler waits for a lock held by another process
 * by *sleeping* (usleep 1, 2, 5, 10, 15 … 100 ms, up to busy_timeout), so a worker that finds the
 * lock taken stops serving every request it holds — HTTP parsing, answers, PG calls — until the
 * other process commits, and then some. With 2 workers on one file that made `again` half as fast
 * as with 1 (bench, `workers` section; decision 0028).
 *
 * So Pier's connection runs with busy_timeout 0, and waits here instead: a statement that finds a
 * lock taken (SQLITE_BUSY) is tried again after yielding to the event loop (setImmediate, then
 * short timers) until `waitMs` has passed, then SQLite's SQLITE_BUSY error is thrown, as
 * busy_timeout would have. The statements that can meet a lock are the ones outside a
 * transaction: a transaction's BEGIN IMMEDIATE (`begin`, `transaction`), a write outside a
 * transaction (given a transaction of its own), and, rarely in WAL mode, a read (while another
 * connection recovers the WAL after a crash). Inside a transaction that holds the write lock no
 * statement waits.
 */
import type SQLite from 'better-sqlite3';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';

/** How long a statement waits for another process's lock before failing with SQLITE_BUSY. */
export const DEFAULT_LOCK_WAIT_MS = 5000;

/** Retries after the first failed attempt: two yields to the event loop, then timers of these ms. */
const RETRY_TIMER_MS = [1, 1, 2];

export interface SqliteWriteLock {
  /** BEGIN IMMEDIATE, waiting (asynchronously) for another connection's write lock */
  begin(): Promise<void>;
  /**
   * The synchronous `unit` between BEGIN IMMEDIATE (as `begin`) and COMMIT; ROLLBACK when it
   * throws. When the lock is free, BEGIN, the unit and COMMIT run in one synchronous stretch (no
   * hand-off to the event loop in between). The caller holds the connection (Kysely's mutex), so
   * nothing else runs on it meanwhile.
   */
  transaction<T>(unit: () => T): Promise<T>;
  /** `statement` (outside a transaction), tried again while another connection holds a lock it needs */
  whenFree<T>(statement: () => T): Promise<T>;
  /** attempts that found a lock taken, since the store opened (for tests) */
  readonly busyAttempts: number;
}

const isBusy = (err: unknown) => String((err as { code?: string } | null)?.code).startsWith('SQLITE_BUSY');

/** `sqlite` must run with busy_timeout 0: here is where it waits. */
export function sqliteWriteLock(sqlite: SQLite.Database, opts: { waitMs?: number; now?: () => number } = {}): SqliteWriteLock {
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const now = opts.now ?? (() => performance.now());
  const beginImmediate = sqlite.prepare('BEGIN IMMEDIATE');
  const commit = sqlite.prepare('COMMIT');
  const rollback = sqlite.prepare('ROLLBACK');
  let busyAttempts = 0;

  /** `statement` now; if a lock was taken, again after yielding, until `waitMs` has passed. */
  const whenFree = <T>(statement: () => T): Promise<T> => {
    try {
      return Promise.resolve(statement());
    } catch (err) {
      if (!isBusy(err)) return Promise.reject(err);
      busyAttempts++;
    }
    return retry(statement);
  };
  const retry = async <T>(statement: () => T): Promise<T> => {
    const deadline = now() + waitMs;
    for (let n = 0; ; n++) {
      const timerMs = n < 2 ? 0 : RETRY_TIMER_MS[Math.min(n - 2, RETRY_TIMER_MS.length - 1)];
      await (timerMs === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : new Promise<void>((resolve) => setTimeout(resolve, timerMs)));
      try {
        return statement();
      } catch (err) {
        // SQLite's own "database is locked" once the wait is over, as busy_timeout would have thrown
        if (!isBusy(err) || now() >= deadline) throw err;
        busyAttempts++;
      }
    }
  };

  const lock: SqliteWriteLock = {
    get busyAttempts() {
      return busyAttempts;
    },
    whenFree,
    begin: () => whenFree(() => void beginImmediate.run()),
    transaction<T>(unit: () => T): Promise<T> {
      // the lock free (the usual case): BEGIN, the unit and COMMIT in one synchronous call
      return whenFree(() => {
        beginImmediate.run();
        try {
          const result = unit();
          commit.run();
          return result;
        } catch (err) {
          // a failed COMMIT, or a statement error SQLite answered with a rollback, may have ended it already
          if (sqlite.inTransaction) rollback.run();
          throw err;
        }
      });
    },
  };
  return lock;
}

/** Statements that write (or change the schema) and may run inside a transaction; not PRAGMA, VACUUM, ATTACH or transaction control. */
const WRITE_STATEMENT = /^\s*(with|insert|update|delete|replace|create|drop|alter)\b/i;

/**
 * Kysely's one SQLite connection, with every statement outside a transaction waiting for the
 * locks it needs through `lock`: a write is put in a transaction of its own (an autocommit
 * `UPDATE … RETURNING` claiming jobs, say), a read is tried again while another connection holds
 * the database (WAL recovery). Such a statement is run here, synchronously, as Kysely's own
 * SqliteConnection runs one (`all` for a statement that returns rows, else `run`); `prepare` is
 * the statement cache Kysely uses. Inside a transaction, Kysely's connection runs it as before.
 */
export function waitingForLocks(conn: DatabaseConnection, sqlite: SQLite.Database, prepare: (sqlText: string) => SQLite.Statement, lock: SqliteWriteLock): DatabaseConnection {
  return {
    executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      if (sqlite.inTransaction) return conn.executeQuery<R>(query);
      let stmt: SQLite.Statement;
      try {
        stmt = prepare(query.sql);
      } catch (err) {
        return Promise.reject(err);
      }
      const parameters = query.parameters as unknown[];
      // inline arrows, not one assigned to a name: the bundle's keepNames would name such a
      // function on every statement run here (decision 0030)
      return !stmt.readonly && WRITE_STATEMENT.test(query.sql)
        ? lock.transaction(() => runStatement<R>(stmt, parameters))
        : lock.whenFree(() => runStatement<R>(stmt, parameters));
    },
    streamQuery: (query, chunkSize) => conn.streamQuery(query, chunkSize),
  };
}

/** One statement as Kysely's SqliteConnection runs it: `all` when it returns rows, else `run`. */
function runStatement<R>(stmt: SQLite.Statement, parameters: unknown[]): QueryResult<R> {
  if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}
