/**
 * Receivers that misbehave after their status line (decision 0114). V1's rule is the status: a
 * receiver's 2xx says it has the notification, so what its body does next (never ends, trickles,
 * is cut off) must not turn the delivery into a failure sent again and again, and an answer of any
 * status holds its delivery slot only briefly once its status is in. Real HTTP from the real queue
 * and sender to node:http servers on loopback; the deadline is far from the bound on
 * reading a body, so an attempt that waited for the body's end is told apart from one that did not.
 * Last, a receiver whose resolver never answers must not take the lookups of every other receiver.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startTrickleReceiver, waitFor } from '../hardening/slow-receiver.js';

let pier: TestPier;
let m: TestMerchant;
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
const cleanups: (() => Promise<void>)[] = [];
const DEADLINE_MS = 6_000;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => pier?.close());

/** a paid payment whose webhook goes to `url` (its notice_url) */
async function pay(merchantUid: string, url: string) {
  // a fresh token: the tests before moved the clock a day on
  const t = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
  m.token = t.body.response.access_token;
  const res = await pier.call('POST', '/subscribe/payments/onetime', {
    token: m.token,
    body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12', notice_url: url },
  });
  expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
  return res.body.response.imp_uid as string;
}

function newRunner() {
  // the read timeout past the deadline: before decision 0114 only the deadline ended these attempts
  const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 1_000, readTimeoutMs: 20_000, deadlineMs: DEADLINE_MS } });
  cleanups.push(() => queue.close());
  return new JobRunner({ queues: [queue], logger: pier.deps.logger });
}

const deliveryOf = (impUid: string) =>
  pier.store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(['d.id', 'd.state', 'd.attempts', 'd.last_status_code', 'd.last_error', 'd.lease_owner'])
    .where('e.imp_uid', '=', impUid)
    .executeTakeFirstOrThrow();

const attemptsOf = (deliveryId: string) =>
  pier.store.db.selectFrom('webhook_attempts').select(['attempt', 'status_code', 'error', 'duration_ms', 'response_excerpt']).where('delivery_id', '=', deliveryId).orderBy('attempt').execute();

/** a day later, every retry (about 3 hours in all) would have come due: the queue has nothing left to send */
async function expectNothingMoreToSend(runner: JobRunner) {
  pier.clock.advance(24 * 3600_000);
  expect(await runner.runOnce()).toBe(0);
}

