/**
 * What a payment-window attempt becomes once the PG itself has been asked (issue #9).
 *
 * The buyer's browser only carries the PG's result; tPay signs the amount and order id of it but
 * not the result code, card or installments. So every outcome recorded here comes from the PG's
 * own answer (`trans_search` on the attempt's moid, tid and amount), and:
 *  - an approval the merchant's checkout did not allow (a payment method other than the one it
 *    asked for, card company not enabled, installments outside display.card_quota or below 50,000
 *    KRW) is refunded at once and recorded `failed`; an account issued for a checkout that asked
 *    for no account, or due later than it asked, is closed at the PG (decision 0085);
 *  - an approval that reaches an attempt Pier already closed is recorded when its merchant_uid is
 *    still free, else refunded at once and recorded as paid and cancelled (`cancelled` webhook);
 *  - an approval the PG already net-cancelled is recorded with its refund;
 *  - before any approval is recorded, a row to acknowledge it to the PG (resultConfirm) is
 *    written (window-confirms.ts), so a crash cannot leave a recorded approval unacknowledged.
 */
import type { InquiryResult } from '../../connectors/types.js';
import { unixSeconds } from '../../lib/clock.js';
import { isUniqueViolation } from '../../store/db.js';
import type { ExpressionBuilder } from 'kysely';
import type { Database, PaymentsTable } from '../../store/types.js';
import { cancelPayment, mirrorPgRefund, pgRefundOfApproval, REFUNDED_AT_PG, type PgRefundOfApproval } from '../payments/cancel.js';
import { channelById, type ResolvedChannel } from '../merchants/channels.js';
import { approvalColumns, approvalOf, approveAttemptWith, recordApproval, recordIssuedVbank, vbankColumns, type Approval } from '../payments/record-outcome.js';
import { lockHolder, yieldsToWindowApproval, type LockHolder } from '../payments/attempts.js';
import { revokeVbank } from '../virtual-accounts/revoke.js';
import { allowedQuotas, enabledCards, merchantUidTakenError, prepareMismatchMessage, RSP_ERRORS, type CheckoutParams } from './params.js';
import type { Deps } from '../deps.js';
import { refusePgCallWhenStopping } from '../errors.js';
import { realNowMs } from '../sandbox/clock.js';
import { recordPaymentEvent } from '../payments/events.js';
import { lockedHolder, releasingMerchantUid } from '../payments/merchant-uid-handback.js';
import { confirmNow, enqueueWindowConfirm, enqueueWindowRecheck, owesLateRefund, PG_WINDOW_LIFETIME_SECONDS, windowNowMs, windowOverAtMs } from './window-confirms.js';

export type FoundAtPg = Extract<InquiryResult, { found: true }>;

/**
 * The merchant's card rules (request_pay `card.detail` / `card.direct`, `display.card_quota`, the
 * 50,000 KRW installment floor) checked against the approved card: null when it complies.
 */
export function cardRuleViolation(params: Pick<CheckoutParams, 'pay_method' | 'customer_uid' | 'amount' | 'card_detail' | 'card_direct' | 'display_card_quota'>, found: FoundAtPg): { code: string; message: string } | null {
  if (params.pay_method !== 'card' || params.customer_uid) return null;
  const enabled = enabledCards(params);
  if (!found.cardCode || !enabled.some((c) => c.code === found.cardCode)) {
    return {
      code: RSP_ERRORS.cardNotAllowed,
      message: `가맹점이 허용하지 않은 카드사(${found.cardName ?? found.cardCode ?? '알 수 없음'})로 승인되어 결제를 취소하였습니다. (the card company is not one the merchant enabled; the approval was refunded)`,
    };
  }
  // 0 and 1 are both a lump sum, which the window always offers
  if (found.cardQuota >= 2 && !allowedQuotas(params).includes(found.cardQuota)) {
    return {
      code: RSP_ERRORS.quotaNotAllowed,
      message: `허용되지 않은 할부개월(${found.cardQuota}개월)로 승인되어 결제를 취소하였습니다. (installment months not allowed for this payment; the approval was refunded)`,
    };
  }
  return null;
}

const PAY_METHOD_NAMES: Record<string, string> = { card: '신용카드', trans: '실시간계좌이체', vbank: '가상계좌', phone: '휴대폰소액결제' };

/**
 * The PG reports a window attempt paid (or its account issued) with another method than the one
 * its checkout asked for: the method is the browser's to post (tPay signs only amt, mid and moid of
 * its form; NICE's SDK reads it from the page), so a buyer can rewrite it and pay with a method the
 * merchant did not offer, its card rules never applied (decision 0085); so is escrow, which the
 * checkout never asks for (decision 0086). Null when it agrees, when the PG does not say, or when
 * the attempt is already recorded: a recorded payment stands.
 */
