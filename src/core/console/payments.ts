import { sql } from 'kysely';
import { PAYMENT_STATUSES, type PaymentRow, type PaymentStatus } from '../../domain/payment.js';
import type { Deps } from '../deps.js';
import { loadV1Payments } from '../payments/render.js';

export const PAY_METHODS = ['card', 'trans', 'vbank', 'phone'] as const;

export interface PaymentFilter {
  status?: PaymentStatus;
  payMethod?: string;
  /** UNIX seconds, inclusive, on started_at */
  from?: number;
  to?: number;
  /** matches imp_uid, merchant_uid, buyer name / e-mail / phone (substring, case-insensitive) */
  q?: string;
}

const KST_SECONDS = 9 * 3600;

function likePattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * How many matching payments the console counts at most. Beyond it the total reads "10,000+" and
 * the pages stop there: a count or an OFFSET past it would read a large merchant's whole history
 * for one page view.
 */
export const COUNT_CAP = 10_000;

/**
 * How many of a merchant's payments one statement of a walk reads at most. On SQLite a statement
 * runs on the event loop that serves every merchant's payments, so a console page or an export
 * is many short statements with a turn of the loop between them, never one long one.
 */
export const WALK_WINDOW = 1_000;

/** The same bound where a window reads whole rows (an export): about 200 rows take as long as 1,000 keys. */
export const ROWS_WINDOW = 200;

/** A position in a merchant's payments, newest first: `started_at`, then `imp_uid`, both descending. */
interface WalkKey {
  started_at: number;
  imp_uid: string;
}

/**
 * The merchant's payments the indexed filters of `f` admit (status, dates), after `from` and down to
 * `downTo` included in the walk's order. One lower and one upper bound on `started_at`, the
 * tighter of the filter's and the window's: a database uses one range of the index, and with two
 * SQLite took the filter's and read the whole day for each window. The `or`s only settle the
 * payments of a bound's own second.
 */
function admitted(deps: Deps, merchantId: string, f: PaymentFilter, from: WalkKey | null, downTo: WalkKey | null) {
  let q = deps.store.db.selectFrom('payments').where('merchant_id', '=', merchantId);
  if (f.status && (PAYMENT_STATUSES as readonly string[]).includes(f.status)) q = q.where('status', '=', f.status);
  const upper = Math.min(f.to ?? Infinity, from?.started_at ?? Infinity);
  const lower = Math.max(f.from ?? -Infinity, downTo?.started_at ?? -Infinity);
  if (upper !== Infinity) q = q.where('started_at', '<=', upper);
  if (lower !== -Infinity) q = q.where('started_at', '>=', lower);
  if (from) q = q.where((eb) => eb.or([eb('started_at', '<', from.started_at), eb('imp_uid', '<', from.imp_uid)]));
  if (downTo) q = q.where((eb) => eb.or([eb('started_at', '>', downTo.started_at), eb('imp_uid', '>=', downTo.imp_uid)]));
  return q;
}

type PaymentsQuery = ReturnType<typeof admitted>;