/** A node:http receiver: `answer` writes what it likes once the whole request is in. */
async function startReceiverThat(answer: (res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => answer(res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`,
    get requests() {
      return requests;
    },
  };
}

describe('a receiver that answers 2xx and then misbehaves', () => {
  it('answers 200 with a first chunk and never ends its body: delivered once, nothing retried, its connection closed', async () => {
    // one byte, then silence: a server that wrote its head and hangs in its own code
    const silent = await startTrickleReceiver(3_600_000, 'body');
    cleanups.push(() => silent.stop());
    const runner = newRunner();
    const impUid = await pay('fault_200_silent', silent.url);
    expect(await runner.runOnce()).toBe(1);

    const d = await deliveryOf(impUid);
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, last_status_code: 200, last_error: null, lease_owner: null });
    const attempts = await attemptsOf(d.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, status_code: 200, error: null, response_excerpt: '.' });
    // it held its slot for the bound on reading a body, not until the deadline
    expect(attempts[0].duration_ms).toBeLessThan(DEADLINE_MS);
    // the unfinished answer was dropped with its connection, not left for the next attempt to reuse
    await waitFor(() => silent.open === 0, 5_000, 'the unfinished answer’s connection to close');
    expect(silent.requests).toBe(1);

    await expectNothingMoreToSend(runner);
    expect(silent.requests).toBe(1);
  });

  it('answers 200 and trickles its body a byte at a time (each byte within the read timeout): delivered once, nothing retried', async () => {
    const trickle = await startTrickleReceiver(50, 'body');
    cleanups.push(() => trickle.stop());
    const runner = newRunner();
    const impUid = await pay('fault_200_trickle', trickle.url);
    expect(await runner.runOnce()).toBe(1);

    const d = await deliveryOf(impUid);
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, last_status_code: 200, last_error: null });
    const [attempt] = await attemptsOf(d.id);
    expect(attempt.duration_ms).toBeLessThan(DEADLINE_MS);
    expect(attempt.response_excerpt).toMatch(/^\.+$/);
    await waitFor(() => trickle.open === 0, 5_000, 'the trickled connection to close');

    await expectNothingMoreToSend(runner);
    expect(trickle.requests).toBe(1);
  });

  it('answers 200 and closes the connection mid-body: delivered (its status was its word), with what of the body arrived', async () => {
    // a receiver that dies after its head: 100 bytes announced, 8 sent, then the connection closed
    const dies = await startReceiverThat((res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('received', () => res.socket?.destroy());
    });
    const runner = newRunner();
    const impUid = await pay('fault_200_closed', dies.url);
    expect(await runner.runOnce()).toBe(1);

    const d = await deliveryOf(impUid);
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, last_status_code: 200, last_error: null });
    const attempts = await attemptsOf(d.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ status_code: 200, error: null, response_excerpt: 'received' });

    await expectNothingMoreToSend(runner);
    expect(dies.requests).toBe(1);
  });
});

describe('a receiver that answers non-2xx and never ends its body', () => {
  it('is recorded as its status at once and retried later, not held until the deadline', async () => {
    const busy = await startReceiverThat((res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.write('busy');
    });
    const runner = newRunner();
    const impUid = await pay('fault_503_open', busy.url);
    expect(await runner.runOnce()).toBe(1);

    const d = await deliveryOf(impUid);
    expect(d).toMatchObject({ state: 'pending', attempts: 1, last_status_code: 503, last_error: 'HTTP 503' });
    const [attempt] = await attemptsOf(d.id);
    expect(attempt).toMatchObject({ status_code: 503, error: 'HTTP 503', response_excerpt: 'busy' });
    expect(attempt.duration_ms).toBeLessThan(DEADLINE_MS);
  });
});

describe("a receiver whose host name's resolver never answers", () => {
  it("holds one lookup thread however many of its deliveries are in flight: another merchant's webhooks to another host are delivered meanwhile", async () => {
    // a nameserver that drops the queries of one zone: its getaddrinfo holds a thread until the
    // system resolver gives up (30 s and more); this one answers only when the test lets it
    const stuck: Array<() => void> = [];
    let stuckLookups = 0;
    const resolveHost = (host: string, _opts: object, cb: (err: NodeJS.ErrnoException | null, addresses: { address: string; family: number }[]) => void) => {
      const answer = () => cb(null, [{ address: '127.0.0.1', family: 4 }]);
      if (host !== 'hooks.stuck-dns.example') return void setImmediate(answer);
      stuckLookups++;
      stuck.push(answer);
    };
    const good = await startReceiverThat((res) => res.end('ok'));
    const goodUrl = good.url.replace('127.0.0.1', 'hooks.other-shop.example');
    const stuckUrl = good.url.replace('127.0.0.1', 'hooks.stuck-dns.example');
    const queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 1_000, readTimeoutMs: 20_000, deadlineMs: DEADLINE_MS, resolveHost: resolveHost as never } });
    cleanups.push(() => queue.close());
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 20 });
    cleanups.push(async () => {
      await runner.stop(0);
      // the stuck lookups return: their threads go back to the share for the tests after this one
      for (const answer of stuck.splice(0)) answer();
    });

    const slowImpUids: string[] = [];
    for (let i = 0; i < 6; i++) slowImpUids.push(await pay(`fault_dns_${i}`, stuckUrl));
    runner.start();
    // every one of its six attempts is waiting for a lookup of its host
    await waitFor(async () => (await Promise.all(slowImpUids.map(deliveryOf))).every((d) => d.state === 'sending') && stuckLookups > 0, 5_000, 'the six attempts to the stuck host');

    const other = await pier.newMerchant();
    const t = await pier.call('POST', '/users/getToken', { body: { imp_key: other.impKey, imp_secret: other.impSecret } });
    const otherImpUids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await pier.call('POST', '/subscribe/payments/onetime', {
        token: t.body.response.access_token,
        body: { merchant_uid: `fault_dns_other_${i}`, amount: 1000, card_number: card, expiry: '2030-12', notice_url: goodUrl },
      });
      expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
      otherImpUids.push(res.body.response.imp_uid);
    }
    // the other merchant's attempts are made and answered (or, before, end at their deadline)
    const others = await waitFor(
      async () => {
        const ds = await Promise.all(otherImpUids.map(deliveryOf));
        return ds.every((d) => d.attempts === 1 && d.state !== 'sending') ? ds : null;
      },
      DEADLINE_MS + 10_000,
      "the other merchant's two attempts",
    );
    expect(others!.map((d) => [d.state, d.last_status_code, d.last_error])).toEqual([
      ['delivered', 200, null],
      ['delivered', 200, null],
    ]);
    expect(good.requests).toBe(2);
    // six attempts to the stuck host, one getaddrinfo for them all
    expect(stuckLookups).toBe(1);
  });
});
