/**
 * Webhooks: fired when V1 fires them (spec §13), written to the outbox with the payment change,
 * delivered at least once with backoff, every attempt logged, every request signed with Standard
 * Webhooks headers that the `standardwebhooks` library verifies. Time moves by the injected clock.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { claimDeliveries } from '../../src/webhooks/deliveries.js';
import { cancelPayment } from '../../src/core/payments/cancel.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPg, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';
import { startReceiver, verify } from './receiver.js';

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let queue: ReturnType<typeof webhookQueue>;
let runner: JobRunner;
let secret: string;

const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
const declinedCard = testCardNumber({ kftcCode: '366', lastFour: '0054' });
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

async function onetime(merchantUid: string, extra: Record<string, unknown> = {}, merchant = m) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', {
    token: merchant.token,
    body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12', ...extra },
  });
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
  return res.body.response as { imp_uid: string; status: string };
}

async function signIn() {
  for (const merchant of [m, other]) {
    const t = await pier.call('POST', '/users/getToken', { body: { imp_key: merchant.impKey, imp_secret: merchant.impSecret } });
    merchant.token = t.body.response.access_token;
  }
}

/** a Pier whose merchants' default API channel is on `pg`, a receiver, and a webhook runner */
async function setUp(pg: TestPg) {
  pier = await startTestPier({ pg });
  m = await pier.newMerchant();
  other = await pier.newMerchant();
  receiver = await startReceiver();
  // the whole-attempt deadline well past the read timeout: undici checks its timeouts on a coarse
  // (about half-second) tick, so on a busy machine a 500 ms read timeout can fire after a deadline
  // of connect + read (1,000 ms) and the attempt would be logged as the deadline instead
  queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500, deadlineMs: 3000 } });
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps), queue], logger: pier.deps.logger });
  const set = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: receiver.url } });
  expect(set.body.code, JSON.stringify(set.body)).toBe(0);
  secret = set.body.response.secret;
}
async function tearDown() {
  await queue.close();
  await receiver.stop();
  await pier.close();
}
beforeEach(() => {
  receiver.requests.length = 0;
  receiver.setAnswer(() => 200);
});

