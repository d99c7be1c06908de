import Type from 'typebox';
import type { PierApp } from '../app.js';
import { findAllPayments, type Sorting } from '../../core/payments/queries.js';
import type { PaymentStatus } from '../../domain/payment.js';
import { ok } from '../errors.js';
import { StoredMerchantUid, Paging, PaymentStatusParam, SortingParam } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/** GET /payments/findAll/{merchant_uid}[/{payment_status}] — every attempt for a merchant_uid, paged. */
export default function route(app: PierApp) {
  const schema = (withStatus: boolean) => ({
    tags: ['payments'],
    summary: withStatus ? 'All payments of a merchant_uid with a status' : 'All payments of a merchant_uid',
    params: Type.Object({ merchant_uid: StoredMerchantUid, payment_status: withStatus ? PaymentStatusParam : Type.Optional(PaymentStatusParam) }),
    querystring: Type.Object({ ...Paging, sorting: SortingParam }),
  });
  for (const [path, withStatus] of [['/payments/findAll/:merchant_uid', false], ['/payments/findAll/:merchant_uid/:payment_status', true]] as const) {
    app.get(path, { schema: schema(withStatus) }, async (req) =>
      ok(
        await findAllPayments(
          req.deps,
          merchantOf(req),
          req.params.merchant_uid,
          req.params.payment_status as PaymentStatus | undefined,
          { page: req.query.page ?? 1, limit: req.query.limit ?? 20 },
          req.query.sorting,
        ),
      ),
    );
  }
}
