/**
 * A new payment's imp_uid is 12 random digits (V1's shape), so a busy Pier now and then draws one a
 * payment already has: among ten million payments, about fifty times. Each path that records a new
 * attempt is made to draw that id (Deps.newImpUid) and must pay under another, leaving the payment
 * that had it untouched. Before, the insert's conflict was taken for the merchant_uid lock's: the
 * API answered "in progress", the window refused the buyer, and a schedule was stamped with the
 * other payment's id and retried with its fail_reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { newImpUid } from '../../src/lib/ids.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const card = testCardNumber({ kftcCode: '366', lastFour: '7001' });

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
/** the imp_uids drawn since the last `drawFirst` */
let drawn: string[] = [];

/** The next draw answers `taken`; later draws are random again. */
function drawFirst(taken: string) {
  drawn = [];
  pier.deps.newImpUid = () => {
    const id = drawn.length === 0 ? taken : newImpUid();
    drawn.push(id);
    return id;
  };
}

async function key(merchant: TestMerchant, customerUid: string) {
  const res = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: merchant.token, body: { card_number: card, expiry: '2030-12' } });
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
}

/** A paid payment of another merchant, whose imp_uid the next draw repeats. */
async function paidElsewhere(merchantUid: string) {
  pier.deps.newImpUid = undefined;
  await key(other, `taken_${merchantUid}`);
  const res = await pier.call('POST', '/subscribe/payments/again', { token: other.token, body: { customer_uid: `taken_${merchantUid}`, merchant_uid: merchantUid, amount: 1000 } });
  expect(res.body.response.status).toBe('paid');
  return res.body.response as { imp_uid: string; merchant_uid: string; amount: number; paid_at: number };
}

/** A token of `merchant` now (tokens live 30 minutes of the test clock). */
async function tokenOf(merchant: TestMerchant): Promise<string> {
  const t = await pier.call('POST', '/users/getToken', { body: { imp_key: merchant.impKey, imp_secret: merchant.impSecret } });
  return t.body.response.access_token;
}

