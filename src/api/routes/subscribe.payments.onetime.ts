import Type from 'typebox';
import type { PierApp } from '../app.js';
import { payOnetime } from '../../core/payments/pay.js';
import { ok } from '../errors.js';
import { Birth, CardNumber, Cvc, Expiry, Pg, Pwd2Digit, CustomerUid } from '../schemas.js';
import { cardFromBody, orderFromBody } from '../request-helpers.js';
import { ChargeFields } from './charge-fields.js';

/**
 * POST /subscribe/payments/onetime — key-in payment; with customer_uid the card is also stored.
 * A decline answers code 0 with a `failed` Payment whose fail_reason holds the PG's reason.
 */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/onetime',
    {
      schema: {
        tags: ['payments (non-authenticated)'],
        summary: 'Key-in payment',
        body: Type.Object({
          ...ChargeFields,
          card_number: CardNumber,
          expiry: Expiry,
          birth: Type.Optional(Birth),
          pwd_2digit: Type.Optional(Pwd2Digit),
          cvc: Type.Optional(Cvc),
          customer_uid: Type.Optional(CustomerUid),
          pg: Pg,
        }),
      },
    },
    async (req) => {
      const order = orderFromBody(req, req.body);
      return ok(await payOnetime(req.deps, order, cardFromBody(req.body), req.body.pg));
    },
  );
}
