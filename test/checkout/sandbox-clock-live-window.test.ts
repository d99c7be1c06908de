/**
 * The sandbox clock is global and any merchant's REST token moves it, the public demo key
 * (`imp_apikey`) included. A live channel's payment window lives on the real time at its PG: a
 * recheck of an attempt closed while that window may still be submitted (decision 0007), or the
 * inquiry that settles an abandoned window for good (decision 0069), made due early by an advance,
 * asked the PG while the buyer was still in the window, and the PG's "nothing" was taken as its
 * last word: the approval the buyer made a moment later, whose result post never reached Pier, was
 * never recorded (the money taken at the PG, the merchant not told). A live channel's window now
 * ends on the real time (decision 0121, amended); a sandbox channel's still follows the sandbox clock.
 *
 * The live channel is the tPay simulator's window MID with its `sandbox` flag cleared: that flag is
 * all Pier knows of a channel being live, and the simulator, on the real time, stands in for the real PG.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshClock } from '../../src/core/sandbox/clock.js';
import { ensureDemoMerchant } from '../../src/core/sandbox/demo.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { card, cardFields, rig } from './window-rig.js';

let pier: TestPier;
let liveShop: TestMerchant;
let sandboxShop: TestMerchant;
const r = rig(() => ({ pier, m: liveShop }));
const sandboxRig = rig(() => ({ pier, m: sandboxShop }));

beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true, listen: true });
  // the demo merchant is made on a sandbox's first start, before any other
  expect((await ensureDemoMerchant(pier.deps))?.impKey).toBe(DEMO_IMP_KEY);
  liveShop = await pier.newMerchant();
  sandboxShop = await pier.newMerchant();
  // every channel of this shop is a live account: a real MID, real cards
  await pier.store.db.updateTable('pg_channels').set({ sandbox: 0 }).where('merchant_id', '=', liveShop.merchantId).execute();
});
afterAll(async () => {
  await pier.close();
});

const confirmRunner = () => new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger, beforePass: () => refreshClock(pier.deps.clock) });

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(`${pier.pierUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { code: number; message: string | null; response: any };
}
async function demoToken(): Promise<string> {
  const r = await post('/users/getToken', { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET });
  expect(r.code).toBe(0);
  return r.response.access_token;
}
/** anyone with the public demo key moves every merchant's time ahead */
async function advanceByDemoKey(by: string) {
  const advanced = await post('/pier/sandbox/clock/advance', { by }, await demoToken());
  expect(advanced.code, JSON.stringify(advanced)).toBe(0);
  await refreshClock(pier.deps.clock);
}
async function resetByDemoKey() {
  expect((await post('/pier/sandbox/clock/reset', {}, await demoToken())).code).toBe(0);
  await refreshClock(pier.deps.clock);
}
/** real time passes (the PG's clock and Pier's base clock alike) */
async function realTimePasses(ms: number) {
  pier.clock.advance(ms);
  await refreshClock(pier.deps.clock);
}
async function pierAndPg(impUid: string) {
  const p = await r.payment(impUid);
  const atPg = (await r.ledgerTx(impUid))[0];
  return { pier: p.status, lock: p.merchant_uid_lock, pg: atPg?.status, pgConfirmed: atPg?.confirmedAt != null };
}

describe('the sandbox clock and a live channel’s payment window', () => {
  it('a recheck of a closed window made due early by the demo key asks no PG before the window is over on the real time; the approval made meanwhile is recorded', async () => {
    const w = await r.openWindow({});
    // the buyer closes Pier's overlay (a cancel post Pier cannot verify); the tPay window stays open
    expect((await r.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' })).status).toBe(200);
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // someone advances the global clock past the window's lifetime; the acknowledgement queue runs
    await advanceByDemoKey('31m');
    await confirmRunner().drain();
    // and resets it at once, before any queue ran: the recheck is moved back the offset (0118)
    await advanceByDemoKey('2h');
    await resetByDemoKey();
    await confirmRunner().drain();

    // a minute on the real time later the buyer pays in the still open window; the result post never reaches Pier
    await realTimePasses(60_000);
    expect((await r.actInWindow(w, { action: 'pay', ...cardFields(card()) })).fields.resultCd).toBe('3001');

    // everything Pier runs in the background, once the window is over on the real time
    await realTimePasses(31 * 60_000);
    await confirmRunner().drain();
    await reconcileInDoubt(pier.deps, { graceSeconds: 0 });
    expect(await pierAndPg(w.impUid), 'an approval the PG holds, never recorded by Pier').toEqual({ pier: 'paid', lock: w.merchantUid, pg: 'paid', pgConfirmed: true });
  });

  it('a window left open, handed to reconciliation early by the demo key: its "no record" is not the PG’s last word while the window is open on the real time', async () => {
    const w = await r.openWindow({});
    await advanceByDemoKey('2h');
    // the abandoned-window sweep and reconciliation, on the advanced clock
    expect(await releaseAbandonedWindows(pier.deps)).toBeGreaterThanOrEqual(1);
    await reconcileInDoubt(pier.deps, { graceSeconds: 0 });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });
    await confirmRunner().drain();

    // the buyer, still in the window, pays; the result post never reaches Pier
    await realTimePasses(60_000);
    expect((await r.actInWindow(w, { action: 'pay', ...cardFields(card()) })).fields.resultCd).toBe('3001');

    await realTimePasses(31 * 60_000);
    await confirmRunner().drain();
    await reconcileInDoubt(pier.deps, { graceSeconds: 0 });
    expect(await pierAndPg(w.impUid), 'an approval the PG holds, never recorded by Pier').toEqual({ pier: 'paid', lock: w.merchantUid, pg: 'paid', pgConfirmed: true });
    await resetByDemoKey();
  });

  it('a sandbox channel’s recheck still follows the sandbox clock: due once it is advanced past the window', async () => {
    const w = await sandboxRig.openWindow({});
    await sandboxRig.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' });
    await advanceByDemoKey('31m');
    await confirmRunner().drain();
    const rows = await pier.store.db.selectFrom('window_confirms').select(['pg_tid', 'state']).where('imp_uid', '=', w.impUid).execute();
    expect(rows).toEqual([{ pg_tid: '', state: 'done' }]);
    await resetByDemoKey();
  });
});
