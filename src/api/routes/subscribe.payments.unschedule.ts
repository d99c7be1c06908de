import Type from 'typebox';
import type { PierApp } from '../app.js';
import { unschedule } from '../../core/schedules/schedules.js';
import { ok, PierError } from '../errors.js';
import { asArray, merchantOf } from '../request-helpers.js';
import { StoredCustomerUid, StoredMerchantUidItem } from '../schemas.js';

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
          merchant_uid: Type.Optional(Type.Union([StoredMerchantUidItem, Type.Array(StoredMerchantUidItem, { maxItems: 1000 })])),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      // An empty entry (`merchant_uid[]=`) is a field left blank, not an id: beside ids it is
      // ignored, as on GET /payments (decision 0074). A list with no id at all (`[]`, `[""]`) is
      // refused: read as omitted it would revoke every schedule of the customer (decision 0081).
      const given = b.merchant_uid === undefined ? null : asArray(b.merchant_uid);
      const merchantUids = given === null ? [] : given.filter((id) => id !== '');
      if (given !== null && merchantUids.length === 0) {
        throw new PierError('invalid_parameter', '파라미터 형식이 올바르지 않습니다: merchant_uid', 'merchant_uid lists no id; omit it to revoke every schedule of the customer');
      }
      return ok(await unschedule(req.deps, merchantOf(req), { customerUid: b.customer_uid ?? null, merchantUids }));
    },
  );
}