export async function payMethodViolation(deps: Deps, impUid: string, found: FoundAtPg): Promise<{ code: string; message: string } | null> {
  const row = await deps.store.db
    .selectFrom('payments')
    .select(['pay_method', 'status', 'pg_state', 'channel', 'customer_uid', 'merchant_uid_lock'])
    .where('imp_uid', '=', impUid)
    .executeTakeFirst();
  if (!row) return null;
  const recorded = row.status === 'paid' || row.status === 'cancelled' || (row.status === 'ready' && row.pg_state === 'done');
  if (recorded) return null;
  if (isBillingWindowBeforeCharge(row)) {
    // tPay's CDBILLRG rewritten to CARD: a card payment with no key behind it, reported to the
    // merchant as a billing key registered with its first payment
    return {
      code: RSP_ERRORS.payMethodNotAsked,
      message: '빌링키 발급을 요청한 결제창에서 일반 결제로 승인되어 취소하였습니다. (a plain payment approved in a billing-key window, no key issued; refunded)',
    };
  }
  if (found.escrow === true) {
    // tPay's transType=1 or NICE's useEscrow set in the browser: an escrow payment, whose money the
    // PG holds until the buyer confirms delivery, which Pier's checkout never asks for and whose
    // delivery registration (V1 /escrows/logis) Pier does not offer, so the merchant could not
    // release it (decision 0086)
    return {
      code: RSP_ERRORS.payMethodNotAsked,
      message: '요청하지 않은 에스크로 결제로 승인되어 취소하였습니다. (an escrow payment, which the checkout did not ask for; refunded)',
    };
  }
  if (!found.payMethod || row.pay_method === found.payMethod) return null;
  const asked = PAY_METHOD_NAMES[row.pay_method] ?? row.pay_method;
  const paid = PAY_METHOD_NAMES[found.payMethod] ?? found.payMethod;
  return {
    code: RSP_ERRORS.payMethodNotAsked,
    message: `요청한 결제수단(${asked})이 아닌 ${paid}(으)로 결제되어 취소하였습니다. (paid with ${found.payMethod}, not the ${row.pay_method} the checkout asked for; refunded)`,
  };
}

const DAY_MS = 86_400_000;
const KST_OFFSET_MS = 9 * 3_600_000;
/** The longest deadline a window account may get when request_pay named no vbank_due: the longer PG default (NICE's D+7; tPay's is Pier's own D+1). */
const DEFAULT_VBANK_DAYS = 7;

/**
 * The PG issued a window account whose deposit deadline is later than the checkout asked for:
 * `vbank_due` (or, without one, 7 days after the window opened), to the end of that day in KST,
 * as tPay takes a date only. The deadline is the browser's to post (tPay's `vbankExpDate` is not
 * signed; NICE's SDK takes `vbankExpDate` and `vbankValidHours` from the page), so a buyer could
 * hold the order's merchant_uid for years and pay long after the merchant gave the order up
 * (decision 0085). Null when it agrees, when the PG names no deadline (NICE may not: 0041), or
 * when the checkout's session is gone.
 */
export async function vbankDueViolation(deps: Deps, impUid: string, found: FoundAtPg): Promise<{ code: string; message: string } | null> {
  const dueAt = found.vbank?.dueAt ?? 0;
  if (!dueAt) return null;
  const row = await deps.store.db.selectFrom('payments').select('started_at').where('imp_uid', '=', impUid).executeTakeFirst();
  // the checkout's request (kept 7 days past its expiry) says what was asked; without it, nothing is refused
  const params = await checkoutParamsOf(deps, impUid);
  if (!row || !params) return null;
  const asked = params.vbank_due_ms ?? Number(row.started_at) * 1000 + DEFAULT_VBANK_DAYS * DAY_MS;
  const latest = (Math.floor((asked + KST_OFFSET_MS) / DAY_MS) * DAY_MS + DAY_MS - KST_OFFSET_MS) / 1000;
  if (dueAt <= latest) return null;
  return {
    code: RSP_ERRORS.vbankDueNotAsked,
    message: `가상계좌 입금기한이 요청한 기한보다 늦어 계좌를 닫았습니다. (the PG set a deposit deadline later than the checkout asked for; the account was closed)`,
  };
}

/**
 * The prepared amount (POST/PUT /payments/prepare) differs from `amount`, an amount about to be
 * approved or recorded for this attempt: the merchant changed it after the PG window opened at the
 * old one. Null when it agrees, when nothing is prepared, or when the attempt is already recorded
 * (paid, cancelled, an account issued): a recorded payment stands whatever is prepared later.
 */
