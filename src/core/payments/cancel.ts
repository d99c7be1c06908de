import { sql, type Expression, type ExpressionBuilder, type InsertObject, type Kysely, type SqlBool } from 'kysely';
import { PierError } from '../errors.js';
import { ConnectorError } from '../../connectors/types.js';
import { cancellableBalance, VAT_OVER_TAXABLE, vatAfterRefunds, vatWithinTaxable } from '../../domain/payment.js';
import { unixSeconds } from '../../lib/clock.js';
import { dbNow } from '../../store/db-clock.js';
import { newCancellationId } from '../../lib/ids.js';
import { channelById } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import type { Database } from '../../store/types.js';
import { recordPaymentEvent } from './events.js';
import { loadV1Payment } from './render.js';

export interface CancelRequest {
  merchantId: string;
  impUid?: string | null;
  merchantUid?: string | null;
  /** omitted or 0 = the whole remaining balance */
  amount?: number | null;
  /** the refund's tax-free part; omitted: the least that keeps the taxable part within its balance (refundTaxFreeIn) */
  taxFree?: number | null;
  /** V1's VAT part of the refund: checked against its taxable part and the VAT left, recorded for the balance (decision 0066), not passed on (Pier's PGs take none) */
  vatAmount?: number | null;
  checksum?: number | null;
  reason?: string | null;
  refundHolder?: string | null;
  refundBank?: string | null;
  refundAccount?: string | null;
  /** V1 enable_webhook: send the `cancelled` webhook once the refund succeeds (spec §13) */
  enableWebhook?: boolean | null;
  /** who asked: V1 always sends the webhook for a console refund (pass `enableWebhook: true` too) */
  by?: 'api' | 'console';
}

export const NOTHING_TO_CANCEL = '취소할 결제건이 존재하지 않습니다.';
/** V1's texts, compared for equality by merchant code (docs/decisions/0011-v1-wire-fidelity.md) */
export const ALREADY_CANCELLED = '이미 전액취소된 주문입니다.';
export const CANCEL_UID_MISSING = 'imp_uid 또는 merchant_uid 중 하나는 지정해주셔야합니다.';

/**
 * POST /payments/cancel, full or partial.
 *  1. Reserve: one conditional UPDATE adds the amount to cancel_pending_amount only while
 *     amount − cancelled − pending still covers it (and equals `checksum` when given). Two
 *     racing refunds can therefore never exceed what was paid, on SQLite or PostgreSQL.
 *  2. Call the PG's refund with no transaction open.
 *  3. Record: move the amount from pending to cancelled (or release it on a decline).
 */
