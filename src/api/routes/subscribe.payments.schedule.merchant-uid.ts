import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getSchedule, updateScheduleAt } from '../../core/schedules/schedules.js';
import { PierError, ok } from '../errors.js';
import { merchantOf } from '../request-helpers.js';
import { StoredMerchantUid } from '../schemas.js';
import { UnixTime } from './subscribe.payments.schedule-fields.js';

/**
 * GET /subscribe/payments/schedule/{merchant_uid} — one ScheduleResult;
 * PUT — moves a schedule that is still waiting to another schedule_at.
 */
export default function route(app: PierApp) {
  const params = Type.Object({ merchant_uid: StoredMerchantUid });
  app.get(
    '/subscribe/payments/schedule/:merchant_uid',
    { schema: { tags: ['scheduled payments'], summary: 'One scheduled charge', params } },
    async (req) => ok(await getSchedule(req.deps, merchantOf(req), req.params.merchant_uid)),
  );

  app.put(
    '/subscribe/payments/schedule/:merchant_uid',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: 'Change the time of a waiting scheduled charge',
        params,
        body: Type.Object({ schedule_at: Type.Optional(UnixTime) }),
      },
    },
    async (req) => {
      if (req.body.schedule_at === undefined) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: schedule_at');
      return ok(await updateScheduleAt(req.deps, merchantOf(req), req.params.merchant_uid, req.body.schedule_at));
    },
  );
}