export async function preparedAmountViolation(deps: Deps, impUid: string, amount: number): Promise<{ code: string; message: string; prepared: number } | null> {
  const row = await deps.store.db
    .selectFrom('payments')
    .innerJoin('payment_prepares', (j) => j.onRef('payment_prepares.merchant_id', '=', 'payments.merchant_id').onRef('payment_prepares.merchant_uid', '=', 'payments.merchant_uid'))
    .select(['payment_prepares.amount as prepared', 'payments.status', 'payments.pg_state'])
    .where('payments.imp_uid', '=', impUid)
    .executeTakeFirst();
  if (!row || Number(row.prepared) === amount) return null;
  const recorded = row.status === 'paid' || row.status === 'cancelled' || (row.status === 'ready' && row.pg_state === 'done');
  if (recorded) return null;
  const prepared = Number(row.prepared);
  return { code: RSP_ERRORS.prepareMismatch, message: prepareMismatchMessage(prepared, amount, true), prepared };
}

export interface WindowAttempt {
  impUid: string;
  merchantId: string;
  amount: number;
  channel: ResolvedChannel;
  /** the checkout's request_pay, for the card rules; null when the session is gone */
  params: CheckoutParams | null;
}

export type ApprovalOutcome = 'paid' | 'refused' | 'refunded' | 'already_settled';

/**
 * Records an approval the PG confirmed for a window attempt, whatever state Pier left the attempt
 * in. Every step is conditional, so a retry, a second process or reconciliation may run it again.
 */
export async function recordPgApproval(
  deps: Deps,
  a: WindowAttempt,
  found: FoundAtPg,
  opts: { bank?: { bankCode: string | null; bankName: string | null }; confirmInline?: boolean } = {},
): Promise<ApprovalOutcome> {
  // the merchant's card rules, then the prepared amount as it is now (V1 checks it before the window
  // opens; a PUT while the window was open must not leave the old amount paid: decision 0043)
  const violation =
    (await payMethodViolation(deps, a.impUid, found)) ?? (a.params ? cardRuleViolation(a.params, found) : null) ?? (await preparedAmountViolation(deps, a.impUid, found.amount));
  if (violation && (await refundAtPg(deps, a, found, `가맹점 결제 조건 위반 (${violation.code})`))) {
    await failWindowAttempt(deps, a.impUid, `[${violation.code}]${violation.message}`, found.pgTid, { windowOver: true });
    deps.logger.warn({ imp_uid: a.impUid, code: violation.code }, 'window approval outside the merchant rules (card rules, prepared amount); refunded');
    return 'refused';
  }

  // the acknowledgement row first: an approval recorded by a process that then dies is still confirmed
  await enqueueWindowConfirm(deps, a.impUid, a.channel.row.id, found.pgTid);
  const approval = approvalOf(found, opts.bank);
  // refunded at the PG already (a net-cancel, or a refund by another path): the refund is reserved
  // in the approval's own transaction (cancel.ts pgRefundOfApproval), recorded right after
  const pgRefund = found.cancelledAmount > 0 ? pgRefundOfApproval(deps, a.impUid, found.cancelledAmount, REFUNDED_AT_PG) : null;
  const approved = await approveWindowAttempt(deps, a.impUid, approval, pgRefund);
  const outcome: ApprovalOutcome = approved ? 'paid' : await adoptLateApproval(deps, a, found, approval, pgRefund);
  // The PG's own notice (NICE's webhook, re-read by inquiry) can record the approval first, and an
  // inquiry does not name the bank of a transfer: the verified post that does fills it in.
  if (outcome === 'already_settled' && opts.bank?.bankCode) {
    await deps.store.db
      .updateTable('payments')
      .set({ bank_code: opts.bank.bankCode, bank_name: opts.bank.bankName })
      .where('imp_uid', '=', a.impUid)
      .where('pg_tid', '=', found.pgTid)
      .where('bank_code', 'is', null)
      .execute();
  }

  if (pgRefund && outcome === 'paid') await pgRefund.record();
  // recorded by another process, or refunded as a late approval for a merchant_uid paid meanwhile:
  // what the PG refunded beyond Pier's refunds as they stand now
  else if (pgRefund) await mirrorPgRefund(deps, a.impUid, found.cancelledAmount, REFUNDED_AT_PG);
  if (opts.confirmInline !== false) await confirmNow(deps, a.impUid, found.pgTid);
  return outcome;
}

/**
 * recordApproval (or approveAttemptWith, the PG's refund reserved alongside) for a window attempt
 * still open. False when the attempt is no longer open, or when another payment holds its
 * merchant_uid (the window takes it only now: decision 0058); adoptLateApproval then tells which.
 */
