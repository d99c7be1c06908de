import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { listSchedules } from '../../core/schedules/schedules.js';
import { PierError, ok } from '../errors.js';
import { merchantOf } from '../request-helpers.js';
import { StoredCustomerUid, Paging } from '../schemas.js';
import { ScheduleStatusParam, UnixTime } from './subscribe.payments.schedule-fields.js';

/** Shared by GET /subscribe/payments/schedule/customers/{customer_uid} and GET /subscribe/customers/{customer_uid}/schedules. */
export function customerSchedulesRoute(app: PierApp, deps: Deps, path: string, tag: string) {
  app.get(
    path,
    {
      schema: {
        tags: [tag],
        summary: "A customer's schedules with from <= schedule_at < to (`schedule-status` filter, hyphenated as in V1)",
        params: Type.Object({ customer_uid: StoredCustomerUid }),
        querystring: Type.Object({
          from: Type.Optional(UnixTime),
          to: Type.Optional(UnixTime),
          'schedule-status': ScheduleStatusParam,
          // also accepted with an underscore, like the merchant-wide list
          schedule_status: ScheduleStatusParam,
          ...Paging,
        }),
      },
    },
    async (req) => {
      const q = req.query;
      if (q.from === undefined || q.to === undefined) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: from, to');
      return ok(
        await listSchedules(req.deps, merchantOf(req), {
          customerUid: req.params.customer_uid,
          from: q.from,
          to: q.to,
          status: q['schedule-status'] ?? q.schedule_status ?? null,
          page: q.page ?? 1,
          limit: q.limit ?? 20,
          oldestFirst: false,
        }),
      );
    },
  );
}

/** GET /subscribe/payments/schedule/customers/{customer_uid} */
export default function route(app: PierApp, deps: Deps) {
  customerSchedulesRoute(app, deps, '/subscribe/payments/schedule/customers/:customer_uid', 'scheduled payments');
}
