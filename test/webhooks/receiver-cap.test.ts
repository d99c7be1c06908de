/**
 * Webhook delivery throughput and fairness (issue #14 item 6): attempts run side by side, but at
 * most `perReceiver` of them go to one URL, so receivers that hang until the attempt deadline
 * cannot take every slot of the lane and hold back everyone else's deliveries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startTrickleReceiver, waitFor } from '../hardening/slow-receiver.js';
import { startReceiver } from './receiver.js';

let pier: TestPier;
let slowShop: TestMerchant;
let fastShop: TestMerchant;
let trickle: Awaited<ReturnType<typeof startTrickleReceiver>>;
let fast: Awaited<ReturnType<typeof startReceiver>>;
const card = testCardNumber({ kftcCode: '366', lastFour: '2718' });

beforeAll(async () => {
  pier = await startTestPier();
  slowShop = await pier.newMerchant();
  fastShop = await pier.newMerchant();
  trickle = await startTrickleReceiver(100);
  fast = await startReceiver();
  expect((await pier.call('PUT', '/pier/webhooks/settings', { token: slowShop.token, body: { url: trickle.url } })).body.code).toBe(0);
  expect((await pier.call('PUT', '/pier/webhooks/settings', { token: fastShop.token, body: { url: fast.url } })).body.code).toBe(0);
});
afterAll(async () => {
  await trickle?.stop();
  await fast?.stop();
  await pier?.close();
});

async function pay(m: TestMerchant, merchantUid: string) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12' } });
  expect(res.body.response.status).toBe('paid');
}

const sendingTo = async (url: string) =>
  Number((await pier.store.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('url', '=', url).where('state', '=', 'sending').executeTakeFirstOrThrow()).n);

describe('webhook delivery with receivers that hang', () => {
  it('sends at most perReceiver attempts at once to a hanging receiver, and keeps delivering to the others meanwhile', async () => {
    // attempts to the trickling receiver last until stop(): only the cap keeps slots free
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 60_000, deadlineMs: 60_000 }, concurrency: 4, perReceiver: 2 });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 50 });
    try {
      for (let i = 0; i < 6; i++) await pay(slowShop, `hang_${i}`);
      runner.start();
      await waitFor(() => trickle.open === 2, 10_000, 'two attempts in flight to the hanging receiver');

      for (let i = 0; i < 3; i++) await pay(fastShop, `quick_${i}`);
      // the lane looks again at the end of its idle pause (50 ms)
      await waitFor(() => fast.requests.length === 3, 10_000, "the other merchant's three webhooks");
      expect(fast.requests.map((r) => JSON.parse(r.body).merchant_uid).sort()).toEqual(['quick_0', 'quick_1', 'quick_2']);
      // the hanging receiver still has exactly its two, and the rest wait for them
      expect(trickle.open).toBe(2);
      expect(trickle.requests).toBe(2);
      expect(await sendingTo(trickle.url)).toBe(2);
    } finally {
      await runner.stop(100);
      await queue.close();
    }
    // stopped: the two attempts were given back uncounted; nothing was lost
    const states = await pier.store.db.selectFrom('webhook_deliveries').select(['state', 'attempts']).where('url', '=', trickle.url).execute();
    expect(states).toHaveLength(6);
    expect(states.every((d) => d.state === 'pending' && d.attempts === 0)).toBe(true);
  });
});