export async function cancelPayment(deps: Deps, req: CancelRequest) {
  const { db } = deps.store;
  let q = db.selectFrom('payments').selectAll().where('merchant_id', '=', req.merchantId);
  if (req.impUid) q = q.where('imp_uid', '=', req.impUid);
  else if (req.merchantUid) {
    // A merchant_uid may have a paid attempt and a cancelled one (a virtual account revoked before
    // the card payment), started in the same second: the paid one is what a refund means, whatever
    // the times say; then the newest, with imp_uid deciding a tie so both stores pick the same row.
    q = q
      .where('merchant_uid', '=', req.merchantUid)
      .where('status', 'in', ['paid', 'cancelled'])
      .orderBy(sql`CASE WHEN status = 'paid' THEN 0 ELSE 1 END`)
      .orderBy('started_at', 'desc')
      .orderBy('imp_uid', 'desc');
  }
  else throw new PierError('invalid_parameter', CANCEL_UID_MISSING);
  const payment = await q.executeTakeFirst();
  if (!payment) throw new PierError('refused', NOTHING_TO_CANCEL);
  if (payment.status === 'cancelled') throw new PierError('refused', ALREADY_CANCELLED);
  if (payment.status !== 'paid') {
    // V1's answer here is unconfirmed: a business refusal, HTTP 200 and code 1 like the others (spec §1.4)
    const unpaidAccount = payment.status === 'ready' && payment.pay_method === 'vbank';
    throw new PierError(
      'refused',
      `결제완료 상태가 아닌 거래는 취소할 수 없습니다. (${payment.status})`,
      unpaidAccount ? 'an unpaid virtual account is revoked with DELETE /vbanks/{imp_uid}; POST /payments/cancel refunds what was paid' : undefined,
    );
  }

  const balance = cancellableBalance(payment);
  const amount = req.amount && req.amount > 0 ? req.amount : balance;
  if (req.checksum !== undefined && req.checksum !== null && req.checksum !== balance) {
    throw new PierError('refused', `checksum(${req.checksum})이 취소 가능 잔액(${balance})과 일치하지 않습니다.`);
  }
  if (amount <= 0) throw new PierError('refused', '취소 가능 잔액이 없습니다.');
  if (amount > balance) throw new PierError('refused', `취소 요청 금액(${amount})이 취소 가능 잔액(${balance})보다 큽니다.`);
  const taxFree = req.taxFree ?? 0;
  if (taxFree > amount) throw new PierError('invalid_parameter', 'tax_free는 취소 요청 금액보다 클 수 없습니다.');
  if (!vatWithinTaxable(amount, taxFree, req.vatAmount ?? null)) throw new PierError('invalid_parameter', VAT_OVER_TAXABLE);
  const channel = payment.channel_id ? await channelById(deps, payment.channel_id) : undefined;
  if (!channel) throw new PierError('refused', '결제한 PG 설정이 삭제되어 취소할 수 없습니다.');
  const partial = amount < payment.amount - payment.cancel_amount;
  const partialAllowed = channel.connector.capabilities.partialCancel[payment.pay_method as 'card'] ?? false;
  if (partial && !partialAllowed) {
    throw new PierError('refused', `${payment.pg_provider} ${payment.pay_method} 결제는 부분취소를 지원하지 않습니다.`);
  }
  if (payment.pay_method === 'vbank' && !(req.refundHolder && req.refundBank && req.refundAccount)) {
    throw new PierError('invalid_parameter', '가상계좌 환불에는 refund_holder, refund_bank, refund_account가 필요합니다.');
  }

  const now = unixSeconds(deps.clock);
  const cancellationId = newCancellationId();
  const left = sql<number>`amount - cancel_amount - cancel_pending_amount`;
  const reserved = await reserveRefund(
    deps,
    payment.imp_uid,
    amount,
    (eb) => eb.and([eb(left, '>=', amount), ...(req.checksum !== undefined && req.checksum !== null ? [eb(left, '=', req.checksum)] : [])]),
    {
      cancellation_id: cancellationId,
      // decided by refundTaxFreeIn with the payment row reserved
      tax_free: 0,
      vat_amount: null,
      reason: req.reason ?? null,
      refund_holder: req.refundHolder ?? null,
      refund_bank: req.refundBank ?? null,
      refund_account: req.refundAccount ?? null,
      // 0: no webhook; 1: API cancel with enable_webhook; 2: console cancel
      notify_webhook: req.enableWebhook ? (req.by === 'console' ? 2 : 1) : 0,
      requested_at: now,
      // reconciliation's grace for a refund whose process dies mid-call counts from here (database clock)
      next_check_at: dbNow(deps.store),
    },
    now,
    // Checked after the payment row is locked by the reservation (SQLite: the write lock), so two
    // racing refunds cannot both take the same won of either part; a refusal rolls the reservation back.
    (trx) => refundTaxFreeIn(trx, payment.imp_uid, amount, req.taxFree ?? null, true, req.vatAmount ?? null),
  );
  if (!reserved) {
    // Another refund got there first; tell the caller what is left now.
    const fresh = await db.selectFrom('payments').selectAll().where('imp_uid', '=', payment.imp_uid).executeTakeFirstOrThrow();
    throw new PierError('refused', `취소 요청 금액(${amount})이 취소 가능 잔액(${cancellableBalance(fresh)})보다 크거나 다른 취소가 진행 중입니다.`);
  }

  let result;
  try {
    result = await channel.connector.refund(channel.credentials, {
      pgTid: payment.pg_tid ?? '',
      moid: payment.imp_uid,
      refundId: cancellationId,
      amount,
      partial,
      reason: req.reason ?? '',
      refundHolder: req.refundHolder ?? undefined,
      refundBank: req.refundBank ?? undefined,
      refundAccount: req.refundAccount ?? undefined,
      // the part decided with the payment row locked, so the PG's books split the refund as Pier's do
      taxFree: reserved.tax_free,
    });
  } catch (err) {
    const ids = { imp_uid: payment.imp_uid, cancellation_id: cancellationId };
    if (err instanceof ConnectorError && !err.inDoubt) {
      await recordingRefundAnswer(deps, ids, () => releaseCancel(deps, payment.imp_uid, cancellationId, amount, `[PG_UNREACHABLE] ${err.message}`));
      throw new PierError('pg_unavailable', 'PG사와 통신하지 못해 취소하지 못했습니다.');
    }
    // The refund may have happened. Keep the amount reserved so nobody refunds it twice.
    await recordingRefundAnswer(deps, ids, () => db.updateTable('payment_cancels').set({ state: 'in_doubt', next_check_at: dbNow(deps.store) }).where('cancellation_id', '=', cancellationId).where('state', '=', 'pending').execute());
    throw new PierError('pg_unavailable', `PG사 응답을 받지 못했습니다. 취소 결과를 확인 중입니다. (cancellation_id: ${cancellationId})`);
  }

  const ids = { imp_uid: payment.imp_uid, cancellation_id: cancellationId };
  if (result.outcome === 'declined') {
    await recordingRefundAnswer(deps, ids, () => releaseCancel(deps, payment.imp_uid, cancellationId, amount, `[${result.code}]${result.message}`));
    throw new PierError('refused', `취소에 실패하였습니다. [${result.code}]${result.message}`);
  }

  await recordingRefundAnswer(
    deps,
    ids,
    async () => {
      const recorded = await recordRefund(deps, payment.imp_uid, cancellationId, amount, result.pgCancelTid, result.cancelledAt, req.reason ?? null, result.receiptUrl);
      // not open any more: reconciliation settled it while the request was on its way (decision 0102)
      if (!recorded) await recordConfirmedAfterAll(deps, payment.imp_uid, cancellationId, amount, result, req.reason ?? null);
    },
    refundedNotRecorded(cancellationId),
  );
  const v1 = (await loadV1Payment(db, payment.imp_uid))!;
  return { payment: v1, cancellationId };
}

