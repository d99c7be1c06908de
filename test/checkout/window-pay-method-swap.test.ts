/**
 * The buyer rewrites `payMethod` in the form Pier hands the browser for tPay's window. tPay signs only
 * amt, mid and moid of that form (encryptData), so its window opens for the method the browser
 * posted: a merchant that asked for a virtual account (or a transfer) gets a card (or phone)
 * payment it never offered, with none of its card rules applied. The PG reports the method it was
 * paid with (trans_search `pay_method`); Pier records nothing on the browser's word, the method
 * included: such an approval is refunded, and the checkout fails with F1011 (decision 0085).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formOf, postForm, rspOf } from '../buyer-forms.js';
import { settleAttempt } from '../../src/core/payments/reconcile.js';
import { testCardNumber as niceCard } from '../../src/simulators/nicepay/index.js';
import { niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';
import { card, cardFields, ORIGIN, postHttp, uid, windowRig } from './window-rig.js';

const r = windowRig();

/** request_pay with `payMethod`, then the tPay form posted with the method the attacker wants. */
async function openSwapped(payMethod: 'vbank' | 'trans' | 'card', postedMethod: 'CARD' | 'CELLPHONE' | 'VBANK') {
  const merchantUid = uid('swap');
  const s = await r.createSession({ pay_method: payMethod, merchant_uid: merchantUid, amount: 30000 });
  const toPg = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', ...(payMethod === 'card' ? { card_code: '366' } : {}) });
  expect(toPg.status, toPg.html).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  expect(pgForm.fields.payMethod).toBe({ vbank: 'VBANK', trans: 'BANK', card: 'CARD' }[payMethod]);
  const window = await postHttp(pgForm.action, { ...pgForm.fields, payMethod: postedMethod });
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
  return { sessionId: s.session_id as string, impUid: session.imp_uid!, merchantUid, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! };
}

describe('a payment method the checkout did not ask for (payMethod rewritten in the tPay form)', () => {
  it('a virtual-account checkout paid by card: the PG approval is refunded, the payment failed F1011, no paid webhook', async () => {
    const w = await openSwapped('vbank', 'CARD');
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    const rsp = rspOf((await r.postPier(result.action, result.fields)).html);
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_method: tx.payMethod, pg_status: tx.status }).toEqual({ pg_method: 'CARD', pg_status: 'cancelled' });
    expect({ success: rsp.success, error_code: rsp.error_code }).toEqual({ success: false, error_code: 'F1011' });
    expect({ status: p.status, pay_method: p.pay_method, merchant_uid_lock: p.merchant_uid_lock }).toEqual({ status: 'failed', pay_method: 'vbank', merchant_uid_lock: null });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
  });

  it('a transfer checkout paid by phone: refunded the same way', async () => {
    const w = await openSwapped('trans', 'CELLPHONE');
    const phone = await r.actInWindow(w, { action: 'pay', carrier: 'SKT', phoneNo: '01012345678', otp: '123456' });
    expect(phone.fields.resultCd).toBe('A000');
    const rsp = rspOf((await r.postPier(phone.action, phone.fields)).html);
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_method: tx.payMethod, pg_status: tx.status }).toEqual({ pg_method: 'CELLPHONE', pg_status: 'cancelled' });
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status, pay_method: p.pay_method }).toEqual({ success: false, error_code: 'F1011', status: 'failed', pay_method: 'trans' });
  });

  it('the same approval found by reconciliation (the buyer never posts the result back) is refunded too', async () => {
    const w = await openSwapped('vbank', 'CARD');
    await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    // the buyer closes the checkout instead of letting the result post come back: Pier asks the PG
    const closed = await r.postPier(`/checkout/${w.sessionId}/close`, {});
    const rsp = rspOf(closed.html);
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_status: tx.status, status: p.status, error_code: rsp.error_code }).toEqual({ pg_status: 'cancelled', status: 'failed', error_code: 'F1011' });
  });

  it('a card checkout turned into a virtual account: the account is never recorded (nor shown as the order\'s); reconciliation closes it at the PG', async () => {
    const w = await openSwapped('card', 'VBANK');
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    const rsp = rspOf((await r.postPier(issued.action, issued.fields)).html);
    expect({ success: rsp.success, vbank_num: rsp.vbank_num }).toEqual({ success: false, vbank_num: undefined });
    // the post left the attempt in doubt; reconciliation asks the PG, which holds an account for it
    await settleAttempt(r.pier.deps, w.impUid, { giveUpIfUnknown: true });
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_method: tx.payMethod, pg_status: tx.status }).toEqual({ pg_method: 'VBANK', pg_status: 'cancelled' });
    expect({ status: p.status, vbank_num: p.vbank_num, merchant_uid_lock: p.merchant_uid_lock, fail: p.fail_reason?.slice(0, 7) }).toEqual({ status: 'failed', vbank_num: null, merchant_uid_lock: null, fail: '[F1011]' });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
  });

  it('a checkout paid with the method it asked for is recorded as before', async () => {
    const w = await r.openWindow({ pay_method: 'card', amount: 30000 });
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const rsp = rspOf((await r.postPier(result.action, result.fields)).html);
    expect({ success: rsp.success, status: (await r.payment(w.impUid)).status, origin: ORIGIN.length > 0 }).toEqual({ success: true, status: 'paid', origin: true });
  });
});

