/**
 * The official Node client (`iamport-rest-client-nodejs`) schedules, reads, lists and revokes
 * scheduled payments on Pier unchanged, and parses the ScheduleResults.
 */
import { Iamport, Request } from 'iamport-rest-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const { Customers, Subscribe } = Request;
let pier: TestPier;
let m: TestMerchant;
let iamport: Iamport;
const card = testCardNumber({ kftcCode: '366', lastFour: '1357' });

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const baseUrl = await pier.app.listen({ host: '127.0.0.1', port: 0 });
  iamport = new Iamport({ apiKey: m.impKey, apiSecret: m.impSecret, baseUrl });
});
afterAll(() => pier.close());

type ScheduleData = Parameters<typeof Subscribe.schedule>[0];
type ScheduledsParams = Parameters<typeof Subscribe.getScheduleds>[0];

describe('iamport-rest-client-nodejs schedules on Pier', () => {
  it('schedules with card data, reads one, lists a customer, runs it, and revokes the rest', async () => {
    const now = Math.floor(pier.clock.now() / 1000);
    const res = await Subscribe.schedule({
      customer_uid: 'client_sub',
      card_number: card,
      expiry: '2030-12',
      birth: '900101',
      schedules: [
        { merchant_uid: 'client_sub_1', schedule_at: now + 60, amount: 9_900, name: '구독 1월' },
        { merchant_uid: 'client_sub_2', schedule_at: now + 86_400, amount: 9_900, name: '구독 2월' },
      ],
    } as ScheduleData).request(iamport);
    expect(res.data.code).toBe(0);
    const [first] = res.data.response as Array<{ merchant_uid: string; schedule_at: Date; schedule_status: string; executed_at: unknown }>;
    expect(first).toMatchObject({ merchant_uid: 'client_sub_1', schedule_status: 'scheduled' });
    expect(first.schedule_at).toBeInstanceOf(Date);

    const one = await Subscribe.getScheduled({ merchant_uid: 'client_sub_2' }).request(iamport);
    expect(one.data.response).toMatchObject({ merchant_uid: 'client_sub_2', customer_uid: 'client_sub', amount: 9_900 });

    pier.clock.advance(60_000);
    await new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger }).drain();

    const listed = await Customers.getScheduleds({ customer_uid: 'client_sub', from: now, to: now + 2 * 86_400, 'schedule-status': 'executed' } as ScheduledsParams).request(iamport);
    expect(listed.data.code).toBe(0);
    const list = listed.data.response.list as Array<{ merchant_uid: string; payment_status: string; imp_uid: string }>;
    expect(list.map((s) => [s.merchant_uid, s.payment_status])).toEqual([['client_sub_1', 'paid']]);
    expect(list[0].imp_uid).toMatch(/^imp_\d{12}$/);

    const all = await Subscribe.getScheduleds({ customer_uid: 'client_sub', from: now, to: now + 2 * 86_400 } as ScheduledsParams).request(iamport);
    expect(all.data.response.total).toBe(2);

    const revoked = await Subscribe.unschedule({ customer_uid: 'client_sub', merchant_uid: 'client_sub_2' }).request(iamport);
    expect(revoked.data.response).toMatchObject([{ merchant_uid: 'client_sub_2', schedule_status: 'revoked' }]);
    const nothing = await Subscribe.unschedule({ customer_uid: 'client_sub' }).request(iamport).catch((e: { response: { data: unknown } }) => e.response.data);
    expect(nothing).toEqual({ code: 1, message: '취소할 예약결제 기록이 존재하지 않습니다.', response: null });
  });
});
