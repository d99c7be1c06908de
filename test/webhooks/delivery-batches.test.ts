/**
 * Webhook delivery from a full queue (issue #14 aim 6, decision 0023): claims lease no more rows
 * of a receiver than it has room for, two runners on one database deliver each of a backlog
 * exactly once with every attempt logged once, and a receiver that hangs with a large backlog of
 * its own holds only its cap while another merchant's webhooks go out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentEvent } from '../../src/core/payments/events.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { openStore } from '../../src/store/db.js';
import { claimDeliveries, claimForReceivers, recordAttempts, releaseDelivery } from '../../src/webhooks/deliveries.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { startTrickleReceiver, waitFor } from '../hardening/slow-receiver.js';
import { startReceiver, verify } from './receiver.js';

let pier: TestPier;
let shop: TestMerchant;
let other: TestMerchant;

beforeAll(async () => {
  pier = await startTestPier();
  shop = await pier.newMerchant();
  other = await pier.newMerchant();
});
afterAll(() => pier?.close());

/** `n` paid events of `m` with one delivery each to `url`, written as a payment's commit writes them, in one transaction (on `on`'s database). */
async function backlog(m: TestMerchant, url: string, n: number, tag: string, on: TestPier = pier) {
  await on.store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < n; i++) {
      await recordPaymentEvent(trx, { clock: on.clock }, { merchantId: m.merchantId, impUid: `imps_${tag}${i}`, merchantUid: `${tag}_${i}`, status: 'paid', noticeUrl: url, cause: 'charge' });
    }
  });
}

const deliveriesTo = (url: string) => pier.store.db.selectFrom('webhook_deliveries').selectAll().where('url', '=', url).execute();

describe('claiming within each receiver’s room', () => {
  it('leases at most cap − in flight rows of a URL, and takes other URLs’ rows in the same statement', async () => {
    const a = 'http://127.0.0.1:9/room-a';
    const b = 'http://127.0.0.1:9/room-b';
    await backlog(shop, a, 10, 'room_a');
    await backlog(shop, b, 5, 'room_b');
    const now = Math.floor(pier.clock.now() / 1000);
    const claimed = (await claimForReceivers(pier.deps, { now, owner: 'room-test', leaseSeconds: 60, limit: 10, receivers: { cap: 3, inFlight: new Map([[a, 2]]) } })).map((l) => l.row);
    const byUrl = (u: string) => claimed.filter((d) => d.url === u).length;
    expect(byUrl(a)).toBe(1);
    expect(byUrl(b)).toBe(3);
    // what was not leased was not touched: no lease taken and given back, no attempt counted
    const rowsA = await deliveriesTo(a);
    expect(rowsA.filter((d) => d.state === 'sending').map((d) => d.lease_owner)).toEqual(['room-test']);
    expect(rowsA.filter((d) => d.state === 'pending')).toHaveLength(9);
    expect(rowsA.every((d) => d.attempts === 0 && d.updated_at === rowsA[0].created_at)).toBe(true);
    // a URL at its cap is left out entirely
    const again = (await claimForReceivers(pier.deps, { now, owner: 'room-test', leaseSeconds: 60, limit: 10, skipUrls: [a], receivers: { cap: 3, inFlight: new Map([[a, 3]]) } })).map((l) => l.row);
    expect(again.filter((d) => d.url === a)).toEqual([]);
    expect(again.filter((d) => d.url === b)).toHaveLength(2);
  });
});

