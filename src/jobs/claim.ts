import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Store } from '../store/db.js';
import type { Database } from '../store/types.js';

type LeasedTable = 'payment_schedules' | 'webhook_deliveries' | 'window_confirms';

type Due<T extends LeasedTable> = (eb: ExpressionBuilder<Database, T>) => any;

/**
 * The one lease primitive of the job runner: marks up to `limit` rows matching `due` with `set`
 * (state, lease owner, lease expiry) in a single statement, and returns them. `due` may be several
 * conditions, a row being due by any of them (due again, or leased by a worker whose lease ran
 * out): each is then one walk of its own index.
 *
 * PostgreSQL: the candidates are picked in a MATERIALIZED CTE with `FOR UPDATE SKIP LOCKED`, so
 * concurrent claimers from any number of processes split the rows without waiting on each other,
 * and the CTE runs once (an `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` subquery may be re-run by the
 * planner and lease far more than `limit` rows). A row another transaction changed meanwhile is
 * re-checked against `due` when locked. Each condition is its own walk that stops at `limit`: one
 * `WHERE a OR b ORDER BY …` reads and sorts every due row first (a scan of the whole table with
 * 10,000 schedules due). The update takes the picked ids as one array, found by primary key:
 * `UPDATE … FROM picked` was planned as a hash join over a scan of the whole table too.
 * The statement runs under byIndexOnly (a generic plan made at install scanned the whole table).
 * SQLite: one process, writers serialised; a plain conditional UPDATE is atomic.
 */
export async function claimRows<T extends LeasedTable>(
  store: Store,
  table: T,
  o: {
    due: Due<T> | Due<T>[];
    set: Partial<Record<keyof Database[T], unknown>>;
    orderBy: keyof Database[T] & string;
    limit: number;
  },
): Promise<Database[T][]> {
  const db = store.db as any;
  const dues = Array.isArray(o.due) ? o.due : [o.due];
  if (store.dialect === 'postgres') {
    const walk = (due: Due<T>) => db.selectFrom(table).select(['id', o.orderBy]).where(due).orderBy(o.orderBy).limit(o.limit).forUpdate().skipLocked();
    const picked =
      dues.length === 1
        ? walk(dues[0])
        : // (raw SQL as a CTE body gets no parentheses from Kysely)
          sql`(SELECT id FROM (${sql.join(
            dues.map((d, i) => sql`SELECT * FROM ${walk(d)} AS ${sql.id(`w${i}`)}`),
            sql` UNION ALL `,
          )}) AS w ORDER BY ${sql.ref(o.orderBy)} LIMIT ${o.limit})`;
    return byIndexOnly(store.db, (trx: any) =>
      trx
        .with((w: any) => w('picked').materialized(), () => picked)
        .updateTable(table)
        .set(o.set)
        .where(sql`id = ANY(ARRAY(SELECT id FROM picked))`)
        .returningAll()
        .execute(),
    );
  }
  const due = (eb: ExpressionBuilder<Database, T>) => (dues.length === 1 ? dues[0](eb) : eb.or(dues.map((d) => d(eb))));
  return db
    .updateTable(table)
    .set(o.set)
    .where('id', 'in', (eb: any) => eb.selectFrom(table).select('id').where(due).orderBy(o.orderBy).limit(o.limit))
    .where(due)
    .returningAll()
    .execute();
}

/**
 * Runs a claim on PostgreSQL in a transaction that plans no sequential and no bitmap scan. A
 * claim reads a few rows through an index walk that stops at its LIMIT; a connection keeps its
 * generic plan of a named statement until autovacuum analyses the tables, and one made while they
 * were nearly empty (at install, or before a burst such as a month's first schedules) read whole
 * tables instead: the schedule claim updated its rows after a scan of every schedule, the webhook
 * claim joined a scan of every event and took the oldest pending rows with a bitmap scan that
 * reads and sorts every due row (4.9 ms a claim with 20,000 queued, against ~1.3 ms walking the
 * index). `set_config(…, true)` is SET LOCAL: this transaction only. The round trips it adds cost
 * far less than one such scan.
 */
export function byIndexOnly<T>(db: Kysely<Database>, claim: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`.execute(trx);
    return claim(trx);
  });
}