async function unchanged(p: { imp_uid: string; merchant_uid: string; amount: number; paid_at: number }) {
  const now = await pier.call('GET', `/payments/${p.imp_uid}`, { token: await tokenOf(other) });
  expect(now.body.response).toMatchObject({ imp_uid: p.imp_uid, merchant_uid: p.merchant_uid, amount: p.amount, status: 'paid', paid_at: p.paid_at });
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  other = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('a new attempt whose drawn imp_uid is a payment already', () => {
  it('POST /subscribe/payments/again pays under another imp_uid', async () => {
    const taken = await paidElsewhere('taken_again');
    await key(m, 'cu_again');
    drawFirst(taken.imp_uid);
    const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'cu_again', merchant_uid: 'again_1', amount: 5000 } });
    expect(res.body.code, JSON.stringify(res.body)).toBe(0);
    expect(drawn).toHaveLength(2);
    expect(res.body.response).toMatchObject({ imp_uid: drawn[1], merchant_uid: 'again_1', amount: 5000, status: 'paid' });
    await unchanged(taken);
  });

  it('the payment window opens for the buyer under another imp_uid', async () => {
    const taken = await paidElsewhere('taken_window');
    const created = await pier.app.inject({
      method: 'POST',
      url: '/checkout/sessions',
      headers: { 'content-type': 'application/json', origin: 'https://shop.example' },
      payload: JSON.stringify({
        imp_code: m.merchantCode,
        params: { pg: 'jtnet', pay_method: 'card', merchant_uid: 'window_1', name: '주문명', amount: 14000, buyer_tel: '010-1234-5678' },
        mode: 'overlay',
        origin: 'https://shop.example',
      }),
    });
    const sessionId = JSON.parse(created.body).session_id as string;
    drawFirst(taken.imp_uid);
    const start = await pier.app.inject({ method: 'POST', url: `/checkout/${sessionId}/start`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'card_code=366&agree=1' });
    expect(start.statusCode).toBe(200);
    expect(start.body).toContain(`action="${pier.simulatorUrl}/webTxInit"`);
    expect(drawn).toHaveLength(2);
    const found = await pier.call('GET', '/payments/findAll/window_1', { token: m.token });
    expect(found.body.response.list).toHaveLength(1);
    expect(found.body.response.list[0]).toMatchObject({ imp_uid: drawn[1], status: 'ready', amount: 14000 });
    await unchanged(taken);
  });

  it('a due schedule is paid on its first run under another imp_uid', async () => {
    const taken = await paidElsewhere('taken_schedule');
    await key(m, 'cu_schedule');
    const at = Math.floor(pier.clock.now() / 1000) + 3600;
    const scheduled = await pier.call('POST', '/subscribe/payments/schedule', {
      token: m.token,
      body: { customer_uid: 'cu_schedule', schedules: [{ merchant_uid: 'schedule_1', schedule_at: at, amount: 7000 }] },
    });
    expect(scheduled.body.code, JSON.stringify(scheduled.body)).toBe(0);
    drawFirst(taken.imp_uid);
    pier.clock.advance(3600 * 1000);
    const runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(1);
    expect(drawn).toHaveLength(2);
    const s = await pier.call('GET', '/subscribe/payments/schedule/schedule_1', { token: await tokenOf(m) });
    expect(s.body.response, JSON.stringify(s.body)).toMatchObject({ imp_uid: drawn[1], schedule_status: 'executed', payment_status: 'paid', fail_reason: null });
    await unchanged(taken);
  });

  it("a due schedule refused before any PG call (its billing key deleted) records its refusal under another imp_uid, not the other payment's", async () => {
    // the earlier tests moved the clock past the setup's tokens
    other = { ...other, token: await tokenOf(other) };
    m = { ...m, token: await tokenOf(m) };
    const taken = await paidElsewhere('taken_refused');
    await key(m, 'cu_refused');
    const at = Math.floor(pier.clock.now() / 1000) + 3600;
    const scheduled = await pier.call('POST', '/subscribe/payments/schedule', {
      token: await tokenOf(m),
      body: { customer_uid: 'cu_refused', schedules: [{ merchant_uid: 'refused_1', schedule_at: at, amount: 7000 }] },
    });
    expect(scheduled.body.code, JSON.stringify(scheduled.body)).toBe(0);
    const deleted = await pier.call('DELETE', '/subscribe/customers/cu_refused', { token: await tokenOf(m) });
    expect(deleted.body.code, JSON.stringify(deleted.body)).toBe(0);
    drawFirst(taken.imp_uid);
    pier.clock.advance(3600 * 1000);
    const runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(1);
    expect(drawn).toHaveLength(2);
    const token = await tokenOf(m);
    const s = await pier.call('GET', '/subscribe/payments/schedule/refused_1', { token });
    // before: the schedule took the other merchant's payment's imp_uid, its refusal was never recorded
    expect(s.body.response, JSON.stringify(s.body)).toMatchObject({ imp_uid: drawn[1], schedule_status: 'executed', payment_status: 'failed' });
    const refusal = await pier.call('GET', `/payments/${drawn[1]}`, { token });
    expect(refusal.body.response, JSON.stringify(refusal.body)).toMatchObject({ imp_uid: drawn[1], merchant_uid: 'refused_1', status: 'failed', amount: 7000 });
    expect(refusal.body.response.fail_reason).toBe(s.body.response.fail_reason);
    // the `failed` webhook names the refusal, never the other merchant's payment
    const events = await pier.store.db.selectFrom('webhook_events').select(['imp_uid', 'status']).where('merchant_uid', '=', 'refused_1').execute();
    expect(events).toEqual([{ imp_uid: drawn[1], status: 'failed' }]);
    await unchanged(taken);
  });
});
