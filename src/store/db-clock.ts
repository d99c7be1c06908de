import { sql, type RawBuilder } from 'kysely';
import type { Store } from './db.js';

/**
 * The installation's one clock for "has this row been left alone long enough?" (leases, the
 * reconciliation grace, backoff): the database's. Rows are written by one process and judged by
 * another; comparing one process's `updated_at` with another's clock breaks on clock skew, and the
 * sandbox clock (real time plus an offset an operator moves) would make every in-flight row look
 * stale after `pier sandbox clock advance 30d`. V1 timestamps still come from `deps.clock`.
 * See docs/decisions/0009-reconciliation-and-time.md.
 */
let testShiftMs = 0;

/**
 * The database's current time in UNIX seconds, as an SQL expression to use inside a statement.
 * PostgreSQL: the time the statement arrived (`statement_timestamp()`, STABLE), not
 * `clock_timestamp()` (VOLATILE): a volatile bound cannot be an index condition, so a claim's
 * "lease ran out" walk read every leased row's index entry, live or dead (1-2.6 ms of a webhook
 * claim with a full queue), where it now stops at the first lease still running. Pier holds no
 * transaction across a call, so the two differ by the few milliseconds a statement runs.
 */
export function dbNow(store: Store): RawBuilder<number> {
  const shift = Math.floor(testShiftMs / 1000);
  const native =
    store.dialect === 'postgres'
      ? sql<number>`CAST(floor(extract(epoch from statement_timestamp())) AS BIGINT)`
      : sql<number>`CAST(strftime('%s', 'now') AS INTEGER)`;
  return shift === 0 ? native : sql<number>`(${native} + ${shift})`;
}

/** What dbNow's SQL text depends on besides the dialect: part of the key of a statement template that uses it. */
export function dbNowShape(): number {
  return testShiftMs;
}

/** The database's current time in UNIX seconds. */
export async function readDbNow(store: Store): Promise<number> {
  const row = await sql<{ now: number | string }>`SELECT ${dbNow(store)} AS now`.execute(store.db);
  return Number(row.rows[0]!.now);
}

/**
 * Tests only: moves this process's view of the database clock, as a test moves its manual clock
 * (the test harness keeps the two together). Never used by Pier itself.
 */
export function shiftDbClockForTests(ms: number): void {
  testShiftMs += ms;
}

/** Tests only: the database clock back to the real one, as each test file starts (test/setup/per-file.ts). */
export function resetDbClockForTests(): void {
  testShiftMs = 0;
}
