/**
 * Reconciliation's grace against a connector whose operation makes two PG calls one after another
 * (decision 0099): NICE's key-in registers a throw-away billing key, then charges it (decision 0014).
 * With a call budget past 30 s, the charge could still be on its way to NICE when one call's grace
 * (decision 0061) had passed since the attempt was recorded: reconciliation found no payment at
 * NICE, net-cancelled nothing, failed the attempt and freed its merchant_uid, and an approval NICE
 * then made was paid at the PG and failed at Pier. Real HTTP to the NICE simulator, which holds the
 * charge unprocessed; time moves by the injected clock only (the database's clock with it).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reconcileGraceSeconds, reconcileInDoubt } from '../src/core/payments/reconcile.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';

const CONNECT_TIMEOUT_MS = 1_000;
/** past 30 s (the grace's margin), and long enough that the held call does not end while the test looks (real time) */
const READ_TIMEOUT_MS = 40_000;
const CALL_MS = CONNECT_TIMEOUT_MS + READ_TIMEOUT_MS;

let pier: TestPier;
let m: TestMerchant & { nice: { clientId: string; secretKey: string } | null };

async function control(path: string, init?: { method: string; body?: unknown }): Promise<any> {
  const res = await fetch(`${pier.niceSimulatorUrl}/__control/${path}`, init ? { method: init.method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body ?? {}) } : {});
  expect(res.ok, `${path}: ${res.status}`).toBe(true);
  return res.json();
}

beforeAll(async () => {
  pier = await startTestPier({ pg: 'nice_v2', connectTimeoutMs: CONNECT_TIMEOUT_MS, readTimeoutMs: READ_TIMEOUT_MS, simulatorSlowMs: 2 * READ_TIMEOUT_MS });
  m = await pier.newMerchant();
});
afterAll(async () => {
  await fetch(`${pier.niceSimulatorUrl}/__control/holds/release`, { method: 'POST' }).catch(() => undefined);
  await pier?.close();
});

describe('reconciliation grace with a connector whose operation makes two calls', () => {
  it('covers both: a NICE key-in whose charge is still on its way is not asked about, nor failed', async () => {
    const graceSeconds = reconcileGraceSeconds(pier.deps.connectors);

    // the charge (after the key's registration) is held at NICE before NICE processes it
    await control('faults', { method: 'POST', body: { op: 'billing_pay', kind: 'timeout', when: 'before', clientId: m.nice!.clientId } });
    const paying = pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: 'two_calls_1', amount: 5_500, card_number: testCardNumber({ kftcCode: '366', lastFour: '5151' }), expiry: '2030-12' },
    });
    await vi.waitUntil(async () => (await control('faults')).held === 1, { timeout: 10_000, interval: 10 });

    // 75 s after the attempt was recorded: past one call's grace (41 + 30 s), and the charge may
    // still be on its way (the registration before it may have taken its whole 41 s, the charge 41 s more)
    pier.clock.advance(2 * CALL_MS - 7_000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({});
    const during = await pier.store.db.selectFrom('payments').select(['status', 'pg_state', 'check_count', 'merchant_uid_lock']).where('merchant_uid', '=', 'two_calls_1').executeTakeFirstOrThrow();
    expect(during).toEqual({ status: 'ready', pg_state: 'calling', check_count: 0, merchant_uid_lock: 'two_calls_1' });
    // nothing was asked of NICE about it: no lookup, no net-cancel
    const calls = (await control(`calls?clientId=${m.nice!.clientId}`)).calls as Record<string, number>;
    expect({ find: calls.find ?? 0, netcancel: calls.netcancel ?? 0 }).toEqual({ find: 0, netcancel: 0 });

    await control('holds/release', { method: 'POST' });
    await paying;
    // NICE's two calls and the margin
    expect(graceSeconds).toBe((2 * CALL_MS) / 1000 + 30);
  });
});