/** The PG refunded, and Pier has not recorded it (yet): reconciliation will, with its webhook. */
const refundedNotRecorded = (cancellationId: string) => `PG사에서 취소되었으나 결제 정보에 반영하지 못했습니다. 취소 결과를 확인 중입니다. (cancellation_id: ${cancellationId})`;

/**
 * Recording what the PG answered a refund (or that its answer was lost). When the database fails it
 * (a lock held past the lock wait or statement_timeout, a connection ended mid-statement), nothing of
 * the record is written: the refund stays open (`pending`), its amount reserved, so it is never
 * refunded twice, and reconciliation asks the PG once its grace has passed and records it refunded
 * or releases it. The merchant is told the result is being confirmed (V1's 502, code 1), never a 500;
 * the database's own words go to the error log only (decision 0119). Other errors (a V1 refusal) pass.
 */
async function recordingRefundAnswer<T>(
  deps: Deps,
  ids: { imp_uid: string; cancellation_id: string },
  write: () => Promise<T>,
  message = `취소 결과를 기록하지 못했습니다. 취소 결과를 확인 중입니다. (cancellation_id: ${ids.cancellation_id})`,
): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof PierError) throw err;
    deps.logger.error({ ...ids, err: err instanceof Error ? err.message : String(err) }, 'recording the PG\'s answer to a refund failed; the refund stays reserved for reconciliation');
    throw new PierError('pg_unavailable', message);
  }
}