describe('recording a batch of attempts', () => {
  // a database of its own: the claims below take whatever is due, and the other tests leave rows due
  let own: TestPier;
  let m: TestMerchant;
  beforeAll(async () => {
    own = await startTestPier();
    m = await own.newMerchant();
  });
  afterAll(() => own?.close());

  it('moves only the deliveries still leased to the recording worker: a lease taken over or given back is left to its new holder', async () => {
    const url = 'http://127.0.0.1:9/fence';
    const rowsOf = () => own.store.db.selectFrom('webhook_deliveries').selectAll().where('url', '=', url).execute();
    await backlog(m, url, 4, 'fence', own);
    const now = Math.floor(own.clock.now() / 1000);
    const [kept, takenOver, givenBack, failedMeanwhile] = await claimDeliveries(own.store, { now, owner: 'slow-worker', leaseSeconds: 60, limit: 4, listenerId: null });
    // the slow worker's lease on one ran out and another worker took the row (a lease that ran out is claimable)
    await own.store.db.updateTable('webhook_deliveries').set({ lease_until: 0 }).where('id', '=', takenOver.id).execute();
    const [retaken] = await claimDeliveries(own.store, { now, owner: 'new-worker', leaseSeconds: 60, limit: 4, listenerId: null });
    expect(retaken.id).toBe(takenOver.id);
    // one was given back at shutdown (pending again), one closed as failed by an operator's move
    await releaseDelivery(own.store, givenBack, 'slow-worker', now);
    await own.store.db.updateTable('webhook_deliveries').set({ state: 'failed', lease_owner: null, lease_until: 0 }).where('id', '=', failedMeanwhile.id).execute();
    const answered = { ok: true, statusCode: 200, error: null, durationMs: 3, excerpt: null };
    await recordAttempts(own.store, [kept, takenOver, givenBack, failedMeanwhile].map((d) => ({ d, result: answered, startedAt: now })), { owner: 'slow-worker', now });
    const rows = new Map((await rowsOf()).map((d) => [d.id, d]));
    expect(rows.get(kept.id)).toMatchObject({ state: 'delivered', attempts: 1, lease_owner: null, last_status_code: 200 });
    expect(rows.get(takenOver.id)).toMatchObject({ state: 'sending', attempts: 0, lease_owner: 'new-worker' });
    expect(rows.get(givenBack.id)).toMatchObject({ state: 'pending', attempts: 0, lease_owner: null });
    expect(rows.get(failedMeanwhile.id)).toMatchObject({ state: 'failed', attempts: 0, lease_owner: null });
    // every attempt that was made is in the log, moved or not
    const logged = await own.store.db.selectFrom('webhook_attempts').select('delivery_id').where('delivery_id', 'in', [kept.id, takenOver.id, givenBack.id, failedMeanwhile.id]).execute();
    expect(logged).toHaveLength(4);
    // the new holder's record moves its row
    await recordAttempts(own.store, [{ d: retaken, result: answered, startedAt: now }], { owner: 'new-worker', now });
    expect((await rowsOf()).find((d) => d.id === takenOver.id)).toMatchObject({ state: 'delivered', attempts: 1, lease_owner: null });
  });
});

