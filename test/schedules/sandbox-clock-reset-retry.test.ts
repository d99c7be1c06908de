/**
 * A scheduled charge that failed for a technical reason is due again after a backoff on Pier's
 * clock (a minute, doubling). Made while the sandbox clock ran ahead, that retry's `due_at` was
 * the offset ahead of the real time: after `pier sandbox clock reset` it was stranded there (a
 * month, up to ten years) while the schedule showed `scheduled`. A reset now moves it back by the
 * offset, as it moves webhook retries and window acknowledgements, never before the schedule's
 * own `schedule_at` (decision 0118). The clock moved over real HTTP, as an operator does; the PG is
 * the tPay simulator, its failure injected on its control endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshClock } from '../../src/core/sandbox/clock.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let runner: JobRunner;
const pierNow = () => Math.floor(pier.deps.clock.now() / 1000);

beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true, listen: true });
  m = await pier.newMerchant();
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger, beforePass: () => refreshClock(pier.deps.clock) });
});
afterAll(async () => {
  await pier.close();
});

async function post(base: string, path: string, body: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { code: number; message: string | null; response: any } };
}
async function token(): Promise<string> {
  const r = await post(pier.pierUrl!, '/users/getToken', { imp_key: m.impKey, imp_secret: m.impSecret });
  expect(r.body.code).toBe(0);
  return r.body.response.access_token;
}
const schedule = (merchantUid: string) => pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();

describe('a sandbox clock reset', () => {
  it('brings back a scheduled charge retry made while the clock ran ahead, to its backoff from now', async () => {
    const key = await pier.call('POST', '/subscribe/customers/reset_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '5050' }), expiry: '2030-12' } });
    expect(key.body.code, JSON.stringify(key.body)).toBe(0);
    const scheduleAt = pierNow() + 60;
    const made = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'reset_c', schedules: [{ merchant_uid: 'reset_m1', schedule_at: scheduleAt, amount: 9_900, name: '월간 구독' }] } });
    expect(made.body.code, JSON.stringify(made.body)).toBe(0);

    // the operator moves the clock a month ahead; the charge then meets a PG error (tPay answers 500
    // and holds nothing), and is retried a minute of Pier's time after the PG shows no record
    expect((await post(pier.pierUrl!, '/pier/sandbox/clock/advance', { by: '30d' }, await token())).body.code).toBe(0);
    const fault = await post(pier.simulatorUrl, '/__control/faults', { mode: 'http_500', op: 'payments_token' });
    expect(fault.status).toBeLessThan(300);
    expect(await runner.drain()).toBe(1);
    // in doubt until its grace has passed (on the database's clock, which the test's base clock moves),
    // when the PG, asked again, has no record of it: a technical failure
    expect(await schedule('reset_m1')).toMatchObject({ state: 'running', attempts: 1 });
    pier.clock.advance(3_600_000);
    expect(await runner.drain()).toBe(1);
    const failedOnce = await schedule('reset_m1');
    expect(failedOnce, JSON.stringify(failedOnce)).toMatchObject({ state: 'scheduled', attempts: 1 });
    const retryIn = Number(failedOnce.due_at) - pierNow();
    expect(retryIn).toBeGreaterThan(0);
    expect(retryIn).toBeLessThanOrEqual(75);

    // back to the real time: the retry is due as soon after the schedule's own date as it was after the failure
    const reset = await post(pier.pierUrl!, '/pier/sandbox/clock/reset', {}, await token());
    expect(reset.body.code).toBe(0);
    expect(reset.body.response.offset_seconds).toBe(0);
    const afterReset = await schedule('reset_m1');
    expect(Number(afterReset.due_at), 'the retry stranded a month ahead').toBeLessThanOrEqual(Math.max(scheduleAt, pierNow() + retryIn));
    expect(Number(afterReset.due_at)).toBeGreaterThanOrEqual(scheduleAt);

    // two hours of Pier's time later it has run, and the buyer is charged once
    expect((await post(pier.pierUrl!, '/pier/sandbox/clock/advance', { by: '2h' }, await token())).body.code).toBe(0);
    expect(await runner.drain()).toBe(1);
    const done = await schedule('reset_m1');
    expect(done).toMatchObject({ state: 'executed', attempts: 2 });
    const paid = await pier.store.db.selectFrom('payments').select(['status', 'amount']).where('imp_uid', '=', done.imp_uid!).executeTakeFirstOrThrow();
    expect(paid).toMatchObject({ status: 'paid' });
    expect(Number(paid.amount)).toBe(9_900);
  });
});