async function approveWindowAttempt(deps: Deps, impUid: string, approval: Approval, pgRefund: PgRefundOfApproval | null): Promise<boolean> {
  try {
    return pgRefund ? (await approveAttemptWith(deps, impUid, approval, pgRefund.reserve)) !== undefined : await recordApproval(deps, impUid, approval);
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

const OPEN_STATES = ['window', 'calling', 'in_doubt'];

/**
 * Runs `take`, a write by which a window attempt takes its merchant_uid lock (decision 0058). When
 * another payment holds the merchant_uid, `take` fails on the unique index having written nothing,
 * and the answer is that payment (`holder`) and its rsp error (F1002 paid, F1004 in flight). A
 * virtual account past its deposit deadline gives the merchant_uid up (lockHolder), and so does an
 * unpaid window account when `yieldVbank` (holderAfterYield): `take` then runs once more. Only what
 * the PG has approved or issued may close such an account: a write made before Pier's own call to
 * the PG passes false, as that call may still be declined.
 */
export async function withMerchantUid<T>(
  deps: Deps,
  merchantId: string,
  merchantUid: string,
  take: () => Promise<T>,
  opts: { yieldVbank: boolean },
): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; message: string }; holder: LockHolder | undefined }> {
  for (let retried = false; ; retried = true) {
    try {
      return { ok: true, value: await take() };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const holder = opts.yieldVbank ? await holderAfterYield(deps, merchantId, merchantUid) : await lockHolder(deps, merchantId, merchantUid);
      if (holder || retried) return { ok: false, error: merchantUidTakenError(holder), holder };
    }
  }
}

const YIELD_REASON = '같은 주문이 다른 결제로 승인되어 입금 전 가상계좌를 닫습니다. (another payment of this order was approved; the unpaid virtual account is closed)';

/**
 * The payment holding a merchant_uid, once it has given it up if it can: a virtual account past its
 * deposit deadline (lockHolder), or an unpaid virtual account issued in a window, which a window's
 * approval closes at the PG (attempts.ts yieldsToWindowApproval). The PG serialises the close against
 * a deposit: an account paid into meanwhile stays, and keeps the merchant_uid.
 */
async function holderAfterYield(deps: Deps, merchantId: string, merchantUid: string): Promise<LockHolder | undefined> {
  const holder = await lockHolder(deps, merchantId, merchantUid);
  if (!holder || !yieldsToWindowApproval(holder)) return holder;
  try {
    await revokeVbank(deps, merchantId, holder.imp_uid, YIELD_REASON);
    deps.logger.info({ imp_uid: holder.imp_uid, merchant_uid: merchantUid }, 'unpaid window virtual account closed: a window approval takes its merchant_uid');
  } catch (err) {
    deps.logger.warn({ imp_uid: holder.imp_uid, err: (err as Error).message }, 'an unpaid virtual account holding the merchant_uid could not be closed; it keeps it');
  }
  return lockHolder(deps, merchantId, merchantUid);
}

/**
 * recordIssuedVbank for a window attempt. When another payment holds the merchant_uid (paid while
 * this account was being issued), the account is closed at the PG, nobody being able to pay into
 * it, and the attempt failed with that payment's rsp error. False when nothing was recorded.
 */
export async function recordWindowVbank(deps: Deps, channel: ResolvedChannel, p: Pick<PaymentsTable, 'imp_uid' | 'merchant_id' | 'merchant_uid'>, found: FoundAtPg): Promise<boolean> {
  // an account for a checkout that asked for a card, a transfer or a phone payment (its method
  // rewritten in the browser): nobody is to pay into it; closed at the PG like one issued too late
  const method = await payMethodViolation(deps, p.imp_uid, { ...found, payMethod: found.payMethod ?? 'vbank' });
  // an account open longer than the checkout asked (the deadline rewritten in the browser): closed too
  const refused = method ?? (await vbankDueViolation(deps, p.imp_uid, found));
  if (refused) {
    deps.logger.warn({ imp_uid: p.imp_uid, code: refused.code }, 'virtual account issued outside what its checkout asked for (method, deadline); closing it at the PG');
    await closeVbankOfFailedAttempt(deps, channel, p.imp_uid, found);
    await failWindowAttempt(deps, p.imp_uid, `[${refused.code}]${refused.message}`, found.pgTid, { windowOver: true });
    return false;
  }
  const recorded = await withMerchantUid(deps, p.merchant_id, p.merchant_uid, () => recordIssuedVbank(deps, p.imp_uid, found), { yieldVbank: true });
  if (recorded.ok) return recorded.value;
  deps.logger.warn({ imp_uid: p.imp_uid }, 'virtual account issued for a merchant_uid another payment holds; closing it at the PG');
  // throws when the PG will not close it: the attempt stays open, and is asked about again
  await closeVbankOfFailedAttempt(deps, channel, p.imp_uid, found);
  await failWindowAttempt(deps, p.imp_uid, `[${recorded.error.code}]${recorded.error.message}`, found.pgTid, { windowOver: true });
  return false;
}

/**
 * An approval Pier could not record as an open attempt's: the attempt was closed as failed (the buyer
 * closed the window, then the PG's approval arrived), or another payment holds its merchant_uid (it
 * was paid meanwhile: in another window, by an API charge). Take the merchant_uid when it is free
 * and record the approval paid; when another payment holds it, record the approval and refund it at
 * once.
 */