/**
 * The PG confirmed a refund that was no longer open at Pier: reconciliation asked the PG about it
 * once its grace had passed (the request still on its way: a stalled process, a gateway holding
 * it) and settled it. Recorded, it needs nothing more. Released (the PG had no refund yet when
 * asked), it is recorded after all, as the PG made it, if the balance still holds it. If a refund
 * has taken that balance since, Pier cannot book it now: the PG's total is measured against Pier's
 * once no refund is open (leavePgRefundToMeasure, left first in either case) and the merchant is
 * told the result is being confirmed. Decision 0102.
 */
async function recordConfirmedAfterAll(
  deps: Deps,
  impUid: string,
  cancellationId: string,
  amount: number,
  result: { pgCancelTid: string | null; cancelledAt: number; receiptUrl: string | null },
  reason: string | null,
): Promise<void> {
  const row = await deps.store.db.selectFrom('payment_cancels').select('state').where('cancellation_id', '=', cancellationId).executeTakeFirst();
  if (row?.state !== 'failed') return;
  // first, so a process that dies from here on still leaves the PG's refund to be found: once the
  // refund below is recorded, the measure finds nothing beyond Pier's refunds and is removed
  await leavePgRefundToMeasure(deps, impUid, REFUNDED_AT_PG);
  if (await writeRefund(deps, impUid, cancellationId, amount, result.pgCancelTid, result.cancelledAt, reason, result.receiptUrl, 'released')) {
    deps.logger.warn({ imp_uid: impUid, cancellation_id: cancellationId, amount }, 'the PG confirmed a refund reconciliation had released (the PG had none yet when asked); recorded as refunded');
    return;
  }
  deps.logger.error(
    { imp_uid: impUid, cancellation_id: cancellationId, amount },
    'the PG confirmed a refund reconciliation had released, and another refund has taken its balance since; the PG\'s total is measured once no refund of the payment is open',
  );
  throw new PierError('pg_unavailable', refundedNotRecorded(cancellationId));
}

/**
 * Records a refund the PG confirmed: moves its amount from pending to cancelled. Conditional on the
 * refund still being open, so the request path and reconciliation can both call it safely.
 */
export async function recordRefund(
  deps: Deps,
  impUid: string,
  cancellationId: string,
  amount: number,
  pgCancelTid: string | null,
  cancelledAt: number,
  reason: string | null,
  receiptUrl: string | null = null,
): Promise<boolean> {
  return writeRefund(deps, impUid, cancellationId, amount, pgCancelTid, cancelledAt, reason, receiptUrl, 'open');
}

/** Rolls back a transaction whose refund the payment's balance no longer holds. */
class BalanceTakenMeanwhile extends Error {}

/**
 * recordRefund, from an open refund (its amount reserved in cancel_pending_amount) or from one
 * released (`released`: its reservation given back; recorded only while the balance still holds its
 * amount, false otherwise, nothing written).
 */
