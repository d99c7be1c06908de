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

/**
 * V1's Node client (`iamport` on npm, iamport/iamport-rest-client-nodejs lib/resource.js) sends the
 * merchant's object as JSON unchanged (`json: true, body: param`) with the raw token in
 * Authorization. A merchant keying billing keys by its users' integer ids (`customer_uid: user.id`,
 * JWWon/livle-server src/billing.js) sends `"customer_uid": 17`; V1 charges it (decision 0109).
 */
describe("V1's Node client with the merchant's integer ids", () => {
  const node = (method: string, url: string, body?: string) =>
    pier.app.inject({ method: method as 'POST', url, headers: { authorization: m.token, 'content-type': 'application/json', accept: 'application/json' }, payload: body });
  const answer = (res: { body: string }) => JSON.parse(res.body);

  it('issues, charges and lists a billing key named by an integer customer_uid, and revokes its schedules by integer merchant_uids', async () => {
    // subscribe_customer.create posts to /subscribe/customers/17 with the id in the body too
    const issued = answer(await node('POST', '/subscribe/customers/17', `{"customer_uid":17,"card_number":"${card.card_number}","expiry":"2030-12","birth":"820213","pwd_2digit":"12"}`));
    expect(issued).toMatchObject({ code: 0, response: { customer_uid: '17' } });

    // subscribe.again: the recurring charge
    const charged = answer(await node('POST', '/subscribe/payments/again', '{"customer_uid":17,"merchant_uid":"livle_subscription1768446000000","amount":100,"name":"정기구독권"}'));
    expect(charged, JSON.stringify(charged)).toMatchObject({ code: 0, message: null, response: { status: 'paid', amount: 100, customer_uid: '17', merchant_uid: 'livle_subscription1768446000000' } });
    const found = answer(await node('GET', '/payments/find/livle_subscription1768446000000'));
    expect(found.response).toMatchObject({ imp_uid: charged.response.imp_uid, customer_uid: '17', status: 'paid' });

    // an integer merchant_uid (the merchant's order number) on schedule and unschedule
    const at = Math.floor(pier.clock.now() / 1000) + 86_400;
    const scheduled = answer(await node('POST', '/subscribe/payments/schedule', `{"customer_uid":17,"schedules":[{"merchant_uid":20260001,"schedule_at":${at},"amount":100},{"merchant_uid":20260002,"schedule_at":${at + 60},"amount":100}]}`));
    expect(scheduled, JSON.stringify(scheduled)).toMatchObject({ code: 0, response: [{ merchant_uid: '20260001', customer_uid: '17' }, { merchant_uid: '20260002' }] });
    const revoked = answer(await node('POST', '/subscribe/payments/unschedule', '{"customer_uid":17,"merchant_uid":[20260001]}'));
    expect(revoked, JSON.stringify(revoked)).toMatchObject({ code: 0, response: [{ merchant_uid: '20260001', schedule_status: 'revoked' }] });
    const left = answer(await node('GET', '/subscribe/payments/schedule/20260002'));
    expect(left.response).toMatchObject({ merchant_uid: '20260002', schedule_status: 'scheduled' });
  });

  it('prepares, pays and refunds by an integer merchant_uid', async () => {
    const prepared = answer(await node('POST', '/payments/prepare', '{"merchant_uid":20260101,"amount":3000}'));
    expect(prepared, JSON.stringify(prepared)).toMatchObject({ code: 0, response: { merchant_uid: '20260101', amount: 3000 } });
    const paid = answer(await node('POST', '/subscribe/payments/onetime', `{"merchant_uid":20260102,"amount":3000,"card_number":"${card.card_number}","expiry":"2030-12","birth":"820213"}`));
    expect(paid, JSON.stringify(paid)).toMatchObject({ code: 0, response: { merchant_uid: '20260102', status: 'paid', amount: 3000 } });
    const refunded = answer(await node('POST', '/payments/cancel', '{"merchant_uid":20260102,"amount":1000,"reason":"부분"}'));
    expect(refunded, JSON.stringify(refunded)).toMatchObject({ code: 0, response: { imp_uid: paid.response.imp_uid, cancel_amount: 1000 } });
  });

  it('still refuses an integer JSON could not carry exactly, a fraction, and a number for any other text field, naming it and writing nothing', async () => {
    const cases: Array<[string, string, string, string]> = [
      // 2^53 + 1: the parser has already rounded it to another id
      ['/payments/prepare', '{"merchant_uid":9007199254740993,"amount":1000}', 'merchant_uid', 'merchant_uid must be string'],
      ['/payments/prepare', '{"merchant_uid":20260201.5,"amount":1000}', 'merchant_uid', 'merchant_uid must be string'],
      ['/subscribe/payments/again', '{"customer_uid":true,"merchant_uid":"cw_again_bool","amount":1000}', 'customer_uid', 'customer_uid must be string'],
      // a birth date as a number has lost a leading zero (010203 is 10203)
      ['/subscribe/customers/cw_birth', `{"card_number":"${card.card_number}","expiry":"2030-12","birth":10203}`, 'birth', 'birth must be string'],
    ];
    for (const [url, body, field, detail] of cases) {
      const res = await node('POST', url, body);
      expect(res.statusCode, body).toBe(400);
      expect(answer(res), body).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: ${field}`, response: null });
      expect(res.headers['x-pier-detail'], body).toBe(detail);
    }
    for (const id of ['9007199254740992', '9007199254740993', '20260201']) {
      expect(answer(await node('GET', `/payments/prepare/${id}`)).code, id).not.toBe(0);
    }
    expect(answer(await node('GET', '/subscribe/customers/cw_birth')).code).toBe(1);
  });
});
