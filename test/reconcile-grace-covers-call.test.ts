/**
 * Reconciliation's grace against the PG timeouts an operator configures. A PG call lasts up to its
 * connect + read timeout (decision 0061); the grace was the read timeout + 30 s, so with a connect
 * timeout past 30 s reconciliation asked the PG about an attempt whose call could still be
 * connecting or waiting for its answer: an inquiry that finds nothing fails an attempt the PG may
 * still charge. Real HTTP to the tPay simulator, which holds the charge's answer; time moves by
 * the injected clock only (the database's clock with it).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reconcileGraceSeconds, reconcileInDoubt } from '../src/core/payments/reconcile.js';
import { schedulePolicyFor } from '../src/core/schedules/run.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';
import { simulatorControl } from './sim-control.js';

const CONNECT_TIMEOUT_MS = 60_000;
/** long enough that the held call does not end on its own while the test looks (real time) */
const READ_TIMEOUT_MS = 10_000;

let pier: TestPier;
let m: TestMerchant;

const control = (path: string, body?: unknown) => simulatorControl(pier.simulatorUrl, path, body);

beforeAll(async () => {
  pier = await startTestPier({ connectTimeoutMs: CONNECT_TIMEOUT_MS, readTimeoutMs: READ_TIMEOUT_MS, simulatorSlowMs: 4 * READ_TIMEOUT_MS });
  m = await pier.newMerchant();
  const ok = await pier.call('POST', '/subscribe/customers/grace_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '7071' }), expiry: '2030-12' } });
  expect(ok.body.code).toBe(0);
});
afterAll(() => pier?.close());

describe('reconciliation grace with a connect timeout past 30 s', () => {
  it('covers the whole call: a charge still in flight is not asked about, and is paid once its answer comes', async () => {
    const graceSeconds = reconcileGraceSeconds(pier.deps.connectors);
    expect(graceSeconds).toBe((CONNECT_TIMEOUT_MS + READ_TIMEOUT_MS) / 1000 + 30);
    // the schedule worker settles its own attempts in doubt with the same grace
    expect(schedulePolicyFor(pier.deps).reconcileGraceSeconds).toBe(graceSeconds);

    await control('faults', { mode: 'hold', op: 'payments_token' });
    const charging = pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'grace_c', merchant_uid: 'grace_1', amount: 4_300, name: 'grace' } });
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });

    // 65 s after the attempt was recorded: past the old grace (the slowest read timeout, NICE's
    // default 30 s, + 30 s), and the call may still be waiting for tPay's answer (its connect may
    // have taken up to 60 s, and its read timeout 10 s more)
    pier.clock.advance(CONNECT_TIMEOUT_MS + READ_TIMEOUT_MS - 5_000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({});
    const during = await pier.store.db.selectFrom('payments').select(['status', 'pg_state', 'check_count']).where('merchant_uid', '=', 'grace_1').executeTakeFirstOrThrow();
    expect(during).toEqual({ status: 'ready', pg_state: 'calling', check_count: 0 });

    await control('holds/release', {});
    const res = await charging;
    expect({ code: res.body.code, status: res.body.response?.status, amount: res.body.response?.amount }).toEqual({ code: 0, status: 'paid', amount: 4_300 });
    const after = await pier.store.db.selectFrom('payments').select(['status', 'pg_state', 'check_count']).where('merchant_uid', '=', 'grace_1').executeTakeFirstOrThrow();
    expect(after).toEqual({ status: 'paid', pg_state: 'done', check_count: 0 });
  });
});