async function writeRefund(
  deps: Deps,
  impUid: string,
  cancellationId: string,
  amount: number,
  pgCancelTid: string | null,
  cancelledAt: number,
  reason: string | null,
  receiptUrl: string | null,
  from: 'open' | 'released',
): Promise<boolean> {
  const done = unixSeconds(deps.clock);
  const write = deps.store.db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('payment_cancels')
      .set({ state: 'succeeded', pg_tid: pgCancelTid, cancelled_at: cancelledAt || done, receipt_url: receiptUrl, ...(from === 'released' ? { fail_reason: null } : {}) })
      .where('cancellation_id', '=', cancellationId)
      .where('state', 'in', from === 'open' ? ['pending', 'in_doubt'] : ['failed'])
      .returning(['notify_webhook'])
      .executeTakeFirst();
    if (!res) return false;
    let payment = trx
      .updateTable('payments')
      .set({
        cancel_amount: sql`cancel_amount + ${amount}`,
        // a released refund's reservation was given back already
        ...(from === 'open' ? { cancel_pending_amount: sql`cancel_pending_amount - ${amount}` } : {}),
        // domain statusAfterRefund, written in SQL so concurrent refunds apply it atomically
        status: sql`CASE WHEN cancel_amount + ${amount} >= amount THEN 'cancelled' ELSE status END`,
        cancelled_at: cancelledAt || done,
        cancel_reason: reason,
        updated_at: done,
      })
      .where('imp_uid', '=', impUid);
    if (from === 'released') payment = payment.where('status', '=', 'paid').where(sql<number>`amount - cancel_amount - cancel_pending_amount`, '>=', amount);
    const p = await payment.returning(['merchant_id', 'merchant_uid', 'notice_url']).executeTakeFirst();
    if (!p) throw new BalanceTakenMeanwhile();
    // V1 sends `cancelled` for an API refund only when it was asked with enable_webhook: true
    if (Number(res.notify_webhook) > 0) {
      await recordPaymentEvent(trx, deps, {
        merchantId: p.merchant_id,
        impUid,
        merchantUid: p.merchant_uid,
        status: 'cancelled',
        cancellationId,
        noticeUrl: p.notice_url,
        cause: Number(res.notify_webhook) === 2 ? 'console_cancel' : 'api_cancel',
      });
    }
    return true;
  });
  return write.catch((err: unknown) => {
    if (err instanceof BalanceTakenMeanwhile) return false;
    throw err;
  });
}

/** Gives a refund's reserved amount back to the balance: the PG refused it or never got it. */
export async function releaseCancel(deps: Deps, impUid: string, cancellationId: string, amount: number, reason: string): Promise<boolean> {
  return deps.store.db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('payment_cancels')
      .set({ state: 'failed', fail_reason: reason.slice(0, 500) })
      .where('cancellation_id', '=', cancellationId)
      .where('state', 'in', ['pending', 'in_doubt'])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await trx
      .updateTable('payments')
      .set({ cancel_pending_amount: sql`cancel_pending_amount - ${amount}` })
      .where('imp_uid', '=', impUid)
      .execute();
    return true;
  });
}

/** The reason recorded for a refund the PG made on its own (a net-cancel, a refund at its console). */
export const REFUNDED_AT_PG = 'PG사에서 취소된 거래 (refunded at the PG)';

/**
 * The PG refunded `pgCancelledTotal` of an approval (a net-cancel, a refund made at the PG): records
 * the part Pier has not recorded yet as a refund, with its `cancelled` webhook. Conditional on the
 * payment's refunds being what the PG's total is compared with, so safe to repeat.
 * `pierWhenRead`: what Pier had recorded (refunded, reserved) when the PG's total was read, if the
 * caller knows it; by default the payment as it stands now. Given, nothing is recorded unless Pier
 * still has exactly that: a refund through Pier since then is not in the PG's total.
 * With a refund through Pier open (reserved), the PG's refund is left to be measured once none is
 * (leavePgRefundToMeasure; true: left), never guessed from the reserved amount (decision 0102).
 */
