/**
 * REST input at V1's edges, over real HTTP to a listening Pier (decision 0081): long form lists,
 * empty entries and empty lists on unschedule, the parts of a charge's amount, and empty optional
 * text read back. What a refused request left is checked in Pier's rows and at the PG.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '1357' }), expiry: '2030-12', birth: '820213' };
let seq = 0;
const uid = (p: string) => `we_${p}_${++seq}`;

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

async function http(method: 'GET' | 'POST', path: string, o: { json?: unknown; form?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${m.token}` };
  let body: string | undefined;
  if (o.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(o.json)];
  if (o.form !== undefined) [headers['content-type'], body] = ['application/x-www-form-urlencoded', o.form];
  const res = await request(`${pier.pierUrl}${path}`, { method, headers, body });
  const detail = res.headers['x-pier-detail'];
  return { status: res.statusCode, body: (await res.body.json()) as any, detail: typeof detail === 'string' ? detail : undefined };
}

function expectRefused(res: { status: number; body: unknown; detail?: string }, field: string, detail: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: ${field}`, response: null });
  expect(res.detail).toBe(detail);
}

async function scheduled(customerUid: string, merchantUids: string[]) {
  expect((await http('POST', `/subscribe/customers/${customerUid}`, { json: card })).body.code).toBe(0);
  const at = Math.floor(pier.clock.now() / 1000) + 86_400;
  const res = await http('POST', '/subscribe/payments/schedule', {
    json: { customer_uid: customerUid, schedules: merchantUids.map((merchant_uid, i) => ({ merchant_uid, schedule_at: at + i, amount: 1000, name: 'plan' })) },
  });
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
}
const states = async (customerUid: string) =>
  Object.fromEntries(
    (await pier.store.db.selectFrom('payment_schedules').select(['merchant_uid', 'state']).where('customer_uid', '=', customerUid).execute()).map((r) => [r.merchant_uid, r.state]),
  );
const formList = (name: string, ids: string[]) => ids.map((id) => `${encodeURIComponent(name)}=${encodeURIComponent(id)}`).join('&');

describe('a form list over 1,000 entries', () => {
  it('is refused naming the field and its limit, not as "no string or array"; nothing revoked', async () => {
    await scheduled('we_long', ['we_long_a']);
    const ids = ['we_long_a', ...Array.from({ length: 1000 }, (_, i) => `none_${i}`)];
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: `customer_uid=we_long&${formList('merchant_uid[]', ids)}` }), 'merchant_uid', 'merchant_uid must NOT have more than 1000 items');
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: `customer_uid=we_long&${formList('merchant_uid', ids)}` }), 'merchant_uid', 'merchant_uid must NOT have more than 1000 items');
    expect(await states('we_long')).toEqual({ we_long_a: 'scheduled' });
    // 1,000 is within the limit: the one scheduled among them is revoked
    const within = await http('POST', '/subscribe/payments/unschedule', { form: `customer_uid=we_long&${formList('merchant_uid[]', ids.slice(0, 1000))}` });
    expect(within.body, JSON.stringify(within.body).slice(0, 300)).toMatchObject({ code: 0, response: [{ merchant_uid: 'we_long_a', schedule_status: 'revoked' }] });
  });

  it('is refused on a query too (GET /payments takes 100 ids)', async () => {
    const q = Array.from({ length: 1001 }, (_, i) => `imp_uid[]=${i}`).join('&');
    expectRefused(await http('GET', `/payments?${q}`), 'imp_uid', 'imp_uid must NOT have more than 100 items');
  });

  it('over the 2,000 parameters a form may carry is refused (400, never a 500, never cut short); nothing revoked', async () => {
    await scheduled('we_huge', ['we_huge_a', 'we_huge_b']);
    // the entries past the limit would have been dropped: here the id to revoke comes last
    const form = `customer_uid=we_huge&${formList('merchant_uid[]', Array.from({ length: 2000 }, (_, i) => `none_${i}`))}&merchant_uid[]=we_huge_a`;
    const res = await http('POST', '/subscribe/payments/unschedule', { form });
    expectRefused(res, 'body', 'a form body of more than 2000 parameters or list entries');
    const junk = `customer_uid=we_huge&${Array.from({ length: 2000 }, (_, i) => `x${i}=1`).join('&')}&merchant_uid[]=we_huge_a`;
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: junk }), 'body', 'a form body of more than 2000 parameters or list entries');
    expect(await states('we_huge')).toEqual({ we_huge_a: 'scheduled', we_huge_b: 'scheduled' });
  });
});

describe("unschedule's merchant_uid without an id", () => {
  it('refuses an empty entry alone, an empty form value and an empty JSON list: each would otherwise revoke every schedule of the customer', async () => {
    await scheduled('we_empty', ['we_empty_a', 'we_empty_b']);
    const detail = 'merchant_uid lists no id; omit it to revoke every schedule of the customer';
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=we_empty&merchant_uid[]=' }), 'merchant_uid', detail);
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=we_empty&merchant_uid[]=&merchant_uid[]=' }), 'merchant_uid', detail);
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=we_empty&merchant_uid=' }), 'merchant_uid', detail);
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'we_empty', merchant_uid: [] } }), 'merchant_uid', detail);
    expectRefused(await http('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'we_empty', merchant_uid: '' } }), 'merchant_uid', detail);
    expect(await states('we_empty')).toEqual({ we_empty_a: 'scheduled', we_empty_b: 'scheduled' });
  });

  it('ignores an empty entry beside ids, as GET /payments does: the listed schedule is revoked, the other kept', async () => {
    await scheduled('we_mixed', ['we_mixed_a', 'we_mixed_b']);
    const res = await http('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=we_mixed&merchant_uid[]=we_mixed_a&merchant_uid[]=' });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ code: 0, response: [{ merchant_uid: 'we_mixed_a', schedule_status: 'revoked' }] });
    expect(res.body.response).toHaveLength(1);
    expect(await states('we_mixed')).toEqual({ we_mixed_a: 'revoked', we_mixed_b: 'scheduled' });
    // omitted, it still revokes all of them (V1)
    const all = await http('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=we_mixed' });
    expect(all.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['we_mixed_b']);
  });
});

describe('the parts of a refund (POST /payments/cancel)', () => {
  it('refuses a taxable part (amount − tax_free) beyond the taxable part left and a vat_amount beyond it, refunding nothing', async () => {
    const paid = await http('POST', '/subscribe/payments/onetime', { json: { merchant_uid: uid('refund'), amount: 10000, tax_free: 8000, ...card } });
    const impUid = paid.body.response.imp_uid as string;
    const over = await http('POST', '/payments/cancel', { json: { imp_uid: impUid, amount: 5000, tax_free: 0 } });
    expect([over.status, over.body]).toEqual([200, { code: 1, message: '과세 취소 요청 금액(5000)이 과세 취소 가능 잔액(2000)보다 큽니다.', response: null }]);
    const vat = await http('POST', '/payments/cancel', { json: { imp_uid: impUid, amount: 5000, tax_free: 4000, vat_amount: 1001 } });
    expect([vat.status, vat.body]).toEqual([400, { code: 1, message: 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.', response: null }]);
    const fits = await http('POST', '/payments/cancel', { json: { imp_uid: impUid, amount: 5000, tax_free: 3000, vat_amount: 100 } });
    expect(fits.body, JSON.stringify(fits.body)).toMatchObject({ code: 0, response: { cancel_amount: 5000, status: 'paid' } });
  });
});

describe('the parts of a charge amount on onetime, again and schedule', () => {
  it('refuses tax_free over amount, vat_amount over the taxable part and negative parts (400, code 1), charging nothing', async () => {
    expect((await http('POST', '/subscribe/customers/we_parts', { json: card })).body.code).toBe(0);
    const at = Math.floor(pier.clock.now() / 1000) + 86_400;
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [{ tax_free: 1001 }, 'tax_free는 amount보다 클 수 없습니다.', undefined],
      [{ vat_amount: 1001 }, 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.', undefined],
      [{ tax_free: 600, vat_amount: 401 }, 'vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.', undefined],
      [{ tax_free: -1 }, '파라미터 형식이 올바르지 않습니다: tax_free', 'tax_free must be >= 0'],
      [{ vat_amount: -1 }, '파라미터 형식이 올바르지 않습니다: vat_amount', 'vat_amount must be >= 0'],
    ];
    for (const [parts, message, detail] of cases) {
      const one = await http('POST', '/subscribe/payments/onetime', { json: { merchant_uid: uid('parts'), amount: 1000, ...card, ...parts } });
      expect([one.status, one.body, one.detail], JSON.stringify(parts)).toEqual([400, { code: 1, message, response: null }, detail]);
      const again = await http('POST', '/subscribe/payments/again', { json: { customer_uid: 'we_parts', merchant_uid: uid('parts'), amount: 1000, ...parts } });
      expect([again.status, again.body, again.detail], JSON.stringify(parts)).toEqual([400, { code: 1, message, response: null }, detail]);
      const item = uid('parts');
      const sched = await http('POST', '/subscribe/payments/schedule', { json: { customer_uid: 'we_parts', schedules: [{ merchant_uid: item, schedule_at: at, amount: 1000, ...parts }] } });
      expect(sched.status, JSON.stringify(sched.body)).toBe(400);
      expect(sched.body.message).toBe(detail ? message.replace(/: (\w+)$/, ': schedules.0.$1') : `schedules[${item}].${message}`);
    }
    const rows = await pier.store.db.selectFrom('payments').select('merchant_uid').where('merchant_uid', 'like', 'we_parts_%').execute();
    expect(rows).toEqual([]);
    expect(await pier.store.db.selectFrom('payment_schedules').select('merchant_uid').where('customer_uid', '=', 'we_parts').execute()).toEqual([]);
  });
});

describe('optional text sent empty', () => {
  it('reads back as null, as a field not sent does (buyer fields, name, custom_data)', async () => {
    const sent = { buyer_name: '', buyer_email: '', buyer_tel: '', buyer_addr: '', buyer_postcode: '', custom_data: '', name: '' };
    const paid = await http('POST', '/subscribe/payments/onetime', { json: { merchant_uid: uid('empty'), amount: 1000, ...card, ...sent } });
    expect(paid.body.code, JSON.stringify(paid.body)).toBe(0);
    const read = (await http('GET', `/payments/${paid.body.response.imp_uid}`)).body.response;
    expect(Object.fromEntries(Object.keys(sent).map((k) => [k, read[k]]))).toEqual({ buyer_name: null, buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null, custom_data: null, name: null });
  });
});