async function adoptLateApproval(deps: Deps, a: WindowAttempt, found: FoundAtPg, approval: Approval, pgRefund: PgRefundOfApproval | null): Promise<ApprovalOutcome> {
  const { db } = deps.store;
  const p = await db
    .selectFrom('payments')
    .select(['status', 'pg_state', 'merchant_uid', 'merchant_uid_lock', 'amount', 'cancel_amount', 'cancel_pending_amount'])
    .where('imp_uid', '=', a.impUid)
    .executeTakeFirst();
  // held earlier, its refund never made (it could not be written, or the process died): make it
  // now, unless the PG has refunded it meanwhile (its net-cancel), which the caller then records
  if (p && owesLateRefund(p)) return found.cancelledAmount >= found.amount ? 'refunded' : refundLateApproval(deps, a);
  const closed = p?.status === 'failed';
  if (!p || !(closed || (p.status === 'ready' && OPEN_STATES.includes(p.pg_state)))) return 'already_settled';
  // a virtual account past its deposit deadline, or unpaid from a window, gives its merchant_uid up
  await holderAfterYield(deps, a.merchantId, p.merchant_uid);
  const unrecorded = (eb: ExpressionBuilder<Database, 'payments'>) =>
    eb.and([eb('imp_uid', '=', a.impUid), eb.or([eb('status', '=', 'failed'), eb.and([eb('status', '=', 'ready'), eb('pg_state', 'in', OPEN_STATES)])])]);
  const now = unixSeconds(deps.clock);
  const fields = {
    status: 'paid',
    pg_state: 'done',
    ...approvalColumns(approval, now),
    // a virtual account paid into before Pier recorded it issued: its account (decision 0103)
    ...(approval.vbank ? vbankColumns(approval.vbank) : {}),
    // a card company chosen in the checkout stays when the PG does not report one
    card_code: approval.cardCode ?? undefined,
    fail_reason: null,
    failed_at: 0,
  };
  for (let tries = 1; ; tries++) {
    try {
      const adopted = await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('payments')
          .set({ ...fields, merchant_uid_lock: p.merchant_uid })
          .where(unrecorded)
          .returningAll()
          .executeTakeFirst();
        if (!row) return false;
        await recordPaymentEvent(trx, deps, { merchantId: row.merchant_id, impUid: a.impUid, merchantUid: row.merchant_uid, status: 'paid', noticeUrl: row.notice_url, cause: 'window' });
        await pgRefund?.reserve(trx, row, now);
        return true;
      });
      if (adopted && closed) deps.logger.warn({ imp_uid: a.impUid }, 'late window approval recorded: the attempt had been closed, its merchant_uid was still free');
      return adopted ? 'paid' : 'already_settled';
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    // Another payment holds the merchant_uid (paid, an account issued, or a charge in flight): a
    // merchant_uid is paid once. Record the approval (without the lock, and without a `paid` webhook),
    // then refund it with a `cancelled` one. The holder is locked meanwhile: should it fail and free
    // the merchant_uid, its release finds this approval paid and gives it the lock (decision 0073);
    // freed already, the approval takes it above.
    const held = await db.transaction().execute(async (trx) => {
      if (!(await lockedHolder(trx, deps.store, a.merchantId, p.merchant_uid))) return 'freed';
      const res = await trx.updateTable('payments').set(fields).where(unrecorded).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? 'held' : 'settled';
    });
    if (held === 'settled') return 'already_settled';
    if (held === 'held') break;
    if (tries === 3) throw new Error(`merchant_uid of ${a.impUid} taken and freed again three times while its late approval was recorded`);
  }
  deps.logger.warn({ imp_uid: a.impUid, closed }, 'window approval for a merchant_uid another payment holds; refunding it');
  if (found.cancelledAmount >= found.amount) return 'refunded';
  return refundLateApproval(deps, a);
}

/**
 * Refunds a late approval held for a merchant_uid paid by another attempt. Until its refund is
 * under way the approval's acknowledgement row stays (window-confirms.ts recordsApproval), and its
 * job comes back here: a refund whose row could not be written, or whose process died before
 * sending it, is made then.
 */
async function refundLateApproval(deps: Deps, a: WindowAttempt): Promise<ApprovalOutcome> {
  try {
    await cancelPayment(deps, {
      merchantId: a.merchantId,
      impUid: a.impUid,
      reason: '동일한 merchant_uid가 이미 결제되어 늦게 도착한 승인을 취소합니다. (late approval for a merchant_uid already paid)',
      enableWebhook: true,
    });
  } catch (err) {
    // in doubt: reserved, settled by the reconciliation of refunds; declined or never sent: still
    // owed, so the acknowledgement job tries again (within its attempts), then the console
    deps.logger.error({ imp_uid: a.impUid, err: (err as Error).message }, 'refund of a late window approval failed');
  }
  return 'refunded';
}

