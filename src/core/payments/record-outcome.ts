/**
 * Recording what the PG said about a payment attempt: approved (with its `paid` event) or failed.
 * Shared by the API charges (charge.ts), the payment window (checkout/) and reconciliation
 * (reconcile.ts); it calls nothing, so none of them import each other for it.
 */
import type { InquiryResult } from '../../connectors/types.js';
import { sql, type Kysely } from 'kysely';
import { unixSeconds } from '../../lib/clock.js';
import type { Database } from '../../store/types.js';
import type { Deps } from '../deps.js';
import { newEventValues, paymentEventCtes, recordPaymentEvent, recordPaymentEventNow } from './events.js';
import { fromTemplate, runTemplate } from '../../store/statement-template.js';
import type { PaymentRow } from '../../domain/payment.js';
import { firstDepositCheckAt } from '../../domain/deposit-checks.js';
import { executeScheduleCte, executeScheduleOf } from '../schedules/executed.js';
import { releasingMerchantUid } from './merchant-uid-handback.js';

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
  /**
   * the account of a virtual account the PG reports already paid into, when Pier never recorded
   * it issued (the window's result never came): written with the approval (vbankColumns)
   */
  vbank?: VbankAtPg | null;
}

/** A virtual account as the PG reports it (InquiryResult's `vbank`). */
export type VbankAtPg = NonNullable<Extract<InquiryResult, { found: true }>['vbank']>;

/**
 * The payment's vbank_* columns for an account as the PG reports it, as recordIssuedVbank writes
 * them for one recorded issued (vbank_issued_at the attempt's start when the PG does not tell the
 * issue apart from the deposit, decision 0123). Written with an approval of a virtual account Pier first hears of paid
 * (decision 0103): GET /payments then shows the account the buyer paid into.
 */
export function vbankColumns(v: VbankAtPg) {
  return {
    vbank_code: v.code,
    vbank_name: v.name,
    vbank_num: v.num,
    vbank_holder: v.holder,
    vbank_date: v.dueAt,
    // NICE reports no issue time for an account already paid into (its paidAt is then the deposit's):
    // the time Pier opened the PG window for it stands in, which the issue followed within the
    // window's life (decision 0123); V1's 0 would tell merchants the account was never issued
    vbank_issued_at: v.issuedAt ?? sql<number>`started_at`,
  };
}

/**
 * The payment columns an approval sets besides its status (card_code null: the PG reported none,
 * and the one chosen in the checkout stays). Shared with the window's late approvals.
 */
export function approvalColumns(r: Approval, now: number) {
  return {
    pg_tid: r.pgTid,
    apply_num: r.applyNum,
    card_code: r.cardCode ?? null,
    card_name: r.cardName,
    card_number: r.cardNumberMasked,
    card_type: r.cardType,
    card_quota: r.cardQuota,
    bank_code: r.bankCode ?? null,
    bank_name: r.bankName ?? null,
    receipt_url: r.receiptUrl,
    paid_at: r.paidAt || now,
    updated_at: now,
  };
}

/**
 * A virtual account the PG reports as issued for an attempt and awaiting its deposit, recorded with
 * the account the PG reports (bank, number, holder, due date: never the browser's post, which tPay
 * does not sign) and its `ready` event. Only a `vbank` attempt still open changes: a card checkout
 * never becomes an "issued account". It is then `status ready / pg_state done`, out of
 * reconciliation for good; the deposit notice pays it, and its merchant_uid is released once its
 * due date has passed. False when nothing changed (another process recorded it, or it was closed).
 * Throws a unique violation when another payment holds the merchant_uid (only a window attempt,
 * which holds none until then, can meet that: window-settlement.ts recordWindowVbank). Used by the window (checkout/sessions.ts) and by reconciliation (the buyer saw the account, Pier
 * never got the result).
 */
export async function recordIssuedVbank(deps: Deps, impUid: string, found: Extract<InquiryResult, { found: true }>): Promise<boolean> {
  const vbank = found.vbank;
  if (found.state !== 'awaiting_deposit' || !vbank) return false;
  const now = unixSeconds(deps.clock);
  return deps.store.db.transaction().execute(async (trx) => {
    const changed = await trx
      .updateTable('payments')
      .set({
        pg_state: 'done',
        // as an approval does (approvalUpdate): another payment holding it fails the update
        merchant_uid_lock: sql<string>`merchant_uid`,
        pg_tid: found.pgTid,
        vbank_code: vbank.code,
        vbank_name: vbank.name,
        vbank_num: vbank.num,
        vbank_holder: vbank.holder,
        vbank_date: vbank.dueAt,
        vbank_issued_at: found.paidAt || now,
        // asked about later in case the PG's deposit notice never comes (domain/deposit-checks.ts, decision 0086)
        deposit_check_at: firstDepositCheckAt(now),
        updated_at: now,
      })
      .where('imp_uid', '=', impUid)
      .where('pay_method', '=', 'vbank')
      .where('status', '=', 'ready')
      .where('pg_state', 'in', ['window', 'calling', 'in_doubt'])
      .returning(['merchant_id', 'merchant_uid', 'notice_url'])
      .executeTakeFirst();
    if (!changed) return false;
    await recordPaymentEvent(trx, deps, {
      merchantId: changed.merchant_id,
      impUid,
      merchantUid: changed.merchant_uid,
      status: 'ready',
      noticeUrl: changed.notice_url,
      cause: 'vbank_issued',
    });
    deps.logger.info({ imp_uid: impUid }, 'virtual account recorded as the PG reports it, awaiting its deposit');
    return true;
  });
}

