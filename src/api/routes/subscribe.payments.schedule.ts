import Type from 'typebox';
import type { PierApp } from '../app.js';
import { createSchedules, listSchedules } from '../../core/schedules/schedules.js';
import { PierError, ok } from '../errors.js';
import { cardFromBody, merchantOf } from '../request-helpers.js';
import { customerUidCreationProblem } from '../../domain/merchant-ids.js';
import { Birth, CardNumber, Cvc, Expiry, OptString, Paging, Pg, Pwd2Digit, StoredCustomerUid } from '../schemas.js';
import { newScheduleOf, ScheduleItem, ScheduleStatusParam, UnixTime } from './subscribe.payments.schedule-fields.js';

const Opt = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));

/** V1: the list spans at most three months. */
function threeMonthsAfter(from: number): number {
  const d = new Date(from * 1000);
  d.setUTCMonth(d.getUTCMonth() + 3);
  return Math.floor(d.getTime() / 1000);
}

/**
 * POST /subscribe/payments/schedule — schedule charges of a billing key (card fields issue the key
 * in the same call); GET /subscribe/payments/schedule — the merchant's schedules in a period.
 */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/schedule',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: 'Schedule billing-key charges',
        body: Type.Object({
          // a stored key's name (decision 0068); with card fields it names a new key, checked below
          customer_uid: StoredCustomerUid,
          customer_id: OptString(80),
          checking_amount: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100_000_000 }), Type.Null()])),
          card_number: Opt(CardNumber),
          expiry: Opt(Expiry),
          birth: Opt(Birth),
          pwd_2digit: Opt(Pwd2Digit),
          cvc: Opt(Cvc),
          pg: Pg,
          channel_key: OptString(80),
          schedules: Type.Array(ScheduleItem, { minItems: 1, maxItems: 1000 }),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      if (b.card_number && !b.expiry) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: expiry');
      // channel_key only picks the channel of a new billing key (V1); Pier picks channels by `pg`
      if (b.channel_key && b.card_number) throw new PierError('not_supported', 'channel_key는 지원하지 않습니다. pg를 사용하세요.');
      if (b.card_number) {
        const problem = customerUidCreationProblem(b.customer_uid);
        if (problem) throw new PierError('invalid_parameter', '파라미터 형식이 올바르지 않습니다: customer_uid', `customer_uid ${problem}`);
      }
      const card = b.card_number && b.expiry ? cardFromBody({ card_number: b.card_number, expiry: b.expiry, birth: b.birth, pwd_2digit: b.pwd_2digit, cvc: b.cvc }) : null;
      return ok(
        await createSchedules(req.deps, merchantOf(req), {
          customerUid: b.customer_uid,
          customerId: b.customer_id ?? null,
          card,
          pg: b.pg ?? null,
          schedules: b.schedules.map((s, i) => newScheduleOf(s, i)),
        }),
      );
    },
  );

  app.get(
    '/subscribe/payments/schedule',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: "The merchant's schedules with schedule_from <= schedule_at < schedule_to (at most 3 months)",
        querystring: Type.Object({
          schedule_from: Type.Optional(UnixTime),
          schedule_to: Type.Optional(UnixTime),
          schedule_status: ScheduleStatusParam,
          sorting: Type.Optional(Type.Union([Type.Literal('scheduled'), Type.Literal('-scheduled'), Type.Null()])),
          ...Paging,
        }),
      },
    },
    async (req) => {
      const q = req.query;
      if (q.schedule_from === undefined || q.schedule_to === undefined) {
        throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: schedule_from, schedule_to');
      }
      if (q.schedule_to > threeMonthsAfter(q.schedule_from)) {
        throw new PierError('invalid_parameter', 'schedule_from ~ schedule_to 조회 기간은 최대 3개월입니다.');
      }
      return ok(
        await listSchedules(req.deps, merchantOf(req), {
          from: q.schedule_from,
          to: q.schedule_to,
          status: q.schedule_status ?? null,
          page: q.page ?? 1,
          limit: q.limit ?? 20,
          oldestFirst: q.sorting === 'scheduled',
        }),
      );
    },
  );
}
