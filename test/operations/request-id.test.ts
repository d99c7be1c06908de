import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { wantsPretty } from '../../src/lib/logger.js';
import { buildApp } from '../../src/api/app.js';
import { depsWith, startTestPier, testCardNumber, type TestPier, type TestMerchant } from '../harness.js';
import { startReceiver } from '../webhooks/receiver.js';

let pier: TestPier;
let m: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let queue: ReturnType<typeof webhookQueue>;
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });

const logLines = () =>
  pier
    .logs()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  receiver = await startReceiver();
  queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
  const set = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: receiver.url } });
  expect(set.body.code).toBe(0);
});
afterAll(async () => {
  await queue.close();
  await receiver.stop();
  await pier.close();
});

describe('request ids', () => {
  it('follows one payment from the request through the PG call to its webhook delivery', async () => {
    const res = await pier.app.inject({
      method: 'POST',
      url: '/subscribe/payments/onetime',
      headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json', 'x-request-id': 'shop-trace-7f3a' },
      payload: JSON.stringify({ merchant_uid: 'rid_1', amount: 1000, card_number: card, expiry: '2030-12' }),
    });
    expect(res.headers['x-request-id']).toBe('shop-trace-7f3a');
    const impUid = res.json().response.imp_uid as string;

    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(1);
    expect(receiver.requests).toHaveLength(1);

    const traced = logLines().filter((l) => l.reqId === 'shop-trace-7f3a');
    const messages = traced.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['incoming request', 'PG call', 'request completed', 'webhook delivered']));
    expect(traced.find((l) => l.msg === 'PG call')).toMatchObject({ pg: 'jtnet', operation: 'chargeKeyIn', outcome: 'approved', moid: impUid });
    // one reqId per line, never the card
    for (const l of pier.logs().split('\n').filter((x) => x.includes('shop-trace-7f3a'))) expect(l.match(/"reqId"/g)).toHaveLength(1);
    expect(pier.logs()).not.toContain(card);
  });

  it('answers with a connector replaced in the deps an app is built on: the registry of each request keeps the replacement', async () => {
    const declining = depsWith(pier.deps, () => ({ chargeKeyIn: async () => ({ outcome: 'declined' as const, code: 'X999', message: '테스트 거절', pgTid: null }) }));
    const app = await buildApp(declining, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/subscribe/payments/onetime',
        headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ merchant_uid: 'rid_replaced', amount: 1000, card_number: card, expiry: '2030-12' }),
      });
      expect(res.json().response).toMatchObject({ merchant_uid: 'rid_replaced', status: 'failed', fail_reason: expect.stringContaining('테스트 거절') });
    } finally {
      await app.close();
    }
  });

  it('generates an id when none is sent and replaces one that could forge or flood log lines', async () => {
    const none = await pier.app.inject({ method: 'GET', url: '/health' });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    for (const bad of ['a'.repeat(129), 'two words', 'x\u0001y', '{"msg":"forged"}']) {
      const res = await pier.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(pier.logs()).not.toContain('forged');
    const two = await Promise.all([1, 2].map(() => pier.app.inject({ method: 'GET', url: '/health' })));
    expect(two[0].headers['x-request-id']).not.toBe(two[1].headers['x-request-id']);
  });
});

describe('log format', () => {
  it('prints readable lines on a terminal in sandbox, JSON to a pipe or in production, as configured otherwise', () => {
    expect(wantsPretty('auto', 'sandbox', true)).toBe(true);
    expect(wantsPretty('auto', 'sandbox', false)).toBe(false);
    expect(wantsPretty('auto', 'production', true)).toBe(false);
    expect(wantsPretty('pretty', 'production', false)).toBe(true);
    expect(wantsPretty('json', 'sandbox', true)).toBe(false);
  });
});