/**
 * Marks an attempt paid. Only an attempt still waiting for its PG result changes. In the same
 * transaction it records the `paid` webhook event (V1 sends one for every approval, spec §13),
 * and a scheduled payment's schedule becomes `executed` (schedules/executed.ts). Throws a unique
 * violation, recording nothing, when another payment holds the merchant_uid (a window attempt's:
 * window-settlement.ts recordPgApproval holds such an approval and refunds it).
 */
export async function recordApproval(deps: Deps, impUid: string, r: Approval): Promise<boolean> {
  return (await approveAttempt(deps, impUid, r)) !== undefined;
}

/**
 * recordApproval, answering the payment row as updated (undefined when the attempt was no longer
 * open). One round trip and one commit: on PostgreSQL a single statement whose CTEs update the
 * payment and write its event and deliveries; on SQLite one synchronous transaction.
 */
export async function approveAttempt(deps: Deps, impUid: string, r: Approval): Promise<PaymentRow | undefined> {
  // a virtual account first heard of paid (rare): its account columns too, outside the card path's template
  if (r.vbank) return approveAttemptWith(deps, impUid, r, async () => {});
  const now = unixSeconds(deps.clock);
  const { db, syncTransaction } = deps.store;
  const values = { imp_uid: impUid, ...approvalColumns(r, now) };
  if (!syncTransaction) {
    const statement = fromTemplate(db, 'approve+event', Object.assign(newEventValues(deps), values), (p) => {
      const cause = sql<string>`CASE WHEN changed.customer_uid_usage = 'payment.scheduled' THEN 'schedule' WHEN changed.channel = 'api' THEN 'charge' ELSE 'window' END`;
      return sql<PaymentRow>`WITH changed AS (${approvalUpdate(db, p)}), ${paymentEventCtes(p, 'paid', cause)}, ${executeScheduleCte(p.now)} SELECT * FROM changed`;
    });
    const { rows } = await runTemplate(deps.store, statement);
    return rows[0];
  }
  return syncTransaction((run) => {
    const [changed] = run(fromTemplate(db, 'approve', values, (p) => approvalUpdate(db, p)));
    if (!changed) return undefined;
    recordPaymentEventNow(run, db, deps, {
      merchantId: changed.merchant_id,
      impUid,
      merchantUid: changed.merchant_uid,
      status: 'paid',
      noticeUrl: changed.notice_url,
      cause: causeOfApproval(changed),
    });
    if (changed.customer_uid_usage === 'payment.scheduled') run(executeScheduleOf(db, changed, now));
    return changed;
  });
}

/** The `cause` of an approval's `paid` event: the CASE of approveAttempt's PostgreSQL statement. */
const causeOfApproval = (p: Pick<PaymentRow, 'customer_uid_usage' | 'channel'>) =>
  p.customer_uid_usage === 'payment.scheduled' ? 'schedule' : p.channel === 'api' ? 'charge' : 'window';

/**
 * What commits with an approval besides its event: given the transaction and the payment as approved.
 * Throwing rolls the approval back too.
 */
export type AlsoInApproval = (trx: Kysely<Database>, paid: PaymentRow, now: number) => Promise<void>;

/**
 * approveAttempt with more written in the same transaction (`also`: the PG's own refund of the
 * approval, reserved by cancel.ts pgRefundOfApproval), so that no crash can leave one without the
 * other. Rare (an approval the PG refunded before Pier recorded it): an ordinary transaction, not
 * the statement templates of approveAttempt.
 */
export async function approveAttemptWith(deps: Deps, impUid: string, r: Approval, also: AlsoInApproval): Promise<PaymentRow | undefined> {
  const now = unixSeconds(deps.clock);
  return deps.store.db.transaction().execute(async (trx) => {
    const changed = await approvalUpdate(trx, { imp_uid: impUid, ...approvalColumns(r, now) }, r.vbank ? vbankColumns(r.vbank) : undefined).executeTakeFirst();
    if (!changed) return undefined;
    await recordPaymentEvent(trx, deps, {
      merchantId: changed.merchant_id,
      impUid,
      merchantUid: changed.merchant_uid,
      status: 'paid',
      noticeUrl: changed.notice_url,
      cause: causeOfApproval(changed),
    });
    if (changed.customer_uid_usage === 'payment.scheduled') await trx.executeQuery(executeScheduleOf(trx, changed, now));
    await also(trx, changed, now);
    return changed;
  });
}

