/**
 * The sandbox clock is global and any merchant's REST token moves it, the public demo key
 * (`imp_apikey`) included. A sandbox Pier may hold live channels (a real tPay MID, a NICE R… key):
 * a schedule whose billing key is a live channel's fell due on the advanced clock and was charged
 * to a real card a month early, by whoever advanced it. A live channel's schedule now falls due on
 * the real time only (decision 0121); a sandbox channel's still follows the sandbox clock.
 *
 * The live channel is the tPay simulator's billing MID with its `sandbox` flag cleared: that flag is
 * all Pier knows of a channel being live, and the simulator stands in for the real PG over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshClock } from '../../src/core/sandbox/clock.js';
import { ensureDemoMerchant } from '../../src/core/sandbox/demo.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const DAY = 86_400;
let pier: TestPier;
let liveShop: TestMerchant;
let sandboxShop: TestMerchant;
let runner: JobRunner;
const pierNow = () => Math.floor(pier.deps.clock.now() / 1000);

beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true, listen: true });
  // the demo merchant is made on a sandbox's first start, before any other
  const demo = await ensureDemoMerchant(pier.deps);
  expect(demo?.impKey).toBe(DEMO_IMP_KEY);
  liveShop = await pier.newMerchant();
  sandboxShop = await pier.newMerchant();
  // liveShop's billing MID is a live account: a real MID, real cards
  await pier.store.db.updateTable('pg_channels').set({ sandbox: 0 }).where('merchant_id', '=', liveShop.merchantId).where('mid', '=', 'tpaytest2m').execute();
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger, beforePass: () => refreshClock(pier.deps.clock) });
});
afterAll(async () => {
  await pier.close();
});

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(`${pier.pierUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { code: number; message: string | null; response: any } };
}
async function tokenOf(impKey: string, impSecret: string): Promise<string> {
  const r = await post('/users/getToken', { imp_key: impKey, imp_secret: impSecret });
  expect(r.body.code).toBe(0);
  return r.body.response.access_token;
}
const schedule = (merchantId: string, merchantUid: string) =>
  pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_id', '=', merchantId).where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();
const paymentsOf = (merchantId: string) => pier.store.db.selectFrom('payments').select(['imp_uid', 'status', 'amount', 'sandbox']).where('merchant_id', '=', merchantId).execute();

async function monthlySchedule(m: TestMerchant, customerUid: string, merchantUid: string, scheduleAt: number) {
  const key = await pier.call('POST', `/subscribe/customers/${customerUid}`, {
    token: m.token,
    body: { pg: 'jtnet.tpaytest2m', card_number: testCardNumber({ kftcCode: '366', lastFour: '6060' }), expiry: '2030-12' },
  });
  expect(key.body.code, JSON.stringify(key.body)).toBe(0);
  const made = await pier.call('POST', '/subscribe/payments/schedule', {
    token: m.token,
    body: { customer_uid: customerUid, schedules: [{ merchant_uid: merchantUid, schedule_at: scheduleAt, amount: 29_900, name: '월간 구독' }] },
  });
  expect(made.body.code, JSON.stringify(made.body)).toBe(0);
}

describe('the sandbox clock and a live channel', () => {
  it('advanced by the public demo key a month ahead, charges no live schedule before its date on the real time', async () => {
    const scheduleAt = pierNow() + 30 * DAY;
    await monthlySchedule(liveShop, 'live_c', 'live_m1', scheduleAt);
    await monthlySchedule(sandboxShop, 'sbx_c', 'sbx_m1', scheduleAt);
    const liveChannel = await pier.store.db.selectFrom('billing_keys').innerJoin('pg_channels', 'pg_channels.id', 'billing_keys.channel_id').select('pg_channels.sandbox').where('billing_keys.merchant_id', '=', liveShop.merchantId).executeTakeFirstOrThrow();
    expect(liveChannel.sandbox).toBe(0);

    // anyone with the public demo key moves every merchant's time a month and a day ahead
    const advanced = await post('/pier/sandbox/clock/advance', { by: '31d' }, await tokenOf(DEMO_IMP_KEY, DEMO_IMP_SECRET));
    expect(advanced.body.code, JSON.stringify(advanced.body)).toBe(0);
    await runner.drain();

    // the sandbox schedule ran on the sandbox clock, as the sandbox is for
    expect(await schedule(sandboxShop.merchantId, 'sbx_m1')).toMatchObject({ state: 'executed' });
    expect((await paymentsOf(sandboxShop.merchantId)).map((p) => p.status)).toEqual(['paid']);
    // the live one waits for its date on the real time: no attempt, no payment, nothing at the PG
    const held = await schedule(liveShop.merchantId, 'live_m1');
    expect(held, JSON.stringify(held)).toMatchObject({ state: 'scheduled', attempts: 0, imp_uid: null, lease_owner: null });
    expect(await paymentsOf(liveShop.merchantId), 'a live card charged a month early').toEqual([]);
    // due again when the real time reaches its date, seen on the sandbox clock
    expect(Number(held.due_at)).toBe(scheduleAt + advanced.body.response.offset_seconds);
    expect(await runner.drain()).toBe(0);

    // after a reset it is due at its own date again, and charged once when the real time gets there
    expect((await post('/pier/sandbox/clock/reset', {}, await tokenOf(DEMO_IMP_KEY, DEMO_IMP_SECRET))).body.code).toBe(0);
    expect(Number((await schedule(liveShop.merchantId, 'live_m1')).due_at)).toBe(scheduleAt);
    pier.clock.advance(30 * DAY * 1000 + 1000);
    await refreshClock(pier.deps.clock);
    expect(await runner.drain()).toBe(1);
    const done = await schedule(liveShop.merchantId, 'live_m1');
    expect(done).toMatchObject({ state: 'executed', attempts: 1 });
    const paid = await paymentsOf(liveShop.merchantId);
    expect(paid.map((p) => [p.status, Number(p.amount), Number(p.sandbox)])).toEqual([['paid', 29_900, 0]]);
  });
});
