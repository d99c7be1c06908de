import Type from 'typebox';
import type { PierApp } from '../app.js';
import { deleteBillingKey, getCustomer, issueBillingKey } from '../../core/billing-keys/billing-keys.js';
import { PierError, ok } from '../errors.js';
import { Birth, CardNumber, CustomerFields, CustomerUid, Cvc, Expiry, Pg, Pwd2Digit, OptString, StoredCustomerUid } from '../schemas.js';
import { cardFromBody, merchantOf } from '../request-helpers.js';

/** POST issues (or replaces) a key under a new name's rules; GET and DELETE take any name a key could have been stored under (decision 0068) */
const NewParams = Type.Object({ customer_uid: CustomerUid });
const StoredParams = Type.Object({ customer_uid: StoredCustomerUid });

/**
 * V1 answers GET/DELETE of an unknown customer_uid as a business refusal (HTTP 200, code 1), not
 * with the schema's 404: every client test run against V1 expects that (docs/decisions/0011).
 */
async function asV1Refusal<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof PierError && err.kind === 'not_found') throw new PierError('refused', err.message, err.detail);
    throw err;
  }
}

/** GET, POST, DELETE /subscribe/customers/{customer_uid} — billing keys. */
export default function route(app: PierApp) {
  app.get('/subscribe/customers/:customer_uid', { schema: { tags: ['billing keys'], summary: 'Get a billing key', params: StoredParams } }, async (req) =>
    ok(await asV1Refusal(getCustomer(req.deps, merchantOf(req), req.params.customer_uid))),
  );

  app.post(
    '/subscribe/customers/:customer_uid',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Issue a billing key from card data (key-in)',
        params: NewParams,
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
      return ok(await issueBillingKey(req.deps, merchantOf(req), req.params.customer_uid, cardFromBody(b), b, b.pg));
    },
  );

  app.delete(
    '/subscribe/customers/:customer_uid',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Delete a billing key',
        params: StoredParams,
        querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 256 })), extra: Type.Optional(Type.Object({})) }),
      },
    },
    async (req) => ok(await asV1Refusal(deleteBillingKey(req.deps, merchantOf(req), req.params.customer_uid))),
  );
}
