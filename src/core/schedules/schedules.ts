import { PierError } from '../errors.js';
import type { CardInput } from '../../lib/card.js';
import { unixSeconds } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { sql } from 'kysely';
import { isUniqueViolation, type Store } from '../../store/db.js';
import { dbNow } from '../../store/db-clock.js';
import { CUSTOM_PLAN } from '../../store/pg-prepared.js';
import type { BillingKeysTable, PaymentSchedulesTable } from '../../store/types.js';
import { lockHolder } from '../payments/attempts.js';
import { findBillingKey, forgetIssuedKey, issueAtPg, storeBillingKey, UNKNOWN_CUSTOMER, type CustomerFields, type IssuedKey } from '../billing-keys/billing-keys.js';
import { resolveChannel, type ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { loadV1Payment } from '../payments/render.js';
import { runClaimedSchedule, schedulePolicyFor, type ScheduleRow, type ScheduleRunPolicy } from './run.js';
import { VAT_OVER_TAXABLE, vatWithinTaxable } from '../../domain/payment.js';

/** V1 messages (spec/api-v1.md §1.5); the duplicate and not-found texts are Pier's (V1's are unconfirmed). */
export const NO_CUSTOMER = '등록된 고객정보가 없습니다.';
export const NOTHING_TO_UNSCHEDULE = '취소할 예약결제 기록이 존재하지 않습니다.';
const SCHEDULE_CHANGED = '예약결제 상태가 변경되었습니다. 다시 조회하세요.';
export const SCHEDULE_NOT_FOUND = '존재하지 않는 예약결제 정보입니다.';
export const DUPLICATE_SCHEDULE = (uid: string) => `이미 예약된 merchant_uid입니다: ${uid}`;
export const ALREADY_PAID_SCHEDULE = (uid: string) => `이미 결제가 이루어진 merchant_uid입니다: ${uid}`;
export const PAST_SCHEDULE = (at: number, now: number) => `schedule_at(${at})은 현재 시각(${now}) 이후여야 합니다.`;

/** One item of `schedules[]`, validated by the route. */
export interface NewSchedule {
  merchantUid: string;
  scheduleAt: number;
  amount: number;
  taxFree: number;
  vatAmount: number | null;
  name: string | null;
  buyer: { name: string | null; email: string | null; tel: string | null; addr: string | null; postcode: string | null };
  customData: string | null;
  noticeUrl: string | null;
  cardQuota: number;
  promotionId: string | null;
  /** accepted V1 fields Pier does not act on */
  options: Record<string, unknown> | null;
}

export interface ScheduleRequest {
  customerUid: string;
  customerId: string | null;
  /** card fields: a billing key is issued (or replaced) first, in the same call */
  card: CardInput | null;
  /** `pg` / `channel_key`: the channel for a new billing key */
  pg: string | null;
  schedules: NewSchedule[];
}

export type V1Schedule = ReturnType<typeof toV1Schedule>;

/**
 * The V1 ScheduleResult (spec §12.4), every key present. A schedule a worker is running is still
 * `scheduled` to V1; `payment_status` is that of the resulting payment (so `cancelled` once it is
 * refunded in full), `null` until executed.
 */
export function toV1Schedule(s: ScheduleRow, payment?: { status: string; fail_reason: string | null }) {
  const executed = s.state === 'executed';
  return {
    customer_uid: s.customer_uid,
    merchant_uid: s.merchant_uid,
    imp_uid: executed ? s.imp_uid : null,
    pg_provider: s.pg_provider,
    pg_id: s.pg_id,
    customer_id: s.customer_id,
    schedule_at: s.schedule_at,
    executed_at: executed ? s.executed_at : 0,
    revoked_at: s.state === 'revoked' ? s.revoked_at : 0,
    amount: s.amount,
    currency: s.currency,
    name: s.name,
    buyer_name: s.buyer_name,
    buyer_email: s.buyer_email,
    buyer_tel: s.buyer_tel,
    buyer_addr: s.buyer_addr,
    buyer_postcode: s.buyer_postcode,
    custom_data: s.custom_data,
    schedule_status: s.state === 'running' ? 'scheduled' : s.state,
    payment_status: executed ? (payment?.status ?? 'failed') : null,
    fail_reason: executed && (payment?.status ?? 'failed') === 'failed' ? (payment?.fail_reason ?? s.fail_reason) : null,
    promotion_id: s.promotion_id,
  };
}

/** Schedules as V1 objects, with the status of the payments they made. */
export async function toV1Schedules(deps: Deps, rows: ScheduleRow[]): Promise<V1Schedule[]> {
  const impUids = rows.filter((r) => r.state === 'executed' && r.imp_uid).map((r) => r.imp_uid!);
  const payments = impUids.length
    ? await deps.store.db.selectFrom('payments').select(['imp_uid', 'status', 'fail_reason']).where('imp_uid', 'in', impUids).execute()
    : [];
  const byImp = new Map(payments.map((p) => [p.imp_uid, p]));
  return rows.map((r) => toV1Schedule(r, r.imp_uid ? byImp.get(r.imp_uid) : undefined));
}

/**
 * POST /subscribe/payments/schedule. Validates every item first (schedule_at not in the past,
 * merchant_uid new), issues the billing key when card fields are given, then records all items
 * in one transaction: all or none.
 */
export async function createSchedules(deps: Deps, merchantId: string, req: ScheduleRequest): Promise<V1Schedule[]> {
  const { db } = deps.store;
  const now = unixSeconds(deps.clock);
  if (req.schedules.length === 0) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: schedules');
  const seen = new Set<string>();
  for (const s of req.schedules) {
    if (s.scheduleAt < now) throw new PierError('invalid_parameter', PAST_SCHEDULE(s.scheduleAt, now));
    if (s.taxFree > s.amount) throw new PierError('invalid_parameter', `schedules[${s.merchantUid}].tax_free는 amount보다 클 수 없습니다.`);
    if (!vatWithinTaxable(s.amount, s.taxFree, s.vatAmount)) throw new PierError('invalid_parameter', `schedules[${s.merchantUid}].${VAT_OVER_TAXABLE}`);
    if (seen.has(s.merchantUid)) throw new PierError('refused', DUPLICATE_SCHEDULE(s.merchantUid));
    seen.add(s.merchantUid);
  }
  const uids = [...seen];
  await refuseTakenMerchantUids(deps, merchantId, uids);

  // Card fields: the key is issued at the PG first, storing nothing, and replaces the customer's
  // card only in the commit that records the schedules. A request refused for a merchant_uid
  // scheduled or paid while the PG was issuing changes nothing: the schedule made meanwhile
  // charges the card it was made with, and the new key is deleted at the PG again (as onetime's, pay.ts).
  const customer: CustomerFields = { customer_id: req.customerId };
  const issued = req.card ? await issueForSchedules(deps, merchantId, req.pg, req.card, customer) : null;
  const stored = issued ? null : await findBillingKey(deps, merchantId, req.customerUid);
  if (!issued && !stored) throw new PierError('refused', NO_CUSTOMER);
  let rows: ScheduleRow[] = [];
  try {
    if (issued) await refuseTakenMerchantUids(deps, merchantId, uids);
    await db.transaction().execute(async (trx) => {
      const key = issued ? await storeBillingKey(deps, merchantId, req.customerUid, issued.channel, issued.key, customer, trx) : stored!;
      rows = req.schedules.map((s) => scheduleRowOf(merchantId, req, s, key, now));
      // in chunks: SQLite allows at most 32,766 bound parameters per statement
      for (let i = 0; i < rows.length; i += 200) await trx.insertInto('payment_schedules').values(rows.slice(i, i + 200)).execute();
    });
  } catch (err) {
    // the key was stored nowhere: not left at the PG unknown to anyone
    if (issued) await forgetIssuedKey(deps, issued.channel, issued.key);
    if (isUniqueViolation(err)) throw new PierError('refused', DUPLICATE_SCHEDULE(uids.join(', ')).slice(0, 300));
    throw err;
  }
  return toV1Schedules(deps, rows);
}

/** Refuses a request any of whose merchant_uids is scheduled already, or paid or being paid. */
async function refuseTakenMerchantUids(deps: Deps, merchantId: string, uids: string[]): Promise<void> {
  const [taken] = await merchantUidsAmong(deps.store, 'payment_schedules', 'merchant_uid', merchantId, uids, 1);
  if (taken) throw new PierError('refused', DUPLICATE_SCHEDULE(taken));
  for (const uid of await merchantUidsAmong(deps.store, 'payments', 'merchant_uid_lock', merchantId, uids)) {
    // a virtual account past its deposit deadline releases its merchant_uid here (attempts.ts)
    if (await lockHolder(deps, merchantId, uid)) throw new PierError('refused', ALREADY_PAID_SCHEDULE(uid));
  }
}

/** A billing key issued at the PG for a schedule request, stored nowhere yet; V1's text for a refused card (spec §1.5). */
async function issueForSchedules(deps: Deps, merchantId: string, pg: string | null, card: CardInput, customer: CustomerFields): Promise<{ channel: ResolvedChannel; key: IssuedKey }> {
  const channel = await resolveChannel(deps, merchantId, pg, 'api');
  try {
    return { channel, key: await issueAtPg(channel, card, customer) };
  } catch (err) {
    if (err instanceof PierError && err.kind === 'card_refused') {
      throw new PierError('refused', `카드정보 확인에 실패하였습니다. ${err.message.replace(/^카드정보 인증 및 빌키 발급에 실패하였습니다\.\s*/, '')}`);
    }
    throw err;
  }
}

function scheduleRowOf(merchantId: string, req: ScheduleRequest, s: NewSchedule, key: BillingKeysTable, now: number): ScheduleRow {
  return {
    id: newId('sch'),
    merchant_id: merchantId,
    customer_uid: req.customerUid,
    merchant_uid: s.merchantUid,
    customer_id: req.customerId ?? key.customer_id,
    pg_provider: key.pg_provider,
    pg_id: key.pg_id,
    state: 'scheduled',
    schedule_at: s.scheduleAt,
    due_at: s.scheduleAt,
    attempts: 0,
    lease_owner: null,
    lease_until: 0,
    imp_uid: null,
    amount: s.amount,
    tax_free: s.taxFree,
    vat_amount: s.vatAmount,
    currency: 'KRW',
    name: s.name,
    // V1: buyer_* fall back to the billing key's customer_*
    buyer_name: s.buyer.name ?? key.customer_name,
    buyer_email: s.buyer.email ?? key.customer_email,
    buyer_tel: s.buyer.tel ?? key.customer_tel,
    buyer_addr: s.buyer.addr ?? key.customer_addr,
    buyer_postcode: s.buyer.postcode ?? key.customer_postcode,
    custom_data: s.customData,
    notice_url: s.noticeUrl,
    card_quota: s.cardQuota,
    promotion_id: s.promotionId,
    options: s.options && Object.keys(s.options).length > 0 ? JSON.stringify(s.options) : null,
    fail_reason: null,
    created_at: now,
    updated_at: now,
    executed_at: 0,
    revoked_at: 0,
  };
}

/**
 * The merchant_uids of `uids` (up to hundreds) that the merchant's `table` holds in `column` (at
 * most `limit`), planned with the list's values at every request (CUSTOM_PLAN): a generic plan
 * compares each row with every parameter of the list in turn.
 */
async function merchantUidsAmong(
  store: Store,
  table: 'payment_schedules' | 'payments',
  column: 'merchant_uid' | 'merchant_uid_lock',
  merchantId: string,
  uids: string[],
  limit = uids.length,
): Promise<string[]> {
  const rows = await store.db
    .selectFrom(table)
    .modifyFront(sql.raw(CUSTOM_PLAN))
    .select(`${column} as uid`)
    .where('merchant_id', '=', merchantId)
    .where(column, 'in', uids)
    .limit(limit)
    .execute();
  return rows.map((row) => row.uid as string);
}

/**
 * POST /subscribe/payments/unschedule: revokes the customer's waiting schedules (all, or the listed
 * merchant_uids). One conditional UPDATE on `state = 'scheduled'`, the same condition a worker's
 * claim has: a schedule in the answer is revoked and will never be charged; one a worker took
 * first is not in the answer.
 */
export async function unschedule(deps: Deps, merchantId: string, req: { customerUid: string | null; merchantUids: string[] }): Promise<V1Schedule[]> {
  if (!req.customerUid && req.merchantUids.length === 0) {
    throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: customer_uid 또는 merchant_uid');
  }
  const now = unixSeconds(deps.clock);
  let q = deps.store.db
    .updateTable('payment_schedules')
    .set({ state: 'revoked', revoked_at: now, updated_at: now })
    .where('merchant_id', '=', merchantId)
    .where('state', '=', 'scheduled');
  if (req.customerUid) q = q.where('customer_uid', '=', req.customerUid);
  if (req.merchantUids.length > 0) q = q.where('merchant_uid', 'in', req.merchantUids);
  const revoked = await q.returningAll().execute();
  if (revoked.length === 0) throw new PierError('refused', NOTHING_TO_UNSCHEDULE);
  revoked.sort((a, b) => a.schedule_at - b.schedule_at || (a.merchant_uid < b.merchant_uid ? -1 : 1));
  return toV1Schedules(deps, revoked);
}

async function findSchedule(deps: Deps, merchantId: string, merchantUid: string): Promise<ScheduleRow> {
  const row = await deps.store.db
    .selectFrom('payment_schedules')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .executeTakeFirst();
  if (!row) throw new PierError('not_found', SCHEDULE_NOT_FOUND);
  return row;
}

/** GET /subscribe/payments/schedule/{merchant_uid} */
export async function getSchedule(deps: Deps, merchantId: string, merchantUid: string): Promise<V1Schedule> {
  return (await toV1Schedules(deps, [await findSchedule(deps, merchantId, merchantUid)]))[0];
}

export interface ScheduleQuery {
  from: number;
  to: number;
  status?: 'scheduled' | 'executed' | 'revoked' | null;
  page: number;
  limit: number;
  /** `scheduled`: oldest schedule_at first; default newest first */
  oldestFirst?: boolean;
}

/**
 * GET /subscribe/payments/schedule and the customer lists: `from <= schedule_at < to`, paged as
 * V1's lists are `{total, previous, next, list}`.
 */
export async function listSchedules(deps: Deps, merchantId: string, q: ScheduleQuery & { customerUid?: string }) {
  if (q.from > q.to) throw new PierError('invalid_parameter', '파라미터 형식이 올바르지 않습니다: from', 'from must not be after to');
  const states = q.status === 'scheduled' ? ['scheduled', 'running'] : q.status ? [q.status] : null;
  // its statements read as many rows as the merchant has schedules in the range: off SQLite's event loop
  const base = () => {
    let b = deps.store.readerDb
      .selectFrom('payment_schedules')
      .where('merchant_id', '=', merchantId)
      .where('schedule_at', '>=', q.from)
      .where('schedule_at', '<', q.to);
    if (q.customerUid) b = b.where('customer_uid', '=', q.customerUid);
    if (states) b = b.where('state', 'in', states);
    return b;
  };
  const { n } = await base()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const total = Number(n);
  const dir = q.oldestFirst ? 'asc' : 'desc';
  const rows = await base()
    .selectAll()
    .orderBy('schedule_at', dir)
    .orderBy('merchant_uid', dir)
    .limit(q.limit)
    .offset((q.page - 1) * q.limit)
    .execute();
  const lastPage = Math.max(1, Math.ceil(total / q.limit));
  return {
    total,
    previous: q.page > 1 ? Math.min(q.page - 1, lastPage) : 0,
    next: q.page < lastPage ? q.page + 1 : 0,
    list: await toV1Schedules(deps, rows),
  };
}

function notWaiting(row: ScheduleRow, paymentStatus: string | null): string {
  switch (row.state) {
    case 'running':
      return '예약결제가 실행 중입니다.';
    case 'revoked':
      return '취소된 예약결제입니다.';
    case 'executed':
      return paymentStatus === 'failed' ? '이미 실행된 예약결제입니다.' : '이미 결제된 예약결제입니다.';
    default:
      return '아직 실행되지 않은 예약결제입니다.';
  }
}

async function paymentStatusOf(deps: Deps, row: ScheduleRow): Promise<string | null> {
  if (row.state !== 'executed' || !row.imp_uid) return null;
  const p = await deps.store.db.selectFrom('payments').select('status').where('imp_uid', '=', row.imp_uid).executeTakeFirst();
  return p?.status ?? 'failed';
}

/** PUT /subscribe/payments/schedule/{merchant_uid}: moves a waiting schedule to another time. */
export async function updateScheduleAt(deps: Deps, merchantId: string, merchantUid: string, scheduleAt: number): Promise<V1Schedule> {
  const row = await findSchedule(deps, merchantId, merchantUid);
  const now = unixSeconds(deps.clock);
  if (row.state !== 'scheduled') throw new PierError('invalid_parameter', notWaiting(row, await paymentStatusOf(deps, row)));
  if (scheduleAt < now) throw new PierError('invalid_parameter', PAST_SCHEDULE(scheduleAt, now));
  const res = await deps.store.db
    .updateTable('payment_schedules')
    .set({ schedule_at: scheduleAt, due_at: scheduleAt, updated_at: now })
    .where('id', '=', row.id)
    .where('state', '=', 'scheduled')
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) {
    const fresh = await findSchedule(deps, merchantId, merchantUid);
    throw new PierError('invalid_parameter', notWaiting(fresh, await paymentStatusOf(deps, fresh)));
  }
  return getSchedule(deps, merchantId, merchantUid);
}

