/**
 * The buyer makes the window an escrow payment: tPay's `transType` (0 일반, 1 에스크로) is a field of the
 * form Pier hands the browser and is not signed (encryptData covers amt, mid and moid); NICE's
 * `useEscrow` is an SDK parameter the page hands `AUTHNICE.requestPay`. Pier's checkout never asks
 * for escrow (request_pay's `escrow` is not offered, nor V1's /escrows/logis to register the
 * delivery that releases an escrow payment), yet it recorded such an approval as the merchant's
 * plain payment. Both PGs report it (tPay trans_search `trans_type`, NICE `useEscrow`): refunded,
 * F1011 (decision 0086).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formOf, postForm, rspOf } from '../buyer-forms.js';
import { settleAttempt } from '../../src/core/payments/reconcile.js';
import { testCardNumber as niceCard } from '../../src/simulators/nicepay/index.js';
import { niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';
import { card, cardFields, postHttp, windowRig, uid } from './window-rig.js';

const r = windowRig();


/** request_pay, then the tPay form posted with `transType=1`. */
async function openAsEscrow(payMethod: 'card' | 'vbank' | 'trans') {
  const s = await r.createSession({ pay_method: payMethod, merchant_uid: uid('escrow'), amount: 30000 });
  const toPg = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', ...(payMethod === 'card' ? { card_code: '366' } : {}) });
  const pgForm = formOf(toPg.html, 'pg-form');
  expect(pgForm.fields.transType).toBe('0');
  const window = await postHttp(pgForm.action, { ...pgForm.fields, transType: '1' });
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
  return { sessionId: s.session_id as string, impUid: session.imp_uid!, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! };
}

describe("an escrow payment the checkout did not ask for (tPay's transType rewritten to 1)", () => {
  it('a card approval made escrow: refunded at the PG, the payment failed F1011, no paid webhook', async () => {
    const w = await openAsEscrow('card');
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    const rsp = rspOf((await r.postPier(result.action, result.fields)).html);
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_escrow: tx.transType, pg_status: tx.status }).toEqual({ pg_escrow: 1, pg_status: 'cancelled' });
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status, lock: p.merchant_uid_lock, escrow_refused: p.fail_reason?.includes('escrow') }).toEqual({
      success: false,
      error_code: 'F1011',
      status: 'failed',
      lock: null,
      escrow_refused: true,
    });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
  });

  it('found by reconciliation (the buyer closes instead of posting the result): refunded too', async () => {
    const w = await openAsEscrow('trans');
    const paid = await r.actInWindow(w, { action: 'pay', bankCode: '088' });
    expect(paid.fields.resultCd).toBe('4000');
    const rsp = rspOf((await r.postPier(`/checkout/${w.sessionId}/close`, {})).html);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_status: tx.status, status: (await r.payment(w.impUid)).status, error_code: rsp.error_code }).toEqual({ pg_status: 'cancelled', status: 'failed', error_code: 'F1011' });
  });

  it('an escrow virtual account is closed at the PG, never recorded as the order\'s', async () => {
    const w = await openAsEscrow('vbank');
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    const rsp = rspOf((await r.postPier(issued.action, issued.fields)).html);
    await settleAttempt(r.pier.deps, w.impUid, { giveUpIfUnknown: true });
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_status: tx.status, success: rsp.success, vbank_num: rsp.vbank_num }).toEqual({ pg_status: 'cancelled', success: false, vbank_num: undefined });
    expect({ status: p.status, vbank_num: p.vbank_num, fail: p.fail_reason?.slice(0, 7), lock: p.merchant_uid_lock }).toEqual({ status: 'failed', vbank_num: null, fail: '[F1011]', lock: null });
  });

  it('the simulator, as tPay, refuses escrow for a phone payment', async () => {
    const s = await r.createSession({ pay_method: 'phone', merchant_uid: uid('escrow_phone'), amount: 3000, digital: true });
    const pgForm = formOf((await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1' })).html, 'pg-form');
    const window = await postHttp(pgForm.action, { ...pgForm.fields, transType: '1' });
    expect({ status: window.status, refused: window.html.includes('에스크로에서 지원하지 않는 결제수단입니다') }).toEqual({ status: 400, refused: true });
  });
});

describe("the same on NICE's window (`useEscrow` added to the SDK's parameters)", () => {
  let n: NicePier;
  beforeAll(async () => {
    n = await startNicePier();
  });
  afterAll(async () => n?.close());

  it('NICE approves an escrow card payment: Pier refunds it after its approve (F1011)', async () => {
    const { handOver } = await openNiceWindow(n, { pay_method: 'card', merchant_uid: uid('nescrow'), name: '상품', amount: 12000 });
    expect(handOver.params.useEscrow).toBeUndefined();
    const { token } = await niceWindowPage(n, { ...handOver.params, useEscrow: true });
    const result = await submitNiceWindow(n, token, { cardNo: niceCard({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    const impUid = handOver.params.orderId as string;
    const p = await n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    const [pg] = ((await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(impUid)}`)).json()) as { payments: any[] }).payments;
    expect({ pg_escrow: pg.useEscrow, pg_status: pg.status }).toEqual({ pg_escrow: true, pg_status: 'cancelled' });
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status }).toEqual({ success: false, error_code: 'F1011', status: 'failed' });
  });

  it('the simulator, as NICE, refuses escrow for a phone payment (U331)', async () => {
    const { handOver } = await openNiceWindow(n, { pay_method: 'phone', merchant_uid: uid('nescrow_phone'), name: '상품', amount: 3000, digital: true });
    const page = await postForm(`${n.simUrl}/v1/pay`, Object.fromEntries(Object.entries({ ...handOver.params, useEscrow: true }).map(([k, v]) => [k, String(v)])));
    expect(page.html).toContain('U331');
  });
});
