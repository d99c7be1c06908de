/**
 * "One stuck row never delays another merchant": a merchant whose scheduled charges hang at the
 * PG (its answers held past Pier's read timeout) must not take every slot of the schedules lane.
 * Pier in-process, the tPay simulator over real HTTP, the real job runner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let slow: TestMerchant;
let other: TestMerchant;

beforeAll(async () => {
  // held answers outlive Pier's read timeout (2 s): each of the slow merchant's charges holds its slot that long
  pier = await startTestPier({ simulatorSlowMs: 60_000 });
  slow = await pier.newMerchant();
  other = await pier.newMerchant();
});
afterAll(() => pier.close());

async function schedule(m: TestMerchant, customerUid: string, lastFour: string, merchantUids: string[], at: number) {
  await scheduleOn(pier, m, customerUid, lastFour, merchantUids, at);
}

async function scheduleOn(pier: TestPier, m: TestMerchant, customerUid: string, lastFour: string, merchantUids: string[], at: number) {
  const issued = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: testCardNumber({ kftcCode: '381', lastFour }), expiry: '2030-12' } });
  expect(issued.body.code, JSON.stringify(issued.body)).toBe(0);
  const schedules = merchantUids.map((merchant_uid, i) => ({ merchant_uid, schedule_at: at + i, amount: 1000 + i, name: '정기결제' }));
  const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: customerUid, schedules } });
  expect(res.body.code, JSON.stringify(res.body).slice(0, 300)).toBe(0);
}

const scheduleOf = (m: TestMerchant, merchantUid: string) =>
  pier.store.db.selectFrom('payment_schedules').select(['state', 'imp_uid']).where('merchant_id', '=', m.merchantId).where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();

describe('the schedules lane, with one merchant whose charges hang', () => {
  it("runs another merchant's due schedule while the slow merchant's charges are still held at the PG", async () => {
    const at = Math.floor(pier.clock.now() / 1000) + 60;
    // the slow merchant's 8 schedules fall due first (cards ending 1098: the key issues, the PG holds each charge's answer)
    await schedule(slow, 'hanging', '1098', Array.from({ length: 8 }, (_, i) => `hang_${i}`), at);
    await schedule(other, 'healthy', '4444', ['on_time'], at + 30);
    pier.clock.advance(120_000);

    const runner = new JobRunner({ queues: [scheduleQueue(pier.deps, { concurrency: 4, refillAt: 1 })], logger: pier.deps.logger, idleMs: 20 });
    runner.start();
    try {
      for (let i = 0; i < 2_000 && (await scheduleOf(other, 'on_time')).state !== 'executed'; i++) await new Promise((r) => setTimeout(r, 5));
      // the other merchant's charge went through while the slow merchant's first charges were
      // still held (none of them had reached Pier's 2 s read timeout and gone in doubt)
      expect(await scheduleOf(other, 'on_time')).toMatchObject({ state: 'executed' });
      const held = await pier.store.db.selectFrom('payments').select(['status', 'pg_state']).where('merchant_id', '=', slow.merchantId).execute();
      expect(held.length).toBeGreaterThan(0);
      expect(held.filter((p) => p.pg_state !== 'calling')).toEqual([]);
    } finally {
      await runner.stop(0);
      await fetch(`${pier.simulatorUrl}/__control/holds/release`, { method: 'POST' });
    }
  });
  it("with the lane's default sizes, leaves out the slow merchant while less than half its cap is free, and runs the other merchant's schedule meanwhile (decision 0070)", async () => {
    // a Pier of its own: the first test's held charges stay leased to its stopped runner
    const own = await startTestPier({ simulatorSlowMs: 60_000 });
    try {
      const slowOne = await own.newMerchant();
      const otherOne = await own.newMerchant();
      const at = Math.floor(own.clock.now() / 1000) + 60;
      // 6 charges the PG holds, then 10 it answers at once, all due before the other merchant's
      await scheduleOn(own, slowOne, 'hanging', '1098', Array.from({ length: 6 }, (_, i) => `hang_${i}`), at);
      await scheduleOn(own, slowOne, 'answered', '4444', Array.from({ length: 10 }, (_, i) => `answered_${i}`), at + 10);
      await scheduleOn(own, otherOne, 'healthy', '4444', ['on_time'], at + 30);
      own.clock.advance(120_000);
      const state = async (m: TestMerchant, merchantUid: string) =>
        (await own.store.db.selectFrom('payment_schedules').select('state').where('merchant_id', '=', m.merchantId).where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow()).state;

      const runner = new JobRunner({ queues: [scheduleQueue(own.deps)], logger: own.deps.logger, idleMs: 20 });
      runner.start();
      try {
        for (let i = 0; i < 2_000 && (await state(otherOne, 'on_time')) !== 'executed'; i++) await new Promise((r) => setTimeout(r, 5));
        expect(await state(otherOne, 'on_time')).toBe('executed');
        // the slow merchant's 6 held charges are still at the PG, and it had its cap (8) and no
        // more: the claim that took the other merchant's schedule left it out, 2 of its 8 free.
        // Its last rows of that claim may still be writing their attempts when the other
        // merchant's is executed (they run side by side): wait for them, not for a 9th.
        const slowPayments = () => own.store.db.selectFrom('payments').select(['merchant_uid', 'pg_state']).where('merchant_id', '=', slowOne.merchantId).execute();
        await expect.poll(async () => (await slowPayments()).length, { interval: 5, timeout: 10_000 }).toBeGreaterThanOrEqual(8);
        const payments = await slowPayments();
        expect(payments.filter((p) => p.merchant_uid.startsWith('hang_')).map((p) => p.pg_state)).toEqual(Array(6).fill('calling'));
        expect(payments).toHaveLength(8);
      } finally {
        await runner.stop(0);
        await fetch(`${own.simulatorUrl}/__control/holds/release`, { method: 'POST' });
      }
    } finally {
      await own.close();
    }
  });
});
