import Type from 'typebox';
import type { PierApp } from '../app.js';
import { cancelPayment } from '../../core/payments/cancel.js';
import { PierError, ok } from '../errors.js';
import { AmountOrZero, NullOnly, StoredMerchantUid, OptRefundAmount, OptString } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/**
 * POST /payments/cancel — full or partial refund by imp_uid (takes priority) or merchant_uid.
 * Refusals (nothing to cancel, over-cancel, checksum mismatch) answer HTTP 200 with code 1, as V1.
 *
 * An empty id (`""`, `merchant_uid=`) next to the other one is not used: V1's typed clients send
 * `""` for the id they do not refund by. An empty id that would be the one refunded by is refused
 * naming it, as an empty merchant_uid is on every other path (prepare, onetime, unschedule), not
 * answered as if no id had been sent (docs/decisions/0072-empty-ids-and-list-fields.md).
 */
export default function route(app: PierApp) {
  app.post(
    '/payments/cancel',
    {
      schema: {
        tags: ['payments'],
        summary: 'Cancel (refund) a payment, fully or partially',
        body: Type.Object({
          // '' stays '' (NullOnly): the handler tells it from an id not sent
          imp_uid: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), NullOnly])),
          merchant_uid: Type.Optional(Type.Union([StoredMerchantUid, Type.Literal(''), NullOnly])),
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
      const impUid = b.imp_uid || null;
      const merchantUid = b.merchant_uid || null;
      if (!impUid && !merchantUid) {
        // merchant_uid first: with imp_uid empty too, it is the id a refund by merchant_uid was meant to use
        for (const field of ['merchant_uid', 'imp_uid'] as const) {
          if (b[field] === '') throw new PierError('invalid_parameter', `파라미터 형식이 올바르지 않습니다: ${field}`, `${field} must NOT have fewer than 1 characters`);
        }
      }
      const { payment } = await cancelPayment(req.deps, {
        merchantId: merchantOf(req),
        impUid,
        merchantUid,
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
