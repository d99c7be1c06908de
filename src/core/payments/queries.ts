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

export async function getPayment(deps: Deps, merchantId: string, impUid: string) {
  const row = await base(deps, merchantId).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!row) throw new PierError('not_found', PAYMENT_NOT_FOUND);
  return (await loadV1Payments(deps.store.db, [row]))[0];
}

/** GET /payments: the found ones, in request order, and whether some were missing (207). */
export async function getPayments(deps: Deps, merchantId: string, impUids: string[], merchantUids: string[]) {
  const rows: PaymentRow[] = [];
  if (impUids.length > 0) rows.push(...(await base(deps, merchantId).where('imp_uid', 'in', impUids).execute()));
  if (merchantUids.length > 0) {
    const byMuid = await base(deps, merchantId).where('merchant_uid', 'in', merchantUids).orderBy('started_at', 'desc').execute();
    // one payment per merchant_uid: the latest attempt, as /payments/find does
    for (const muid of merchantUids) {
      const hit = byMuid.find((r) => r.merchant_uid === muid);
      if (hit && !rows.some((r) => r.imp_uid === hit.imp_uid)) rows.push(hit);
    }
  }
  const ordered = [
    ...impUids.flatMap((id) => rows.filter((r) => r.imp_uid === id)),
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

/** The time a status is filtered by (spec/api-v1.md §3.5). */
const STATUS_TIME = { ready: 'started_at', paid: 'paid_at', cancelled: 'cancelled_at', failed: 'failed_at' } as const;

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
  let q = base(deps, merchantId);
  if (status === 'all') {
    q = q.where((eb) =>
      eb.or(
        PAYMENT_STATUSES.map((s) =>
          eb.and([eb('status', '=', s), eb(STATUS_TIME[s], '>=', range.from), eb(STATUS_TIME[s], '<=', range.to)]),
        ),
      ),
    );
  } else {
    q = q.where('status', '=', status).where(STATUS_TIME[status], '>=', range.from).where(STATUS_TIME[status], '<=', range.to);
  }
  const countRow = await q.clearSelect().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const total = Number(countRow.n);
  const rows = await q
    .orderBy(column, direction)
    .orderBy('imp_uid', direction)
    .limit(page.limit)
    .offset((page.page - 1) * page.limit)
    .execute();
  return paged(await loadV1Payments(deps.store.db, rows), total, page);
}

/** GET /subscribe/customers/{customer_uid}/payments */
export async function listCustomerPayments(deps: Deps, merchantId: string, customerUid: string, page: Page) {
  const q = base(deps, merchantId).where('customer_uid', '=', customerUid);
  const countRow = await q.clearSelect().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows = await q.orderBy('started_at', 'desc').orderBy('imp_uid', 'desc').limit(page.limit).offset((page.page - 1) * page.limit).execute();
  return paged(await loadV1Payments(deps.store.db, rows), Number(countRow.n), page);
}
