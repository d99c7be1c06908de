/**
 * Issue #11 item 6 and the callback fields: every approved card, transfer and phone payment (API,
 * window, billing key) carries the PG's slip URL in receipt_url, each cancel its own; and the
 * SDK's rsp has V1's fields for an issued virtual account, a transfer and a buyer's cancel.
 * Pier listens on loopback and the buyer's browser is played by HTTP requests (the browser parts
 * are in test/e2e/receipts.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { receiptSignature } from '../../src/simulators/jtnet/receipts.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { formOf, postForm, rspOf } from '../buyer-forms.js';

let pier: TestPier;
let m: TestMerchant;
const ORIGIN = 'https://shop.example';
const keyOf = (mid: string) => TPAY_TEST_ACCOUNTS.find((a) => a.mid === mid)!.merchantKey;
/** The simulator's signed slip page of a tid, on the address Pier reaches it at (and the window opens at). */
const slipOf = (mid: string, tid: string) => `${pier.simulatorUrl}/receipt/${tid}?sig=${receiptSignature(keyOf(mid), tid)}`;
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
});
afterAll(() => pier?.close());
beforeEach(async () => {
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});





async function newSession(params: Record<string, unknown>) {
  const created = await request(`${pier.pierUrl}/checkout/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', name: '영수증 상품', buyer_name: '홍길동', buyer_tel: '010-1234-5678', ...params }, mode: 'overlay', origin: ORIGIN }),
  });
  const session = (await created.body.json()) as { session_id?: string };
  if (!session.session_id) throw new Error(`no session: ${JSON.stringify(session)}`);
  return session.session_id;
}

/** Opens the PG window of a session (Pier's start page → the simulator's webTxInit). */
async function openWindow(sessionId: string) {
  const toPg = await postForm(`${pier.pierUrl}/checkout/${sessionId}/start`, { agree: '1', card_code: '366' });
  expect(toPg.status, toPg.html).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postForm(pgForm.action, pgForm.fields);
  expect(window.status, window.html).toBe(200);
  return formOf(window.html, 'payForm');
}

/**
 * request_pay through Pier's checkout and the simulator's window, the buyer filling `buyer`;
 * `tamper` edits what the browser posts back to Pier. Returns the rsp the SDK would hand over.
 */
async function payInWindow(params: Record<string, unknown>, buyer: Record<string, string>, tamper: (f: Record<string, string>) => void = () => {}) {
  const sessionId = await newSession(params);
  const payForm = await openWindow(sessionId);
  const paid = await postForm(new URL(payForm.action, pier.simulatorUrl).toString(), { txToken: payForm.fields.txToken, action: 'pay', ...buyer });
  expect(paid.status, paid.html).toBe(200);
  const result = formOf(paid.html, 'tpayResult');
  tamper(result.fields);
  const back = await postForm(result.action, result.fields);
  expect(back.status, back.html).toBe(200);
  return rspOf(back.html);
}

const payment = async (impUid: string) => (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
const slip = async (url: string) => {
  const res = await fetch(url); // no cookie, no token: what a buyer's browser has
  return { status: res.status, html: await res.text() };
};

const CARD = { cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', buyerAuthNum: '900101', cardPwd: '12', cardQuota: '00' };

describe('receipt_url of window payments', () => {
  it('a card payment in the window has the PG slip in the rsp and the Payment, and the buyer can open it', async () => {
    const rsp = await payInWindow({ pay_method: 'card', merchant_uid: uid('rc_card'), amount: 14000 }, CARD);
    expect(rsp).toMatchObject({ success: true, status: 'paid', paid_amount: 14000 });
    const p = await payment(rsp.imp_uid);
    expect(p.receipt_url).toBe(slipOf('tpaytest0m', p.pg_tid));
    expect(rsp.receipt_url).toBe(p.receipt_url);
    const s = await slip(p.receipt_url);
    expect(s.status).toBe(200);
    expect(s.html).toContain(p.apply_num);
    expect(s.html).toContain('14,000원');
    expect(s.html).toContain('936600******4242');
    expect(s.html).not.toContain(CARD.cardNo);
  });

  it('a receipt URL the browser slips into the posted result is ignored: the slip comes from the PG inquiry', async () => {
    const rsp = await payInWindow({ pay_method: 'card', merchant_uid: uid('rc_forged'), amount: 5000 }, CARD, (f) => {
      f.receiptUrl = 'https://evil.example/slip';
      f.receipt_url = 'https://evil.example/slip';
    });
    const p = await payment(rsp.imp_uid);
    expect(p.receipt_url).toBe(slipOf('tpaytest0m', p.pg_tid));
    expect(JSON.stringify(rsp)).not.toContain('evil.example');
  });

  it('a bank transfer has a slip naming the bank; its rsp has bank_name and, as V1, no bank_code (the Payment has it)', async () => {
    const rsp = await payInWindow({ pay_method: 'trans', merchant_uid: uid('rc_trans'), amount: 15000 }, { bankCode: '088' });
    expect(rsp).toMatchObject({ success: true, pay_method: 'trans', status: 'paid', paid_amount: 15000, bank_name: '신한은행' });
    expect(rsp).not.toHaveProperty('bank_code');
    const p = await payment(rsp.imp_uid);
    expect(p).toMatchObject({ bank_code: '088', bank_name: '신한은행', receipt_url: slipOf('tpaytest0m', p.pg_tid) });
    expect(rsp.receipt_url).toBe(p.receipt_url);
    const s = await slip(p.receipt_url);
    expect(s.status).toBe(200);
    expect(s.html).toContain('계좌이체 영수증');
    expect(s.html).toContain('신한은행');
  });

  it('a phone payment has a slip with the carrier and the masked number only', async () => {
    const rsp = await payInWindow({ pay_method: 'phone', merchant_uid: uid('rc_phone'), amount: 5000, digital: true }, { carrier: 'SKT', phoneNo: '01012345678', otp: '123456' });
    expect(rsp).toMatchObject({ success: true, pay_method: 'phone', status: 'paid' });
    const p = await payment(rsp.imp_uid);
    expect(p.receipt_url).toBe(slipOf('tpaytest0m', p.pg_tid));
    const s = await slip(p.receipt_url);
    expect(s.status).toBe(200);
    expect(s.html).toContain('휴대폰 결제 영수증');
    expect(s.html).toContain('SKT');
    expect(s.html).not.toContain('01012345678');
  });

  it('the first charge of a billing key issued in the window has its slip', async () => {
    const rsp = await payInWindow({ pay_method: 'card', merchant_uid: uid('rc_billing'), amount: 19900, customer_uid: uid('rc_cust') }, CARD);
    expect(rsp).toMatchObject({ success: true, status: 'paid', paid_amount: 19900 });
    const p = await payment(rsp.imp_uid);
    expect(p.receipt_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/receipt\/\S+\?sig=[\w-]{22}$/);
    expect((await slip(p.receipt_url)).status).toBe(200);
  });
});

describe('receipt_url of API payments and their cancels', () => {
  it('a billing-key charge (again) has its slip; each partial cancel gets its own, listed in cancel_history and cancel_receipt_urls', async () => {
    const customerUid = uid('rc_again');
    const n = testCardNumber({ kftcCode: '366', lastFour: '4321' });
    const issued = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: n, expiry: '2030-12', birth: '820213', pwd_2digit: '00' } });
    expect(issued.body.code, JSON.stringify(issued.body)).toBe(0);
    const charged = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: customerUid, merchant_uid: uid('rc_again_pay'), amount: 10000, name: '정기결제' } });
    expect(charged.body.code, JSON.stringify(charged.body)).toBe(0);
    const p = charged.body.response;
    expect(p.status).toBe('paid');
    expect(p.receipt_url).toMatch(new RegExp(`^${pier.simulatorUrl}/receipt/${p.pg_tid}\\?sig=`));

    const c1 = (await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: p.imp_uid, amount: 3000, reason: '부분' } })).body.response;
    const c2 = (await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: p.imp_uid, reason: '나머지' } })).body.response;
    expect(c1.cancel_history).toHaveLength(1);
    expect(c2.status).toBe('cancelled');
    const urls = c2.cancel_history.map((h: { receipt_url: string }) => h.receipt_url);
    expect(new Set([p.receipt_url, ...urls]).size).toBe(3);
    expect(c2.cancel_receipt_urls).toEqual(urls);
    expect(c2.receipt_url).toBe(p.receipt_url);
    const partial = await slip(urls[0]);
    expect(partial.status).toBe(200);
    expect(partial.html).toContain('부분취소');
    expect(partial.html).toContain('-3,000원');
    const original = await slip(p.receipt_url);
    expect(original.html).toContain('전체취소');
    expect(original.html).toContain('7,000원');
  });
});

describe('the SDK callback fields', () => {
  it('an issued virtual account reports the amount to deposit in paid_amount (status ready), as V1', async () => {
    const rsp = await payInWindow({ pay_method: 'vbank', merchant_uid: uid('rc_vbank'), amount: 23000 }, { bankCode: '004' });
    expect(rsp).toMatchObject({ success: true, pay_method: 'vbank', status: 'ready', paid_amount: 23000, vbank_name: 'KB국민은행' });
    expect(rsp).not.toHaveProperty('receipt_url'); // nothing is paid yet, so there is no slip
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'ready', amount: 23000, receipt_url: null });
  });

  it('closing before the PG window opened answers V1\'s six fields and nothing else', async () => {
    const merchantUid = uid('rc_close_early');
    const sessionId = await newSession({ pay_method: 'card', merchant_uid: merchantUid, amount: 5000 });
    const res = await request(`${pier.pierUrl}/checkout/sessions/${sessionId}/close`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const { rsp } = (await res.body.json()) as { rsp: Record<string, unknown> };
    expect(rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid: merchantUid, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.' });
  });

  it('closing once the PG window is open answers the whole payment object (status failed), as V1 does for a cancel inside the window', async () => {
    const merchantUid = uid('rc_close_late');
    const sessionId = await newSession({ pay_method: 'card', merchant_uid: merchantUid, amount: 5000, buyer_email: 'buyer@example.com' });
    await openWindow(sessionId);
    const res = await request(`${pier.pierUrl}/checkout/sessions/${sessionId}/close`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const { rsp } = (await res.body.json()) as { rsp: Record<string, any> };
    expect(rsp).toMatchObject({
      success: false,
      imp_success: false,
      imp_uid: expect.stringMatching(/^imp_\d{12}$/),
      merchant_uid: merchantUid,
      error_code: 'F0005',
      error_msg: '사용자가 결제를 취소하였습니다.',
      pay_method: 'card',
      paid_amount: 0,
      status: 'failed',
      name: '영수증 상품',
      pg_provider: 'jtnet',
      pg_type: 'payment',
      currency: 'KRW',
      buyer_name: '홍길동',
      buyer_email: 'buyer@example.com',
      buyer_tel: '010-1234-5678',
      paid_at: 0,
    });
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'failed', merchant_uid: merchantUid });
  });
});
