import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, type TestPier, type TestMerchant, v1Call } from '../harness.js';

/**
 * A prepared amount registered under a merchant_uid an earlier Pier took (over 40 bytes of UTF-8,
 * a control character; decision 0068). The amount is there for the payment window, which compares
 * it with what the buyer pays (decision 0043), and the window refuses such a merchant_uid as it
 * refuses every new request with one (decisions 0054, 0062). `PUT /payments/prepare` changed the
 * amount anyway, answering success for an order that can never be paid with it; it now answers as
 * `POST /payments/prepare` and the window do (decision 0074). GET still reads what was stored.
 */
let pier: TestPier;
let m: TestMerchant;

/** 22 characters, 67 bytes: REST took it before decision 0062 */
const OLD_ORDER = '주문_' + '가'.repeat(20);
/** a tab and a C1 control: REST took them before decision 0054 */
const OLD_ORDER_CONTROLS = 'old\torder\u0085';
const ORIGIN = 'https://shop.example';

const call = (method: string, url: string, body?: unknown) => v1Call(pier, m.token, method, url, body);
const path = (id: string) => encodeURIComponent(id);
const storedAmount = async (merchantUid: string) =>
  Number((await pier.store.db.selectFrom('payment_prepares').select('amount').where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow()).amount);

/** request_pay as the SDK sends it to Pier's window */
async function requestPay(merchant_uid: string, amount: number) {
  const res = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '주문명', amount, buyer_tel: '010-1234-5678' }, mode: 'overlay', origin: ORIGIN }),
  });
  return JSON.parse(res.body);
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  for (const [now, old] of [['tmp_prepare', OLD_ORDER], ['tmp_prepare_controls', OLD_ORDER_CONTROLS]]) {
    const prepared = await call('POST', '/payments/prepare', { merchant_uid: now, amount: 4000 });
    expect(prepared.body.code, JSON.stringify(prepared.body)).toBe(0);
    await pier.store.db.updateTable('payment_prepares').set({ merchant_uid: old }).where('merchant_id', '=', m.merchantId).where('merchant_uid', '=', now).execute();
  }
});
afterAll(() => pier.close());

describe('a prepared amount under an old merchant_uid (decision 0074)', () => {
  it('is read by GET /payments/prepare/{merchant_uid}, and the window refuses the id', async () => {
    for (const id of [OLD_ORDER, OLD_ORDER_CONTROLS]) {
      const read = await call('GET', `/payments/prepare/${path(id)}`);
      expect(read.body, id).toEqual({ code: 0, message: null, response: { merchant_uid: id, amount: 4000, currency: null } });
      const pay = await requestPay(id, 4000);
      expect(pay.ok, id).toBe(false);
      expect(pay.rsp, id).toMatchObject({ success: false, imp_uid: null, error_code: 'F1000' });
    }
  });

  it('is not changed by PUT /payments/prepare, which answers as POST does for the id', async () => {
    for (const [id, detail] of [
      [OLD_ORDER, 'merchant_uid must be at most 40 bytes in UTF-8'],
      [OLD_ORDER_CONTROLS, 'merchant_uid has the wrong format'],
    ]) {
      for (const method of ['PUT', 'POST']) {
        const res = await call(method, '/payments/prepare', { merchant_uid: id, amount: 4500 });
        expect(res.status, `${method} ${id}`).toBe(400);
        expect(res.body, `${method} ${id}`).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: merchant_uid', response: null });
        expect(res.detail, `${method} ${id}`).toBe(detail);
      }
      expect(await storedAmount(id)).toBe(4000);
    }
  });

  it('still changes an amount under a merchant_uid the window takes (40 bytes)', async () => {
    const id = '가'.repeat(13) + 'a';
    expect((await call('POST', '/payments/prepare', { merchant_uid: id, amount: 4000 })).body.code).toBe(0);
    const res = await call('PUT', '/payments/prepare', { merchant_uid: id, amount: 4500 });
    expect(res.body).toEqual({ code: 0, message: null, response: { merchant_uid: id, amount: 4500, currency: null } });
    expect(await storedAmount(id)).toBe(4500);
    expect((await requestPay(id, 4500)).ok).toBe(true);
  });
});
