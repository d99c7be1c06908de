/**
 * An empty entry of GET /payments' id lists (decision 0074), sent over real HTTP as clients put it
 * on the wire: V1's Node client serialises with qs (`arrayFormat: 'brackets'`, brackets
 * percent-encoded), Python's requests sends `merchant_uid[]` from a dict of lists, and code written
 * against V1 has the literal URL `/payments?imp_uid[]=imp_…&merchant_uid[]=` (the merchant_uid field
 * left blank). An empty entry is no id: the ids given are looked up as if it were not there, and a
 * request of empty entries only has no ids (400, as `GET /payments` without any). Before, the empty
 * entry was an id no payment has: 207 beside a found payment (a client that takes 207 as partial
 * failure reported the empty id missing), 404 alone.
 */
import qs from 'qs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let impUid: string;
const card = { card_number: testCardNumber({ kftcCode: '381', lastFour: '5678' }), expiry: '2030-12', birth: '820213' };
const NO_IDS = { code: 1, message: '필수 파라미터가 누락되었습니다: imp_uid[] 또는 merchant_uid[]', response: null };

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
  const key = await pier.call('POST', '/subscribe/customers/blank_key', { token: m.token, body: card });
  expect(key.body.code, JSON.stringify(key.body)).toBe(0);
  const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'blank_paid', amount: 1000, ...card } });
  expect(paid.body.code, JSON.stringify(paid.body)).toBe(0);
  impUid = paid.body.response.imp_uid;
});
afterAll(() => pier.close());

async function get(query: string) {
  const res = await fetch(`${pier.pierUrl}/payments?${query}`, { headers: { authorization: `Bearer ${m.token}` } });
  return { status: res.status, body: (await res.json()) as { code: number; message: string | null; response: Array<{ imp_uid: string; merchant_uid: string }> | null } };
}
/** as V1's Node client (qs, brackets) */
const node = (q: Record<string, string[]>) => qs.stringify(q, { arrayFormat: 'brackets' });
/** as Python's requests with params={'imp_uid[]': [...], ...} */
const python = (q: Record<string, string[]>) => new URLSearchParams(Object.entries(q).flatMap(([k, vs]) => vs.map((v) => [`${k}[]`, v]))).toString();

describe('GET /payments with an empty list entry (decision 0074)', () => {
  it('finds the payment by the other ids, 200, as if the empty entry were not sent', async () => {
    for (const query of [
      `imp_uid[]=${impUid}&merchant_uid[]=`,
      node({ imp_uid: [impUid], merchant_uid: [''] }),
      python({ imp_uid: [impUid], merchant_uid: [''] }),
      node({ imp_uid: ['', impUid] }),
      python({ imp_uid: [''], merchant_uid: ['blank_paid', ''] }),
      'merchant_uid[]=&merchant_uid[]=blank_paid',
      `imp_uid[]=&imp_uid[]=${impUid}&merchant_uid[]=`,
    ]) {
      const res = await get(query);
      expect(res.status, query).toBe(200);
      expect(res.body.code, query).toBe(0);
      expect(res.body.message, query).toBeNull();
      expect(res.body.response!.map((p) => [p.imp_uid, p.merchant_uid]), query).toEqual([[impUid, 'blank_paid']]);
    }
  });

  it('answers an unknown id beside the empty entry as before: 207 with the found ones', async () => {
    const res = await get(node({ imp_uid: [impUid, 'imp_000000000000'], merchant_uid: [''] }));
    expect(res.status).toBe(207);
    expect(res.body.response!.map((p) => p.imp_uid)).toEqual([impUid]);
  });

  it('answers empty entries only as a request without ids: 400, code 1', async () => {
    for (const query of ['merchant_uid[]=', 'imp_uid[]=', 'imp_uid[]=&merchant_uid[]=', node({ merchant_uid: ['', ''] }), python({ imp_uid: [''] }), 'merchant_uid=', '']) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(res.body, query).toEqual(NO_IDS);
    }
  });

  it('still takes a blank that is not empty as an id (a stored id may be a space, decision 0068)', async () => {
    const res = await get(node({ merchant_uid: [' '] }));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ code: -1, message: '존재하지 않는 결제정보입니다.', response: null });
  });
});

describe('GET /subscribe/customers with an empty customer_uid[] entry (decision 0074)', () => {
  const customers = async (query: string) => {
    const res = await fetch(`${pier.pierUrl}/subscribe/customers?${query}`, { headers: { authorization: `Bearer ${m.token}` } });
    return { status: res.status, body: (await res.json()) as { code: number; message: string | null; response: Array<{ customer_uid: string }> | null } };
  };

  it('finds the billing key by the other entries, 200, as if the empty one were not sent', async () => {
    for (const query of ['customer_uid[]=blank_key&customer_uid[]=', node({ customer_uid: ['', 'blank_key'] }), python({ customer_uid: ['blank_key', ''] })]) {
      const res = await customers(query);
      expect(res.status, query).toBe(200);
      expect(res.body.code, query).toBe(0);
      expect(res.body.response!.map((k) => k.customer_uid), query).toEqual(['blank_key']);
    }
  });

  it('answers empty entries only as a request without customer_uid: 400, code 1', async () => {
    for (const query of ['customer_uid[]=', node({ customer_uid: ['', ''] }), 'customer_uid=']) {
      const res = await customers(query);
      expect(res.status, query).toBe(400);
      expect(res.body, query).toEqual({ code: 1, message: '필수 파라미터가 누락되었습니다: customer_uid[]', response: null });
    }
  });
});
