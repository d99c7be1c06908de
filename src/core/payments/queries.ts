import { sql } from 'kysely';
import { PierError } from '../errors.js';
import { PAYMENT_STATUSES, type PaymentRow, type PaymentStatus } from '../../domain/payment.js';
import type { Deps } from '../deps.js';
import { loadV1Payments } from './render.js';

export const PAYMENT_NOT_FOUND = '존재하지 않는 결제정보입니다.';
export const SORTINGS = ['-started', 'started', '-paid', 'paid', '-updated', 'updated'] as const;
export type Sorting = (typeof SORTINGS)[number];

const SORT_COLUMN = { started: 'started_at', paid: 'paid_at', updated: 'updated_at' } as const;

function orderOf(sorting: Sorting | undefined) {
  const s = sorting ?? '-started';
  const desc = s.startsWith('-');
  return { column: SORT_COLUMN[s.replace('-', '') as keyof typeof SORT_COLUMN], direction: desc ? ('desc' as const) : ('asc' as const) };
}

function base(deps: Deps, merchantId: string) {
  return deps.store.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId);
}

/**
 * A list's statements: what they read grows with the merchant's history (an exact total, any of
 * three sort orders), so on SQLite they run off the event loop (Store.readerDb).
 */
function listBase(deps: Deps, merchantId: string) {
  return deps.store.readerDb.selectFrom('payments').where('merchant_id', '=', merchantId);
}

/**
 * The merchant's payments among `impUids`, in that order (missing ones left out). The merchant is
 * checked here, not in the statement: given `merchant_id = ? AND imp_uid IN (…)`, SQLite (no
 * statistics) reads every payment of the merchant's through a merchant index instead of looking
 * the ids up by primary key, 20-80 ms with 200,000 of them.
 */
export async function paymentRowsOf(deps: Deps, merchantId: string, impUids: readonly string[]): Promise<PaymentRow[]> {
  if (impUids.length === 0) return [];
  const rows = await deps.store.db.selectFrom('payments').selectAll().where('imp_uid', 'in', impUids).execute();
  const byId = new Map(rows.filter((r) => r.merchant_id === merchantId).map((r) => [r.imp_uid, r]));
  return impUids.flatMap((id) => byId.get(id) ?? []);
}

export async function getPayment(deps: Deps, merchantId: string, impUid: string) {
  const row = await base(deps, merchantId).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!row) throw new PierError('not_found', PAYMENT_NOT_FOUND);
  return (await loadV1Payments(deps.store.db, [row]))[0];
}

/**
 * GET /payments/{imp_uid}/balance: the payment with its tax-free part and stated VAT and, by
 * cancellation_id, the tax-free part and stated VAT of each refund in its cancel_history
 * (decision 0055 keeps them within the payment's, 0066 records a refund's VAT).
 */
export async function getPaymentWithTaxFreeParts(deps: Deps, merchantId: string, impUid: string) {
  const row = await base(deps, merchantId).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!row) throw new PierError('not_found', PAYMENT_NOT_FOUND);
  const refunds = await deps.store.db.selectFrom('payment_cancels').select(['cancellation_id', 'tax_free', 'vat_amount']).where('imp_uid', '=', impUid).where('state', '=', 'succeeded').execute();
  return {
    payment: (await loadV1Payments(deps.store.db, [row]))[0],
    taxFree: Number(row.tax_free),
    /** the VAT the merchant stated for the payment (`vat_amount`), null when it gave none */
    vatAmount: row.vat_amount === null ? null : Number(row.vat_amount),
    /** each refund's tax-free part, and the VAT it stated (null: none) */
    refundParts: new Map(refunds.map((r) => [r.cancellation_id, { taxFree: Number(r.tax_free), vat: r.vat_amount === null || r.vat_amount === undefined ? null : Number(r.vat_amount) }])),
  };
}

/** GET /payments: the found ones, in request order, each once however often it is named (decision 0094), and whether some were missing (207). */
export async function getPayments(deps: Deps, merchantId: string, impUids: string[], merchantUids: string[]) {
  const distinctImpUids = [...new Set(impUids)];
  const rows = await paymentRowsOf(deps, merchantId, distinctImpUids);
  if (merchantUids.length > 0) {
    const byMuid = await base(deps, merchantId).where('merchant_uid', 'in', merchantUids).orderBy('started_at', 'desc').execute();
    // one payment per merchant_uid: the latest attempt, as /payments/find does
    for (const muid of merchantUids) {
      const hit = byMuid.find((r) => r.merchant_uid === muid);
      if (hit && !rows.some((r) => r.imp_uid === hit.imp_uid)) rows.push(hit);
    }
  }
  const ordered = [
    ...distinctImpUids.flatMap((id) => rows.filter((r) => r.imp_uid === id)),
    ...rows.filter((r) => !impUids.includes(r.imp_uid)),
  ];
  const foundImp = new Set(ordered.map((r) => r.imp_uid));
  const foundMuid = new Set(ordered.map((r) => r.merchant_uid));
  const missing = impUids.some((id) => !foundImp.has(id)) || merchantUids.some((m) => !foundMuid.has(m));
  return { payments: await loadV1Payments(deps.store.db, ordered), missing };
}

