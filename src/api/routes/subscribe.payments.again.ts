import Type from 'typebox';
import type { PierApp } from '../app.js';
import { payAgain } from '../../core/payments/pay.js';
import { ok } from '../errors.js';
import { StoredCustomerUid } from '../schemas.js';
import { orderFromBody } from '../request-helpers.js';
import { ChargeFields } from './charge-fields.js';

/** POST /subscribe/payments/again — charge a stored billing key. Declines answer code 0, status `failed`. */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/again',
    {
      schema: {
        tags: ['payments (non-authenticated)'],
        summary: 'Charge a billing key',
        body: Type.Object({ ...ChargeFields, customer_uid: StoredCustomerUid }),
      },
    },
    async (req) => {
      const order = orderFromBody(req, req.body);
      return ok(await payAgain(req.deps, order));
    },
  );
}