// the events come from payments on each PG; the delivery machinery below does not depend on the PG
describe.each(PGS)('on $pg', (facts) => {
  describe('which events send a webhook (V1 §13)', () => {
    beforeAll(() => setUp(facts.pg));
    afterAll(tearDown);

    it('sends `paid` for an approved payment: JSON {imp_uid, merchant_uid, status}, signed', async () => {
      const p = await onetime(uid('paid'));
      expect(await runner.drain()).toBe(1);
      expect(receiver.requests).toHaveLength(1);
      const r = receiver.requests[0];
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toBe(JSON.stringify({ imp_uid: p.imp_uid, merchant_uid: `paid_${seq}`, status: 'paid' }));
      expect(verify(secret, r)).toEqual({ imp_uid: p.imp_uid, merchant_uid: `paid_${seq}`, status: 'paid' });
      expect(r.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
      // a wrong secret does not verify
      expect(() => verify('whsec_' + Buffer.alloc(32, 1).toString('base64'), r)).toThrow();
    });

    it("orders event and delivery ids by the time they were made (each index grows at one end; decision 0024)", async () => {
      const made: string[] = [];
      // five, so random ids would come out in this order once in 120 tries per kind of id
      for (let i = 0; i < 5; i++) {
        // the next payment's commit in a later millisecond than this one's
        const t = Date.now();
        while (Date.now() === t) await new Promise((r) => setImmediate(r));
        made.push((await onetime(uid('ordered'))).imp_uid);
      }
      const rows = await pier.store.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
        .select(['d.id as delivery', 'e.id as event', 'e.imp_uid'])
        .where('e.imp_uid', 'in', made)
        .execute();
      const inPaymentOrder = made.map((imp) => rows.find((r) => r.imp_uid === imp)!);
      for (const key of ['delivery', 'event'] as const) {
        const ids = inPaymentOrder.map((r) => r[key]);
        expect([...ids].sort()).toEqual(ids);
        expect(new Set(ids).size).toBe(5);
      }
      expect(inPaymentOrder.every((r) => /^whd_[0-9a-f]{32}$/.test(r.delivery) && /^msg_[0-9a-f]{32}$/.test(r.event))).toBe(true);
      expect(await runner.drain()).toBe(5);
    });

    it('sends nothing for an ordinary declined payment', async () => {
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('declined'), amount: 1000, card_number: declinedCard, expiry: '2030-12' } });
      expect(res.body.response.status).toBe('failed');
      expect(await runner.drain()).toBe(0);
      expect(receiver.requests).toHaveLength(0);
    });

    it('sends `cancelled` with cancellation_id for an API cancel only with enable_webhook: true', async () => {
      const p = await onetime(uid('cancel'), { amount: 5000 });
      await runner.drain();
      receiver.requests.length = 0;
      await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: p.imp_uid, amount: 1000 } });
      expect(await runner.drain()).toBe(0);
      const c = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: p.imp_uid, amount: 2000, enable_webhook: true } });
      const cancellationId = c.body.response.cancel_history[1].cancellation_id;
      expect(await runner.drain()).toBe(1);
      expect(verify(secret, receiver.requests[0])).toEqual({ imp_uid: p.imp_uid, merchant_uid: `cancel_${seq}`, status: 'cancelled', cancellation_id: cancellationId });
    });

    it('sends `cancelled` for a console refund (cancelPayment by the console)', async () => {
      const p = await onetime(uid('console'), { amount: 3000 });
      await runner.drain();
      receiver.requests.length = 0;
      const { cancellationId } = await cancelPayment(pier.deps, { merchantId: m.merchantId, impUid: p.imp_uid, reason: 'console', enableWebhook: true, by: 'console' });
      expect(await runner.drain()).toBe(1);
      expect(verify(secret, receiver.requests[0])).toEqual({ imp_uid: p.imp_uid, merchant_uid: `console_${seq}`, status: 'cancelled', cancellation_id: cancellationId });
      const e = await pier.store.db.selectFrom('webhook_events').select('cause').where('cancellation_id', '=', cancellationId).executeTakeFirstOrThrow();
      expect(e.cause).toBe('console_cancel');
    });

    it("sends to the payment's notice_url(s) instead of the merchant URL", async () => {
      const second = await startReceiver();
      try {
        const url1 = `${receiver.url}?via=notice`;
        const p = await onetime(uid('notice'), { notice_url: [url1, second.url] });
        expect(await runner.drain()).toBe(2);
        expect(receiver.requests.map((r) => r.path)).toEqual(['/webhook?via=notice']);
        expect(second.requests).toHaveLength(1);
        for (const r of [receiver.requests[0], second.requests[0]]) expect(verify(secret, r)).toMatchObject({ imp_uid: p.imp_uid, status: 'paid' });
        // the same event: one webhook-id for both
        expect(second.requests[0].headers['webhook-id']).toBe(receiver.requests[0].headers['webhook-id']);
      } finally {
        await second.stop();
      }
    });

    it('sends form-encoded bodies when the merchant chose form', async () => {
      await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { content_type: 'form' } });
      try {
        const p = await onetime(uid('form'));
        await runner.drain();
        const r = receiver.requests[0];
        expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
        expect(r.body).toBe(`imp_uid=${p.imp_uid}&merchant_uid=form_${seq}&status=paid`);
        expect(verify(secret, r)).toEqual({ imp_uid: p.imp_uid, merchant_uid: `form_${seq}`, status: 'paid' });
      } finally {
        await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { content_type: 'json' } });
      }
    });

    it("sends scheduled payments' results: `paid`, and `failed` for a declined one", async () => {
      const later = testCardNumber({ kftcCode: '365', lastFour: '1051' });
      await pier.call('POST', '/subscribe/customers/wh_sched_ok', { token: m.token, body: { card_number: card, expiry: '2030-12' } });
      await pier.call('POST', '/subscribe/customers/wh_sched_no', { token: m.token, body: { card_number: later, expiry: '2030-12' } });
      const at = Math.floor(pier.clock.now() / 1000) + 60;
      await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'wh_sched_ok', schedules: [{ merchant_uid: 'wh_s_ok', schedule_at: at, amount: 1000, name: 'x' }] } });
      await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'wh_sched_no', schedules: [{ merchant_uid: 'wh_s_no', schedule_at: at, amount: 1000, name: 'x' }] } });
      pier.clock.advance(60_000);
      await runner.drain();
      const got = receiver.requests.map((r) => verify(secret, r) as { merchant_uid: string; status: string }).sort((a, b) => a.merchant_uid.localeCompare(b.merchant_uid));
      expect(got.map((g) => [g.merchant_uid, g.status])).toEqual([
        ['wh_s_no', 'failed'],
        ['wh_s_ok', 'paid'],
      ]);
      await signIn();
    });

    it("sends nothing anywhere when the merchant has no URL and the payment no notice_url", async () => {
      await onetime(uid('nourl'), {}, other);
      expect(await runner.drain()).toBe(0);
      const events = await pier.store.db.selectFrom('webhook_events').select('status').where('merchant_id', '=', other.merchantId).execute();
      expect(events).toEqual([{ status: 'paid' }]);
    });
  });
});

