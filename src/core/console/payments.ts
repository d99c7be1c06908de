import { sql } from 'kysely';
import { PAYMENT_STATUSES, type PaymentStatus } from '../../domain/payment.js';
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

function filtered(deps: Deps, merchantId: string, f: PaymentFilter) {
  let q = deps.store.db.selectFrom('payments').where('merchant_id', '=', merchantId);
  if (f.status && (PAYMENT_STATUSES as readonly string[]).includes(f.status)) q = q.where('status', '=', f.status);
  if (f.payMethod) q = q.where('pay_method', '=', f.payMethod);
  if (f.from !== undefined) q = q.where('started_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('started_at', '<=', f.to);
  const text = f.q?.trim();
  if (text) {
    const pattern = likePattern(text);
    const like = (col: string) => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`;
    q = q.where((eb) =>
      eb.or([
        eb('imp_uid', '=', text),
        eb('merchant_uid', '=', text),
        like('merchant_uid'),
        like('imp_uid'),
        like('buyer_name'),
        like('buyer_email'),
        like('buyer_tel'),
      ]),
    );
  }
  return q;
}

/** The console's payment search: one merchant's payments, newest first, a page at a time. */
export async function searchPayments(deps: Deps, merchantId: string, f: PaymentFilter, page: { page: number; limit: number }) {
  const q = filtered(deps, merchantId, f);
  const countRow = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const total = Number(countRow.n);
  const rows = await q
    .selectAll()
    .orderBy('started_at', 'desc')
    .orderBy('imp_uid', 'desc')
    .limit(page.limit)
    .offset((page.page - 1) * page.limit)
    .execute();
  return { total, page: page.page, limit: page.limit, pages: Math.max(1, Math.ceil(total / page.limit)), list: await loadV1Payments(deps.store.db, rows) };
}

/** Every payment the filter matches (up to `max`), for CSV export. */
export async function exportPayments(deps: Deps, merchantId: string, f: PaymentFilter, max = 50_000) {
  return filtered(deps, merchantId, f).selectAll().orderBy('started_at', 'desc').orderBy('imp_uid', 'desc').limit(max).execute();
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
 */
export async function dailyStats(deps: Deps, merchantId: string, nowSeconds: number, days = 14): Promise<DailyStat[]> {
  const todayIndex = Math.floor((nowSeconds + KST_SECONDS) / 86400);
  const firstIndex = todayIndex - days + 1;
  const since = firstIndex * 86400 - KST_SECONDS;
  // literals, not parameters: a bound JS number is a REAL in SQLite and would make this a float division
  const dayExpr = sql<number>`(started_at + ${sql.lit(KST_SECONDS)}) / 86400`;
  const rows = await deps.store.db
    .selectFrom('payments')
    .select([
      dayExpr.as('d'),
      sql<number>`sum(case when paid_at > 0 then 1 else 0 end)`.as('approved'),
      sql<number>`sum(case when paid_at = 0 and status = 'failed' then 1 else 0 end)`.as('declined'),
      sql<number>`sum(case when paid_at > 0 then amount else 0 end)`.as('volume'),
      sql<number>`sum(case when paid_at > 0 then cancel_amount else 0 end)`.as('refunded'),
    ])
    .where('merchant_id', '=', merchantId)
    .where('started_at', '>=', since)
    .where('started_at', '<=', nowSeconds)
    .groupBy(dayExpr)
    .execute();
  const byDay = new Map(rows.map((r) => [Math.floor(Number(r.d)), r]));
  const out: DailyStat[] = [];
  for (let i = firstIndex; i <= todayIndex; i++) {
    const r = byDay.get(i);
    const approved = Number(r?.approved ?? 0);
    const declined = Number(r?.declined ?? 0);
    out.push({
      day: new Date(i * 86400 * 1000).toISOString().slice(0, 10),
      attempts: approved + declined,
      approved,
      declined,
      volume: Number(r?.volume ?? 0),
      refunded: Number(r?.refunded ?? 0),
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
