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
 * until `waitMs` has passed, then the SQLITE_BUSY error is thrown as busy_timeout would. Statements
 * outside an explicit transaction (autocommit writes) keep the connection's busy_timeout: they are
 * rare, short and not on a payment's path.
 */
import type SQLite from 'better-sqlite3';

/** How long a transaction waits for another process's write lock before failing with SQLITE_BUSY. */
export const DEFAULT_LOCK_WAIT_MS = 5000;

/** Retries after the first failed attempt: two yields to the event loop, then timers of these ms. */
const RETRY_TIMER_MS = [1, 1, 2];

export interface SqliteWriteLock {
  /** BEGIN IMMEDIATE, waiting (asynchronously) for another connection's write lock */
  begin(): Promise<void>;
  /** attempts that found the lock taken, since the store opened (tests, metrics) */
  readonly busyAttempts: number;
}

export function sqliteWriteLock(sqlite: SQLite.Database, opts: { busyTimeoutMs: number; waitMs?: number }): SqliteWriteLock {
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  // prepared once: a pragma statement that sets a value answers one row (the value), hence get()
  const noWait = sqlite.prepare('PRAGMA busy_timeout = 0');
  const restore = sqlite.prepare(`PRAGMA busy_timeout = ${Math.trunc(opts.busyTimeoutMs)}`);
  const beginImmediate = sqlite.prepare('BEGIN IMMEDIATE');
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

  return {
    get busyAttempts() {
      return busyAttempts;
    },
    async begin() {
      if (attempt()) return;
      const deadline = performance.now() + waitMs;
      for (let retry = 0; ; retry++) {
        const timerMs = retry < 2 ? 0 : RETRY_TIMER_MS[Math.min(retry - 2, RETRY_TIMER_MS.length - 1)];
        await (timerMs === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : new Promise<void>((resolve) => setTimeout(resolve, timerMs)));
        if (attempt()) return;
        // SQLite's own "database is locked", as busy_timeout would have thrown after waiting as long
        if (performance.now() >= deadline) throw lastBusy;
      }
    },
  };
}
