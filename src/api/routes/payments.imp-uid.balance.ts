import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getPaymentWithTaxFreeParts } from '../../core/payments/queries.js';
import { ok } from '../errors.js';
import { ImpUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

type Block = { tax_free: number; supply: number; vat: number; service: number };

/**
 * The VAT in `taxableLeft` won of a payment's taxable part `taxable`. The merchant's `vat_amount`,
 * when it gave one (V1's `vat` is the VAT amount, "부가세액"), scaled to what is left of the taxable
 * part and rounded; otherwise 1/11 of it, rounded. In bigint: V × left reaches 10^22.
 */
function vatIn(taxableLeft: number, taxable: number, vatAmount: number | null): number {
  if (vatAmount === null) return Math.round(taxableLeft / 11);
  if (taxableLeft >= taxable) return vatAmount;
  if (taxableLeft <= 0) return 0;
  const [v, left, all] = [BigInt(vatAmount), BigInt(taxableLeft), BigInt(taxable)];
  return Number((2n * v * left + all) / (2n * all));
}

const zero: Block = { tax_free: 0, supply: 0, vat: 0, service: 0 };

/**
 * GET /payments/{imp_uid}/balance — the amount breakdown, net of refunds. V1 offers it for PAYCO
 * only; Pier computes it for every payment: everything is `primary` (card), no discounts; the
 * tax-free part is the payment's `tax_free` less what its refunds took of it; the VAT is the
 * payment's `vat_amount` (or 1/11) in proportion to the taxable part left (decision 0063).
 */
export default function route(app: PierApp) {
  app.get(
    '/payments/:imp_uid/balance',
    { schema: { tags: ['payments'], summary: 'Amount breakdown of a payment', params: Type.Object({ imp_uid: ImpUid }) } },
    async (req) => {
      const { payment: p, taxFree, vatAmount, refundTaxFree } = await getPaymentWithTaxFreeParts(req.deps, merchantOf(req), req.params.imp_uid);
      const taxable = p.amount - taxFree;
      // never more tax-free than amount left (a refund recorded before its parts were, a revoked account)
      const parts = (amount: number, tf: number): Block => {
        const taxFreeLeft = Math.min(Math.max(tf, 0), amount);
        const taxableLeft = amount - taxFreeLeft;
        const vat = Math.min(vatIn(taxableLeft, taxable, vatAmount), taxableLeft);
        return { tax_free: taxFreeLeft, supply: taxableLeft - vat, vat, service: 0 };
      };
      const histories = [];
      if (p.status !== 'ready' && p.status !== 'failed') {
        histories.push({ cash_receipt: zero, primary: parts(p.amount, taxFree), secondary: zero, discount: zero, created: p.paid_at });
        // A refund takes what it changes in the balance's parts, not its own amount split and rounded
        // apart: rounded per refund, small refunds took no VAT and the histories no longer added up
        // to the balance (10,000 less three refunds of 5: VAT 909 − 0 − 0 − 0 against 908).
        let net = p.amount;
        let netTaxFree = taxFree;
        for (const c of p.cancel_history) {
          const before = parts(net, netTaxFree);
          net -= c.amount;
          netTaxFree -= refundTaxFree.get(c.cancellation_id) ?? 0;
          const after = parts(net, netTaxFree);
          const primary = { tax_free: after.tax_free - before.tax_free, supply: after.supply - before.supply, vat: after.vat - before.vat, service: 0 };
          histories.push({ cash_receipt: zero, primary, secondary: zero, discount: zero, created: c.cancelled_at });
        }
      }
      const paidOnce = p.status === 'paid' || p.status === 'cancelled';
      const refundedTaxFree = p.cancel_history.reduce((n, c) => n + (refundTaxFree.get(c.cancellation_id) ?? 0), 0);
      const primary = paidOnce ? parts(p.amount - p.cancel_amount, taxFree - refundedTaxFree) : zero;
      return ok({ amount: p.amount, cash_receipt: zero, primary, secondary: zero, discount: zero, histories });
    },
  );
}
