import { sql, type ExpressionBuilder } from 'kysely';
import type { Store } from '../store/db.js';
import { byIndexOnly } from '../store/index-only.js';
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
 * The statement runs byIndexOnly (a generic plan made at install updated the rows after a scan of
 * the whole table).
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
    return byIndexOnly(store, (claimDb: any) =>
      claimDb
        .with((w: any) => w('picked').materialized(), () => picked)
        .updateTable(table)
        .set(o.set)
        .where(sql`id = ANY(ARRAY(SELECT id FROM picked))`)
        .returningAll()
        .execute(),
    );
  }
  const due = (eb: ExpressionBuilder<Database, T>) => (dues.length === 1 ? dues[0](eb) : eb.or(dues.map((d) => d(eb))));
  if (dues.length === 1) {
    return db
      .updateTable(table)
      .set(o.set)
      .where('id', 'in', (eb: any) => eb.selectFrom(table).select('id').where(due).orderBy(o.orderBy).limit(o.limit))
      .where(due)
      .returningAll()
      .execute();
  }
  // Several conditions: each its own walk that stops at `limit`, as on PostgreSQL. One `a OR b`
  // was planned as a MULTI-INDEX OR whose rows (every due row) were sorted for the LIMIT: 35-50 ms
  // a schedule claim with 100,000 due, on the event loop (decision 0076). The claimed rows are
  // checked again as an expression no index takes, so the UPDATE finds them by id.
  const walks = dues.map((d) => sql`SELECT * FROM (${db.selectFrom(table).select(['id', o.orderBy]).where(d).orderBy(o.orderBy).limit(o.limit)})`);
  const picked = sql`SELECT id FROM (${sql.join(walks, sql` UNION ALL `)}) ORDER BY ${sql.ref(o.orderBy)} LIMIT ${o.limit}`;
  return db
    .updateTable(table)
    .set(o.set)
    .where(sql<boolean>`id IN (${picked})`)
    .where((eb: any) => eb(eb.case().when(due(eb)).then(1).else(0).end(), '=', 1))
    .returningAll()
    .execute();
}

/** What a lease adds to the PG calls it covers: the claim itself, the run's own statements, clock skew. */
export const LEASE_MARGIN_SECONDS = 30;

/**
 * How long a worker's lease on a row lasts: past `calls` PG calls of `callMs` each (the configured
 * connect plus read timeout, ConnectorRegistry.maxCallMs) and a margin, so a second worker never
 * takes a row whose first worker may still get an answer from the PG; never under `floorSeconds`
 * (the lease with the default timeouts). Decision 0056.
 */
export function leaseSecondsCovering(callMs: number, calls: number, floorSeconds: number): number {
  return Math.max(floorSeconds, Math.ceil((calls * callMs) / 1000) + LEASE_MARGIN_SECONDS);
}