describe('a billing-key checkout turned into a plain card payment (CDBILLRG rewritten to CARD in the tPay form)', () => {
  async function openBillingAsCard() {
    const merchantUid = uid('bk');
    const customerUid = uid('cust');
    const s = await r.createSession({ pay_method: 'card', merchant_uid: merchantUid, customer_uid: customerUid, amount: 9900 });
    const toPg = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    const pgForm = formOf(toPg.html, 'pg-form');
    expect(pgForm.fields.payMethod).toBe('CDBILLRG');
    const window = await postHttp(pgForm.action, { ...pgForm.fields, payMethod: 'CARD' });
    const payForm = formOf(window.html, 'payForm');
    const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
    const w = { sessionId: s.session_id as string, impUid: session.imp_uid!, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! };
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    return { ...w, customerUid, result };
  }
  const keyOf = (customerUid: string) => r.pier.deps.store.db.selectFrom('billing_keys').select('customer_uid').where('customer_uid', '=', customerUid).executeTakeFirst();

  it('posted back: refunded at once (F1011), never "paid with customer_uid" while no key exists', async () => {
    const w = await openBillingAsCard();
    const rsp = rspOf((await r.postPier(w.result.action, w.result.fields)).html);
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_status: tx.status, success: rsp.success, error_code: rsp.error_code, status: p.status, lock: p.merchant_uid_lock }).toEqual({ pg_status: 'cancelled', success: false, error_code: 'F1011', status: 'failed', lock: null });
    expect({ key: await keyOf(w.customerUid), events: await r.eventsOf(w.impUid) }).toEqual({ key: undefined, events: [] });
  });

  it('the buyer closes instead of posting: the approval Pier finds at the PG is refunded too, not recorded paid', async () => {
    const w = await openBillingAsCard();
    const rsp = rspOf((await r.postPier(`/checkout/${w.sessionId}/close`, {})).html);
    await settleAttempt(r.pier.deps, w.impUid, { giveUpIfUnknown: true });
    const p = await r.payment(w.impUid);
    const [tx] = await r.ledgerTx(w.impUid);
    expect({ pg_status: tx.status, status: p.status, fail: p.fail_reason?.slice(0, 7), success: rsp.success }).toEqual({ pg_status: 'cancelled', status: 'failed', fail: '[F1011]', success: false });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
  });
});

