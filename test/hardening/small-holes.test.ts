/**
 * Issue #10 item 9: a second merchant closing the first's listen session, sandbox clock inputs
 * that overflow, and HTTP-layer malformations that Fastify used to answer in its own JSON.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbListenSource } from '../../src/webhooks/listen.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { rawRequest } from './raw-http.js';

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
let baseUrl: string;

beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true });
  m = await pier.newMerchant();
  other = await pier.newMerchant();
  baseUrl = await pier.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await pier?.close();
});

describe("another merchant's DELETE of a listen session", () => {
  it("answers 404 and leaves the owner's pending deliveries pending", async () => {
    const source = new DbListenSource(pier.deps, m.merchantId);
    const session = await source.open('http://127.0.0.1:9/webhook');
    const card = testCardNumber({ kftcCode: '366', lastFour: '8080' });
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'lsn_hole_1', amount: 1000, card_number: card, expiry: '2030-12' } });
    expect(paid.body.response.status).toBe('paid');

    const res = await pier.call('DELETE', `/pier/webhooks/listeners/${session.listenerId}`, { token: other.token });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe(-1);

    const rows = await pier.store.db.selectFrom('webhook_deliveries').select(['state', 'last_error']).where('listener_id', '=', session.listenerId).execute();
    expect(rows).toEqual([{ state: 'pending', last_error: null }]);
    const lsn = await pier.store.db.selectFrom('webhook_listeners').select('closed_at').where('id', '=', session.listenerId).executeTakeFirstOrThrow();
    expect(Number(lsn.closed_at)).toBe(0);

    // the owner can still close it, which drops what the session never got
    const mine = await pier.call('DELETE', `/pier/webhooks/listeners/${session.listenerId}`, { token: m.token });
    expect(mine.status).toBe(200);
    const after = await pier.store.db.selectFrom('webhook_deliveries').select('state').where('listener_id', '=', session.listenerId).execute();
    expect(after).toEqual([{ state: 'failed' }]);
  });
});

describe('sandbox clock bounds', () => {
  it.each([
    ['99999999999999999999999'],
    ['8640000000000'],
    ['999999w'],
    ['1e9'],
  ])('refuses advance by %s with a 400 envelope and leaves the clock alone', async (by) => {
    const before = await pier.call('GET', '/pier/sandbox/clock', { token: m.token });
    const res = await pier.call('POST', '/pier/sandbox/clock/advance', { token: m.token, body: { by } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 1, response: null });
    expect(res.body.message).toMatch(/by/);
    const after = await pier.call('GET', '/pier/sandbox/clock', { token: m.token });
    expect(after.body.response.offset_seconds).toBe(before.body.response.offset_seconds);
  });

  it('refuses to push the total offset past ten years, even in steps', async () => {
    const first = await pier.call('POST', '/pier/sandbox/clock/advance', { token: m.token, body: { by: '3000d' } });
    expect(first.body.code).toBe(0);
    // tokens follow the sandbox clock: a new one after the jump
    const token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const second = await pier.call('POST', '/pier/sandbox/clock/advance', { token, body: { by: '3000d' } });
    expect(second.status).toBe(400);
    expect(second.body.message).toMatch(/10 years|ten years/);
    const now = await pier.call('GET', '/pier/sandbox/clock', { token });
    expect(now.body.response.offset_seconds).toBe(3000 * 86_400);
    // ids minted at the far end of the range are still well formed
    const card = testCardNumber({ kftcCode: '366', lastFour: '8080' });
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token, body: { merchant_uid: 'clock_far_1', amount: 1000, card_number: card, expiry: '2040-12' } });
    expect(paid.body.response.pg_tid).toMatch(/^[0-9A-Za-z_-]+$/);
    expect(paid.body.response.pg_tid).not.toMatch(/NaN/);
    await pier.call('POST', '/pier/sandbox/clock/reset', { token });
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
  });
});

describe('HTTP-layer malformations get the V1 envelope', () => {
  const port = () => Number(new URL(baseUrl).port);

  it('a request line over 16 KB', async () => {
    const res = await rawRequest(port(), `GET /payments/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.status).toBe(431); // Node counts the request line into its 16 KB header limit
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null });
  });

  it('headers over 16 KB', async () => {
    const res = await rawRequest(port(), `GET /payments/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null });
  });

  it('both Transfer-Encoding and Content-Length', async () => {
    const res = await rawRequest(port(), 'POST /users/getToken HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null });
  });

  it('bad chunking', async () => {
    const res = await rawRequest(port(), 'POST /users/getToken HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null });
  });

  it('a socket that sends garbage', async () => {
    const res = await rawRequest(port(), '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null });
  });

  it('a path Fastify cannot route (bad %-escape) and an unknown route', async () => {
    for (const path of ['/payments/%E0%A4%A', '/nope']) {
      const res = await rawRequest(port(), `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(JSON.parse(res.body)).toHaveProperty('code');
      expect(JSON.parse(res.body)).toHaveProperty('response', null);
    }
  });

  it('keeps the socket usable for the next client (server did not crash)', async () => {
    const s = connect(port(), '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.destroy();
    const res = await rawRequest(port(), 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(404);
  });
});