// delivery and its API do not depend on the PG the payments came from: one PG is enough
describe('PG-independent', () => {
  beforeAll(() => setUp('jtnet'));
  afterAll(tearDown);

  describe('notice_url on the REST API', () => {
    it('refuses a notice_url item that is not one absolute http(s) URL (50 URLs packed in one string), before charging: no payment, no delivery', async () => {
      const packed = Array.from({ length: 50 }, (_, i) => `${receiver.url}?n=${i}`).join(' ');
      // within the 2,000 characters a notice_url may have: ten such items were 500 deliveries of one payment
      expect(packed.length).toBeLessThanOrEqual(2000);
      for (const notice_url of [packed, [receiver.url, packed], 'not a url', ['ftp://files.example/hook']]) {
        const merchantUid = uid('packed');
        const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12', notice_url } });
        expect(res.status, JSON.stringify(notice_url).slice(0, 80)).toBe(400);
        expect(res.body.code).toBe(1);
        expect(res.body.message).toContain('notice_url');
        expect(await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', merchantUid).execute()).toEqual([]);
      }
      const schedule = await pier.call('POST', '/subscribe/payments/schedule', {
        token: m.token,
        body: { customer_uid: 'packed_c', card_number: card, expiry: '2030-12', schedules: [{ merchant_uid: uid('packed_s'), schedule_at: Math.floor(pier.clock.now() / 1000) + 3600, amount: 1000, notice_url: packed }] },
      });
      expect(schedule.status).toBe(400);
      expect(schedule.body.code).toBe(1);
      expect(await pier.store.db.selectFrom('payment_schedules').select('id').where('merchant_id', '=', m.merchantId).where('notice_url', 'like', '% %').execute()).toEqual([]);
      expect(await pier.store.db.selectFrom('webhook_deliveries').select('id').where('url', 'like', `${receiver.url}?n=%`).execute()).toEqual([]);
    });
  });

  describe('delivery', () => {
    it('delivers every event to a receiver that was down and comes back, none lost, every signature valid, every attempt logged', async () => {
      await receiver.stop();
      const paid = [];
      for (let i = 0; i < 20; i++) paid.push(await onetime(uid('down')));
      const cancelled = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paid[0].imp_uid, enable_webhook: true } });
      expect(cancelled.body.code).toBe(0);
      const expectedIds = await pier.store.db
        .selectFrom('webhook_events')
        .select('id')
        .where('imp_uid', 'in', paid.map((p) => p.imp_uid))
        .execute();
      expect(expectedIds).toHaveLength(21);

      // down: every attempt fails with a connection error and is logged; nothing is due again yet
      expect(await runner.drain()).toBe(21);
      expect(await runner.drain()).toBe(0);
      let rows = await pier.store.db.selectFrom('webhook_deliveries').selectAll().where('event_id', 'in', expectedIds.map((e) => e.id)).execute();
      expect(rows.every((d) => d.state === 'pending' && d.attempts === 1 && d.last_error?.includes('connection refused'))).toBe(true);

      // back, but answering 503 to the first five requests
      await receiver.restart();
      receiver.setAnswer((_r, n) => (n <= 5 ? 503 : 200));
      for (let round = 0; round < 3; round++) {
        pier.clock.advance(3600_000);
        await runner.drain();
      }
      await signIn();
      rows = await pier.store.db.selectFrom('webhook_deliveries').selectAll().where('event_id', 'in', expectedIds.map((e) => e.id)).execute();
      expect(rows.map((d) => d.state)).toEqual(Array(21).fill('delivered'));

      // every event arrived, with a valid signature; duplicates only of answered-503 requests
      const ok = receiver.requests.filter((_r, i) => i >= 5);
      const ids = new Set(ok.map((r) => r.headers['webhook-id']));
      expect([...ids].sort()).toEqual(expectedIds.map((e) => e.id).sort());
      for (const r of receiver.requests) verify(secret, r);
      const bodies = ok.map((r) => verify(secret, r) as { imp_uid: string; status: string });
      expect(bodies.filter((b) => b.status === 'cancelled').map((b) => b.imp_uid)).toEqual([paid[0].imp_uid]);

      // the log: attempt 1 refused, then 503s, then 200, each with a duration
      const retried = rows.find((d) => d.attempts === 3);
      expect(retried).toBeDefined();
      const shown = await pier.call('GET', `/pier/webhooks/deliveries/${retried!.id}`, { token: m.token });
      expect(shown.body.code).toBe(0);
      const log = shown.body.response.attempt_log;
      expect(log.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
      expect(log[0]).toMatchObject({ status_code: null });
      expect(log[0].error).toContain('connection refused');
      expect(log[1]).toMatchObject({ status_code: 503, error: 'HTTP 503' });
      expect(log[2]).toMatchObject({ status_code: 200, error: null });
      for (const a of log) expect(a.duration_ms).toBeGreaterThanOrEqual(0);
      expect(shown.body.response).toMatchObject({ state: 'delivered', attempts: 3, imp_uid: retried!.event_id ? expect.any(String) : null });
    });

    it('backs off exponentially with jitter between attempts', async () => {
      receiver.setAnswer(() => 500);
      await onetime(uid('backoff'));
      const gaps: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = Math.floor(pier.clock.now() / 1000);
        await runner.drain();
        const d = (await pier.store.db.selectFrom('webhook_deliveries').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow());
        gaps.push(d.next_attempt_at - before);
        pier.clock.set((d.next_attempt_at) * 1000);
      }
      // 30 s, 60 s, 120 s, 240 s, 480 s, each ±25 %
      [30, 60, 120, 240, 480].forEach((base, i) => {
        expect(gaps[i]).toBeGreaterThanOrEqual(Math.floor(base * 0.75));
        expect(gaps[i]).toBeLessThanOrEqual(Math.ceil(base * 1.25));
      });
      receiver.setAnswer(() => 200);
      await runner.drain();
      await signIn();
    });

    it('gives up after max_attempts; `redeliver` sends it again', async () => {
      receiver.setAnswer(() => 500);
      const p = await onetime(uid('giveup'));
      for (let i = 0; i < 12; i++) {
        pier.clock.advance(7200_000);
        await runner.drain();
      }
      await signIn();
      const listed = await pier.call('GET', `/pier/webhooks/deliveries?imp_uid=${p.imp_uid}`, { token: m.token });
      expect(listed.body.response.total).toBe(1);
      const d = listed.body.response.list[0];
      expect(d).toMatchObject({ state: 'failed', attempts: 10, max_attempts: 10, last_status_code: 500, imp_uid: p.imp_uid, status: 'paid', url: receiver.url });
      receiver.setAnswer(() => 200);
      receiver.requests.length = 0;
      const again = await pier.call('POST', `/pier/webhooks/deliveries/${d.id}/redeliver`, { token: m.token });
      expect(again.body.response.deliveries).toHaveLength(1);
      await runner.drain();
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0].headers['webhook-id']).toBe(d.event_id);
      const after = await pier.call('GET', `/pier/webhooks/deliveries?imp_uid=${p.imp_uid}&state=delivered`, { token: m.token });
      expect(after.body.response.list.map((x: { id: string }) => x.id)).toEqual(again.body.response.deliveries);
    });

    it('times out a receiver that does not answer, and logs it', async () => {
      // a handler that never answers: the request hangs until Pier's read timeout (500 ms here)
      const { createServer } = await import('node:http');
      const hang = createServer(() => undefined);
      await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(hang.address() as { port: number }).port}/hang`;
      try {
        const p = await onetime(uid('hang'), { notice_url: url });
        await runner.drain();
        const d = await pier.store.db
          .selectFrom('webhook_deliveries as d')
          .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
          .select(['d.state', 'd.last_error', 'd.id'])
          .where('e.imp_uid', '=', p.imp_uid)
          .executeTakeFirstOrThrow();
        expect(d.state).toBe('pending');
        expect(d.last_error).toContain('read timeout');
        const a = await pier.store.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', d.id).executeTakeFirstOrThrow();
        expect(a.duration_ms).toBeGreaterThanOrEqual(400);
      } finally {
        hang.closeAllConnections();
        await new Promise<void>((resolve) => hang.close(() => resolve()));
      }
    });

    it("delivers again a delivery whose worker died mid-send, once its lease runs out (at least once)", async () => {
      const p = await onetime(uid('crash'));
      // worker A claims it and dies before sending
      const claimed = await claimDeliveries(pier.store, { now: Math.floor(pier.clock.now() / 1000), owner: 'dead-worker', leaseSeconds: 60, limit: 100, listenerId: null });
      expect(claimed.length).toBeGreaterThanOrEqual(1);
      expect(await runner.drain()).toBe(0);
      expect(receiver.requests.filter((r) => r.body.includes(p.imp_uid))).toHaveLength(0);
      pier.clock.advance(61_000);
      await runner.drain();
      expect(receiver.requests.filter((r) => r.body.includes(p.imp_uid))).toHaveLength(1);
      await signIn();
    });
  });

  describe('the delivery API', () => {
    it('needs a token and shows only the merchant its own deliveries', async () => {
      for (const token of [null, 'bad']) {
        expect((await pier.call('GET', '/pier/webhooks/deliveries', { token })).status).toBe(401);
        expect((await pier.call('GET', '/pier/webhooks/settings', { token })).status).toBe(401);
      }
      const mine = await pier.call('GET', '/pier/webhooks/deliveries?limit=1', { token: m.token });
      const id = mine.body.response.list[0].id;
      expect((await pier.call('GET', `/pier/webhooks/deliveries/${id}`, { token: other.token })).status).toBe(404);
      expect((await pier.call('POST', `/pier/webhooks/deliveries/${id}/redeliver`, { token: other.token })).status).toBe(404);
      const theirs = await pier.call('GET', '/pier/webhooks/deliveries', { token: other.token });
      expect(theirs.body.response.list.every((d: { id: string }) => d.id !== id)).toBe(true);
      const otherSecret = (await pier.call('GET', '/pier/webhooks/settings', { token: other.token })).body.response.secret;
      expect(otherSecret).toMatch(/^whsec_/);
      expect(otherSecret).not.toBe(secret);
      const badUrl = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: 'ftp://x' } });
      expect(badUrl.status).toBe(400);
    });

    it('stores the signing secret sealed, never in clear', async () => {
      const row = await pier.store.db.selectFrom('webhook_settings').selectAll().where('merchant_id', '=', m.merchantId).executeTakeFirstOrThrow();
      expect(row.secret_sealed).not.toContain(secret.slice(6));
    });
  });
});
