/**
 * Requests exactly as published V1 clients put them on the wire, where that differs from what a
 * hand-written test would send. The official PHP client (iamport/iamport-rest-client-php,
 * DefaultRequestMiddleware) sets `Content-Type: application/json; charset=utf-8` on every request,
 * a DELETE without a body included (SubscribeCustomer::delete sends only a query string).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '2468' }), expiry: '2030-12', birth: '820213' };

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

/** the PHP client's request: its two default headers, its bearer token, no body */
const php = (method: string, url: string) =>
  pier.app.inject({
    method: method as 'DELETE',
    url,
    headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json; charset=utf-8', accept: 'application/json' },
  });

describe('a body-less request with the PHP client\'s JSON content type', () => {
  it('DELETE /subscribe/customers/{customer_uid}?reason=… deletes the billing key', async () => {
    const issued = await pier.call('POST', '/subscribe/customers/php_cust_1', { token: m.token, body: card });
    expect(issued.body.code, JSON.stringify(issued.body)).toBe(0);
    const res = await php('DELETE', '/subscribe/customers/php_cust_1?reason=%ED%95%B4%EC%A7%80');
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ code: 0, message: null, response: { customer_uid: 'php_cust_1' } });
    const after = await pier.call('GET', '/subscribe/customers/php_cust_1', { token: m.token });
    expect(after.body).toEqual({ code: 1, message: '요청하신 customer_uid(php_cust_1)로 등록된 정보를 찾을 수 없습니다.', response: null });
  });

  it('DELETE /vbanks/{imp_uid} and POST …/retry answer as they do without the header', async () => {
    for (const [method, url] of [
      ['DELETE', '/vbanks/imp_000000000000'],
      ['POST', '/subscribe/payments/schedule/php_no_such_schedule/retry'],
    ]) {
      const bare = await pier.app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${m.token}` } });
      const res = await php(method, url);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(bare.statusCode);
      expect(JSON.parse(res.body), `${method} ${url}`).toEqual(JSON.parse(bare.body));
      expect(res.statusCode).toBe(404);
    }
  });

  it('still refuses an empty JSON body where the route reads one', async () => {
    const res = await php('POST', '/payments/cancel');
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ code: 1, message: '요청 본문이 비어 있습니다.', response: null });
  });
});

describe("the PHP client's other habits", () => {
  it('indexed query arrays (imp_uid[0]=…), floats from setAmount(float) (1000.0), trailing slashes, with its JSON content type', async () => {
    const send = (method: string, url: string, body?: string) =>
      pier.app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json; charset=utf-8', accept: 'application/json' }, payload: body });
    const paid = JSON.parse((await send('POST', '/subscribe/payments/onetime/', `{"merchant_uid":"php_1","amount":1000.0,"card_number":"${card.card_number}","expiry":"2030-12","customer_uid":"php_cust_2"}`)).body);
    expect(paid).toMatchObject({ code: 0, response: { status: 'paid', amount: 1000, customer_uid: 'php_cust_2' } });
    const impUid = paid.response.imp_uid as string;
    // Guzzle's `query` option writes PHP arrays with indexes, %-encoded
    const list = await send('GET', `/payments/?imp_uid%5B0%5D=${impUid}&imp_uid%5B1%5D=imp_000000000000`);
    expect(list.statusCode).toBe(207);
    expect(JSON.parse(list.body).response.map((p: { imp_uid: string }) => p.imp_uid)).toEqual([impUid]);
    const keys = await send('GET', '/subscribe/customers/?customer_uid%5B0%5D=php_cust_2');
    expect(JSON.parse(keys.body)).toMatchObject({ code: 0, response: [{ customer_uid: 'php_cust_2' }] });
    const again = JSON.parse((await send('POST', '/subscribe/payments/again/', '{"customer_uid":"php_cust_2","merchant_uid":"php_2","amount":1500.0,"name":"정기"}')).body);
    expect(again).toMatchObject({ code: 0, response: { status: 'paid', amount: 1500 } });
    const refund = JSON.parse((await send('POST', '/payments/cancel/', `{"imp_uid":"${impUid}","amount":400.0,"checksum":1000.0,"reason":"부분"}`)).body);
    expect(refund).toMatchObject({ code: 0, response: { status: 'paid', cancel_amount: 400 } });
  });
});

describe('an over-long path segment', () => {
  it('answers 414 with a Korean message that does not echo the path (English in x-pier-detail)', async () => {
    const long = 'x'.repeat(600);
    for (const url of [`/payments/find/${long}`, `/payments/${long}`, `/subscribe/customers/${long}`]) {
      const res = await pier.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${m.token}` } });
      expect(res.statusCode).toBe(414);
      expect(JSON.parse(res.body)).toEqual({ code: 1, message: '요청 경로가 너무 깁니다.', response: null });
      expect(res.headers['x-pier-detail']).toBe('a path segment is longer than 500 characters');
    }
  });
});
