import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant, v1Call } from '../harness.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';

/**
 * The schedule paths of decision 0068 that only the shared schema (`StoredMerchantUid`) covered:
 * `PUT /subscribe/payments/schedule/{merchant_uid}`, `POST …/{merchant_uid}/reschedule` and
 * `POST …/{merchant_uid}/retry` take a schedule's merchant_uid as an earlier Pier stored it (over
 * 40 bytes of UTF-8, control characters) and act on that schedule; `POST /subscribe/payments/schedule`
 * without card fields takes an old customer_uid (it names a stored key), and the scheduled run
 * charges all of them. As in stored-ids.test.ts, each
 * schedule is made through REST with an ordinary id, then given its old id in the database.
 */
let pier: TestPier;
let m: TestMerchant;

const card = { card_number: testCardNumber({ kftcCode: '381', lastFour: '5678' }), expiry: '2030-12', birth: '820213' };
/** 22 characters, 67 bytes: REST took them before decision 0062 */
const OLD_WAITING = '정기_' + '가'.repeat(20);
const OLD_REVOKED = '정기_' + '나'.repeat(20);
const OLD_RETRIED = '정기_' + '다'.repeat(20);
/** a tab and a C1 control: REST took them before decision 0054 */
const OLD_CONTROLS = 'old\tplan\u0085';
/** 30 characters, 90 bytes */
const OLD_CUSTOMER = '고'.repeat(30);

const call = (method: string, url: string, body?: unknown) => v1Call(pier, m.token, method, url, body);
const path = (id: string) => encodeURIComponent(id);
let scheduleAt: number;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const { db } = pier.store;
  scheduleAt = Math.floor(pier.clock.now() / 1000) + 86_400;
  const renames: Array<[string, string]> = [['tmp_waiting', OLD_WAITING], ['tmp_revoked', OLD_REVOKED], ['tmp_retried', OLD_RETRIED], ['tmp_controls', OLD_CONTROLS]];
  const scheduled = await call('POST', '/subscribe/payments/schedule', {
    customer_uid: 'tmp_customer',
    ...card,
    schedules: renames.map(([merchant_uid], i) => ({ merchant_uid, schedule_at: scheduleAt + i, amount: 7000 + i, name: 'plan' })),
  });
  expect(scheduled.body.code, JSON.stringify(scheduled.body)).toBe(0);
  const revoked = await call('POST', '/subscribe/payments/unschedule', { customer_uid: 'tmp_customer', merchant_uid: ['tmp_revoked', 'tmp_retried', 'tmp_controls'] });
  expect(revoked.body.response, JSON.stringify(revoked.body)).toHaveLength(3);

  await db.updateTable('billing_keys').set({ customer_uid: OLD_CUSTOMER }).where('merchant_id', '=', m.merchantId).where('customer_uid', '=', 'tmp_customer').execute();
  for (const [now, old] of renames) {
    await db.updateTable('payment_schedules').set({ merchant_uid: old, customer_uid: OLD_CUSTOMER }).where('merchant_id', '=', m.merchantId).where('merchant_uid', '=', now).execute();
  }
});
afterAll(() => pier.close());

