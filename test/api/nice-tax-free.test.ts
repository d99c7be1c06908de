/**
 * The tax-free part of a payment and of its refunds on NICE's wire (decision 0081). NICE splits
 * supply and VAT from `amount` and `taxFreeAmt` and takes no VAT of its own on a charge or a cancel
 * (nicepay.md §0.4); Pier sent no `taxFreeAmt` at all, so NICE booked every payment, and every
 * refund, as wholly taxable while Pier's books (decision 0055) split them. Pier and the NICEPAY
 * simulator over real HTTP; what NICE holds is read from the simulator's ledger.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postForm, rspOf } from '../buyer-forms.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { authenticateAtNice, openNiceWindow, startNicePier, type NicePier } from '../checkout/nice-harness.js';

const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '4242' }), expiry: '2030-12', birth: '900101' };
let pier: TestPier;
let m: TestMerchant & { nice: { clientId: string; secretKey: string } | null };
let seq = 0;
const uid = (p: string) => `tf_${p}_${++seq}`;

type NiceBooks = { payments: Array<{ tid: string; orderId: string; amount: number; balanceAmt: number; taxFreeAmt?: number; cancels: Array<{ orderId: string; amount: number; taxFreeAmt?: number }> }> };
const niceBooks = async (orderId: string) => (await (await fetch(`${pier.niceSimulatorUrl}/__ledger?clientId=${m.nice!.clientId}&orderId=${encodeURIComponent(orderId)}`)).json()) as NiceBooks;

/** a V1 call over real HTTP to the listening Pier */
async function v1(method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await request(`${pier.pierUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${m.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as any };
}

beforeAll(async () => {
  pier = await startTestPier({ pg: 'nice_v2', listen: true });
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('a NICE charge with tax_free', () => {
  it('sends it as taxFreeAmt on key-in (onetime) and on a billing key (again); none when there is none', async () => {
    const keyIn = await v1('POST', '/subscribe/payments/onetime', { merchant_uid: uid('onetime'), amount: 10000, tax_free: 6000, name: '면세 상품', ...card });
    expect(keyIn.body, JSON.stringify(keyIn.body)).toMatchObject({ code: 0, response: { status: 'paid', amount: 10000 } });
    expect((await niceBooks(keyIn.body.response.imp_uid)).payments.map((p) => [p.amount, p.taxFreeAmt])).toEqual([[10000, 6000]]);

    const key = await v1('POST', '/subscribe/customers/tf_cust', card);
    expect(key.body.code, JSON.stringify(key.body)).toBe(0);
    const again = await v1('POST', '/subscribe/payments/again', { customer_uid: 'tf_cust', merchant_uid: uid('again'), amount: 20000, tax_free: 20000, vat_amount: 0, name: '면세 정기' });
    expect(again.body, JSON.stringify(again.body)).toMatchObject({ code: 0, response: { status: 'paid' } });
    expect((await niceBooks(again.body.response.imp_uid)).payments.map((p) => [p.amount, p.taxFreeAmt])).toEqual([[20000, 20000]]);

    const taxable = await v1('POST', '/subscribe/payments/again', { customer_uid: 'tf_cust', merchant_uid: uid('taxable'), amount: 5000, name: '과세' });
    expect((await niceBooks(taxable.body.response.imp_uid)).payments.map((p) => [p.amount, p.taxFreeAmt])).toEqual([[5000, 0]]);
  });
});

describe('a NICE refund', () => {
  it('sends its tax-free part as taxFreeAmt: as given, and as Pier decided it when tax_free is omitted', async () => {
    const paid = await v1('POST', '/subscribe/payments/onetime', { merchant_uid: uid('refund'), amount: 10000, tax_free: 6000, name: '면세 상품', ...card });
    const impUid = paid.body.response.imp_uid as string;
    const given = await v1('POST', '/payments/cancel', { imp_uid: impUid, amount: 3000, tax_free: 2000, reason: '부분환불' });
    expect(given.body, JSON.stringify(given.body)).toMatchObject({ code: 0, response: { cancel_amount: 3000 } });
    // taxable left 3,000 (4,000 − 1,000): an omitted tax_free takes the taxable part first (decision 0055), so 4,000 = 3,000 + 1,000 tax-free
    const omitted = await v1('POST', '/payments/cancel', { imp_uid: impUid, amount: 4000, reason: '부분환불' });
    expect(omitted.body, JSON.stringify(omitted.body)).toMatchObject({ code: 0, response: { cancel_amount: 7000 } });
    const rest = await v1('POST', '/payments/cancel', { imp_uid: impUid, reason: '나머지' });
    expect(rest.body, JSON.stringify(rest.body)).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 10000 } });
    const [atNice] = (await niceBooks(impUid)).payments;
    expect(atNice!.cancels.map((c) => [c.amount, c.taxFreeAmt])).toEqual([
      [3000, 2000],
      [4000, 1000],
      [3000, 3000],
    ]);
    const recorded = await pier.store.db.selectFrom('payment_cancels').select(['amount', 'tax_free']).where('imp_uid', '=', impUid).where('state', '=', 'succeeded').orderBy('id').execute();
    expect(recorded.map((r) => [Number(r.amount), Number(r.tax_free)])).toEqual([
      [3000, 2000],
      [4000, 1000],
      [3000, 3000],
    ]);
  });

  it('of a payment NICE holds no tax-free part of (charged before Pier sent taxFreeAmt) is still made: refused U319, sent again all taxable', async () => {
    const paid = await v1('POST', '/subscribe/payments/onetime', { merchant_uid: uid('old'), amount: 10000, name: '예전 결제', ...card });
    const impUid = paid.body.response.imp_uid as string;
    // what an earlier Pier left: the tax-free part in its own books only
    await pier.store.db.updateTable('payments').set({ tax_free: 6000 }).where('imp_uid', '=', impUid).execute();
    const res = await v1('POST', '/payments/cancel', { imp_uid: impUid, amount: 3000, tax_free: 2000, reason: '부분환불' });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ code: 0, response: { status: 'paid', cancel_amount: 3000 } });
    const [atNice] = (await niceBooks(impUid)).payments;
    expect(atNice!.balanceAmt).toBe(7000);
    expect(atNice!.cancels.map((c) => [c.amount, c.taxFreeAmt])).toEqual([[3000, 0]]);
    expect(atNice!.cancels[0]!.orderId).toMatch(/-t$/);
  });
});

describe('a NICE window payment with tax_free', () => {
  let n: NicePier;
  beforeAll(async () => {
    n = await startNicePier();
  });
  afterAll(() => n?.close());

  it('opens the window with taxFreeAmt, and NICE books the approved payment with it', async () => {
    const o = { pay_method: 'card', merchant_uid: uid('window'), name: '면세 상품', amount: 12000, tax_free: 2000, buyer_name: '홍길동' };
    const { handOver } = await openNiceWindow(n, o);
    expect(handOver.params).toMatchObject({ amount: 12000, taxFreeAmt: 2000 });
    const { result } = await authenticateAtNice(n, { ...o, merchant_uid: uid('window') }, { cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: true, status: 'paid', paid_amount: 12000 });
    const books = (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(rsp.imp_uid)}`)).json()) as NiceBooks;
    expect(books.payments.map((p) => [p.amount, p.taxFreeAmt])).toEqual([[12000, 2000]]);
  });
});