export async function mirrorPgRefund(
  deps: Deps,
  impUid: string,
  pgCancelledTotal: number,
  reason: string,
  pierWhenRead?: { cancelAmount: number; pendingAmount: number },
): Promise<boolean> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').select(['status', 'cancel_amount', 'cancel_pending_amount']).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p || p.status !== 'paid') return false;
  const known = pierWhenRead ?? { cancelAmount: Number(p.cancel_amount), pendingAmount: Number(p.cancel_pending_amount) };
  if (known.pendingAmount > 0) {
    // A refund through Pier is open: the PG's total may or may not hold it yet (on its way, or its
    // answer lost), so what the PG refunded on its own cannot be told from it. Subtracting it dropped
    // the PG's refund when that one was then declined or made after all (decision 0102): it is
    // measured once no refund of the payment is open.
    if (pgCancelledTotal <= known.cancelAmount) return false;
    await leavePgRefundToMeasure(deps, impUid, reason);
    return true;
  }
  const amount = pgCancelledTotal - known.cancelAmount;
  if (amount <= 0) return false;
  const now = unixSeconds(deps.clock);
  const cancellationId = newCancellationId();
  // the refunds the PG's total was compared with: one recorded meanwhile changes what it leaves to record
  const reserved = await reserveRefund(
    deps,
    impUid,
    amount,
    (eb) => eb.and([eb('cancel_amount', '=', known.cancelAmount), eb('cancel_pending_amount', '=', known.pendingAmount)]),
    { cancellation_id: cancellationId, tax_free: 0, vat_amount: null, reason, refund_holder: null, refund_bank: null, refund_account: null, notify_webhook: 1, requested_at: now },
    now,
    // the PG does not say which part it refunded: taxable first, so later refunds through Pier still fit
    (trx) => refundTaxFreeIn(trx, impUid, amount, null, false),
  );
  if (!reserved) return false;
  deps.logger.warn({ imp_uid: impUid, amount }, 'the PG refunded an approval (net-cancel or a refund made at the PG); recorded at Pier');
  return recordRefund(deps, impUid, cancellationId, amount, null, now, reason);
}

/**
 * A refund the PG made whose amount Pier cannot tell yet (decision 0102): an open `payment_cancels`
 * row of amount 0 (so it reserves nothing and no refund has one) in doubt, which reconciliation
 * settles by inquiry like the refunds in doubt (reconcile.ts settleRefundsOf): once no refund of the
 * payment with an amount is open, what the PG refunded beyond Pier's refunds is recorded as a refund
 * made at the PG (`reason`), and the row removed. One such row a payment is enough.
 */
export async function leavePgRefundToMeasure(deps: Deps, impUid: string, reason: string): Promise<void> {
  const { db } = deps.store;
  const waiting = await db.selectFrom('payment_cancels').select('id').where('imp_uid', '=', impUid).where('amount', '=', 0).where('state', 'in', ['pending', 'in_doubt']).executeTakeFirst();
  if (waiting) return;
  const p = await db.selectFrom('payments').select('merchant_id').where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  await db
    .insertInto('payment_cancels')
    .values({
      imp_uid: impUid,
      merchant_id: p.merchant_id,
      cancellation_id: newCancellationId(),
      amount: 0,
      tax_free: 0,
      vat_amount: null,
      reason,
      state: 'in_doubt',
      pg_tid: null,
      fail_reason: null,
      refund_holder: null,
      refund_bank: null,
      refund_account: null,
      notify_webhook: 1,
      requested_at: unixSeconds(deps.clock),
      cancelled_at: 0,
      next_check_at: dbNow(deps.store),
    })
    .execute();
  deps.logger.warn({ imp_uid: impUid }, 'the PG refunded a payment while a refund of it through Pier was open; its amount is measured once none is open');
}

/**
 * The PG's own refund (`pgCancelledTotal`: a net-cancel, a refund at its console) of an approval Pier
 * is about to record: `reserve` writes it as a pending refund in the approval's transaction
 * (record-outcome.ts approveAttemptWith), `record` completes it after that commit, with its
 * `cancelled` webhook. A crash between the two leaves a pending refund that reconcileInDoubtCancels
 * settles by inquiry (the PG holds it), never a paid payment whose refund nobody records; and no
 * refund through Pier can come between the approval and the refund's reservation.
 */
