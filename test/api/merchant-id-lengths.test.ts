import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant, v1Call } from '../harness.js';

/**
 * V1 documents merchant_uid as "Max 40 bytes" and customer_uid as string(80); Pier counts both in
 * bytes of UTF-8 wherever a new record is named by one (docs/decisions/0062-merchant-id-lengths.md).
 * REST counted code points, the window UTF-16 code units: 14 Hangul (42 bytes) or 40 emoji
 * (160 bytes) passed REST, so lookups still take them (docs/decisions/0068).
 */
let pier: TestPier;
let m: TestMerchant;

const card = { card_number: testCardNumber({ kftcCode: '381', lastFour: '5678' }), expiry: '2030-12', birth: '820213' };
/** 14 characters, 42 bytes */
const HANGUL_42 = '가'.repeat(14);
/** 11 code points, 44 bytes */
const EMOJI_44 = '😀'.repeat(11);
/** 40 code points, 160 bytes */
const EMOJI_160 = '😀'.repeat(40);
/** 27 characters, 81 bytes */
const HANGUL_81 = '고'.repeat(27);

const call = (method: string, url: string, body?: unknown) => v1Call(pier, m.token, method, url, body);

async function rowCounts() {
  const { db } = pier.store;
  const n = async (table: 'payments' | 'billing_keys' | 'payment_prepares' | 'payment_cancels' | 'payment_schedules') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { payments: await n('payments'), billing_keys: await n('billing_keys'), payment_prepares: await n('payment_prepares'), payment_cancels: await n('payment_cancels'), payment_schedules: await n('payment_schedules') };
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const paid = await call('POST', '/subscribe/payments/onetime', { merchant_uid: 'len_paid', amount: 5000, ...card, customer_uid: 'len_cust' });
  expect(paid.body.response.status).toBe('paid');
});
afterAll(() => pier.close());

