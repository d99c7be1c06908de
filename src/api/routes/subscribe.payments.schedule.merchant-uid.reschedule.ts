import Type from 'typebox';
import type { PierApp } from '../app.js';
import { reschedule } from '../../core/schedules/schedules.js';
import { PierError, ok } from '../errors.js';
import { merchantOf } from '../request-helpers.js';
import { StoredMerchantUid } from '../schemas.js';
import { UnixTime } from './subscribe.payments.schedule-fields.js';

/** POST /subscribe/payments/schedule/{merchant_uid}/reschedule — a failed or revoked schedule waits again. */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/schedule/:merchant_uid/reschedule',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: 'Schedule a failed or revoked charge again',
        params: Type.Object({ merchant_uid: StoredMerchantUid }),
        body: Type.Object({ schedule_at: Type.Optional(UnixTime) }),
      },
    },
    async (req) => {
      if (req.body.schedule_at === undefined) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: schedule_at');
      return ok(await reschedule(req.deps, merchantOf(req), req.params.merchant_uid, req.body.schedule_at));
    },
  );
}
