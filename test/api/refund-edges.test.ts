/**
 * POST /payments/cancel and GET /payments/{imp_uid}/balance at their edges, as a merchant's server
 * (or an attacker holding its token) would send them: which attempt a merchant_uid refunds, the
 * tax-free part of a refund, empty form values in money fields, and a balance whose refund history
 * adds up. Pier listens on a loopback port so the tPay simulator's window can post back to it.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { formOf, postForm, rspOf } from '../buyer-forms.js';
import { cancelPayment, mirrorPgRefund, REFUNDED_AT_PG } from '../../src/core/payments/cancel.js';

let pier: TestPier;
let m: TestMerchant;
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '1357' }), expiry: '2030-12', birth: '820213' };
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

async function paid(merchantUid: string, amount: number, extra: Record<string, unknown> = {}) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount, name: 'refund edges', ...card, ...extra } });
  expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
  return res.body.response as { imp_uid: string; merchant_uid: string; pg_tid: string; amount: number; started_at: number };
}
const cancel = (body: Record<string, unknown>) => pier.call('POST', '/payments/cancel', { token: m.token, body });
const cancelForm = (form: string) => pier.call('POST', '/payments/cancel', { token: m.token, form });
const stored = async (impUid: string) => (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
const pgCancelled = async (tid: string) => {
  const l = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ tid: string; cancelledAmount: number }> };
  return l.approvals.find((t) => t.tid === tid)?.cancelledAmount;
};

/** request_pay with pay_method vbank through Pier's checkout and the simulator's window (as vbank-lifecycle.test.ts). */
async function issueVbank(merchantUid: string, amount: number) {
  const created = await request(`${pier.pierUrl}/checkout/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'vbank', merchant_uid: merchantUid, amount, name: '가상계좌', buyer_name: '홍길동', buyer_tel: '010-1234-5678' }, mode: 'overlay', origin: 'https://shop.example' }),
  });
  const session = (await created.body.json()) as { session_id?: string };
  if (!session.session_id) throw new Error(`no session: ${JSON.stringify(session)}`);
  const toPg = await postForm(`${pier.pierUrl}/checkout/${session.session_id}/start`, { agree: '1' });
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postForm(pgForm.action, pgForm.fields);
  const payForm = formOf(window.html, 'payForm');
  const issued = await postForm(new URL(payForm.action, pier.simulatorUrl).toString(), { txToken: payForm.fields.txToken, action: 'pay', bankCode: '004' });
  const result = formOf(issued.html, 'tpayResult');
  const back = await postForm(result.action, result.fields);
  return rspOf(back.html) as { imp_uid: string; status: string };
}

describe('cancel by merchant_uid', () => {
  it('refunds the paid attempt, not a revoked virtual account of the same merchant_uid started in the same second', async () => {
    for (let i = 0; i < 3; i++) {
      const merchantUid = uid('muid_tie');
      const vbank = await issueVbank(merchantUid, 5000);
      expect(vbank.status).toBe('ready');
      const revoked = await pier.call('DELETE', `/vbanks/${vbank.imp_uid}`, { token: m.token });
      expect(revoked.body.response?.status, JSON.stringify(revoked.body)).toBe('cancelled');
      // the clock has not moved: the card payment starts in the same second as the account
      const p = await paid(merchantUid, 5000);
      expect(p.started_at).toBe((await stored(vbank.imp_uid)).started_at);
      const res = await cancel({ merchant_uid: merchantUid, amount: 1000, reason: '부분환불' });
      expect(res.body, JSON.stringify(res.body)).toMatchObject({ code: 0, response: { imp_uid: p.imp_uid, status: 'paid', cancel_amount: 1000 } });
      expect(await pgCancelled(p.pg_tid)).toBe(1000);
    }
  });
});

describe('a refund of a virtual account not yet paid', () => {
  it('is a business refusal (HTTP 200, code 1) that points to DELETE /vbanks, with nothing reserved or sent; the account can still be revoked', async () => {
    const merchantUid = uid('vbank_ready');
    const vbank = await issueVbank(merchantUid, 5000);
    expect(vbank.status).toBe('ready');
    const res = await pier.app.inject({
      method: 'POST',
      url: '/payments/cancel',
      headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ imp_uid: vbank.imp_uid, reason: '주문취소', refund_holder: '홍길동', refund_bank: '004', refund_account: '12345678901' }),
    });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ code: 1, message: '결제완료 상태가 아닌 거래는 취소할 수 없습니다. (ready)', response: null });
    expect(res.headers['x-pier-detail']).toContain('DELETE /vbanks/{imp_uid}');
    // by merchant_uid only paid (or refunded) attempts are refund candidates
    const byUid = await cancel({ merchant_uid: merchantUid });
    expect(byUid.body).toEqual({ code: 1, message: '취소할 결제건이 존재하지 않습니다.', response: null });
    expect(await stored(vbank.imp_uid)).toMatchObject({ status: 'ready', cancel_amount: 0, cancel_history: [] });
    const refunds = await pier.store.db.selectFrom('payment_cancels').select('cancellation_id').where('imp_uid', '=', vbank.imp_uid).execute();
    expect(refunds).toEqual([]);
    const revoked = await pier.call('DELETE', `/vbanks/${vbank.imp_uid}`, { token: m.token });
    expect(revoked.body.response?.status, JSON.stringify(revoked.body)).toBe('cancelled');
  });
});

describe('tax_free of a refund', () => {
  it('is refused beyond the tax-free part not yet refunded, with nothing refunded', async () => {
    const p = await paid(uid('tf'), 10000, { tax_free: 2000 });
    const first = await cancel({ imp_uid: p.imp_uid, amount: 3000, tax_free: 1500 });
    expect(first.body, JSON.stringify(first.body)).toMatchObject({ code: 0, response: { cancel_amount: 3000 } });
    const over = await cancel({ imp_uid: p.imp_uid, amount: 1000, tax_free: 1000 });
    expect(over.status).toBe(200);
    expect(over.body).toMatchObject({ code: 1, response: null });
    expect(over.body.message).toContain('500');
    expect((await stored(p.imp_uid)).cancel_amount).toBe(3000);
    expect(await pgCancelled(p.pg_tid)).toBe(3000);
    const rest = await cancel({ imp_uid: p.imp_uid, amount: 1000, tax_free: 500 });
    expect(rest.body).toMatchObject({ code: 0, response: { cancel_amount: 4000 } });
  });

  it('lets only one of two concurrent refunds take the same tax-free part', async () => {
    const p = await paid(uid('tf_race'), 10000, { tax_free: 2000 });
    const results = await Promise.all([cancel({ imp_uid: p.imp_uid, amount: 2000, tax_free: 1500 }), cancel({ imp_uid: p.imp_uid, amount: 2000, tax_free: 1500 })]);
    expect(results.map((r) => r.body.code).sort()).toEqual([0, 1]);
    expect((await stored(p.imp_uid)).cancel_amount).toBe(2000);
    expect(await pgCancelled(p.pg_tid)).toBe(2000);
  });

  it('is refused on a payment without a tax-free part', async () => {
    const p = await paid(uid('tf_none'), 5000);
    const res = await cancel({ imp_uid: p.imp_uid, amount: 1000, tax_free: 1000 });
    expect(res.body).toMatchObject({ code: 1, response: null });
    expect(await pgCancelled(p.pg_tid)).toBe(0);
    expect((await stored(p.imp_uid)).cancel_amount).toBe(0);
  });
});

describe('the taxable part of a refund (amount − tax_free)', () => {
  it('is refused beyond the taxable part not yet refunded, with nothing refunded; the parts that fit are refunded', async () => {
    // 10,000 of which 8,000 tax-free: 2,000 taxable
    const p = await paid(uid('taxable'), 10000, { tax_free: 8000 });
    const over = await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 0 });
    expect(over.status).toBe(200);
    expect(over.body).toMatchObject({ code: 1, response: null });
    expect(over.body.message).toBe('과세 취소 요청 금액(5000)이 과세 취소 가능 잔액(2000)보다 큽니다.');
    expect((await stored(p.imp_uid)).cancel_amount).toBe(0);
    expect(await pgCancelled(p.pg_tid)).toBe(0);

    const fits = await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 3000 });
    expect(fits.body, JSON.stringify(fits.body)).toMatchObject({ code: 0, response: { cancel_amount: 5000 } });
    // the taxable part is used up: one more won of it is refused
    const more = await cancel({ imp_uid: p.imp_uid, amount: 1000, tax_free: 999 });
    expect(more.body).toMatchObject({ code: 1, response: null });
    expect(more.body.message).toBe('과세 취소 요청 금액(1)이 과세 취소 가능 잔액(0)보다 큽니다.');
    // the rest, tax_free omitted: the whole tax-free balance (5,000), nothing taxable
    const rest = await cancel({ imp_uid: p.imp_uid });
    expect(rest.body, JSON.stringify(rest.body)).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 10000 } });
    expect(await pgCancelled(p.pg_tid)).toBe(10000);
  });

  it('takes, when tax_free is omitted, the taxable part first and only the rest from the tax-free part', async () => {
    const p = await paid(uid('taxable_omitted'), 10000, { tax_free: 8000 });
    // 3,000 with tax_free omitted: 2,000 taxable (all of it) + 1,000 tax-free
    const first = await cancel({ imp_uid: p.imp_uid, amount: 3000 });
    expect(first.body, JSON.stringify(first.body)).toMatchObject({ code: 0, response: { cancel_amount: 3000 } });
    const taxable = await cancel({ imp_uid: p.imp_uid, amount: 1000, tax_free: 0 });
    expect(taxable.body.message).toBe('과세 취소 요청 금액(1000)이 과세 취소 가능 잔액(0)보다 큽니다.');
    const taxFree = await cancel({ imp_uid: p.imp_uid, amount: 7000, tax_free: 7000 });
    expect(taxFree.body, JSON.stringify(taxFree.body)).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 10000 } });
  });

  it('refuses a vat_amount larger than the refund\'s taxable part (400, nothing refunded); one within it is accepted', async () => {
    const p = await paid(uid('refund_vat'), 10000, { tax_free: 8000 });
    for (const body of [{ amount: 1000, vat_amount: 1001 }, { amount: 3000, tax_free: 2500, vat_amount: 501 }, { vat_amount: 100_000_000_000 }]) {
      const res = await cancel({ imp_uid: p.imp_uid, ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ code: 1, message: 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.', response: null });
    }
    expect(await pgCancelled(p.pg_tid)).toBe(0);
    const fits = await cancel({ imp_uid: p.imp_uid, amount: 3000, tax_free: 2500, vat_amount: 45 });
    expect(fits.body, JSON.stringify(fits.body)).toMatchObject({ code: 0, response: { cancel_amount: 3000 } });
  });

  it('checks a vat_amount given without tax_free against the taxable part the refund actually takes, not against its amount', async () => {
    // 10,000 of which 8,000 tax-free: a refund of 5,000 with tax_free omitted takes 2,000 taxable + 3,000 tax-free
    const p = await paid(uid('refund_vat_omitted'), 10000, { tax_free: 8000 });
    for (const body of [{ amount: 5000, vat_amount: 2001 }, { vat_amount: 2500 }]) {
      const res = await cancel({ imp_uid: p.imp_uid, ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ code: 1, message: 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.', response: null });
    }
    expect(await pgCancelled(p.pg_tid)).toBe(0);
    expect(await stored(p.imp_uid)).toMatchObject({ status: 'paid', cancel_amount: 0, cancel_history: [] });
    const refunds = await pier.store.db.selectFrom('payment_cancels').select('state').where('imp_uid', '=', p.imp_uid).execute();
    expect(refunds).toEqual([]);
    // within the taxable part it takes (2,000), and all the VAT left of it (1/11 of 2,000: 182, decision 0066)
    const fits = await cancel({ imp_uid: p.imp_uid, amount: 5000, vat_amount: 182 });
    expect(fits.body, JSON.stringify(fits.body)).toMatchObject({ code: 0, response: { cancel_amount: 5000 } });
    expect(await pgCancelled(p.pg_tid)).toBe(5000);
  });

  it('lets only one of two concurrent refunds take the same taxable part', async () => {
    const p = await paid(uid('taxable_race'), 10000, { tax_free: 8000 });
    const results = await Promise.all([cancel({ imp_uid: p.imp_uid, amount: 1500, tax_free: 0 }), cancel({ imp_uid: p.imp_uid, amount: 1500, tax_free: 0 })]);
    expect(results.map((r) => r.body.code).sort()).toEqual([0, 1]);
    expect((await stored(p.imp_uid)).cancel_amount).toBe(1500);
    expect(await pgCancelled(p.pg_tid)).toBe(1500);
  });
});

describe('empty form values in money fields', () => {
  it('refuses `amount=` (form) and `"amount": ""` (JSON) naming amount, instead of refunding everything', async () => {
    for (const send of [(imp: string) => cancelForm(`imp_uid=${imp}&amount=&reason=partial`), (imp: string) => cancel({ imp_uid: imp, amount: '', reason: 'partial' })]) {
      const p = await paid(uid('empty_amount'), 8000);
      const res = await send(p.imp_uid);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: amount', response: null });
      expect((await stored(p.imp_uid))).toMatchObject({ status: 'paid', cancel_amount: 0 });
      expect(await pgCancelled(p.pg_tid)).toBe(0);
    }
  });

  it('refuses `checksum=` rather than skipping the balance check', async () => {
    const p = await paid(uid('empty_checksum'), 8000);
    const res = await cancelForm(`imp_uid=${p.imp_uid}&amount=1000&checksum=`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: checksum', response: null });
    expect(await pgCancelled(p.pg_tid)).toBe(0);
  });

  it('still reads an omitted amount, 0 and JSON null as the whole balance', async () => {
    for (const body of [{}, { amount: 0 }, { amount: null }]) {
      const p = await paid(uid('full'), 3000);
      const res = await cancel({ imp_uid: p.imp_uid, ...body });
      expect(res.body.response, JSON.stringify(body)).toMatchObject({ status: 'cancelled', cancel_amount: 3000 });
    }
    const p = await paid(uid('full_form'), 3000);
    expect((await cancelForm(`imp_uid=${p.imp_uid}&amount=0`)).body.response).toMatchObject({ status: 'cancelled', cancel_amount: 3000 });
  });
});

describe('GET /payments/{imp_uid}/balance after partial refunds', () => {
  it('has histories that add up to the balance, block by block', async () => {
    const p = await paid(uid('balance'), 10000);
    for (const amount of [5, 5, 5]) expect((await cancel({ imp_uid: p.imp_uid, amount })).body.code).toBe(0);
    const res = await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token });
    expect(res.body.code).toBe(0);
    const b = res.body.response;
    expect(b.amount).toBe(10000);
    const sum = (k: 'tax_free' | 'supply' | 'vat') => b.histories.reduce((s: number, h: { primary: Record<string, number> }) => s + h.primary[k], 0);
    expect(b.primary.supply + b.primary.vat + b.primary.tax_free).toBe(10000 - 15);
    expect({ tax_free: sum('tax_free'), supply: sum('supply'), vat: sum('vat') }).toEqual({ tax_free: b.primary.tax_free, supply: b.primary.supply, vat: b.primary.vat });
    // each history is what its refund took: its parts add up to its amount
    expect(b.histories.slice(1).map((h: { primary: Record<string, number> }) => -(h.primary.supply + h.primary.vat + h.primary.tax_free))).toEqual([5, 5, 5]);
  });
});

describe('GET /payments/{imp_uid}/balance of a payment with a tax-free part', () => {
  it('splits out the tax-free part (no VAT on it), and each refund takes what it took of each part', async () => {
    const zero = { tax_free: 0, supply: 0, vat: 0, service: 0 };
    // 10,000 of which 8,000 tax-free: taxable 2,000 = supply 1,818 + VAT 182
    const p = await paid(uid('balance_tf'), 10000, { tax_free: 8000 });
    expect((await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 3000 })).body.code).toBe(0);
    const res = await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token });
    expect(res.body.code).toBe(0);
    const b = res.body.response;
    expect(b.primary).toEqual({ tax_free: 5000, supply: 0, vat: 0, service: 0 });
    expect(b.histories.map((h: { primary: unknown }) => h.primary)).toEqual([
      { tax_free: 8000, supply: 1818, vat: 182, service: 0 },
      { tax_free: -3000, supply: -1818, vat: -182, service: 0 },
    ]);
    expect(b).toMatchObject({ amount: 10000, cash_receipt: zero, secondary: zero, discount: zero });
    // the rest (tax_free omitted: the whole tax-free balance) leaves nothing
    expect((await cancel({ imp_uid: p.imp_uid })).body.code).toBe(0);
    const after = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(after.primary).toEqual(zero);
    expect(after.histories[2].primary).toEqual({ tax_free: -5000, supply: 0, vat: 0, service: 0 });
  });
});

describe('GET /payments/{imp_uid}/balance of a payment with a stated vat_amount', () => {
  it('shows the payment\'s vat_amount, not 1/11 of the taxable part, and refunds take it in proportion to the taxable part they take', async () => {
    // 11,000 of which 1,000 tax-free, VAT stated as 500 (1/11 would be 909)
    const p = await paid(uid('balance_vat'), 11000, { tax_free: 1000, vat_amount: 500 });
    const first = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(first.primary).toEqual({ tax_free: 1000, supply: 9500, vat: 500, service: 0 });
    expect(first.histories.map((h: { primary: unknown }) => h.primary)).toEqual([{ tax_free: 1000, supply: 9500, vat: 500, service: 0 }]);
    // half the taxable part refunded: half the VAT
    expect((await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 0 })).body.code).toBe(0);
    const half = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(half.primary).toEqual({ tax_free: 1000, supply: 4750, vat: 250, service: 0 });
    expect(half.histories[1].primary).toEqual({ tax_free: 0, supply: -4750, vat: -250, service: 0 });
    // the rest leaves nothing, and the histories add up to it
    expect((await cancel({ imp_uid: p.imp_uid })).body.code).toBe(0);
    const none = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(none.primary).toEqual({ tax_free: 0, supply: 0, vat: 0, service: 0 });
    expect(none.histories[2].primary).toEqual({ tax_free: -1000, supply: -4750, vat: -250, service: 0 });
  });

  it('shows VAT 0 for a zero-rated payment (vat_amount 0), where 1/11 showed 909', async () => {
    const p = await paid(uid('balance_zero_rated'), 10000, { vat_amount: 0 });
    const b = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(b.primary).toEqual({ tax_free: 0, supply: 10000, vat: 0, service: 0 });
    expect((await cancel({ imp_uid: p.imp_uid, amount: 3000 })).body.code).toBe(0);
    const after = (await pier.call('GET', `/payments/${p.imp_uid}/balance`, { token: m.token })).body.response;
    expect(after.primary).toEqual({ tax_free: 0, supply: 7000, vat: 0, service: 0 });
    expect(after.histories[1].primary).toEqual({ tax_free: 0, supply: -3000, vat: 0, service: 0 });
  });
});

describe('a refund\'s stated vat_amount (decision 0066)', () => {
  const balanceOf = async (impUid: string) => (await pier.call('GET', `/payments/${impUid}/balance`, { token: m.token })).body.response;
  type Hist = { primary: Record<string, number> };
  const addsUp = (b: { primary: Record<string, number>; histories: Hist[] }) => {
    const sum = (k: string) => b.histories.reduce((n, h) => n + h.primary[k], 0);
    expect({ tax_free: sum('tax_free'), supply: sum('supply'), vat: sum('vat') }).toEqual({ tax_free: b.primary.tax_free, supply: b.primary.supply, vat: b.primary.vat });
  };

  it('is what the balance and its history take of the VAT; later refunds without one take the VAT left in proportion', async () => {
    // 11,000 of which 1,000 tax-free, VAT 500: a refund of 5,000 taxable stating VAT 100 (proportionally 250)
    const p = await paid(uid('refund_vat_stated'), 11000, { tax_free: 1000, vat_amount: 500 });
    expect((await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 0, vat_amount: 100 })).body.code).toBe(0);
    const first = await balanceOf(p.imp_uid);
    expect(first.primary).toEqual({ tax_free: 1000, supply: 4600, vat: 400, service: 0 });
    expect(first.histories[1].primary).toEqual({ tax_free: 0, supply: -4900, vat: -100, service: 0 });
    addsUp(first);
    // 2,000 more without VAT: 2/5 of the 400 left at 5,000 taxable
    expect((await cancel({ imp_uid: p.imp_uid, amount: 2000, tax_free: 0 })).body.code).toBe(0);
    const second = await balanceOf(p.imp_uid);
    expect(second.primary).toEqual({ tax_free: 1000, supply: 2760, vat: 240, service: 0 });
    expect(second.histories[2].primary).toEqual({ tax_free: 0, supply: -1840, vat: -160, service: 0 });
    addsUp(second);
    const rows = await pier.store.db.selectFrom('payment_cancels').select(['amount', 'vat_amount']).where('imp_uid', '=', p.imp_uid).orderBy('id').execute();
    expect(rows.map((r) => [Number(r.amount), r.vat_amount === null ? null : Number(r.vat_amount)])).toEqual([[5000, 100], [2000, null]]);
  });

  it('is taken as stated on a payment that stated no VAT (1/11 of its taxable part)', async () => {
    const p = await paid(uid('refund_vat_no_payment_vat'), 10000);
    expect((await cancel({ imp_uid: p.imp_uid, amount: 5000, vat_amount: 500 })).body.code).toBe(0);
    const b = await balanceOf(p.imp_uid);
    expect(b.histories.map((h: Hist) => h.primary)).toEqual([
      { tax_free: 0, supply: 9091, vat: 909, service: 0 },
      { tax_free: 0, supply: -4500, vat: -500, service: 0 },
    ]);
    expect(b.primary).toEqual({ tax_free: 0, supply: 4591, vat: 409, service: 0 });
  });

  it('is refused (code 1, nothing refunded) beyond the VAT left, or when it leaves the refund more supply than is left', async () => {
    const p = await paid(uid('refund_vat_over'), 11000, { tax_free: 1000, vat_amount: 500 });
    const over = await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 0, vat_amount: 501 });
    expect(over.status).toBe(200);
    expect(over.body).toEqual({ code: 1, message: '부가세 취소 요청 금액(501)이 부가세 취소 가능 잔액(500)보다 큽니다.', response: null });
    // all 10,000 taxable with VAT 400: 100 of VAT would stay on nothing taxable
    const under = await cancel({ imp_uid: p.imp_uid, amount: 10000, tax_free: 0, vat_amount: 400 });
    expect(under.body).toEqual({ code: 1, message: '과세 공급가액 취소 요청 금액(9600)이 과세 공급가액 취소 가능 잔액(9500)보다 큽니다.', response: null });
    expect(await pgCancelled(p.pg_tid)).toBe(0);
    expect(await stored(p.imp_uid)).toMatchObject({ status: 'paid', cancel_amount: 0, cancel_history: [] });
    // after 300 of it stated, 200 is left
    expect((await cancel({ imp_uid: p.imp_uid, amount: 3000, tax_free: 0, vat_amount: 300 })).body.code).toBe(0);
    const more = await cancel({ imp_uid: p.imp_uid, amount: 3000, tax_free: 0, vat_amount: 201 });
    expect(more.body.message).toBe('부가세 취소 요청 금액(201)이 부가세 취소 가능 잔액(200)보다 큽니다.');
    // the whole rest stating exactly what is left empties the balance
    expect((await cancel({ imp_uid: p.imp_uid, tax_free: 1000, vat_amount: 200 })).body).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 11000 } });
    const b = await balanceOf(p.imp_uid);
    expect(b.primary).toEqual({ tax_free: 0, supply: 0, vat: 0, service: 0 });
    expect(b.histories[2].primary).toEqual({ tax_free: -1000, supply: -6800, vat: -200, service: 0 });
    addsUp(b);
  });

  it('on a payment that stated no VAT (Pier counts 1/11) is never refused for that figure: vat_amount 0 on a full refund goes through', async () => {
    const p = await paid(uid('refund_vat_unstated'), 11000);
    const r = await cancel({ imp_uid: p.imp_uid, amount: 11000, vat_amount: 0 });
    expect(r.body).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 11000 } });
    const b = await balanceOf(p.imp_uid);
    expect(b.primary).toEqual({ tax_free: 0, supply: 0, vat: 0, service: 0 });
    addsUp(b);
  });

  it('lets only one of two concurrent refunds take the same VAT', async () => {
    const p = await paid(uid('refund_vat_race'), 11000, { tax_free: 1000, vat_amount: 500 });
    const results = await Promise.all([1, 2].map(() => cancel({ imp_uid: p.imp_uid, amount: 3000, tax_free: 0, vat_amount: 300 })));
    expect(results.map((r) => r.body.code).sort()).toEqual([0, 1]);
    expect((await stored(p.imp_uid)).cancel_amount).toBe(3000);
    expect(await pgCancelled(p.pg_tid)).toBe(3000);
  });

  it('is followed correctly by refunds that state none: a console refund, then a refund the PG made', async () => {
    const p = await paid(uid('refund_vat_other_paths'), 11000, { tax_free: 1000, vat_amount: 500 });
    expect((await cancel({ imp_uid: p.imp_uid, amount: 5000, tax_free: 0, vat_amount: 100 })).body.code).toBe(0);
    // as the console's refund form calls it: no tax_free, no vat_amount
    await cancelPayment(pier.deps, { merchantId: m.merchantId, impUid: p.imp_uid, amount: 2500, reason: 'console', enableWebhook: true, by: 'console' });
    const afterConsole = await balanceOf(p.imp_uid);
    // 2,500 taxable of the 5,000 left: half of the 400 left
    expect(afterConsole.histories[2].primary).toEqual({ tax_free: 0, supply: -2300, vat: -200, service: 0 });
    // the PG refunded the rest itself (net-cancel, its console): mirrored without VAT
    expect(await mirrorPgRefund(pier.deps, p.imp_uid, 11000, REFUNDED_AT_PG)).toBe(true);
    const b = await balanceOf(p.imp_uid);
    expect(b.primary).toEqual({ tax_free: 0, supply: 0, vat: 0, service: 0 });
    expect(b.histories[3].primary).toEqual({ tax_free: -1000, supply: -2300, vat: -200, service: 0 });
    addsUp(b);
    const rows = await pier.store.db.selectFrom('payment_cancels').select(['vat_amount']).where('imp_uid', '=', p.imp_uid).orderBy('id').execute();
    expect(rows.map((r) => (r.vat_amount === null ? null : Number(r.vat_amount)))).toEqual([100, null, null]);
  });
});