describe('schedule actions by ids stored before the limits (decision 0068)', () => {
  it('PUT /subscribe/payments/schedule/{merchant_uid} moves a waiting schedule by its old merchant_uid', async () => {
    const moved = await call('PUT', `/subscribe/payments/schedule/${path(OLD_WAITING)}`, { schedule_at: scheduleAt + 3600 });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toMatchObject({ code: 0, message: null });
    expect(moved.body.response).toMatchObject({ merchant_uid: OLD_WAITING, customer_uid: OLD_CUSTOMER, schedule_at: scheduleAt + 3600, schedule_status: 'scheduled', amount: 7000 });
    const row = await pier.store.db.selectFrom('payment_schedules').select(['schedule_at', 'state']).where('merchant_uid', '=', OLD_WAITING).executeTakeFirstOrThrow();
    expect([Number(row.schedule_at), row.state]).toEqual([scheduleAt + 3600, 'scheduled']);
  });

  it('POST …/{merchant_uid}/reschedule makes a revoked schedule with an old merchant_uid wait again', async () => {
    for (const [id, amount] of [[OLD_REVOKED, 7001], [OLD_CONTROLS, 7003]] as const) {
      const res = await call('POST', `/subscribe/payments/schedule/${path(id)}/reschedule`, { schedule_at: scheduleAt + 7200 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.response, id).toMatchObject({ merchant_uid: id, customer_uid: OLD_CUSTOMER, schedule_at: scheduleAt + 7200, schedule_status: 'scheduled', amount });
    }
    const found = await call('GET', `/subscribe/payments/schedule/${path(OLD_CONTROLS)}`);
    expect(found.body.response).toMatchObject({ merchant_uid: OLD_CONTROLS, schedule_status: 'scheduled' });
  });

  it('POST …/{merchant_uid}/retry charges a revoked schedule with an old merchant_uid on its old key now', async () => {
    const res = await call('POST', `/subscribe/payments/schedule/${path(OLD_RETRIED)}/retry`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ code: 0, message: null });
    expect(res.body.response).toMatchObject({ merchant_uid: OLD_RETRIED, customer_uid: OLD_CUSTOMER, status: 'paid', amount: 7002 });
    const schedule = await call('GET', `/subscribe/payments/schedule/${path(OLD_RETRIED)}`);
    expect(schedule.body.response).toMatchObject({ merchant_uid: OLD_RETRIED, schedule_status: 'executed', payment_status: 'paid', imp_uid: res.body.response.imp_uid });
    const found = await call('GET', `/payments/find/${path(OLD_RETRIED)}`);
    expect(found.body.response).toMatchObject({ imp_uid: res.body.response.imp_uid, amount: 7002, status: 'paid' });
  });

  it('POST /subscribe/payments/schedule without card fields schedules a new charge on a key with an old customer_uid', async () => {
    const res = await call('POST', '/subscribe/payments/schedule', { customer_uid: OLD_CUSTOMER, schedules: [{ merchant_uid: 'new_on_old_key', schedule_at: scheduleAt + 10_800, amount: 8000, name: 'plan' }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.response.map((x: { merchant_uid: string; customer_uid: string; schedule_status: string }) => [x.merchant_uid, x.customer_uid, x.schedule_status])).toEqual([['new_on_old_key', OLD_CUSTOMER, 'scheduled']]);
  });

  it('refuses on these paths what no Pier ever stored (41 characters), naming merchant_uid', async () => {
    for (const [method, suffix, body] of [['PUT', '', { schedule_at: scheduleAt }], ['POST', '/reschedule', { schedule_at: scheduleAt }], ['POST', '/retry', undefined]] as const) {
      const res = await call(method, `/subscribe/payments/schedule/${path('가'.repeat(41))}${suffix}`, body);
      expect(res.status, `${method} ${suffix}`).toBe(400);
      expect(res.body).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: merchant_uid', response: null });
      expect(res.detail).toBe('merchant_uid must NOT have more than 40 characters');
    }
  });

  it('the scheduled run charges the schedules waiting under old ids, on the old key', async () => {
    pier.clock.advance((scheduleAt + 10_800 + 60) * 1000 - pier.clock.now());
    // the clock passed the token's expiry: a new one, as a V1 client gets it
    const token = await call('POST', '/users/getToken', { imp_key: m.impKey, imp_secret: m.impSecret });
    m.token = token.body.response.access_token;
    const runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(4);
    for (const [id, amount] of [[OLD_WAITING, 7000], [OLD_REVOKED, 7001], [OLD_CONTROLS, 7003], ['new_on_old_key', 8000]] as const) {
      const schedule = await call('GET', `/subscribe/payments/schedule/${path(id)}`);
      expect(schedule.body.response, id).toMatchObject({ merchant_uid: id, customer_uid: OLD_CUSTOMER, schedule_status: 'executed', payment_status: 'paid', amount });
      const paid = await call('GET', `/payments/find/${path(id)}`);
      expect(paid.body.response, id).toMatchObject({ imp_uid: schedule.body.response.imp_uid, merchant_uid: id, customer_uid: OLD_CUSTOMER, status: 'paid', amount });
    }
  });
});