/** A failed or revoked schedule may run again (reschedule, retry); conditional on being unchanged. */
async function reopenable(deps: Deps, merchantId: string, merchantUid: string) {
  const row = await findSchedule(deps, merchantId, merchantUid);
  const status = await paymentStatusOf(deps, row);
  if (!(row.state === 'revoked' || (row.state === 'executed' && status === 'failed'))) {
    // V1 refuses a schedule that cannot run again as a business refusal (HTTP 200, code 1)
    throw new PierError('refused', notWaiting(row, status));
  }
  return row;
}

function sameRow(row: ScheduleRow) {
  return (eb: any) => eb.and([eb('id', '=', row.id), eb('state', '=', row.state), row.imp_uid === null ? eb('imp_uid', 'is', null) : eb('imp_uid', '=', row.imp_uid)]);
}

/** POST …/{merchant_uid}/reschedule: a failed or revoked schedule waits again for `scheduleAt`. */
export async function reschedule(deps: Deps, merchantId: string, merchantUid: string, scheduleAt: number): Promise<V1Schedule> {
  const row = await reopenable(deps, merchantId, merchantUid);
  const now = unixSeconds(deps.clock);
  if (scheduleAt < now) throw new PierError('invalid_parameter', PAST_SCHEDULE(scheduleAt, now));
  const res = await deps.store.db
    .updateTable('payment_schedules')
    .set({ state: 'scheduled', schedule_at: scheduleAt, due_at: scheduleAt, attempts: 0, imp_uid: null, fail_reason: null, executed_at: 0, revoked_at: 0, lease_owner: null, lease_until: 0, updated_at: now })
    .where(sameRow(row))
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new PierError('refused', SCHEDULE_CHANGED);
  return getSchedule(deps, merchantId, merchantUid);
}

