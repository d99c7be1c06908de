import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { PierMetrics } from '../../src/operations/metrics.js';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const good = testCardNumber({ kftcCode: '381', lastFour: '5678' });
const declined = testCardNumber({ kftcCode: '366', lastFour: '0054' });

const charge = (merchant_uid: string, card_number: string) =>
  pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid, amount: 3000, card_number, expiry: '2030-01' } });

async function scrape(): Promise<string> {
  const res = await pier.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toContain('text/plain');
  return res.body;
}

/** the value of one series, e.g. `pier_payments{pg="jtnet",method="card",status="paid"}` */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('GET /metrics', () => {
  it('counts a payment, a decline and an in-doubt charge by PG, method and outcome', async () => {
    expect((await charge('met_paid', good)).body.response.status).toBe('paid');
    expect((await charge('met_declined', declined)).body.response.status).toBe('failed');
    // the PG takes the charge but its answer is lost (HTTP 500): Pier is in doubt until reconciliation
    const fault = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'payments' }) });
    expect(fault.ok).toBe(true);
    // Pier asks the PG at once, which has no record yet: the attempt stays in doubt, and the answer says so
    const doubt = await charge('met_doubt', good);
    expect(doubt.status).toBe(502);
    expect(doubt.body).toMatchObject({ code: 1, response: null });

    const text = await scrape();
    // database state, read at scrape time
    expect(value(text, 'pier_payments', { pg: 'jtnet', method: 'card', status: 'paid' })).toBe(1);
    expect(value(text, 'pier_payments', { pg: 'jtnet', method: 'card', status: 'failed' })).toBe(1);
    expect(value(text, 'pier_payments', { pg: 'jtnet', method: 'card', status: 'ready' })).toBe(1);
    expect(value(text, 'pier_payments_in_doubt', { pg: 'jtnet' })).toBe(1);
    expect(value(text, 'pier_reconciliation_backlog', { kind: 'payment' })).toBe(1);
    // this process's PG calls, by outcome
    const calls = (outcome: string) => value(text, 'pier_pg_call_duration_seconds_count', { pg: 'jtnet', operation: 'chargeKeyIn', outcome });
    expect(calls('approved')).toBe(1);
    expect(calls('declined')).toBe(1);
    expect(calls('in_doubt')).toBe(1);
    // HTTP latency by route pattern, never the raw URL
    expect(value(text, 'pier_http_request_duration_seconds_count', { method: 'POST', route: '/subscribe/payments/onetime', status_code: '200' })).toBe(2);
    expect(value(text, 'pier_http_request_duration_seconds_count', { method: 'POST', route: '/subscribe/payments/onetime', status_code: '502' })).toBe(1);
    expect(text).not.toContain('met_paid');
  });

  it('ages the oldest unsettled row on Pier\'s clock and settles it to zero after reconciliation', async () => {
    pier.clock.advance(120_000);
    const before = await scrape();
    expect(value(before, 'pier_reconciliation_oldest_seconds')).toBeGreaterThanOrEqual(120);
    const { reconcileInDoubt } = await import('../../src/core/payments/reconcile.js');
    await reconcileInDoubt(pier.deps, { graceSeconds: 60 });
    const after = await scrape();
    expect(value(after, 'pier_payments_in_doubt', { pg: 'jtnet' })).toBeUndefined();
    expect(value(after, 'pier_reconciliation_backlog', { kind: 'payment' })).toBe(0);
    expect(value(after, 'pier_reconciliation_oldest_seconds')).toBe(0);
    expect(value(after, 'pier_pg_call_duration_seconds_count', { pg: 'jtnet', operation: 'inquire', outcome: 'approved' })).toBe(2); // at once, then by reconciliation
  });

  it('counts the whole payments table at every scrape while that is quick, and spaces a slow count out to 20 times its duration', async () => {
    // a monotonic clock that moves `step` ms each time it is read: a count "takes" one step
    let t = 0;
    let step = 10;
    const metrics = new PierMetrics({ processMetrics: false, monotonicMs: () => (t += step) });
    const read = async () => {
      const text = await metrics.scrape(pier.deps.store, { pier: pier.clock });
      return { paid: value(text, 'pier_payments', { pg: 'jtnet', method: 'card', status: 'paid' }), age: value(text, 'pier_payments_age_seconds') };
    };
    const paid = (await read()).paid!;
    expect(paid).toBeGreaterThanOrEqual(1);

    // quick counts (10 ms): every scrape counts
    expect((await charge('met_age_1', good)).body.response.status).toBe('paid');
    expect(await read()).toEqual({ paid: paid + 1, age: 0 });

    // a count of 100 ms: the next one no sooner than 2 s later; meanwhile the last values, and their age
    step = 100;
    expect(await read()).toEqual({ paid: paid + 1, age: 0 });
    expect((await charge('met_age_2', good)).body.response.status).toBe('paid');
    expect(await read()).toEqual({ paid: paid + 1, age: 0.2 });
    t += 1_500;
    expect(await read()).toEqual({ paid: paid + 1, age: 1.8 });
    t += 200;
    expect(await read()).toEqual({ paid: paid + 2, age: 0 });
  });

  it('reports a PG that cannot be reached as unreachable, not in doubt', async () => {
    const { createConnectorRegistry } = await import('../../src/connectors/registry.js');
    const { instrumentConnectors } = await import('../../src/connectors/instrumented.js');
    const dead = instrumentConnectors(createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:1', connectTimeoutMs: 500, readTimeoutMs: 500 } }), {
      metrics: pier.deps.metrics,
      logger: pier.deps.logger,
    });
    const creds = { mid: 'tpaytest1m', merchantKey: { reveal: () => 'x' } as never, cancelPassword: { reveal: () => 'x' } as never };
    await expect(dead.get('jtnet')!.inquire(creds, { moid: 'imp_000000000001', aroundMs: 0 })).rejects.toMatchObject({ kind: 'connect' });
    await dead.close();
    expect(value(await scrape(), 'pier_pg_call_duration_seconds_count', { pg: 'jtnet', operation: 'inquire', outcome: 'unreachable' })).toBe(1);
  });

  it('needs the bearer token when metrics.token is set, compared in constant time', async () => {
    const app = await buildApp(pier.deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080', metricsToken: 'scrape-secret-1' });
    try {
      const none = await app.inject({ method: 'GET', url: '/metrics' });
      expect(none.statusCode).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const wrong = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-secret-2' } });
      expect(wrong.statusCode).toBe(401);
      // a merchant's V1 access token is not a metrics token
      const v1 = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${m.token}` } });
      expect(v1.statusCode).toBe(401);
      const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-secret-1' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('pier_payments{');
    } finally {
      await app.close();
    }
  });

  it('is off in production unless a token is set', async () => {
    const app = await buildApp({ ...pier.deps, mode: 'production' }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
    try {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('pier_');
    } finally {
      await app.close();
    }
  });

  it('is not part of the V1 OpenAPI document', async () => {
    const doc = (await pier.call('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths)).not.toEqual(expect.arrayContaining(['/metrics']));
    for (const p of ['/metrics', '/health', '/ready']) expect(doc.paths[p]).toBeUndefined();
  });
});
