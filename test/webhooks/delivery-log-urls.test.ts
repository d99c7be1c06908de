/**
 * A merchant's webhook URL may carry a secret in its query string (`?token=…`, as many receiving
 * services take one): the delivery gets the URL whole, the log lines only its origin and path, as
 * request lines show paths only (decision 0053).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startReceiver } from './receiver.js';

const SECRET = 'hook-secret-8d1f0c';
let pier: TestPier;
let m: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let queue: ReturnType<typeof webhookQueue>;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  receiver = await startReceiver({ answer: (_r, n) => (n === 1 ? 500 : 200) });
  queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
  const set = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: `${receiver.url}/hooks/pier?token=${SECRET}` } });
  expect(set.body.code).toBe(0);
});
afterAll(async () => {
  await queue.close();
  await receiver.stop();
  await pier.close();
});

describe('webhook delivery log lines', () => {
  it('name the receiver by origin and path, never its query string; the request itself goes to the whole URL', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: 'log_url_1', amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '2718' }), expiry: '2030-12' },
    });
    expect(paid.body.response.status).toBe('paid');
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
    // the first attempt answered 500 (a retry line), the second one 200
    expect(await runner.drain()).toBe(1);
    pier.clock.advance(3600_000);
    expect(await runner.drain()).toBe(1);
    const sent = `${new URL(receiver.url).pathname}/hooks/pier?token=${SECRET}`;
    expect(receiver.requests.map((r) => r.path)).toEqual([sent, sent]);

    const lines = pier.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const attempts = lines.filter((l) => l.delivery !== undefined && typeof l.msg === 'string' && l.msg.startsWith('webhook deliver'));
    expect(attempts.map((l) => l.msg)).toEqual(['webhook delivery failed; will retry', 'webhook delivered']);
    for (const l of attempts) expect(l.url).toBe(`${receiver.url}/hooks/pier`);
    expect(pier.logs()).not.toContain(SECRET);
  });
});

describe('a notice_url with user information', () => {
  it('is logged without it', async () => {
    const target = new URL(receiver.url);
    const noticeUrl = `${target.protocol}//hookuser:${SECRET}-pw@${target.host}${target.pathname}/notice`;
    // the test above moved the clock past the token's life
    const token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token as string;
    const paid = await pier.call('POST', '/subscribe/payments/onetime', {
      token,
      body: { merchant_uid: 'log_url_2', amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '3141' }), expiry: '2030-12', notice_url: noticeUrl },
    });
    expect(paid.body).toMatchObject({ code: 0, response: { status: 'paid' } });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(1);
    const lines = pier.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const attempt = lines.filter((l) => l.delivery !== undefined && l.url === `${receiver.url}/notice`);
    expect(attempt).toHaveLength(1);
    expect(pier.logs()).not.toContain(`${SECRET}-pw`);
  });
});