export function pgRefundOfApproval(deps: Deps, impUid: string, pgCancelledTotal: number, reason: string) {
  const cancellationId = newCancellationId();
  let requestedAt = 0;
  return {
    async reserve(trx: Kysely<Database>, _paid: unknown, now: number): Promise<void> {
      requestedAt = now;
      const refund = { cancellation_id: cancellationId, tax_free: 0, vat_amount: null, reason, refund_holder: null, refund_bank: null, refund_account: null, notify_webhook: 1, requested_at: now };
      // the approval was an open attempt's: nothing refunded or reserved yet
      const nothingYet: PaymentGuard = (eb) => eb.and([eb('cancel_amount', '=', 0), eb('cancel_pending_amount', '=', 0)]);
      const reserved = await reserveRefundIn(trx, impUid, pgCancelledTotal, nothingYet, refund, now, (t) => refundTaxFreeIn(t, impUid, pgCancelledTotal, null, false));
      if (!reserved) throw new Error(`the PG's refund of ${impUid} could not be reserved with its approval`);
    },
    async record(): Promise<boolean> {
      deps.logger.warn({ imp_uid: impUid, amount: pgCancelledTotal }, 'the PG refunded an approval before Pier recorded it (net-cancel or a refund made at the PG); recorded at Pier');
      return recordRefund(deps, impUid, cancellationId, pgCancelledTotal, null, requestedAt, reason);
    },
  };
}

export type PgRefundOfApproval = ReturnType<typeof pgRefundOfApproval>;

/**
 * The tax-free part of a refund of `amount`, in the transaction that reserved it (the payment row
 * locked). A payment's amount is its tax-free part and its taxable part (VAT included); each refund
 * takes some of both, and neither part may be refunded beyond what the payment had of it, or the
 * taxable balance goes negative and the VAT of the balance and its history no longer add up
 * (docs/decisions/0055-refund-tax-parts.md).
 *  - `taxFree` given: refused (PierError) when it exceeds the tax-free part not yet refunded, or
 *    when the rest (amount − taxFree) exceeds the taxable part not yet refunded.
 *  - `taxFree` omitted: the least tax-free part that keeps the taxable part within its balance
 *    (0 while the taxable balance covers the refund, V1's default; the whole tax-free balance for a
 *    refund of everything left), refused only if even that does not fit.
 *  - `strict` false (a refund the PG already made): never refused; the split is recorded as best fits.
 *  - `vatAmount`: refused (400) when more than the refund's taxable part, amount − the tax-free
 *    part decided here (decision 0055; the check before the reservation assumed tax_free 0); then
 *    refused (business refusal) when more than the VAT not yet refunded, or when it leaves the
 *    refund more supply (taxable part − VAT) than the supply not yet refunded: the balance's VAT or
 *    supply would go negative (decision 0066). These two only when the payment stated its VAT.
 *    Answered to be recorded: the balance takes it.
 */