describe('a full queue', () => {
  it('is delivered exactly once by two runners with their own database connections, every attempt logged once, every signature valid', async () => {
    const receiver = await startReceiver();
    const store2 = openStore(pier.databaseUrl, { poolSize: 5 });
    const N = 400;
    const runs = new Map<string, number>();
    const runners: JobRunner[] = [];
    const queues = [webhookQueue(pier.deps, { clock: pier.clock }), webhookQueue({ ...pier.deps, store: store2 }, { clock: pier.clock })];
    try {
      await backlog(shop, receiver.url, N, 'full');
      for (const [i, q] of queues.entries()) {
        const owner = `runner-${i}`;
        // counts what each runner sent, to show both took part
        const counted = { ...q, run: (job: Parameters<typeof q.run>[0], o: string, s: AbortSignal) => {
            // (the first test's rows to a closed port are due too: not counted)
            if (job.row.url === receiver.url) runs.set(owner, (runs.get(owner) ?? 0) + 1);
            return q.run(job, o, s);
          },
        };
        runners.push(new JobRunner({ queues: [counted], logger: pier.deps.logger, owner, idleMs: 20 }));
      }
      for (const r of runners) r.start();
      await waitFor(async () => (await deliveriesTo(receiver.url)).every((d) => d.state === 'delivered'), 30_000, `${N} deliveries delivered`);
    } finally {
      for (const r of runners) await r.stop(1000);
      for (const q of queues) await q.close();
      await store2.close();
      await receiver.stop();
    }
    expect(receiver.requests).toHaveLength(N);
    const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
    expect(new Set(ids).size).toBe(N);
    const { secret } = (await pier.call('GET', '/pier/webhooks/settings', { token: shop.token })).body.response;
    const uids = receiver.requests.map((r) => (verify(secret, r) as { merchant_uid: string }).merchant_uid);
    expect(new Set(uids)).toEqual(new Set(Array.from({ length: N }, (_, i) => `full_${i}`)));
    expect([...runs.values()].reduce((a, b) => a + b, 0)).toBe(N);
    expect(runs.get('runner-0')).toBeGreaterThan(0);
    expect(runs.get('runner-1')).toBeGreaterThan(0);

    const rows = await deliveriesTo(receiver.url);
    expect(rows.every((d) => d.attempts === 1 && d.lease_owner === null && d.last_status_code === 200)).toBe(true);
    const attempts = await pier.store.db
      .selectFrom('webhook_attempts')
      .select(['delivery_id', 'attempt', 'status_code'])
      .where(
        'delivery_id',
        'in',
        rows.map((d) => d.id),
      )
      .execute();
    expect(attempts).toHaveLength(N);
    expect(new Set(attempts.map((a) => a.delivery_id)).size).toBe(N);
    expect(attempts.every((a) => a.attempt === 1 && a.status_code === 200)).toBe(true);
  });

  it('lets a hanging receiver with a large backlog hold only its cap, while another merchant’s webhooks go out', async () => {
    const trickle = await startTrickleReceiver(100);
    const fast = await startReceiver();
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 60_000, deadlineMs: 60_000 }, concurrency: 16, perReceiver: 4 });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 20 });
    try {
      // the hanging receiver's rows are older: they come first in every claim's window
      await backlog(shop, trickle.url, 300, 'hang');
      runner.start();
      await waitFor(() => trickle.open === 4, 10_000, 'four attempts in flight to the hanging receiver');
      await backlog(other, fast.url, 20, 'quick');
      // the lane looks again at the end of its idle pause (20 ms)
      await waitFor(() => fast.requests.length === 20, 10_000, "the other merchant's 20 webhooks");
      expect(new Set(fast.requests.map((r) => JSON.parse(r.body).merchant_uid)).size).toBe(20);
      // the hanging receiver still has exactly its four; its other rows were never leased
      expect(trickle.open).toBe(4);
      expect(trickle.requests).toBe(4);
      const rows = await deliveriesTo(trickle.url);
      expect(rows.filter((d) => d.state === 'sending')).toHaveLength(4);
      expect(rows.filter((d) => d.state === 'pending' && d.attempts === 0 && d.lease_owner === null)).toHaveLength(296);
    } finally {
      await runner.stop(100);
      await queue.close();
      await trickle.stop();
      await fast.stop();
    }
    // stopped: the four attempts were given back uncounted
    const after = await deliveriesTo(trickle.url);
    expect(after.every((d) => d.state === 'pending' && d.attempts === 0)).toBe(true);
  });

  it('lets one merchant whose hanging receivers each have their own URL hold only its share of the lane, while another merchant’s webhooks go out', async () => {
    // a notice_url per payment (the query varies): each URL has room of its own, so only a cap per
    // merchant keeps this merchant's hanging attempts from taking every slot
    const trickle = await startTrickleReceiver(100);
    const fast = await startReceiver();
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 60_000, deadlineMs: 60_000 }, concurrency: 16, perReceiver: 4 });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 20 });
    const hangs = await pier.newMerchant();
    try {
      await pier.store.db.transaction().execute(async (trx) => {
        for (let i = 0; i < 100; i++) {
          await recordPaymentEvent(trx, { clock: pier.clock }, { merchantId: hangs.merchantId, impUid: `imps_many${i}`, merchantUid: `many_${i}`, status: 'paid', noticeUrl: `${trickle.url}?n=${i}`, cause: 'charge' });
        }
      });
      runner.start();
      await waitFor(() => trickle.open >= 8, 10_000, 'the hanging merchant’s attempts in flight');
      await backlog(other, fast.url, 20, 'share');
      // the lane looks again at the end of its idle pause (20 ms)
      await waitFor(() => fast.requests.length === 20, 10_000, "the other merchant's 20 webhooks");
      // half the lane (16 / 2) at most, whatever the number of its URLs
      expect(trickle.open).toBe(8);
      expect(trickle.requests).toBe(8);
      const sending = await pier.store.db.selectFrom('webhook_deliveries').select('id').where('merchant_id', '=', hangs.merchantId).where('state', '=', 'sending').execute();
      expect(sending).toHaveLength(8);
    } finally {
      await runner.stop(100);
      await queue.close();
      await trickle.stop();
      await fast.stop();
    }
  });

  it("keeps one merchant's unopenable secret to that merchant's rows: the rest of the batch is delivered", async () => {
    const receiver = await startReceiver();
    const broken = await pier.newMerchant();
    await pier.call('GET', '/pier/webhooks/settings', { token: broken.token });
    // sealed with a vault key this Pier no longer has (a retired key)
    await pier.store.db.updateTable('webhook_settings').set({ secret_sealed: 'v1.gone.AAAA.AAAA.AAAA' }).where('merchant_id', '=', broken.merchantId).execute();
    const queue = webhookQueue(pier.deps, { clock: pier.clock });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 20 });
    const brokenUrl = `${receiver.url}?broken`;
    try {
      // one claim takes both merchants' rows
      await backlog(broken, brokenUrl, 3, 'broken');
      await backlog(other, receiver.url, 5, 'fine');
      runner.start();
      await waitFor(() => receiver.requests.length === 5, 10_000, "the other merchant's five webhooks");
    } finally {
      await runner.stop(100);
      await queue.close();
      await receiver.stop();
    }
    expect(receiver.requests.map((r) => r.path)).toEqual(Array(5).fill('/webhook'));
    // the broken merchant's rows were never sent nor counted; they wait for their leases like a job that failed
    const rows = await deliveriesTo(brokenUrl);
    expect(rows).toHaveLength(3);
    expect(rows.every((d) => d.state === 'sending' && d.attempts === 0)).toBe(true);
    expect(pier.logs()).toContain('job failed; it will be retried when its lease runs out');
  });
});