/**
 * POST …/{merchant_uid}/retry: charges a failed or revoked schedule now and answers the Payment
 * (V1: read its `status`). A technical failure is not retried later: the answer says it failed.
 */
export async function retrySchedule(deps: Deps, merchantId: string, merchantUid: string, policy: ScheduleRunPolicy = schedulePolicyFor(deps)) {
  const row = await reopenable(deps, merchantId, merchantUid);
  if (!(await findBillingKey(deps, merchantId, row.customer_uid))) throw new PierError('not_found', UNKNOWN_CUSTOMER(row.customer_uid));
  const now = unixSeconds(deps.clock);
  const owner = newId('api');
  const claimed = await deps.store.db
    .updateTable('payment_schedules')
    .set({ state: 'running', lease_owner: owner, lease_until: sql`${dbNow(deps.store)} + ${policy.leaseSeconds}`, attempts: 0, imp_uid: null, fail_reason: null, executed_at: 0, revoked_at: 0, updated_at: now })
    .where(sameRow(row))
    .returningAll()
    .executeTakeFirst();
  if (!claimed) throw new PierError('refused', SCHEDULE_CHANGED);
  const { impUid } = await runClaimedSchedule(deps, claimed, owner, policy, { retryTechnical: false });
  if (!impUid) throw new PierError('internal', 'the retried schedule was taken over by a worker');
  return (await loadV1Payment(deps.store.db, impUid))!;
}
