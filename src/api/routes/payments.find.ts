import Type from 'typebox';
import type { PierApp } from '../app.js';
import { findPayment, type Sorting } from '../../core/payments/queries.js';
import type { PaymentStatus } from '../../domain/payment.js';
import { ok } from '../errors.js';
import { PaymentStatusParam, SortingParam, StoredMerchantUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/** GET /payments/find/{merchant_uid}[/{payment_status}] — the latest attempt (or the latest with that status). */
export default function route(app: PierApp) {
  const querystring = Type.Object({ sorting: SortingParam });
  app.get('/payments/find/:merchant_uid', { schema: { tags: ['payments'], summary: 'Find a payment by merchant_uid', params: Type.Object({ merchant_uid: StoredMerchantUid }), querystring } }, async (req) =>
    ok(await findPayment(req.deps, merchantOf(req), req.params.merchant_uid, undefined, req.query.sorting)),
  );
  app.get(
    '/payments/find/:merchant_uid/:payment_status',
    { schema: { tags: ['payments'], summary: 'Find a payment by merchant_uid and status', params: Type.Object({ merchant_uid: StoredMerchantUid, payment_status: PaymentStatusParam }), querystring } },
    async (req) => ok(await findPayment(req.deps, merchantOf(req), req.params.merchant_uid, req.params.payment_status as PaymentStatus, req.query.sorting)),
  );
}
