import { sql } from 'kysely';
import { PAYMENT_STATUSES, type PaymentRow, type PaymentStatus } from '../../domain/payment.js';
import type { Deps } from '../deps.js';
import { paymentRowsOf } from '../payments/queries.js';
import { loadV1Payments } from '../payments/render.js';
import { containsText, inWalkOrder, pageOfWalk, ROWS_WINDOW, WALK_WINDOW, windowsOf, type Walk } from '../../store/walk.js';

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

/** The merchant's payments the filters an index serves admit (status, dates), as a walk (decision 0034). */
function paymentsWalk(deps: Deps, merchantId: string, f: PaymentFilter): Walk<PaymentsQuery> {
  return {
    at: 'started_at',
    id: 'imp_uid',
    base: () => {
      const q = deps.store.db.selectFrom('payments').where('merchant_id', '=', merchantId);
      return f.status && (PAYMENT_STATUSES as readonly string[]).includes(f.status) ? q.where('status', '=', f.status) : q;
    },
    earliest: f.from,
    latest: f.to,
  };
}

function paymentsOf(deps: Deps) {
  return deps.store.db.selectFrom('payments');
}

type PaymentsQuery = ReturnType<typeof paymentsOf>;

/** The filters no index serves (method, text), or null when there are none. */
function scanFilters(f: PaymentFilter): ((q: PaymentsQuery) => PaymentsQuery) | null {
  const text = f.q?.trim();
  if (!f.payMethod && !text) return null;
  return (q) => {
    if (f.payMethod) q = q.where('pay_method', '=', f.payMethod);
    if (!text) return q;
    return q.where((eb) =>
      eb.or([eb('imp_uid', '=', text), eb('merchant_uid', '=', text), ...['merchant_uid', 'imp_uid', 'buyer_name', 'buyer_email', 'buyer_tel'].map((col) => containsText(col, text))]),
    );
  };
}

/**
 * The console's payment search: one merchant's payments, newest first, a page at a time. The total
 * counts up to COUNT_CAP (`capped` when there are more), and pages end there.
 */
export async function searchPayments(deps: Deps, merchantId: string, f: PaymentFilter, page: { page: number; limit: number }) {
  const found = await pageOfWalk(paymentsWalk(deps, merchantId, f), scanFilters(f), page);
  const list = await paymentRowsOf(deps, merchantId, found.ids);
  return { total: found.total, capped: found.capped, page: found.page, limit: page.limit, pages: found.pages, list: await loadV1Payments(deps.store.db, list) };
}

/** Every payment the filter matches, newest first, a window of whole rows at a time (CSV export). */
export async function* exportPayments(deps: Deps, merchantId: string, f: PaymentFilter): AsyncGenerator<PaymentRow[]> {
  const walk = paymentsWalk(deps, merchantId, f);
  const scan = scanFilters(f) ?? ((q: PaymentsQuery) => q);
  for await (const w of windowsOf(walk, ROWS_WINDOW)) {
    const rows = await inWalkOrder(walk, scan(w.rows()).selectAll()).execute();
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
    for await (const w of windowsOf(paymentsWalk(deps, merchantId, { from: dayStart, to: Math.min(dayStart + 86399, nowSeconds) }), WALK_WINDOW)) {
      const sums = await w
        .rows()
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