/** GET /payments/find/{merchant_uid}[/{status}]: the first by sorting (default newest started). */
export async function findPayment(deps: Deps, merchantId: string, merchantUid: string, status: PaymentStatus | undefined, sorting?: Sorting) {
  const { column, direction } = orderOf(sorting);
  let q = base(deps, merchantId).where('merchant_uid', '=', merchantUid);
  if (status) q = q.where('status', '=', status);
  const row = await q.orderBy(column, direction).orderBy('imp_uid', direction).executeTakeFirst();
  if (!row) throw new PierError('not_found', PAYMENT_NOT_FOUND);
  return (await loadV1Payments(deps.store.db, [row]))[0];
}

export interface Page {
  page: number;
  limit: number;
}

function paged<T>(list: T[], total: number, page: Page) {
  const lastPage = Math.max(1, Math.ceil(total / page.limit));
  return {
    total,
    previous: page.page > 1 ? page.page - 1 : 0,
    next: page.page < lastPage ? page.page + 1 : 0,
    list,
  };
}

/** GET /payments/findAll/{merchant_uid}[/{status}] */
export async function findAllPayments(deps: Deps, merchantId: string, merchantUid: string, status: PaymentStatus | undefined, page: Page, sorting?: Sorting) {
  const { column, direction } = orderOf(sorting);
  let q = base(deps, merchantId).where('merchant_uid', '=', merchantUid);
  if (status) q = q.where('status', '=', status);
  const all = await q.orderBy(column, direction).orderBy('imp_uid', direction).execute();
  if (all.length === 0) throw new PierError('not_found', PAYMENT_NOT_FOUND);
  const slice = all.slice((page.page - 1) * page.limit, page.page * page.limit);
  return paged(await loadV1Payments(deps.store.db, slice), all.length, page);
}

/**
 * The time a status is filtered by (spec/api-v1.md §3.5), and the same as the one expression the
 * index `payments_merchant_status_time` is made on (migration 018): spelled differently, no
 * database would plan the list on it.
 */
const STATUS_TIME_COLUMN = { ready: 'started_at', paid: 'paid_at', cancelled: 'cancelled_at', failed: 'failed_at' } as const;
const STATUS_TIME = sql.raw<number>(`case status ${PAYMENT_STATUSES.map((s) => `when '${s}' then ${STATUS_TIME_COLUMN[s]}`).join(' ')} end`);

/** GET /payments/status/{status}: `from <= t <= to` on the status's own time; window ≤ 90 days. */
export async function listPaymentsByStatus(
  deps: Deps,
  merchantId: string,
  status: PaymentStatus | 'all',
  range: { from: number; to: number },
  page: Page,
  sorting?: Sorting,
) {
  const { column, direction } = orderOf(sorting);
  const q = listBase(deps, merchantId)
    .where('status', 'in', status === 'all' ? PAYMENT_STATUSES : [status])
    .where(STATUS_TIME, '>=', range.from)
    .where(STATUS_TIME, '<=', range.to);
  const countRow = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  // sorted by the status's own time, the page is the index's next entries; sorted by another time,
  // the sort reads keys, not rows: the index holds started_at, and the page's rows are read after
  const byIndex = status !== 'all' && STATUS_TIME_COLUMN[status] === column;
  const keys = await q
    .select('imp_uid')
    .orderBy(byIndex ? STATUS_TIME : column, direction)
    .orderBy('imp_uid', direction)
    .limit(page.limit)
    .offset((page.page - 1) * page.limit)
    .execute();
  return paged(await loadV1Payments(deps.store.db, await paymentRowsOf(deps, merchantId, keys.map((k) => k.imp_uid))), Number(countRow.n), page);
}

/** GET /subscribe/customers/{customer_uid}/payments */
export async function listCustomerPayments(deps: Deps, merchantId: string, customerUid: string, page: Page) {
  const q = listBase(deps, merchantId).where('customer_uid', '=', customerUid);
  const countRow = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const keys = await q.select('imp_uid').orderBy('started_at', 'desc').orderBy('imp_uid', 'desc').limit(page.limit).offset((page.page - 1) * page.limit).execute();
  return paged(await loadV1Payments(deps.store.db, await paymentRowsOf(deps, merchantId, keys.map((k) => k.imp_uid))), Number(countRow.n), page);
}
