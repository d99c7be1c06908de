import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getPaymentWithTaxFreeParts } from '../../core/payments/queries.js';
import { vatAfterRefunds } from '../../domain/payment.js';
import { ok } from '../errors.js';
import { ImpUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

type Block = { tax_free: number; supply: number; vat: number; service: number };

const zero: Block = { tax_free: 0, supply: 0, vat: 0, service: 0 };

/**
 * GET /payments/{imp_uid}/balance — the amount breakdown, net of refunds. V1 offers it for PAYCO
 * only; Pier computes it for every payment: everything is `primary` (card), no discounts; the
 * tax-free part is the payment's `tax_free` less what its refunds took of it; the VAT is the
 * payment's `vat_amount` (or 1/11) less what its refunds took of it: the VAT a refund stated, or a
 * share in proportion to the taxable part it took (decisions 0063, 0066).
 */
export default function route(app: PierApp) {
  app.get(
    '/payments/:imp_uid/balance',
    { schema: { tags: ['payments'], summary: 'Amount breakdown of a payment', params: Type.Object({ imp_uid: ImpUid }) } },
    async (req) => {
      const { payment: p, taxFree, vatAmount, refundParts } = await getPaymentWithTaxFreeParts(req.deps, merchantOf(req), req.params.imp_uid);
      // the amount and tax-free part left after the payment, then after each of its refunds
      const states = [{ amount: p.amount, taxFree }];
      for (const c of p.cancel_history) {
        const last = states[states.length - 1];
        states.push({ amount: last.amount - c.amount, taxFree: last.taxFree - (refundParts.get(c.cancellation_id)?.taxFree ?? 0) });
      }
      // never more tax-free than amount left (a refund recorded before its parts were, a revoked account)
      const taxableLeft = states.map((s) => s.amount - Math.min(Math.max(s.taxFree, 0), s.amount));
      const vats = vatAfterRefunds(
        p.amount - taxFree,
        vatAmount,
        p.cancel_history.map((c, i) => ({ taxableLeft: taxableLeft[i + 1], vat: refundParts.get(c.cancellation_id)?.vat ?? null })),
      );
      const blocks: Block[] = states.map((s, i) => ({ tax_free: s.amount - taxableLeft[i], supply: taxableLeft[i] - vats[i], vat: vats[i], service: 0 }));
      const histories = [];
      if (p.status !== 'ready' && p.status !== 'failed') {
        histories.push({ cash_receipt: zero, primary: blocks[0], secondary: zero, discount: zero, created: p.paid_at });
        // A refund takes what it changes in the balance's parts, not its own amount split and rounded
        // apart: rounded per refund, small refunds took no VAT and the histories no longer added up
        // to the balance (10,000 less three refunds of 5: VAT 909 − 0 − 0 − 0 against 908).
        p.cancel_history.forEach((c, i) => {
          const [before, after] = [blocks[i], blocks[i + 1]];
          const primary = { tax_free: after.tax_free - before.tax_free, supply: after.supply - before.supply, vat: after.vat - before.vat, service: 0 };
          histories.push({ cash_receipt: zero, primary, secondary: zero, discount: zero, created: c.cancelled_at });
        });
      }
      const paidOnce = p.status === 'paid' || p.status === 'cancelled';
      const primary = paidOnce ? blocks[blocks.length - 1] : zero;
      return ok({ amount: p.amount, cash_receipt: zero, primary, secondary: zero, discount: zero, histories });
    },
  );
}