/**
 * The approval's update, built into a statement template (store/statement-template.ts) with
 * placeholders for `p`. At module level, not an arrow made in approveAttempt: under tsx that would
 * be named anew (an Object.defineProperty) on every approval.
 */
function approvalUpdate(db: Kysely<Database>, p: { imp_uid: string } & ReturnType<typeof approvalColumns>, vbank?: ReturnType<typeof vbankColumns>) {
  return (
    db
      .updateTable('payments')
      .set({
        status: 'paid',
        pg_state: 'done',
        // a window attempt takes its merchant_uid here (an API charge holds it already): when another
        // payment holds it, the update fails on the unique index and nothing is recorded (decision 0058)
        merchant_uid_lock: sql<string>`merchant_uid`,
        pg_tid: p.pg_tid,
        apply_num: p.apply_num,
        // a card company chosen in the checkout stays when the PG does not report one
        card_code: sql<string | null>`coalesce(${p.card_code}, card_code)`,
        card_name: p.card_name,
        card_number: p.card_number,
        card_type: p.card_type,
        card_quota: p.card_quota,
        bank_code: p.bank_code,
        bank_name: p.bank_name,
        receipt_url: p.receipt_url,
        paid_at: p.paid_at,
        updated_at: p.updated_at,
        // never in a template (approveAttempt leaves a virtual account's approval to approveAttemptWith)
        ...vbank,
      })
      .where('imp_uid', '=', p.imp_uid)
      // `window`: the buyer is in the PG's payment window
      .where('pg_state', 'in', ['window', 'calling', 'in_doubt'])
      .returningAll()
  );
}

/**
 * Marks an attempt failed and frees its merchant_uid for another try. `notify`: the merchant was
 * told the outcome was being confirmed (an in-doubt charge, settled by reconciliation), so the
 * `failed` webhook tells them how it ended; a scheduled payment's own worker sends its `failed`.
 */
export async function recordFailure(deps: Deps, impUid: string, reason: string, pgTid: string | null = null, opts: { notify?: boolean } = {}): Promise<boolean> {
  return (await failAttempt(deps, impUid, reason, pgTid, opts)) !== undefined;
}

/** recordFailure, answering the payment row as updated (undefined when the attempt was no longer open). */
export async function failAttempt(
  deps: Deps,
  impUid: string,
  reason: string,
  pgTid: string | null = null,
  opts: { notify?: boolean } = {},
): Promise<PaymentRow | undefined> {
  const now = unixSeconds(deps.clock);
  // the merchant_uid it frees goes to the order's payment paid without it, if any (decision 0073)
  return releasingMerchantUid(deps.store, impUid, now, async (trx) => {
    const changed = await trx
      .updateTable('payments')
      .set({ status: 'failed', pg_state: 'done', merchant_uid_lock: null, fail_reason: reason.slice(0, 500), pg_tid: pgTid, failed_at: now, updated_at: now })
      .where('imp_uid', '=', impUid)
      .where('pg_state', 'in', ['calling', 'in_doubt'])
      .returningAll()
      .executeTakeFirst();
    if (!opts.notify) return changed;
    if (changed && changed.customer_uid_usage !== 'payment.scheduled') {
      await recordPaymentEvent(trx, deps, {
        merchantId: changed.merchant_id,
        impUid,
        merchantUid: changed.merchant_uid,
        status: 'failed',
        noticeUrl: changed.notice_url,
        cause: 'reconciled',
      });
    }
    return changed;
  });
}

/** An approval as the PG reported it in its inquiry; bank facts of a transfer come from the verified post. */
export function approvalOf(found: Extract<InquiryResult, { found: true }>, bank?: { bankCode: string | null; bankName: string | null }): Approval {
  return {
    pgTid: found.pgTid,
    applyNum: found.applyNum,
    cardCode: found.cardCode,
    cardName: found.cardName,
    cardNumberMasked: found.cardNumberMasked,
    cardType: found.cardType,
    cardQuota: found.cardQuota,
    paidAt: found.paidAt,
    receiptUrl: found.receiptUrl,
    bankCode: bank?.bankCode ?? null,
    bankName: bank?.bankName ?? null,
    // a virtual account paid into before Pier recorded it issued: its account (decision 0103)
    ...(found.state !== 'awaiting_deposit' && found.vbank ? { vbank: found.vbank } : {}),
  };
}
