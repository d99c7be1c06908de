import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getCustomer } from '../../core/billing-keys/billing-keys.js';
import { listCustomerPayments } from '../../core/payments/queries.js';
import { ok } from '../errors.js';
import { StoredCustomerUid, Paging } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/** GET /subscribe/customers/{customer_uid}/payments — payments made with this billing key, newest first. */
export default function route(app: PierApp) {
  app.get(
    '/subscribe/customers/:customer_uid/payments',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Payments made with a billing key',
        params: Type.Object({ customer_uid: StoredCustomerUid }),
        querystring: Type.Object({ ...Paging }),
      },
    },
    async (req) => {
      const merchantId = merchantOf(req);
      await getCustomer(req.deps, merchantId, req.params.customer_uid);
      return ok(await listCustomerPayments(req.deps, merchantId, req.params.customer_uid, { page: req.query.page ?? 1, limit: req.query.limit ?? 20 }));
    },
  );
}