/**
 * Fails a window attempt that is still open (`window`, `calling`, `in_doubt`) and frees its
 * merchant_uid.
 *
 * Unless the caller knows the PG window can give no other result (`windowOver`: an approval the PG
 * confirmed and Pier refunded, or a PG answer asked once the window's lifetime was over,
 * windowOverAtMs), it also writes a recheck (window-confirms.ts), due once the PG window
 * can no longer be submitted: whatever failed the attempt (a close, a bare U001 post, a decline, an
 * unverifiable post given up by reconciliation), the buyer may still pay in a PG window that is open,
 * and that result may never reach Pier. The recheck asks the PG and records or refunds what it finds
 * (decision 0007: a late approval is never dropped). The recheck row is written before the failure,
 * so a crash between the two cannot leave a failed attempt nobody asks about again; it is idempotent
 * per attempt, and a recheck of an attempt that was not failed after all finds it settled.
 *
 * When the recheck is due: `recheckAtMs` (deps.clock) when the caller gives it, else a window's
 * lifetime after the failure. A failure the buyer caused (a close, a decline) may be followed by
 * the window submitted again (the browser's Back resubmits Pier's form to the PG), so its window
 * is counted from the failure. A PG answer asked by Pier (reconciliation, the PG's notices, the
 * acknowledgement job) comes when Pier's schedule brings it, not the buyer: its recheck is due
 * at windowOverAtMs, where the same answer would have been final (decision 0075).
 *
 * `unlessClaimed`: leaves an attempt claimed for Pier's own approve (in doubt with the tid it
 * approves, NICE) as it is: a PG answer of "nothing" asked beside that call says nothing of it
 * (decision 0078). Checked in the update itself, so a claim made after the caller asked counts.
 *
 * `whileTid`: fails the attempt only while its tid is still the one the caller read with it (null:
 * none), checked in the update itself: a caller that asked the PG about the row as it read it
 * (reconciliation) must not fail an attempt claimed for Pier's approve since (decision 0101).
 */
