/**
 * Creating schedules checks every new merchant_uid against the merchant's schedules and payments
 * before recording any. A request carries up to hundreds; the checks are planned with the list's
 * values each time: a generic plan of `merchant_uid IN ($2 … $501)`, made before the table was
 * analysed, walked every schedule of the merchant and compared each with all 500 parameters
 * (42 ms a request against 5,000 schedules).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchedules, type NewSchedule } from '../../src/core/schedules/schedules.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { CUSTOM_PLAN } from '../../src/store/pg-prepared.js';
import { planOf, statementsOf } from '../plans.js';

const HOUR = 3600;
const CUSTOMER = 'checks_customer';

let pier: TestPier;
let m: TestMerchant;
let at: number;

/** `count` schedules `${prefix}0…`, due in an hour, through the API. */
async function scheduleMany(prefix: string, count: number) {
  for (let start = 0; start < count; start += 500) {
    const schedules = Array.from({ length: Math.min(500, count - start) }, (_, i) => ({ merchant_uid: `${prefix}${start + i}`, schedule_at: at, amount: 1000, name: 'x' }));
    const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: CUSTOMER, schedules } });
    expect(res.body.code, JSON.stringify(res.body).slice(0, 300)).toBe(0);
  }
}

const newSchedules = (uids: string[]): NewSchedule[] =>
  uids.map((merchantUid) => ({
    merchantUid,
    scheduleAt: at,
    amount: 1000,
    taxFree: 0,
    vatAmount: null,
    name: null,
    buyer: { name: null, email: null, tel: null, addr: null, postcode: null },
    customData: null,
    noticeUrl: null,
    cardQuota: 0,
    promotionId: null,
    options: null,
  }));

beforeAll(async () => {
  // a database of its own: 5,000 schedules of one merchant written just now, not yet analysed
  pier = await startTestPier();
  m = await pier.newMerchant();
  at = Math.floor(pier.clock.now() / 1000) + HOUR;
  const issued = await pier.call('POST', `/subscribe/customers/${CUSTOMER}`, { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '3001' }), expiry: '2030-12' } });
  expect(issued.body.code).toBe(0);
  await scheduleMany('held_', 5000);
});
afterAll(() => pier?.close());

describe('creating schedules', () => {
  it('refuses a request of 500 naming one scheduled merchant_uid, and one paid, and records none of it', async () => {
    const fresh = Array.from({ length: 499 }, (_, i) => ({ merchant_uid: `new_${i}`, schedule_at: at, amount: 1000, name: 'x' }));
    const withScheduled = [...fresh.slice(0, 250), { merchant_uid: 'held_4321', schedule_at: at, amount: 1000, name: 'x' }, ...fresh.slice(250)];
    const dup = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: CUSTOMER, schedules: withScheduled } });
    expect(dup.status).toBe(200);
    expect(dup.body).toEqual({ code: 1, message: '이미 예약된 merchant_uid입니다: held_4321', response: null });

    const paid = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: CUSTOMER, merchant_uid: 'paid_once', amount: 1000, name: 'x' } });
    expect(paid.body.response.status).toBe('paid');
    const withPaid = [...fresh.slice(0, 100), { merchant_uid: 'paid_once', schedule_at: at, amount: 1000, name: 'x' }, ...fresh.slice(100)];
    const refused = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: CUSTOMER, schedules: withPaid } });
    expect(refused.body).toEqual({ code: 1, message: '이미 결제가 이루어진 merchant_uid입니다: paid_once', response: null });

    const recorded = await pier.store.db.selectFrom('payment_schedules').select('merchant_uid').where('merchant_id', '=', m.merchantId).where('merchant_uid', 'like', 'new_%').execute();
    expect(recorded).toEqual([]);
  });

  it('plans the checks with the list of merchant_uids each time, not by a plan made before the table was analysed', async () => {
    const uids = Array.from({ length: 500 }, (_, i) => `planned_${i}`);
    const ran = await statementsOf(pier, (store) => createSchedules({ ...pier.deps, store }, m.merchantId, { customerUid: CUSTOMER, customerId: null, card: null, pg: null, schedules: newSchedules(uids) }));
    const checks = ran.filter((q) => / in \(/.test(q.sql) && /merchant_uid/.test(q.sql));
    // the two checks, before anything is recorded: scheduled, then held by a payment
    expect(checks.map((q) => q.sql.match(/from "(\w+)"/)![1])).toEqual(['payment_schedules', 'payments']);
    for (const q of checks) {
      // never a named statement (store/pg-prepared.ts): PostgreSQL plans it with the 500 values,
      // which it hashes, where a generic plan compares each row with each of 500 parameters
      expect(q.sql).toContain(CUSTOM_PLAN);
      const plan = await planOf(pier, q.sql, q.parameters);
      if (pier.store.dialect === 'sqlite') expect(plan).toMatch(/SEARCH \w+ USING (COVERING )?INDEX \S+ \(merchant_id=\? AND merchant_uid(_lock)?=\?\)/);
      expect(plan).not.toMatch(/Seq Scan/);
    }
  });
});
