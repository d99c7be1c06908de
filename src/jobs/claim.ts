import { sql, type ExpressionBuilder } from 'kysely';
import type { Store } from '../store/db.js';
import { byIndexOnly } from '../store/index-only.js';
import type { Database } from '../store/types.js';

/** The tables whose rows are leased, each with the column that keys its rows (its primary key). */
interface LeaseKeys {
  payment_schedules: 'id';
  webhook_deliveries: 'id';
  window_confirms: 'id';
  /** deposit checks (core/virtual-accounts/deposit-checks.ts): a payment is keyed by its imp_uid */
  payments: 'imp_uid';
}

type LeasedTable = keyof LeaseKeys;

type Column<T extends LeasedTable> = keyof Database[T] & string;

type Due<T extends LeasedTable> = (eb: ExpressionBuilder<Database, T>) => any;

/** The table's key column: optional where it is `id`, and then `id`; elsewhere required, and only that column. */
type KeyColumn<T extends LeasedTable> = LeaseKeys[T] extends 'id' ? { key?: 'id' } : { key: LeaseKeys[T] };

/**
 * The one lease primitive of the job runner: marks up to `limit` rows matching `due` with `set`
 * (state, lease owner, lease expiry) in a single statement, and returns them. `due` may be several
 * conditions, a row being due by any of them (due again, or leased by a worker whose lease ran
 * out): each is then one walk of its own index. `orderBy` is one column or several (the later ones
 * break ties); `key` is the table's key column (LeaseKeys), by which the picked rows are updated.
 *
 * PostgreSQL: the candidates are picked in a MATERIALIZED CTE with `FOR UPDATE SKIP LOCKED`, so
 * concurrent claimers from any number of processes split the rows without waiting on each other,
 * and the CTE runs once (an `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` subquery may be re-run by the
 * planner and lease far more than `limit` rows). A row another transaction changed meanwhile is
 * re-checked against `due` when locked. Each condition is its own walk that stops at `limit`: one
 * `WHERE a OR b ORDER BY …` reads and sorts every due row first (a scan of the whole table with
 * 10,000 schedules due). The update takes the picked keys as one array, found by primary key:
 * `UPDATE … FROM picked` was planned as a hash join over a scan of the whole table too.
 * The statement runs byIndexOnly (a generic plan made at install updated the rows after a scan of
 * the whole table).
 * SQLite: one process, writers serialised; a plain conditional UPDATE is atomic.
 *
 * @example
 *   // payments (deposit checks), keyed by imp_uid; checks due in the same second taken in imp_uid order
 *   await claimRows(store, 'payments', { key: 'imp_uid', due, set: { deposit_check_at: lease }, orderBy: ['deposit_check_at', 'imp_uid'], limit: 20 });
 */
export async function claimRows<T extends LeasedTable>(
  store: Store,
  table: T,
  o: {
    due: Due<T> | Due<T>[];
    set: Partial<Record<keyof Database[T], unknown>>;
    orderBy: Column<T> | readonly [Column<T>, ...Column<T>[]];
    limit: number;
  } & KeyColumn<T>,
): Promise<Database[T][]> {
  const db = store.db as any;
  const dues = Array.isArray(o.due) ? o.due : [o.due];
  const key: string = o.key ?? 'id';
  const order: readonly string[] = typeof o.orderBy === 'string' ? [o.orderBy] : o.orderBy;
  // what a walk reads: the key, and what the walks' union is ordered by again (each column once)
  const walked = [...new Set([key, ...order])];
  const ordered = (q: any) => order.reduce((sorted, column) => sorted.orderBy(column), q);
  const orderOfUnion = sql.join(order.map((column) => sql.ref(column)));
  if (store.dialect === 'postgres') {
    const walk = (due: Due<T>) => ordered(db.selectFrom(table).select(walked).where(due)).limit(o.limit).forUpdate().skipLocked();
    const picked =
      dues.length === 1
        ? walk(dues[0])
        : // (raw SQL as a CTE body gets no parentheses from Kysely)
          sql`(SELECT ${sql.ref(key)} FROM (${sql.join(
            dues.map((d, i) => sql`SELECT * FROM ${walk(d)} AS ${sql.id(`w${i}`)}`),
            sql` UNION ALL `,
          )}) AS w ORDER BY ${orderOfUnion} LIMIT ${o.limit})`;
    return byIndexOnly(store, (claimDb: any) =>
      claimDb
        .with((w: any) => w('picked').materialized(), () => picked)
        .updateTable(table)
        .set(o.set)
        .where(sql`${sql.ref(key)} = ANY(ARRAY(SELECT ${sql.ref(key)} FROM picked))`)
        .returningAll()
        .execute(),
    );
  }
  const due = (eb: ExpressionBuilder<Database, T>) => (dues.length === 1 ? dues[0](eb) : eb.or(dues.map((d) => d(eb))));
  if (dues.length === 1) {
    return db
      .updateTable(table)
      .set(o.set)
      .where(key, 'in', (eb: any) => ordered(eb.selectFrom(table).select(key).where(due)).limit(o.limit))
      .where(due)
      .returningAll()
      .execute();
  }
  // Several conditions: each its own walk that stops at `limit`, as on PostgreSQL. One `a OR b`
  // was planned as a MULTI-INDEX OR whose rows (every due row) were sorted for the LIMIT: 35-50 ms
  // a schedule claim with 100,000 due, on the event loop (decision 0076). The claimed rows are
  // checked again as an expression no index takes, so the UPDATE finds them by key.
  const walks = dues.map((d) => sql`SELECT * FROM (${ordered(db.selectFrom(table).select(walked).where(d)).limit(o.limit)})`);
  const picked = sql`SELECT ${sql.ref(key)} FROM (${sql.join(walks, sql` UNION ALL `)}) ORDER BY ${orderOfUnion} LIMIT ${o.limit}`;
  return db
    .updateTable(table)
    .set(o.set)
    .where(sql<boolean>`${sql.ref(key)} IN (${picked})`)
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
