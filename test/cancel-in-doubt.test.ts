import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileInDoubtCancels } from '../src/core/payments/reconcile.js';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant } from './harness.js';

let pier: TestPier;
let m: TestMerchant;
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

async function fault(mode: 'http_500' | 'reset') {
  const res = await fetch(`${pier.simulatorUrl}/__control/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode, op: 'refunds' }),
  });
  expect(res.ok).toBe(true);
}

async function paid(merchantUid: string) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 10000, card_number: card, expiry: '2030-01' } });
  expect(res.body.response.status).toBe('paid');
  return res.body.response.imp_uid as string;
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('a refund whose PG answer is lost', () => {
  it('stays reserved while in doubt, and reconciliation records it when the PG did refund', async () => {
    const impUid = await paid('cid_1');
    await fault('reset'); // the simulator refunds, then drops the connection
    const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 4000 } });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe(1);
    // the reserved 4,000 cannot be refunded again meanwhile
    const over = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 7000 } });
    expect(over.body.message).toContain('6000');
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds: 60 })).toEqual({}); // not past the grace yet
    pier.clock.advance(61_000);
    const outcome = await reconcileInDoubtCancels(pier.deps, { graceSeconds: 60 });
    expect(Object.values(outcome)).toEqual(['succeeded']);
    const p = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(p).toMatchObject({ status: 'paid', cancel_amount: 4000 });
    expect(p.cancel_history.map((c: { amount: number }) => c.amount)).toEqual([4000]);
    const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid } });
    expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10000 });
  });

  it('releases the reserved amount when the PG has no such refund', async () => {
    const impUid = await paid('cid_2');
    await fault('http_500'); // the simulator answers 500 without refunding: in doubt for Pier
    const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3000 } });
    expect(res.status).toBe(502);
    pier.clock.advance(61_000);
    const outcome = await reconcileInDoubtCancels(pier.deps, { graceSeconds: 60 });
    expect(Object.values(outcome)).toEqual(['failed']);
    const row = await pier.store.db.selectFrom('payments').select(['cancel_amount', 'cancel_pending_amount', 'status']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(row).toEqual({ cancel_amount: 0, cancel_pending_amount: 0, status: 'paid' });
    const full = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid } });
    expect(full.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10000 });
  });
});
