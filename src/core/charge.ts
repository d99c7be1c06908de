import { ApiError } from '../api/errors.js';
import { ConnectorError, type ChargeResult } from '../connectors/types.js';
import { unixSeconds } from '../lib/clock.js';
import { newImpUid } from '../lib/ids.js';
import { attemptRow, insertAttempt } from './attempts.js';
import type { ResolvedChannel } from './channels.js';
import type { Deps } from './deps.js';
import { recordPaymentEvent } from './events.js';
import { toV1Payment, type PaymentRow } from '../domain/payment.js';
import { loadV1Payment } from './payments-store.js';
import { settleAttempt } from './reconcile.js';

/** What the merchant asked to charge, after validation. */
export interface ChargeOrder {
  merchantId: string;
  merchantUid: string;
  amount: number;
  taxFree: number;
  vatAmount: number | null;
  name: string | null;
  buyer: { name: string | null; email: string | null; tel: string | null; addr: string | null; postcode: string | null };
  cardQuota: number;
  customData: string | null;
  noticeUrl: string | null;
  customerUid: string | null;
  /** V1 customer_uid_usage: `payment` for onetime/again, `payment.scheduled` for schedules */
  customerUidUsage: string | null;
  userAgent: string | null;
  /** the attempt's imp_uid when the caller must know it before the PG is called (scheduled payments); default: a new one */
  impUid?: string;
}

export const ALREADY_PAID_MESSAGE = '이미 결제가 이루어진 거래건입니다.';
export const IN_PROGRESS_MESSAGE = '동일한 merchant_uid로 진행 중인 결제가 있습니다. 결과를 조회한 후 다시 시도하세요.';

/**
 * Record, call, record (design.md principle 4).
 *  1. Insert the attempt as `ready` holding the merchant_uid lock, and commit. The unique index on
 *     (merchant_id, merchant_uid_lock) lets exactly one of any number of concurrent requests in.
 *  2. Call the PG with no transaction open.
 *  3. Record the outcome. A decline is a `failed` payment (V1 answers it with code 0); a PG that
 *     never saw the request fails the attempt cleanly; a PG that may have acted (timeout) leaves
 *     the attempt `in_doubt`, still holding the lock, for reconciliation to settle by inquiry.
 */
export async function chargeWith(
  deps: Deps,
  channel: ResolvedChannel,
  order: ChargeOrder,
  callPg: (moid: string) => Promise<ChargeResult>,
) {
  const { db } = deps.store;
  const now = unixSeconds(deps.clock);
  const impUid = order.impUid ?? newImpUid();
  const row = attemptRow(
    {
      impUid,
      merchantId: order.merchantId,
      merchantUid: order.merchantUid,
      channel,
      payMethod: 'card',
      via: 'api',
      pgState: 'calling',
      amount: order.amount,
      taxFree: order.taxFree,
      vatAmount: order.vatAmount,
      name: order.name,
      buyer: order.buyer,
      customData: order.customData,
      noticeUrl: order.noticeUrl,
      userAgent: order.userAgent,
      cardQuota: order.cardQuota,
      customerUid: order.customerUid,
      customerUidUsage: order.customerUidUsage,
    },
    now,
  );
  const locked = await insertAttempt(deps, row);
  if (!locked.ok) {
    throw new ApiError('refused', locked.holder && locked.holder.status !== 'ready' ? ALREADY_PAID_MESSAGE : IN_PROGRESS_MESSAGE);
  }

  let result: ChargeResult;
  try {
    result = await callPg(impUid);
  } catch (err) {
    if (err instanceof ConnectorError && !err.inDoubt) {
      deps.logger.warn({ imp_uid: impUid, kind: err.kind }, 'PG unreachable; attempt failed cleanly');
      return answer(deps, impUid, await failAttempt(deps, impUid, `[PG_UNREACHABLE] PG사와 통신하지 못했습니다: ${err.message}`));
    }
    // The PG may have charged the card. Keep the lock, mark the attempt in doubt, and ask the PG once
    // right away; if that fails too, the reconciliation job settles it later.
    deps.logger.warn({ imp_uid: impUid, err: err instanceof Error ? err.message : String(err) }, 'PG outcome unknown; attempt in doubt');
    await db.updateTable('payments').set({ pg_state: 'in_doubt', updated_at: unixSeconds(deps.clock) }).where('imp_uid', '=', impUid).execute();
    try {
      await settleAttempt(deps, impUid, { giveUpIfUnknown: false });
    } catch (inquiryErr) {
      deps.logger.warn({ imp_uid: impUid, err: (inquiryErr as Error).message }, 'inquiry after timeout failed; left for reconciliation');
    }
    return (await loadV1Payment(db, impUid))!;
  }

  const settled =
    result.outcome === 'approved'
      ? await approveAttempt(deps, impUid, result)
      : await failAttempt(deps, impUid, `[${result.code}]${result.message}`, result.pgTid);
  return answer(deps, impUid, settled);
}

