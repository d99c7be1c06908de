import Type from 'typebox';
import type { PierApp } from '../app.js';
import { unschedule } from '../../core/schedules/schedules.js';
import { ok } from '../errors.js';
import { asArray, merchantOf } from '../request-helpers.js';
import { StoredCustomerUid, StoredMerchantUid } from '../schemas.js';

/**
 * POST /subscribe/payments/unschedule — revokes waiting schedules: all of a customer's, or the
 * listed merchant_uids. Answers the revoked ScheduleResults; nothing to revoke is code 1.
 * A schedule in the answer is never charged.
 */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/unschedule',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: 'Revoke scheduled charges',
        body: Type.Object({
          customer_uid: Type.Optional(Type.Union([StoredCustomerUid, Type.Null()])),
          // no null: a JSON null is refused as it always was, not read as omitted, which revokes every
          // schedule of the customer (an unset variable must not do that; decision 0072)
          merchant_uid: Type.Optional(Type.Union([StoredMerchantUid, Type.Array(StoredMerchantUid, { maxItems: 1000 })])),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      const merchantUids = b.merchant_uid === undefined ? [] : asArray(b.merchant_uid);
      return ok(await unschedule(req.deps, merchantOf(req), { customerUid: b.customer_uid ?? null, merchantUids }));
    },
  );
}
