/**
 * An id repeated in the id lists of V1's multi-lookups (`GET /subscribe/customers?customer_uid[]=`,
 * `GET /payments?imp_uid[]=`), over real HTTP as V1's Node client (qs, brackets) and the literal URL
 * put it on the wire. A list built from a merchant's records repeats an id whenever two records share
 * it (two subscriptions on one billing key, two order lines of one payment). V1 answers 207 when some
 * ids are not found (spec/api-v1.md §3.2, §6), and each record is one entry of the answer
 * (decision 0094). Before: the billing key and the payment were listed once per repetition, and
 * `GET /subscribe/customers` answered 200, "all found", for `[k, k, unknown]`, because it compared
 * the number of entries it listed (2, k twice) with the number of distinct ids asked for (2).
 */
import qs from 'qs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let impUid: string;
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213' };
const node = (q: Record<string, string[]>) => qs.stringify(q, { arrayFormat: 'brackets' });

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
  const key = await pier.call('POST', '/subscribe/customers/repeated_key', { token: m.token, body: card });
  expect(key.body.code, JSON.stringify(key.body)).toBe(0);
  const paid = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'repeated_key', merchant_uid: 'repeated_paid', amount: 1000 } });
  expect(paid.body.response?.status, JSON.stringify(paid.body)).toBe('paid');
  impUid = paid.body.response.imp_uid;
});
afterAll(() => pier.close());

async function get(path: string, query: string) {
  const res = await fetch(`${pier.pierUrl}${path}?${query}`, { headers: { authorization: `Bearer ${m.token}` } });
  return { status: res.status, body: (await res.json()) as { code: number; message: string | null; response: Array<{ customer_uid: string; imp_uid: string; amount: number }> | null } };
}

describe('GET /subscribe/customers with a customer_uid repeated', () => {
  it('lists the billing key once, 200', async () => {
    for (const query of ['customer_uid[]=repeated_key&customer_uid[]=repeated_key', node({ customer_uid: ['repeated_key', 'repeated_key', 'repeated_key'] })]) {
      const res = await get('/subscribe/customers', query);
      expect(res.status, query).toBe(200);
      expect(res.body.code, query).toBe(0);
      expect(res.body.response!.map((k) => k.customer_uid), query).toEqual(['repeated_key']);
    }
  });

  it('answers 207 with the found key once when another customer_uid is unknown', async () => {
    for (const query of ['customer_uid[]=repeated_key&customer_uid[]=repeated_key&customer_uid[]=no_such_key', node({ customer_uid: ['no_such_key', 'repeated_key', 'repeated_key'] })]) {
      const res = await get('/subscribe/customers', query);
      expect(res.status, query).toBe(207);
      expect(res.body.code, query).toBe(0);
      expect(res.body.response!.map((k) => k.customer_uid), query).toEqual(['repeated_key']);
    }
  });
});

describe('GET /payments with an imp_uid repeated', () => {
  it('lists the payment once, 200, so its amount is counted once', async () => {
    for (const query of [`imp_uid[]=${impUid}&imp_uid[]=${impUid}`, node({ imp_uid: [impUid, impUid], merchant_uid: ['repeated_paid'] })]) {
      const res = await get('/payments', query);
      expect(res.status, query).toBe(200);
      expect(res.body.response!.map((p) => [p.imp_uid, p.amount]), query).toEqual([[impUid, 1000]]);
    }
  });

  it('answers 207 with the found payment once when another imp_uid is unknown', async () => {
    const res = await get('/payments', node({ imp_uid: [impUid, 'imp_000000000000', impUid] }));
    expect(res.status).toBe(207);
    expect(res.body.response!.map((p) => p.imp_uid)).toEqual([impUid]);
  });
});