/**
 * The V1 answer for an attempt this request just settled: built from the row its update returned
 * (a payment settled a moment ago has no refunds), so the payment is not read back. When the
 * conditional update did not apply (settled elsewhere meanwhile) the payment is read as it stands.
 */
async function answer(deps: Deps, impUid: string, settled: PaymentRow | undefined) {
  if (settled) return toV1Payment(settled, []);
  return (await loadV1Payment(deps.store.db, impUid))!;
}

/** What the PG said about an approved charge. */
export interface Approval {
  pgTid: string;
  applyNum: string | null;
  cardCode: string | null;
  cardName: string | null;
  cardNumberMasked: string | null;
  cardType: 0 | 1 | null;
  cardQuota: number;
  paidAt: number;
  receiptUrl: string | null;
  /** bank of a real-time transfer (payment window) */
  bankCode?: string | null;
  bankName?: string | null;
}

/**
 * Marks an attempt paid. Only an attempt still waiting for its PG result changes. In the same
 * transaction it records the `paid` webhook event (V1 sends one for every approval, spec §13).
 */
export async function recordApproval(deps: Deps, impUid: string, r: Approval): Promise<boolean> {
  return (await approveAttempt(deps, impUid, r)) !== undefined;
}

/** recordApproval, answering the payment row as updated (undefined when the attempt was no longer open). */
export async function approveAttempt(deps: Deps, impUid: string, r: Approval): Promise<PaymentRow | undefined> {
  const now = unixSeconds(deps.clock);
  return deps.store.db.transaction().execute(async (trx) => {
    const changed = await trx
      .updateTable('payments')
      .set({
        status: 'paid',
        pg_state: 'done',
        pg_tid: r.pgTid,
        apply_num: r.applyNum,
        // a card company chosen in the checkout stays when the PG does not report one
        card_code: r.cardCode ?? undefined,
        card_name: r.cardName,
        card_number: r.cardNumberMasked,
        card_type: r.cardType,
        card_quota: r.cardQuota,
        bank_code: r.bankCode ?? null,
        bank_name: r.bankName ?? null,
        receipt_url: r.receiptUrl,
        paid_at: r.paidAt || now,
        updated_at: now,
      })
      .where('imp_uid', '=', impUid)
      // `window`: the buyer is in the PG's payment window
      .where('pg_state', 'in', ['window', 'calling', 'in_doubt'])
      .returningAll()
      .executeTakeFirst();
    if (!changed) return undefined;
    await recordPaymentEvent(trx, deps.clock, {
      merchantId: changed.merchant_id,
      impUid,
      merchantUid: changed.merchant_uid,
      status: 'paid',
      noticeUrl: changed.notice_url,
      cause: changed.customer_uid_usage === 'payment.scheduled' ? 'schedule' : changed.channel === 'api' ? 'charge' : 'window',
    });
    return changed;
  });
}

/** Marks an attempt failed and frees its merchant_uid for another try. */
export async function recordFailure(deps: Deps, impUid: string, reason: string, pgTid: string | null = null): Promise<boolean> {
  return (await failAttempt(deps, impUid, reason, pgTid)) !== undefined;
}

/** recordFailure, answering the payment row as updated (undefined when the attempt was no longer open). */
export async function failAttempt(deps: Deps, impUid: string, reason: string, pgTid: string | null = null): Promise<PaymentRow | undefined> {
  const now = unixSeconds(deps.clock);
  return deps.store.db
    .updateTable('payments')
    .set({ status: 'failed', pg_state: 'done', merchant_uid_lock: null, fail_reason: reason.slice(0, 500), pg_tid: pgTid, failed_at: now, updated_at: now })
    .where('imp_uid', '=', impUid)
    .where('pg_state', 'in', ['calling', 'in_doubt'])
    .returningAll()
    .executeTakeFirst();
}
