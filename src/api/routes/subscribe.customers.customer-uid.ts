import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { deleteBillingKey, getCustomer, issueBillingKey } from '../../core/billing-keys.js';
import { ok } from '../errors.js';
import { Birth, CardNumber, CustomerFields, CustomerUid, Cvc, Expiry, Pg, Pwd2Digit, OptString } from '../schemas.js';
import { cardFromBody, merchantOf } from '../request-helpers.js';

const Params = Type.Object({ customer_uid: CustomerUid });

/** GET, POST, DELETE /subscribe/customers/{customer_uid} — billing keys. */
export default function route(app: PierApp, deps: Deps) {
  app.get('/subscribe/customers/:customer_uid', { schema: { tags: ['billing keys'], summary: 'Get a billing key', params: Params } }, async (req) =>
    ok(await getCustomer(deps, merchantOf(req), req.params.customer_uid)),
  );

  app.post(
    '/subscribe/customers/:customer_uid',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Issue a billing key from card data (key-in)',
        params: Params,
        body: Type.Object({
          card_number: CardNumber,
          expiry: Expiry,
          birth: Type.Optional(Birth),
          pwd_2digit: Type.Optional(Pwd2Digit),
          cvc: Type.Optional(Cvc),
          pg: Pg,
          channel_key: OptString(200),
          ...CustomerFields,
        }),
      },
    },
    async (req) => {
      const b = req.body;
      return ok(await issueBillingKey(deps, merchantOf(req), req.params.customer_uid, cardFromBody(b), b, b.pg));
    },
  );

  app.delete(
    '/subscribe/customers/:customer_uid',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Delete a billing key',
        params: Params,
        querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 256 })), extra: Type.Optional(Type.Object({})) }),
      },
    },
    async (req) => ok(await deleteBillingKey(deps, merchantOf(req), req.params.customer_uid)),
  );
}
