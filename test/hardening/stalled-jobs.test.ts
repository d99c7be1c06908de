/**
 * Issue #10 item 3: a webhook receiver that sends one byte at a time used to hold the whole job
 * pass open (schedules waited behind it) and made SIGTERM hang. Now each attempt has a total
 * deadline, each queue runs in its own lane, and stopping is bounded. The receiver here trickles
 * its headers (startTrickleReceiver's `head`): once a status is in, the body no longer holds an
 * attempt (decision 0114, test/webhooks/receiver-faults.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startTrickleReceiver, waitFor } from './slow-receiver.js';

let pier: TestPier;
let m: TestMerchant;
let trickle: Awaited<ReturnType<typeof startTrickleReceiver>>;
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  trickle = await startTrickleReceiver(100);
  const set = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: trickle.url } });
  expect(set.body.code).toBe(0);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await trickle.stop();
  await pier.close();
});

async function pay(merchantUid: string) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12' } });
  expect(res.body.response.status).toBe('paid');
  return res.body.response.imp_uid as string;
}

const deliveryOf = (impUid: string) =>
  pier.store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(['d.id', 'd.state', 'd.attempts', 'd.last_error', 'd.lease_owner'])
    .where('e.imp_uid', '=', impUid)
    .executeTakeFirstOrThrow();

describe('a receiver trickling its headers one byte at a time', () => {
  it('is cut off at the total deadline of the attempt, though its headers timeout is later', async () => {
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 5_000, deadlineMs: 800 } });
    cleanups.push(() => queue.close());
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
    const impUid = await pay('trickle_deadline');
    const started = Date.now();
    // bounded wait: before the fix this pass never ended
    const ran = await Promise.race([runner.runOnce(), new Promise<number>((_, rej) => setTimeout(() => rej(new Error('the pass did not end within 5 s')), 5_000))]);
    expect(ran).toBe(1);
    expect(Date.now() - started).toBeLessThan(3_000);
    const d = await deliveryOf(impUid);
    expect(d).toMatchObject({ state: 'pending', attempts: 1 });
    expect(d.last_error).toMatch(/deadline exceeded/);
    const attempt = await pier.store.db.selectFrom('webhook_attempts').select(['duration_ms', 'status_code']).where('delivery_id', '=', d.id).executeTakeFirstOrThrow();
    expect(attempt.duration_ms).toBeGreaterThanOrEqual(700);
    expect(attempt.duration_ms).toBeLessThan(3_000);
    await waitFor(() => trickle.open === 0, 2_000, 'the trickled connection to close');
  });

  it('does not delay a scheduled payment that falls due meanwhile, and stop() is bounded and gives the delivery back', async () => {
    // a long deadline: the attempt is still in flight when the schedule falls due and at stop()
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 60_000, deadlineMs: 60_000 } });
    cleanups.push(() => queue.close());
    const runner = new JobRunner({ queues: [queue, scheduleQueue(pier.deps)], logger: pier.deps.logger, idleMs: 50 });
    await pier.call('POST', '/subscribe/customers/lane_cust', { token: m.token, body: { card_number: card, expiry: '2030-12' } });
    const at = Math.floor(pier.clock.now() / 1000) + 60;
    const sch = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'lane_cust', schedules: [{ merchant_uid: 'lane_sched_1', schedule_at: at, amount: 500, name: 'x' }] } });
    expect(sch.body.code).toBe(0);

    const impUid = await pay('trickle_lane');
    runner.start();
    cleanups.push(() => runner.stop(0));
    await waitFor(async () => (await deliveryOf(impUid)).state === 'sending' && trickle.open > 0, 5_000, 'the webhook attempt to be in flight');

    pier.clock.advance(61_000);
    // the schedule lane looks again at the end of its idle pause (50 ms)
    const schedule = await waitFor(
      async () => {
        const s = await pier.store.db.selectFrom('payment_schedules').select(['state', 'imp_uid']).where('merchant_uid', '=', 'lane_sched_1').executeTakeFirstOrThrow();
        return s.state === 'executed' ? s : null;
      },
      8_000,
      'the scheduled payment to run while the webhook trickles',
    );
    const paid = await pier.store.db.selectFrom('payments').select('status').where("imp_uid", "=", schedule!.imp_uid!).executeTakeFirstOrThrow();
    expect(paid.status).toBe('paid');
    expect((await deliveryOf(impUid)).state).toBe('sending'); // still trickling

    const t0 = Date.now();
    await runner.stop(200);
    expect(Date.now() - t0).toBeLessThan(2_500);
    const d = await deliveryOf(impUid);
    // cut short by the shutdown, not answered: no attempt counted, due again at once
    expect(d).toMatchObject({ state: 'pending', attempts: 0, lease_owner: null });
    await waitFor(() => trickle.open === 0, 2_000, 'the trickled connection to close');
  });
});
