import Type from 'typebox';
import type { PierApp } from '../app.js';
import { cancelPayment } from '../../core/payments/cancel.js';
import { ok } from '../errors.js';
import { AmountOrZero, StoredMerchantUid, OptRefundAmount, OptString } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/**
 * POST /payments/cancel — full or partial refund by imp_uid (takes priority) or merchant_uid.
 * Refusals (nothing to cancel, over-cancel, checksum mismatch) answer HTTP 200 with code 1, as V1.
 */
export default function route(app: PierApp) {
  app.post(
    '/payments/cancel',
    {
      schema: {
        tags: ['payments'],
        summary: 'Cancel (refund) a payment, fully or partially',
        body: Type.Object({
          imp_uid: OptString(32),
          merchant_uid: Type.Optional(Type.Union([StoredMerchantUid, Type.Null()])),
          amount: OptRefundAmount,
          tax_free: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
          vat_amount: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
          checksum: OptRefundAmount,
          reason: OptString(256),
          refund_holder: OptString(40),
          refund_bank: OptString(8),
          refund_account: OptString(40),
          refund_tel: OptString(40),
          retain_promotion: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
          enable_webhook: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
          extra: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      const { payment } = await cancelPayment(req.deps, {
        merchantId: merchantOf(req),
        impUid: b.imp_uid,
        merchantUid: b.merchant_uid,
        amount: b.amount,
        taxFree: b.tax_free,
        vatAmount: b.vat_amount,
        checksum: b.checksum,
        reason: b.reason,
        refundHolder: b.refund_holder,
        refundBank: b.refund_bank,
        refundAccount: b.refund_account,
        enableWebhook: b.enable_webhook,
      });
      return ok(payment);
    },
  );
}