/** The filters no index serves (method, text), or null when there are none. */
function scanFilters(f: PaymentFilter): ((q: PaymentsQuery) => PaymentsQuery) | null {
  const text = f.q?.trim();
  if (!f.payMethod && !text) return null;
  return (q) => {
    if (f.payMethod) q = q.where('pay_method', '=', f.payMethod);
    if (!text) return q;
    const pattern = likePattern(text);
    const like = (col: string) => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`;
    return q.where((eb) =>
      eb.or([eb('imp_uid', '=', text), eb('merchant_uid', '=', text), like('merchant_uid'), like('imp_uid'), like('buyer_name'), like('buyer_email'), like('buyer_tel')]),
    );
  };
}

const newestFirst = <Q extends { orderBy: PaymentsQuery['orderBy'] }>(q: Q) => q.orderBy('started_at', 'desc').orderBy('imp_uid', 'desc') as unknown as Q;

/** One window of a walk: its keys, and a query of exactly its payments for the statement that reads them. */
interface WalkWindow {
  keys: WalkKey[];
  payments(): PaymentsQuery;
}

/**
 * One merchant's payments that the indexed filters of `f` admit (status, dates), newest first, at
 * most `size` at a time: each window's keys are one walk of `payments_merchant_started` (or of the
 * status index), and what the caller reads of the window is bounded by it. The event loop gets a
 * turn between windows.
 */
async function* windowsOf(deps: Deps, merchantId: string, f: PaymentFilter, size: number): AsyncGenerator<WalkWindow> {
  let key: WalkKey | null = null;
  for (;;) {
    const keys: WalkKey[] = await newestFirst(admitted(deps, merchantId, f, key, null).select(['started_at', 'imp_uid'])).limit(size).execute();
    if (keys.length === 0) return;
    const from = key;
    const end = keys[keys.length - 1]!;
    const last: WalkKey = { started_at: Number(end.started_at), imp_uid: end.imp_uid };
    yield { keys, payments: () => admitted(deps, merchantId, f, from, last) };
    if (keys.length < size) return;
    key = last;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * The console's payment search: one merchant's payments, newest first, a page at a time. The total
 * counts up to COUNT_CAP (`capped` when there are more), and pages end there.
 */
export async function searchPayments(deps: Deps, merchantId: string, f: PaymentFilter, page: { page: number; limit: number }) {
  const scan = scanFilters(f);
  const keys: string[] = [];
  for await (const w of windowsOf(deps, merchantId, f, WALK_WINDOW)) {
    const matched = scan ? await newestFirst(scan(w.payments()).select(['started_at', 'imp_uid'])).execute() : w.keys;
    for (const k of matched) keys.push(k.imp_uid);
    if (keys.length > COUNT_CAP) break;
  }
  const capped = keys.length > COUNT_CAP;
  const total = Math.min(keys.length, COUNT_CAP);
  const pages = Math.max(1, Math.ceil(total / page.limit));
  const pageNo = Math.min(page.page, pages);
  const wanted = keys.slice((pageNo - 1) * page.limit, pageNo * page.limit);
  const rows = wanted.length === 0 ? [] : await deps.store.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).where('imp_uid', 'in', wanted).execute();
  const byUid = new Map<string, PaymentRow>(rows.map((r) => [r.imp_uid, r]));
  const list = wanted.flatMap((uid) => byUid.get(uid) ?? []);
  return { total, capped, page: pageNo, limit: page.limit, pages, list: await loadV1Payments(deps.store.db, list) };
}

/** Every payment the filter matches, newest first, a window of whole rows at a time (CSV export). */
export async function* exportPayments(deps: Deps, merchantId: string, f: PaymentFilter): AsyncGenerator<PaymentRow[]> {
  const scan = scanFilters(f) ?? ((q: PaymentsQuery) => q);
  for await (const w of windowsOf(deps, merchantId, f, ROWS_WINDOW)) {
    const rows = await newestFirst(scan(w.payments()).selectAll()).execute();
    if (rows.length > 0) yield rows;
  }
}

export interface DailyStat {
  /** YYYY-MM-DD in KST */
  day: string;
  /** attempts that reached an outcome (approved or declined) */
  attempts: number;
  approved: number;
  declined: number;
  /** KRW approved that day, refunds not deducted */
  volume: number;
  /** KRW refunded of that day's approvals */
  refunded: number;
  /** approved / (approved + declined), null with no outcomes */
  approvalRate: number | null;
}

/**
 * Per KST day of `started_at`, over the last `days` days up to `now`: approvals, declines, volume.
 * A payment counts as approved when it was ever paid (paid_at > 0), even if refunded since.
 * Each day is summed a window of payments at a time (windowsOf): a busy merchant's dashboard
 * never reads two weeks', or even one day's, payments in one statement.
 */
export async function dailyStats(deps: Deps, merchantId: string, nowSeconds: number, days = 14): Promise<DailyStat[]> {
  const todayIndex = Math.floor((nowSeconds + KST_SECONDS) / 86400);
  const out: DailyStat[] = [];
  for (let i = todayIndex - days + 1; i <= todayIndex; i++) {
    const dayStart = i * 86400 - KST_SECONDS;
    const r = { approved: 0, declined: 0, volume: 0, refunded: 0 };
    for await (const w of windowsOf(deps, merchantId, { from: dayStart, to: Math.min(dayStart + 86399, nowSeconds) }, WALK_WINDOW)) {
      const sums = await w
        .payments()
        .select([
          sql<number>`sum(case when paid_at > 0 then 1 else 0 end)`.as('approved'),
          sql<number>`sum(case when paid_at = 0 and status = 'failed' then 1 else 0 end)`.as('declined'),
          sql<number>`sum(case when paid_at > 0 then amount else 0 end)`.as('volume'),
          sql<number>`sum(case when paid_at > 0 then cancel_amount else 0 end)`.as('refunded'),
        ])
        .executeTakeFirstOrThrow();
      for (const k of ['approved', 'declined', 'volume', 'refunded'] as const) r[k] += Number(sums[k] ?? 0);
    }
    const { approved, declined } = r;
    out.push({
      day: new Date(i * 86400 * 1000).toISOString().slice(0, 10),
      attempts: approved + declined,
      approved,
      declined,
      volume: r.volume,
      refunded: r.refunded,
      approvalRate: approved + declined > 0 ? approved / (approved + declined) : null,
    });
  }
  return out;
}

/** A KST calendar date `YYYY-MM-DD` as UNIX seconds: its first second, or its last with `end`. */
export function kstDayBound(date: string, end = false): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(ms);
  if (d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() + 1 !== Number(m[2]) || d.getUTCDate() !== Number(m[3])) return null;
  const start = ms / 1000 - KST_SECONDS;
  return end ? start + 86399 : start;
}
