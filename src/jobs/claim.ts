import type { ExpressionBuilder } from 'kysely';
import type { Store } from '../store/db.js';
import type { Database } from '../store/types.js';

type LeasedTable = 'payment_schedules' | 'webhook_deliveries' | 'window_confirms';

/**
 * The one lease primitive of the job runner: marks up to `limit` rows matching `due` with `set`
 * (state, lease owner, lease expiry) in a single statement, and returns them.
 *
 * PostgreSQL: the candidates are picked in a MATERIALIZED CTE with `FOR UPDATE SKIP LOCKED`, so
 * concurrent claimers from any number of processes split the rows without waiting on each other,
 * and the CTE runs once (an `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` subquery may be re-run by the
 * planner and lease far more than `limit` rows). A row another transaction changed meanwhile is
 * re-checked against `due` when locked. SQLite: one process, writers serialised; a plain
 * conditional UPDATE is atomic.
 */
export async function claimRows<T extends LeasedTable>(
  store: Store,
  table: T,
  o: {
    due: (eb: ExpressionBuilder<Database, T>) => any;
    set: Partial<Record<keyof Database[T], unknown>>;
    orderBy: keyof Database[T] & string;
    limit: number;
  },
): Promise<Database[T][]> {
  const db = store.db as any;
  if (store.dialect === 'postgres') {
    return db
      .with(
        (w: any) => w('picked').materialized(),
        (q: any) => q.selectFrom(table).select('id').where(o.due).orderBy(o.orderBy).limit(o.limit).forUpdate().skipLocked(),
      )
      .updateTable(table)
      .from('picked')
      .set(o.set)
      .whereRef(`${table}.id`, '=', 'picked.id')
      .returningAll(table)
      .execute();
  }
  return db
    .updateTable(table)
    .set(o.set)
    .where('id', 'in', (eb: any) => eb.selectFrom(table).select('id').where(o.due).orderBy(o.orderBy).limit(o.limit))
    .where(o.due)
    .returningAll()
    .execute();
}