export async function failWindowAttempt(
  deps: Deps,
  impUid: string,
  reason: string,
  pgTid: string | null = null,
  opts: { windowOver?: boolean; recheckAtMs?: number; unlessClaimed?: boolean; whileTid?: string | null } = {},
): Promise<boolean> {
  const { db } = deps.store;
  const now = unixSeconds(deps.clock);
  if (!opts.windowOver) {
    const p = await db.selectFrom('payments').select(['channel', 'channel_id', 'customer_uid', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirst();
    const dueAt = opts.recheckAtMs !== undefined ? Math.ceil(opts.recheckAtMs / 1000) : now + PG_WINDOW_LIFETIME_SECONDS;
    // when a live channel's window is over on the real time (decision 0121, amended): a window's
    // lifetime from now on it, or windowOverAtMs of the attempt's start stamp taken as the real
    // time; a stamp is the real time plus the offset it was made under, never less, so never early
    const realDueAtMs = opts.recheckAtMs ?? realNowMs(deps.clock) + PG_WINDOW_LIFETIME_SECONDS * 1000;
    // a billing-key window's payment is Pier's own REST charge with the new key, not a PG window result
    if (p?.channel_id && OPEN_STATES.includes(p.pg_state) && isWindowAttempt(p)) await enqueueWindowRecheck(deps, impUid, p.channel_id, dueAt, realDueAtMs);
  }
  // the merchant_uid it frees goes to the order's payment paid without it, if any (decision 0073)
  const res = await releasingMerchantUid(deps.store, impUid, now, (trx) =>
    trx
      .updateTable('payments')
      .set({ status: 'failed', pg_state: 'done', merchant_uid_lock: null, fail_reason: reason.slice(0, 500), pg_tid: pgTid, failed_at: now, updated_at: now })
      .where('imp_uid', '=', impUid)
      .where('pg_state', 'in', OPEN_STATES)
      // claimed for Pier's approve (sessions.ts approveAuthenticated writes the tid it approves)
      .$if(opts.unlessClaimed === true, (qb) => qb.where((eb) => eb.or([eb('pg_state', '!=', 'in_doubt'), eb('pg_tid', 'is', null)])))
      // the row as the caller read it: no claim (a tid written) since
      .$if(opts.whileTid !== undefined, (qb) => (opts.whileTid === null || opts.whileTid === undefined ? qb.where('pg_tid', 'is', null) : qb.where('pg_tid', '=', opts.whileTid)))
      .executeTakeFirst(),
  );
  return Number(res.numUpdatedRows) > 0;
}

/** Refunds the whole approval at the PG (net cancel). True when the PG has nothing left to refund. */
async function refundAtPg(deps: Deps, a: WindowAttempt, found: FoundAtPg, reason: string): Promise<boolean> {
  const left = found.amount - found.cancelledAmount;
  if (left <= 0) return true;
  // Once the stop has begun this refund follows the PG call that found the approval: not sent, and
  // thrown rather than answered false, which would record the approval paid (decision 0130). The
  // attempt stays open; reconciliation asks the PG again and refunds it then.
  refusePgCallWhenStopping(deps.stopping, 'the refund of a window approval outside the merchant rules');
  try {
    const r = await a.channel.connector.refund(a.channel.credentials, { pgTid: found.pgTid, moid: a.impUid, amount: left, partial: false, reason });
    if (r.outcome === 'refunded') return true;
    deps.logger.error({ imp_uid: a.impUid, code: r.code }, 'PG declined the refund of a window approval outside the card rules');
  } catch (err) {
    deps.logger.error({ imp_uid: a.impUid, err: (err as Error).message }, 'refund of a window approval outside the card rules failed');
  }
  // `found` may be stale: another settlement of the same approval (the post beside the confirm job,
  // or reconciliation) refunded it since, and the PG declines a second refund. Asked again, the PG
  // says whether anything is left to refund. Not once stopping: thrown, never false (see above).
  refusePgCallWhenStopping(deps.stopping, 'the inquiry after a refund of a window approval that did not go through');
  try {
    const now = await a.channel.connector.inquire(a.channel.credentials, { moid: a.impUid, pgTid: found.pgTid, aroundMs: found.paidAt ? found.paidAt * 1000 : deps.clock.now() });
    if (now.found && now.pgTid === found.pgTid && now.cancelledAmount >= now.amount) return true;
  } catch (err) {
    deps.logger.warn({ imp_uid: a.impUid, err: (err as Error).message }, 'could not ask the PG whether a window approval outside the card rules was refunded');
  }
  // not refunded: record the approval as it stands (paid), which the merchant can see and refund
  return false;
}

/**
 * Closes at the PG a virtual account it issued for an attempt Pier has already failed. Throws when
 * the PG could not close it (a job asks again later); a PG without the call can only be logged.
 */
export async function closeVbankOfFailedAttempt(deps: Deps, channel: ResolvedChannel, impUid: string, found: FoundAtPg): Promise<void> {
  if (!channel.connector.revokeVbank) {
    deps.logger.error({ imp_uid: impUid, tid: found.pgTid }, 'a virtual account was issued for a failed attempt and this PG cannot close it; left for an operator');
    return;
  }
  const r = await channel.connector.revokeVbank(channel.credentials, { pgTid: found.pgTid, moid: impUid, amount: found.amount, reason: '결제창 종료 후 발급된 가상계좌 (issued after the checkout closed)' });
  if (r.outcome !== 'refunded') throw new Error(`the PG did not close virtual account ${found.pgTid} of failed attempt ${impUid}: [${r.code}] ${r.message}`);
  deps.logger.info({ imp_uid: impUid, tid: found.pgTid }, 'virtual account issued after its attempt failed: closed at the PG');
}

/** The request_pay of the checkout that started this attempt, if its session still exists. */
export async function checkoutParamsOf(deps: Deps, impUid: string): Promise<CheckoutParams | null> {
  const s = await deps.store.db.selectFrom('checkout_sessions').select('params').where('imp_uid', '=', impUid).executeTakeFirst();
  return s ? (JSON.parse(s.params) as CheckoutParams) : null;
}

/**
 * A billing-key window's attempt before Pier's own first charge with the new key: that charge
 * takes the merchant_uid as it moves the attempt to `calling` (sessions.ts recordWindowBillingKey),
 * so an attempt still without it has had no charge of Pier's, and any approval the PG holds for
 * its order came out of the window itself (the billing form rewritten into a payment, decision 0085).
 */
export const isBillingWindowBeforeCharge = (p: Pick<PaymentsTable, 'channel' | 'customer_uid' | 'status' | 'pg_state' | 'merchant_uid_lock'>) =>
  p.channel !== 'api' && !!p.customer_uid && p.status === 'ready' && OPEN_STATES.includes(p.pg_state) && p.merchant_uid_lock === null;

/** A window attempt (not the REST charge of a billing key issued in the window). */
export const isWindowAttempt = (p: Pick<PaymentsTable, 'channel' | 'customer_uid'>) => p.channel !== 'api' && !p.customer_uid;

/**
 * Reconciliation of a window attempt left open (the buyer never came back, the result could not be
 * verified, or Pier died between the PG's approval and its record): ask the PG, then record what
 * it says through recordPgApproval (card rules, confirm job, late approvals, net-cancels).
 * `asked`: the PG's answer already in hand, and when (windowNowMs, before the inquiry was sent).
 * An attempt failed on an answer asked once its PG window could give no result any more
 * (windowOverAtMs) gets no recheck: that answer was the PG's last word, and asking again only
 * spent another of the merchant's inquiries (an abandoned window cost two: decision 0069).
 *
 * `p` is the row as read before the PG was asked (and, in reconciliation, before NICE's net-cancel
 * by order id). A result posted meanwhile may have claimed the attempt for Pier's approve, or had it
 * approved and recorded: the PG's "nothing" says nothing of that, so the failure is written only
 * while the attempt's tid is still the one read, and otherwise the attempt is settled on what it
 * has become (decision 0101).
 */
export async function settleWindowAttempt(
  deps: Deps,
  p: PaymentsTable,
  opts: { giveUpIfUnknown: boolean },
  asked?: { channel: ResolvedChannel; found: InquiryResult; askedAtMs: number },
): Promise<'paid' | 'failed' | 'cancelled' | 'unknown'> {
  const channel = asked?.channel ?? (p.channel_id ? await channelById(deps, p.channel_id) : undefined);
  if (!channel) return 'unknown';
  // on the real time for a live channel (windowNowMs): an advanced sandbox clock makes no answer final
  const askedAtMs = asked?.askedAtMs ?? windowNowMs(deps, channel);
  const found = asked?.found ?? (await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 }));
  if (found.found && found.state === 'awaiting_deposit') {
    // an attempt Pier failed (its window closed, its result refused) for which the PG issued an
    // account afterwards: nothing in Pier awaits a deposit into it, and one would find no payment
    // to be recorded on (the merchant_uid is free, maybe paid otherwise by now), so it is closed at
    // the PG. An open attempt's account is recorded by the caller (reconcile.ts), never as an approval.
    if (p.status === 'failed' && p.pg_state === 'done') {
      await closeVbankOfFailedAttempt(deps, channel, p.imp_uid, found);
      return 'failed';
    }
    return 'unknown';
  }
  if (!found.found || found.state === 'failed') {
    if (!found.found && !opts.giveUpIfUnknown) return 'unknown';
    const reason = found.found ? '[PG_FAILED] PG사에서 승인되지 않은 거래입니다.' : '[PG_NO_RECORD] PG사에 거래 기록이 없습니다. (no record at the PG)';
    const overAtMs = windowOverAtMs(deps, p.started_at);
    // asked before the window was over: the recheck asks again once it is, and not later (decision 0075)
    if (await failWindowAttempt(deps, p.imp_uid, reason, found.found ? found.pgTid : null, { windowOver: askedAtMs >= overAtMs, recheckAtMs: overAtMs, whileTid: p.pg_tid })) return 'failed';
    return settledSinceRead(deps, p, opts);
  }
  if (p.pay_method === 'vbank' && found.state === 'cancelled') {
    // A virtual account closed at the PG: Pier closes one issued for an attempt it had failed, or for
    // a merchant_uid another payment holds. Nothing paid into it stays with the PG, and there is no
    // approval to record: read as one, it was recorded paid (with a `paid` webhook), then refunded.
    if (await failWindowAttempt(deps, p.imp_uid, '[PG_CANCELLED] PG사에서 닫힌 가상계좌입니다. (the PG closed this virtual account)', found.pgTid, { windowOver: true, whileTid: p.pg_tid })) return 'failed';
    return settledSinceRead(deps, p, opts);
  }
  if (found.amount !== p.amount) {
    deps.logger.error({ imp_uid: p.imp_uid, pg_amount: found.amount, amount: p.amount }, 'the PG approved another amount than the attempt; left for an operator');
    return 'unknown';
  }
  await recordPgApproval(deps, { impUid: p.imp_uid, merchantId: p.merchant_id, amount: p.amount, channel, params: await checkoutParamsOf(deps, p.imp_uid) }, found);
  const after = await deps.store.db.selectFrom('payments').select('status').where('imp_uid', '=', p.imp_uid).executeTakeFirstOrThrow();
  return after.status === 'paid' || after.status === 'cancelled' || after.status === 'failed' ? after.status : 'unknown';
}

/**
 * settleWindowAttempt's failure found the attempt no longer as `p` was read: it was claimed for
 * Pier's approve (its tid written: that approve's answer settles it, or reconciliation after the
 * grace the claim restarted), recorded, or failed by another path. An attempt open when read and
 * recorded since is asked about once more, so what the PG did meanwhile counts: reconciliation's
 * net-cancel by order id may have reversed the approval that was recorded, and that refund is
 * recorded too (recordPgApproval), never left paid at Pier while the PG refunded it (decision 0101).
 */
async function settledSinceRead(deps: Deps, p: PaymentsTable, opts: { giveUpIfUnknown: boolean }): Promise<'paid' | 'failed' | 'cancelled' | 'unknown'> {
  const now = await deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', p.imp_uid).executeTakeFirst();
  if (!now || OPEN_STATES.includes(now.pg_state)) return 'unknown';
  if (now.status === 'paid' && OPEN_STATES.includes(p.pg_state)) return settleWindowAttempt(deps, now, opts);
  return now.status === 'paid' || now.status === 'cancelled' || now.status === 'failed' ? now.status : 'unknown';
}