async function refundTaxFreeIn(trx: Kysely<Database>, impUid: string, amount: number, taxFree: number | null, strict = true, vatAmount: number | null = null): Promise<RefundParts> {
  const p = await trx.selectFrom('payments').select(['amount', 'tax_free', 'vat_amount']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  // recorded, pending and in-doubt refunds, in the order the balance lists them
  const refunds = await trx
    .selectFrom('payment_cancels')
    .select(['amount', 'tax_free', 'vat_amount'])
    .where('imp_uid', '=', impUid)
    .where('state', 'in', ['pending', 'in_doubt', 'succeeded'])
    .orderBy('id')
    .execute();
  const taxable = Number(p.amount) - Number(p.tax_free);
  let [taxFreeTaken, taxableTaken] = [0, 0];
  const steps = refunds.map((r) => {
    taxFreeTaken += Number(r.tax_free);
    taxableTaken += Number(r.amount) - Number(r.tax_free);
    return { taxableLeft: taxable - taxableTaken, vat: r.vat_amount === null || r.vat_amount === undefined ? null : Number(r.vat_amount) };
  });
  const taxFreeLeft = Math.max(Number(p.tax_free) - taxFreeTaken, 0);
  const taxableLeft = Math.max(taxable - taxableTaken, 0);
  const split = taxFree ?? Math.min(Math.max(amount - taxableLeft, 0), amount);
  if (!strict) return { tax_free: Math.min(split, taxFreeLeft), vat_amount: null };
  if (split > taxFreeLeft) throw new PierError('refused', `tax_free(${split})가 면세 취소 가능 잔액(${taxFreeLeft})보다 큽니다.`);
  if (amount - split > taxableLeft) {
    throw new PierError('refused', `과세 취소 요청 금액(${amount - split})이 과세 취소 가능 잔액(${taxableLeft})보다 큽니다.`);
  }
  // against the taxable part this refund actually takes: with tax_free omitted it is only known here
  if (!vatWithinTaxable(amount, split, vatAmount)) throw new PierError('invalid_parameter', VAT_OVER_TAXABLE);
  // Only against a VAT the merchant stated: a payment that stated none has Pier's 1/11 as its VAT, a
  // figure of Pier's that must not refuse a refund (`vat_amount: 0` on a full refund of it, say); its
  // balance takes the stated VAT as far as it fits (vatAfterRefunds)
  if (vatAmount !== null && p.vat_amount !== null) {
    const vats = vatAfterRefunds(taxable, p.vat_amount === null ? null : Number(p.vat_amount), steps);
    const vatLeft = vats[vats.length - 1];
    if (vatAmount > vatLeft) throw new PierError('refused', `부가세 취소 요청 금액(${vatAmount})이 부가세 취소 가능 잔액(${vatLeft})보다 큽니다.`);
    const supply = amount - split - vatAmount;
    if (supply > taxableLeft - vatLeft) {
      throw new PierError('refused', `과세 공급가액 취소 요청 금액(${supply})이 과세 공급가액 취소 가능 잔액(${taxableLeft - vatLeft})보다 큽니다.`);
    }
  }
  return { tax_free: split, vat_amount: vatAmount };
}

/**
 * Reserves `amount` of a paid payment for a refund, in one transaction: adds it to
 * cancel_pending_amount while `guard` holds of the payment row, and writes the refund's `pending`
 * row. False when the guard no longer held (another refund got there first).
 */
async function reserveRefund(deps: Deps, impUid: string, amount: number, guard: PaymentGuard, refund: NewRefundRow, now: number, check?: RefundCheck): Promise<RefundParts | null> {
  return deps.store.db.transaction().execute((trx) => reserveRefundIn(trx, impUid, amount, guard, refund, now, check));
}

/** What a reservation holds of the payment row (besides `status` paid). */
type PaymentGuard = (eb: ExpressionBuilder<Database, 'payments'>) => Expression<SqlBool>;
/** The refund's row as the caller gives it; the reservation fills in the rest. */
type NewRefundRow = Omit<InsertObject<Database, 'payment_cancels'>, 'imp_uid' | 'amount' | 'state' | 'pg_tid' | 'fail_reason' | 'cancelled_at'>;
/** What a refund takes of a payment's parts: its tax-free part, and the VAT the merchant stated for it (null: none). */
type RefundParts = { tax_free: number; vat_amount: number | null };
/** Runs with the payment row reserved, before the refund's row is written: throws to refuse, or answers the refund's parts. */
type RefundCheck = (trx: Kysely<Database>) => Promise<RefundParts>;

/** reserveRefund in the caller's transaction: the refund's parts as recorded, or null when the guard refused it. */
async function reserveRefundIn(trx: Kysely<Database>, impUid: string, amount: number, guard: PaymentGuard, refund: NewRefundRow, now: number, check?: RefundCheck): Promise<RefundParts | null> {
  const reserved = await trx
    .updateTable('payments')
    .set({ cancel_pending_amount: sql`cancel_pending_amount + ${amount}`, updated_at: now })
    .where('imp_uid', '=', impUid)
    .where('status', '=', 'paid')
    .where(guard)
    .returning('merchant_id')
    .executeTakeFirst();
  if (!reserved) return null;
  const decided: Partial<RefundParts> = check ? await check(trx) : {};
  await trx
    .insertInto('payment_cancels')
    // the payment's merchant, for reconciliation's walk by merchant (migration 023)
    .values({ ...refund, ...decided, imp_uid: impUid, merchant_id: reserved.merchant_id, amount, state: 'pending', pg_tid: null, fail_reason: null, cancelled_at: 0 })
    .execute();
  return { tax_free: decided.tax_free ?? 0, vat_amount: decided.vat_amount ?? null };
}
