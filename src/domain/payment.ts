import type { PaymentCancelsTable, PaymentsTable } from '../store/types.js';

/** V1 payment status values (spec/api-v1.md §12.6). */
export const PAYMENT_STATUSES = ['ready', 'paid', 'cancelled', 'failed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export type PaymentRow = PaymentsTable;
export type CancelRow = Omit<PaymentCancelsTable, 'id'> & { id: number };

/**
 * V1's `tax_free` and `vat_amount` are parts of `amount` ("amount 중 면세공급가액", "amount 중 부가세
 * 금액"): the VAT is part of the taxable rest, so it is at most amount − tax_free; more would make
 * the supply amount negative (docs/decisions/0055-refund-tax-parts.md). `vat` null: not given.
 */
export const VAT_OVER_TAXABLE = 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.';
export function vatWithinTaxable(amount: number, taxFree: number, vat: number | null): boolean {
  return vat === null || vat <= amount - taxFree;
}

/** A refund's effect on a payment's taxable part: what it leaves of it, and the VAT it stated (null: none). */
export interface TaxableRefund {
  taxableLeft: number;
  vat: number | null;
}

/**
 * The VAT of a payment's taxable part `taxable`, then after each refund in order (decision 0066):
 * `[vat paid, vat left after refund 1, …]`. The payment's VAT is its `vatAmount`, or 1/11 of the
 * taxable part when it stated none (decision 0063). A refund that stated its VAT takes exactly that;
 * one that did not takes the VAT in proportion to the taxable part it takes, reckoned from the last
 * point whose VAT is known (the payment, or the last stated refund) and rounded half up, so that
 * many small refunds do not drift. Never below 0 nor above the taxable part left. In bigint:
 * VAT × taxable reaches 10^22.
 */
export function vatAfterRefunds(taxable: number, vatAmount: number | null, refunds: readonly TaxableRefund[]): number[] {
  // VAT of a taxable part t = round(vat × t / per)
  let rate = vatAmount === null ? { vat: 1n, per: 11n } : { vat: BigInt(vatAmount), per: BigInt(taxable) };
  const at = (left: number) => (left <= 0 || rate.per === 0n ? 0 : Math.min(Number((2n * rate.vat * BigInt(left) + rate.per) / (2n * rate.per)), left));
  let vat = at(taxable);
  const out = [vat];
  for (const r of refunds) {
    const left = Math.max(r.taxableLeft, 0);
    if (r.vat === null) vat = at(left);
    else {
      vat = Math.min(Math.max(vat - r.vat, 0), left);
      rate = { vat: BigInt(vat), per: BigInt(left) };
    }
    out.push(vat);
  }
  return out;
}

/** What may still be refunded: paid minus refunded minus refunds under way. */
export function cancellableBalance(p: Pick<PaymentRow, 'amount' | 'cancel_amount' | 'cancel_pending_amount'>): number {
  return p.amount - p.cancel_amount - p.cancel_pending_amount;
}

/**
 * Status after a refund succeeds. Pier's choice (docs/decisions/partial-cancel-status.md):
 * a payment becomes `cancelled` only once its whole amount is refunded; partially refunded it
 * stays `paid` with a growing `cancel_amount`, which is what merchants observe on i'mport.
 */
export function statusAfterRefund(amount: number, cancelAmount: number): PaymentStatus {
  return cancelAmount >= amount ? 'cancelled' : 'paid';
}

/**
 * A cancel's slip: the PG's page for that cancel; for refunds recorded without one (before
 * migration 010, or settled by inquiry) the payment's own slip, which lists its cancels.
 */
function cancelReceiptUrl(p: Pick<PaymentRow, 'receipt_url'>, c: Pick<CancelRow, 'receipt_url'>): string | null {
  return c.receipt_url ?? p.receipt_url;
}

/**
 * The V1 Payment object (spec/api-v1.md §12.1): every key always present, `null`/`0`/`[]` when
 * absent, times in UNIX seconds, custom_data as a string.
 */
export function toV1Payment(p: PaymentRow, cancels: CancelRow[]) {
  const done = cancels.filter((c) => c.state === 'succeeded');
  return {
    imp_uid: p.imp_uid,
    merchant_uid: p.merchant_uid,
    pay_method: p.pay_method,
    channel: p.channel,
    pg_provider: p.pg_provider,
    emb_pg_provider: null,
    pg_tid: p.pg_tid,
    pg_id: p.pg_id,
    sandbox: p.sandbox === 1,
    escrow: false,
    apply_num: p.apply_num,
    bank_code: p.bank_code,
    bank_name: p.bank_name,
    card_code: p.card_code,
    card_name: p.card_name,
    card_issuer_code: p.card_code,
    card_issuer_name: p.card_name,
    card_publisher_code: null,
    card_publisher_name: null,
    card_quota: p.card_quota,
    card_number: p.card_number,
    card_type: p.card_type,
    vbank_code: p.vbank_code ?? null,
    vbank_name: p.vbank_name ?? null,
    vbank_num: p.vbank_num ?? null,
    vbank_holder: p.vbank_holder ?? null,
    vbank_date: p.vbank_date ?? 0,
    vbank_issued_at: p.vbank_issued_at ?? 0,
    name: p.name,
    amount: p.amount,
    cancel_amount: p.cancel_amount,
    currency: p.currency,
    buyer_name: p.buyer_name,
    buyer_email: p.buyer_email,
    buyer_tel: p.buyer_tel,
    buyer_addr: p.buyer_addr,
    buyer_postcode: p.buyer_postcode,
    custom_data: p.custom_data,
    user_agent: p.user_agent,
    status: p.status,
    started_at: p.started_at,
    paid_at: p.paid_at,
    failed_at: p.failed_at,
    cancelled_at: p.cancelled_at,
    fail_reason: p.fail_reason,
    cancel_reason: p.cancel_reason,
    receipt_url: p.receipt_url,
    cancel_history: done.map((c) => ({
      pg_tid: c.pg_tid,
      amount: c.amount,
      cancelled_at: c.cancelled_at,
      reason: c.reason ?? '',
      receipt_url: cancelReceiptUrl(p, c),
      cancellation_id: c.cancellation_id,
    })),
    deposit_history: [],
    cancel_receipt_urls: done.map((c) => cancelReceiptUrl(p, c)).filter((u): u is string => u !== null),
    cash_receipt_issued: false,
    customer_uid: p.customer_uid,
    customer_uid_usage: p.customer_uid_usage,
  };
}

export type V1Payment = ReturnType<typeof toV1Payment>;
