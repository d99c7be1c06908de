import { sql, type SelectQueryBuilder } from 'kysely';

/**
 * Walks one merchant's rows of a table newest first, a window at a time, for the console's lists,
 * exports and sums (decision 0034). On SQLite a statement runs on the event loop that serves every
 * merchant's payments, so a large merchant's list is many short statements with a turn of the loop
 * between them, never one that reads or sorts the merchant's whole history. The rows are ordered by
 * a time column, then a unique id column, both descending, which an index `(merchant_id, time, id)`
 * gives in order.
 */

/**
 * How many matching rows a list counts at most. Beyond it the total reads "10,000+" and the pages
 * stop there: a count or an OFFSET past it would read a large merchant's whole history for one
 * page view.
 */
export const COUNT_CAP = 10_000;

/** How many rows one statement of a walk reads at most. */
export const WALK_WINDOW = 1_000;

/** The same bound where a window reads whole rows (an export): about 200 rows take as long as 1,000 keys. */
export const ROWS_WINDOW = 200;

/** `column` contains `text`, ignoring case (a console search; `%`, `_` and `\\` in `text` are literal). */
export function containsText(column: string, text: string) {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

type AnySelect = SelectQueryBuilder<any, any, any>;

export interface Walk<Q extends AnySelect> {
  /** the time column (UNIX seconds) and the unique id column the walk is ordered by */
  at: string;
  id: string;
  /** the rows the equality filters an index serves admit (the merchant, a status) */
  base(): Q;
  /** the filter's own inclusive bounds on `at` */
  earliest?: number;
  latest?: number;
}

/** A position in a walk. */
interface WalkKey {
  at: number;
  id: string;
}

export interface WalkWindow<Q> {
  /** the window's ids, in the walk's order */
  ids: string[];
  /** a query of exactly the window's rows, for the statement that reads them */
  rows(): Q;
}

/**
 * The rows after `from` and down to `downTo` included. One lower and one upper bound on `at`, the
 * tighter of the filter's and the window's: a database reads one range of the index, and given two
 * SQLite took the filter's and read the whole range for each window. The `or`s only settle the rows
 * of a bound's own second.
 */
function between<Q extends AnySelect>(walk: Walk<Q>, from: WalkKey | null, downTo: WalkKey | null): Q {
  const upper = Math.min(walk.latest ?? Infinity, from?.at ?? Infinity);
  const lower = Math.max(walk.earliest ?? -Infinity, downTo?.at ?? -Infinity);
  let q: AnySelect = walk.base();
  if (upper !== Infinity) q = q.where(walk.at, '<=', upper);
  if (lower !== -Infinity) q = q.where(walk.at, '>=', lower);
  if (from) q = q.where((eb) => eb.or([eb(walk.at, '<', from.at), eb(walk.id, '<', from.id)]));
  if (downTo) q = q.where((eb) => eb.or([eb(walk.at, '>', downTo.at), eb(walk.id, '>=', downTo.id)]));
  return q as Q;
}

/** `q` in the walk's order. */
export function inWalkOrder<Q extends AnySelect>(walk: Walk<AnySelect>, q: Q): Q {
  return q.orderBy(walk.at, 'desc').orderBy(walk.id, 'desc') as Q;
}

/** The walk's windows of at most `size` rows each; the event loop gets a turn between them. */
export async function* windowsOf<Q extends AnySelect>(walk: Walk<Q>, size: number): AsyncGenerator<WalkWindow<Q>> {
  let key: WalkKey | null = null;
  for (;;) {
    const keys = (await inWalkOrder(walk, between(walk, key, null).select([sql.ref(walk.at).as('at'), sql.ref(walk.id).as('id')]))
      .limit(size)
      .execute()) as Array<{ at: number | string; id: string }>;
    if (keys.length === 0) return;
    const from = key;
    const end = keys[keys.length - 1]!;
    const last: WalkKey = { at: Number(end.at), id: end.id };
    yield { ids: keys.map((k) => k.id), rows: () => between(walk, from, last) };
    if (keys.length < size) return;
    key = last;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * A page of a list: the ids of page `page.page` among the walk's rows that `matching` keeps (all,
 * when null), newest first, counting at most COUNT_CAP + 1 of them. A page past the cap or the end
 * is the last page.
 */
export async function pageOfWalk<Q extends AnySelect>(walk: Walk<Q>, matching: ((q: Q) => Q) | null, page: { page: number; limit: number }) {
  const ids: string[] = [];
  for await (const w of windowsOf(walk, WALK_WINDOW)) {
    if (!matching) ids.push(...w.ids);
    else for (const r of (await inWalkOrder(walk, matching(w.rows()).select(sql.ref(walk.id).as('id'))).execute()) as Array<{ id: string }>) ids.push(r.id);
    if (ids.length > COUNT_CAP) break;
  }
  const capped = ids.length > COUNT_CAP;
  const total = Math.min(ids.length, COUNT_CAP);
  const pages = Math.max(1, Math.ceil(total / page.limit));
  const pageNo = Math.min(page.page, pages);
  return { total, capped, page: pageNo, pages, ids: ids.slice((pageNo - 1) * page.limit, pageNo * page.limit) };
}