describe('merchant_uid and customer_uid lengths in bytes of UTF-8 (decision 0062)', () => {
  it('refuses a merchant_uid over 40 bytes or a customer_uid over 80 bytes in every body that names a new record by one, though it has 40 characters or fewer, and writes nothing', async () => {
    const before = await rowCounts();
    const sched = (merchant_uid: string) => [{ merchant_uid, schedule_at: 4102444800, amount: 1000 }];
    const cases: Array<[string, string, Record<string, unknown>, string]> = [];
    for (const uid of [HANGUL_42, EMOJI_44, EMOJI_160]) {
      cases.push(
        ['POST', '/subscribe/payments/onetime', { merchant_uid: uid, amount: 1000, ...card }, 'merchant_uid'],
        ['POST', '/subscribe/payments/again', { customer_uid: 'len_cust', merchant_uid: uid, amount: 1000 }, 'merchant_uid'],
        ['POST', '/subscribe/payments/schedule', { customer_uid: 'len_cust', schedules: sched(uid) }, 'schedules.0.merchant_uid'],
        ['POST', '/payments/prepare', { merchant_uid: uid, amount: 1000 }, 'merchant_uid'],
        ['PUT', '/payments/prepare', { merchant_uid: uid, amount: 1000 }, 'merchant_uid'],
        ['POST', '/vbanks', { merchant_uid: uid, amount: 1000, vbank_code: '088', vbank_due: 1900000000 }, 'merchant_uid'],
      );
    }
    cases.push(
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'len_onetime', amount: 1000, ...card, customer_uid: HANGUL_81 }, 'customer_uid'],
      ['POST', '/subscribe/payments/schedule', { customer_uid: HANGUL_81, ...card, schedules: sched('len_sched') }, 'customer_uid'],
      ['POST', `/subscribe/customers/${encodeURIComponent(HANGUL_81)}`, { ...card }, 'customer_uid'],
    );
    for (const [method, url, body, field] of cases) {
      const res = await call(method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: ${field}`, response: null });
      expect(res.detail, `${method} ${url}`).toBe(`${field} must be at most ${field === 'customer_uid' ? 80 : 40} bytes in UTF-8`);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('takes them where a record that exists is looked up or acted on, as an earlier Pier could have stored them: not found, not malformed (decision 0068)', async () => {
    const H = encodeURIComponent(HANGUL_42);
    const NOT_FOUND = { code: -1, message: '존재하지 않는 결제정보입니다.', response: null };
    const cases: Array<[string, string, Record<string, unknown> | undefined, number, number]> = [
      ['GET', `/payments/find/${H}`, undefined, 404, -1],
      ['GET', `/payments/find/${H}/paid`, undefined, 404, -1],
      ['GET', `/payments/findAll/${encodeURIComponent(EMOJI_160)}`, undefined, 404, -1],
      ['GET', `/payments/prepare/${H}`, undefined, 404, -1],
      ['GET', `/subscribe/payments/schedule/${H}`, undefined, 404, -1],
      ['GET', `/subscribe/customers/${encodeURIComponent(HANGUL_81)}`, undefined, 200, 1],
      ['GET', `/subscribe/customers/${encodeURIComponent(HANGUL_81)}/payments`, undefined, 404, -1],
      ['POST', '/payments/cancel', { merchant_uid: EMOJI_44 }, 200, 1],
      ['POST', '/subscribe/payments/unschedule', { customer_uid: 'len_cust', merchant_uid: [HANGUL_42] }, 200, 1],
      ['POST', '/subscribe/payments/again', { customer_uid: HANGUL_81, merchant_uid: 'len_again', amount: 1000 }, 200, -1],
    ];
    for (const [method, url, body, status, code] of cases) {
      const res = await call(method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(res.body)}`).toBe(status);
      expect(res.body, url).toEqual({ code, message: expect.any(String), response: null });
      expect(res.body.message, url).not.toMatch(/파라미터/);
    }
    expect((await call('GET', `/payments/find/${H}`)).body).toEqual(NOT_FOUND);
    // the lists answer what they found: 207 when some of the ids were not (V1)
    for (const [url, status] of [
      [`/payments?merchant_uid[]=len_paid&merchant_uid[]=${encodeURIComponent(EMOJI_160)}`, 207],
      [`/subscribe/customers?customer_uid[]=len_cust&customer_uid[]=${encodeURIComponent(HANGUL_81)}`, 207],
      [`/pier/webhooks/deliveries?merchant_uid=${H}`, 200],
    ] as const) {
      const res = await call('GET', url);
      expect(res.status, `${url} ${JSON.stringify(res.body)}`).toBe(status);
      expect(res.body.code, url).toBe(0);
    }
    // over what REST ever took (40 and 80 characters) is refused in a lookup too
    for (const url of [`/payments/find/${encodeURIComponent('가'.repeat(41))}`, `/subscribe/customers/${encodeURIComponent('고'.repeat(81))}`, `/pier/webhooks/deliveries?merchant_uid=${'a'.repeat(41)}`]) {
      const res = await call('GET', url);
      expect(res.status, url).toBe(400);
      expect(res.body.message, url).toMatch(/^파라미터 형식이 올바르지 않습니다: (merchant_uid|customer_uid)$/);
      expect(res.detail, url).toMatch(/^(merchant_uid|customer_uid) must NOT have more than (40|80) characters$/);
    }
  });

  it('takes ids of exactly 40 and 80 bytes everywhere: charged, found, charged again and prepared by them', async () => {
    const merchantUid = '가'.repeat(13) + 'a';
    const customerUid = '고'.repeat(26) + 'ab';
    expect([Buffer.byteLength(merchantUid), Buffer.byteLength(customerUid)]).toEqual([40, 80]);
    const paid = await call('POST', '/subscribe/payments/onetime', { merchant_uid: merchantUid, amount: 1000, ...card, customer_uid: customerUid });
    expect(paid.body.code, JSON.stringify(paid.body)).toBe(0);
    expect(paid.body.response).toMatchObject({ merchant_uid: merchantUid, customer_uid: customerUid, status: 'paid', amount: 1000 });
    const found = await call('GET', `/payments/find/${encodeURIComponent(merchantUid)}`);
    expect(found.body.response).toMatchObject({ imp_uid: paid.body.response.imp_uid, merchant_uid: merchantUid });
    const key = await call('GET', `/subscribe/customers/${encodeURIComponent(customerUid)}`);
    expect(key.body.response).toMatchObject({ customer_uid: customerUid });
    const againUid = '😀'.repeat(10);
    const again = await call('POST', '/subscribe/payments/again', { customer_uid: customerUid, merchant_uid: againUid, amount: 2000 });
    expect(again.body.response).toMatchObject({ merchant_uid: againUid, customer_uid: customerUid, status: 'paid', amount: 2000 });
    const prepareUid = 'é'.repeat(20);
    expect((await call('POST', '/payments/prepare', { merchant_uid: prepareUid, amount: 3000 })).body.response).toMatchObject({ merchant_uid: prepareUid, amount: 3000 });
    expect((await call('GET', `/payments/prepare/${encodeURIComponent(prepareUid)}`)).body.response).toMatchObject({ merchant_uid: prepareUid, amount: 3000 });
    const stored = await pier.store.db.selectFrom('payments').select(['merchant_uid', 'customer_uid']).where('imp_uid', '=', again.body.response.imp_uid).executeTakeFirstOrThrow();
    expect(stored).toEqual({ merchant_uid: againUid, customer_uid: customerUid });
  });
});