describe('a deposit deadline the checkout did not ask for (vbankExpDate rewritten in the tPay form)', () => {
  async function issueWith(dueAsked: string | undefined, duePosted: string) {
    const s = await r.createSession({ pay_method: 'vbank', merchant_uid: uid('due'), amount: 30000, ...(dueAsked ? { vbank_due: dueAsked } : {}) });
    const toPg = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1' });
    const pgForm = formOf(toPg.html, 'pg-form');
    const window = await postHttp(pgForm.action, { ...pgForm.fields, vbankExpDate: duePosted });
    const payForm = formOf(window.html, 'payForm');
    const issued = await r.actInWindow({ submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    const rsp = rspOf((await r.postPier(issued.action, issued.fields)).html);
    const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
    return { rsp, impUid: session.imp_uid!, asked: pgForm.fields.vbankExpDate };
  }

  it('an account due in 2099 for a checkout that asked for tomorrow is closed at the PG, never recorded (F1012), its merchant_uid free', async () => {
    // the test clock is 2026-11-30 (KST): the merchant gives the buyer until 2026-12-01
    const { rsp, impUid, asked } = await issueWith('2026-12-01', '20991231');
    expect(asked).toBe('20261201');
    const p = await r.payment(impUid);
    const [tx] = await r.ledgerTx(impUid);
    expect({ pg_status: tx.status, success: rsp.success, error_code: rsp.error_code }).toEqual({ pg_status: 'cancelled', success: false, error_code: 'F1012' });
    expect({ status: p.status, vbank_num: p.vbank_num, vbank_date: Number(p.vbank_date), merchant_uid_lock: p.merchant_uid_lock }).toEqual({ status: 'failed', vbank_num: null, vbank_date: 0, merchant_uid_lock: null });
    expect(await r.eventsOf(impUid)).toEqual([]);
  });

  it('without vbank_due, an account beyond a week is closed too; the deadline the checkout asked for is recorded as before', async () => {
    const far = await issueWith(undefined, '20270630');
    expect({ status: (await r.payment(far.impUid)).status, error_code: far.rsp.error_code }).toEqual({ status: 'failed', error_code: 'F1012' });
    const asked = await issueWith('2026-12-03', '20261203');
    const p = await r.payment(asked.impUid);
    expect({ success: asked.rsp.success, status: p.status, vbank_date: Number(p.vbank_date) }).toEqual({ success: true, status: 'ready', vbank_date: Date.UTC(2026, 11, 3, 14, 59, 59) / 1000 });
  });
});

describe("the same on NICE's window (the SDK's `method` and deadline rewritten in the page)", () => {
  let n: NicePier;
  beforeAll(async () => {
    n = await startNicePier();
  });
  afterAll(async () => n?.close());
  const niceLedger = async (orderId: string) => (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(orderId)}`)).json()) as { payments: any[] };

  it('a virtual-account checkout paid by card: Pier approves what the buyer authenticated, then refunds it (F1011)', async () => {
    const { sessionId, handOver } = await openNiceWindow(n, { pay_method: 'vbank', merchant_uid: uid('nswap'), name: '상품', amount: 12000, buyer_name: '홍길동' });
    expect(handOver.params.method).toBe('vbank');
    const { token } = await niceWindowPage(n, { ...handOver.params, method: 'card' });
    const result = await submitNiceWindow(n, token, { cardNo: niceCard({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    const impUid = handOver.params.orderId as string;
    const p = await n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    const [pg] = (await niceLedger(impUid)).payments;
    expect({ pg_method: pg.payMethod, pg_status: pg.status }).toEqual({ pg_method: 'card', pg_status: 'cancelled' });
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status, pay_method: p.pay_method, session: sessionId.startsWith('cs_') }).toEqual({
      success: false,
      error_code: 'F1011',
      status: 'failed',
      pay_method: 'vbank',
      session: true,
    });
  });

  it('an account the buyer gave 9,999 hours (over a year) (vbankValidHours, which wins over vbankExpDate) is closed at NICE, never recorded (F1012)', async () => {
    const { handOver } = await openNiceWindow(n, { pay_method: 'vbank', merchant_uid: uid('ndue'), name: '상품', amount: 12000, buyer_name: '홍길동', vbank_due: '2026-12-02' });
    const { token } = await niceWindowPage(n, { ...handOver.params, vbankValidHours: 9999 });
    const result = await submitNiceWindow(n, token, { vbankCode: '004' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    const impUid = handOver.params.orderId as string;
    const p = await n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    const [pg] = (await niceLedger(impUid)).payments;
    expect({ pg_status: pg.status, success: rsp.success, error_code: rsp.error_code, status: p.status, vbank_num: p.vbank_num, lock: p.merchant_uid_lock }).toEqual({
      pg_status: 'cancelled',
      success: false,
      error_code: 'F1012',
      status: 'failed',
      vbank_num: null,
      lock: null,
    });
  });
});
