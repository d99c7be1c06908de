import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let paidImpUid: string;

const good = testCardNumber({ kftcCode: '381', lastFour: '5678' });
const card = { card_number: good, expiry: '2030-12', birth: '820213' };
/** every answer this file received: none may be a 500, and every one must be the V1 envelope */
const seen: Array<{ what: string; status: number; body: unknown }> = [];

async function raw(method: string, url: string, o: { contentType?: string; payload?: string; token?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? m.token}`;
  if (o.contentType) headers['content-type'] = o.contentType;
  const res = await pier.app.inject({ method: method as 'POST', url, headers, payload: o.payload });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    /* asserted below */
  }
  seen.push({ what: `${method} ${url}`, status: res.statusCode, body });
  const detail = res.headers['x-pier-detail'];
  return { status: res.statusCode, body: body as any, detail: typeof detail === 'string' ? detail : undefined };
}

const json = (method: string, url: string, body: unknown, token?: string | null) =>
  raw(method, url, { contentType: 'application/json', payload: typeof body === 'string' ? body : JSON.stringify(body), token });

function expectEnvelope(res: { status: number; body: any }, status: number, code: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toEqual({ code, message: expect.any(String), response: null });
}

/** Every POST/PUT endpoint Pier implements, with a body that would be accepted. */
const WRITE_ENDPOINTS: Array<{ method: string; url: string; body: Record<string, unknown>; token?: null }> = [
  { method: 'POST', url: '/users/getToken', body: { imp_key: 'k', imp_secret: 's' }, token: null },
  { method: 'POST', url: '/subscribe/customers/bad_cust', body: { ...card } },
  { method: 'POST', url: '/subscribe/payments/onetime', body: { merchant_uid: 'bad_onetime', amount: 1000, ...card } },
  { method: 'POST', url: '/subscribe/payments/again', body: { customer_uid: 'bad_cust', merchant_uid: 'bad_again', amount: 1000 } },
  { method: 'POST', url: '/payments/cancel', body: { imp_uid: 'imp_000000000000' } },
  { method: 'POST', url: '/payments/prepare', body: { merchant_uid: 'bad_prepare', amount: 1000 } },
  { method: 'PUT', url: '/payments/prepare', body: { merchant_uid: 'bad_prepare', amount: 1000 } },
  { method: 'POST', url: '/vbanks', body: { merchant_uid: 'bad_vbank', amount: 1000, vbank_code: '088', vbank_due: 1900000000 } },
];

async function counts() {
  const { db } = pier.store;
  const n = async (table: 'payments' | 'billing_keys' | 'payment_prepares' | 'payment_cancels') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { payments: await n('payments'), billing_keys: await n('billing_keys'), payment_prepares: await n('payment_prepares'), payment_cancels: await n('payment_cancels') };
}
let before: Awaited<ReturnType<typeof counts>>;
let ledgerBefore: { approvals: number; billingKeys: number };

async function ledgerCounts() {
  const l = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: unknown[]; declines: unknown[]; billingKeys: unknown[] };
  return { approvals: l.approvals.length + l.declines.length, billingKeys: l.billingKeys.length };
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'bad_input_paid', amount: 5000, ...card } });
  expect(paid.body.response.status).toBe('paid');
  paidImpUid = paid.body.response.imp_uid;
  before = await counts();
  ledgerBefore = await ledgerCounts();
});
afterAll(() => pier.close());

describe('malformed and unexpected bodies', () => {
  it('answers 400 naming JSON for a malformed JSON body, on every write endpoint', async () => {
    for (const e of WRITE_ENDPOINTS) {
      for (const payload of ['{"merchant_uid": "x", ', "{'single': 'quotes'}", '{"a":1}}', 'amount=1000']) {
        const res = await raw(e.method, e.url, { contentType: 'application/json', payload, token: e.token });
        expectEnvelope(res, 400, 1);
        expect(res.body.message).toContain('JSON');
      }
    }
  });

  it('answers 400 for an empty body sent as JSON', async () => {
    for (const e of WRITE_ENDPOINTS) {
      const res = await raw(e.method, e.url, { contentType: 'application/json', payload: '', token: e.token });
      expectEnvelope(res, 400, 1);
      expect(res.body.message).toBe('요청 본문이 비어 있습니다.');
      expect(res.detail).toBe('empty JSON body');
    }
  });

  it('answers 400 for a JSON array, string, number or null where an object is expected', async () => {
    for (const e of WRITE_ENDPOINTS) {
      for (const payload of ['[]', `[${JSON.stringify(e.body)}]`, '"text"', '42', 'null', 'true']) {
        const res = await raw(e.method, e.url, { contentType: 'application/json', payload, token: e.token });
        expectEnvelope(res, 400, 1);
        expect(res.body.message).toBe('요청 본문은 JSON 객체 또는 form 형식이어야 합니다.');
      }
    }
  });

  it('answers 400 for a POST without any body', async () => {
    for (const e of WRITE_ENDPOINTS) {
      const res = await raw(e.method, e.url, { token: e.token });
      expectEnvelope(res, 400, 1);
    }
  });

  it('answers 413 for a body over the limit, JSON or form', async () => {
    const big = 'a'.repeat(70 * 1024);
    for (const e of WRITE_ENDPOINTS) {
      const asJson = await json(e.method, e.url, { ...e.body, name: big }, e.token);
      expectEnvelope(asJson, 413, 1);
      expect(asJson.body.message).toBe('요청 본문이 너무 큽니다.');
      expect(asJson.detail).toBe('request body too large');
      const asForm = await raw(e.method, e.url, { contentType: 'application/x-www-form-urlencoded', payload: `merchant_uid=x&name=${big}`, token: e.token });
      expectEnvelope(asForm, 413, 1);
    }
  });

  it('answers 415 for a content type other than JSON or form', async () => {
    const types = ['application/xml', 'text/plain', 'text/html; charset=utf-8', 'multipart/form-data; boundary=x', 'application/octet-stream'];
    for (const e of WRITE_ENDPOINTS) {
      for (const contentType of types) {
        const res = await raw(e.method, e.url, { contentType, payload: JSON.stringify(e.body), token: e.token });
        expectEnvelope(res, 415, 1);
        expect(res.body.message).toBe('지원하지 않는 Content-Type입니다.');
        expect(res.detail).toContain('application/json');
      }
    }
    const none = await raw('POST', '/payments/prepare', { payload: 'merchant_uid=x&amount=1' });
    expectEnvelope(none, 415, 1);
  });

  it('accepts JSON with a charset and a form body with a charset', async () => {
    const j = await raw('POST', '/payments/prepare', { contentType: 'application/json;charset=UTF-8', payload: JSON.stringify({ merchant_uid: 'ok_charset_json', amount: 100 }) });
    expect(j.body.code).toBe(0);
    const f = await raw('POST', '/payments/prepare', { contentType: 'application/x-www-form-urlencoded; charset=UTF-8', payload: 'merchant_uid=ok_charset_form&amount=100' });
    expect(f.body.code).toBe(0);
    // these two are the only rows this file writes on purpose
    before.payment_prepares += 2;
  });
});

describe('unknown paths and methods', () => {
  it('answers 404 with the envelope for a path outside V1', async () => {
    for (const url of ['/nope', '/payment/imp_1', '/v2/payments/imp_1', '/Cards', '/']) {
      const res = await raw('GET', url);
      expectEnvelope(res, 404, -1);
      expect(res.body.message).toContain('존재하지 않는 API 경로입니다');
    }
  });

  it('answers 401 without a valid token, then 501, for a V1 path Pier does not implement (V1 checks the token first)', async () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/receipts/imp_1', '/receipts/{imp_uid}'],
      // a path V1 served earlier that clients still call
      ['POST', '/subscribe/payments/foreign', '/subscribe/payments/foreign'],
      ['GET', '/escrows/logis/imp_1', '/escrows/logis/{imp_uid}'],
      ['POST', '/kcpquick/payment/money', '/kcpquick/payment/money'],
      ['POST', '/benepia/point/', '/benepia/point'],
      ['DELETE', '/cvs/imp_1', '/cvs/{imp_uid}'],
      ['GET', '/tiers/ABC', '/tiers/{tier_code}'],
    ];
    const send = (method: string, url: string, token: string | null | undefined) =>
      method === 'GET' || method === 'DELETE' ? raw(method, url, { token }) : json(method, url, {}, token);
    for (const [method, url, template] of cases) {
      for (const token of [null, 'not-a-token']) {
        const res = await send(method, url, token);
        expectEnvelope(res, 401, -1);
        expect(res.body.message).toBe('Unauthorized');
      }
      const res = await send(method, url, undefined);
      expectEnvelope(res, 501, 1);
      expect(res.body.message).toBe(`Pier는 아직 ${method} ${template}를 지원하지 않습니다.`);
      expect(res.detail).toContain('not supported');
    }
    // an answer by design, logged as such: no error line with a stack for each call
    expect(pier.logs()).toContain('V1 path not supported by Pier');
    expect(pier.logs()).not.toMatch(/"level":50[^\n]*not supported/);
  });

  it('answers 405 for a wrong method on a known path', async () => {
    const cases: Array<[string, string]> = [
      ['DELETE', '/payments/cancel'],
      ['PUT', '/payments/cancel'],
      ['DELETE', '/payments/prepare'],
      ['POST', `/payments/${'imp_000000000000'}`],
      ['POST', '/payments/imp_1/balance'],
      ['PUT', '/subscribe/customers/c1'],
      ['POST', '/cards'],
      ['DELETE', '/users/getToken'],
      ['PATCH', '/subscribe/payments/again'],
    ];
    for (const [method, url] of cases) {
      const res = await raw(method, url);
      expectEnvelope(res, 405, -1);
      expect(res.body.message).toBe(`허용되지 않는 HTTP 메소드입니다: ${method} ${url}`);
    }
  });

  it('answers 400 with the envelope for a bad %-escape or an over-long path segment', async () => {
    for (const url of ['/payments/find/%ZZ', '/payments/%E0%A4%A', '/subscribe/customers/%']) {
      const res = await raw('GET', url);
      expectEnvelope(res, 400, 1);
    }
    const long = await raw('GET', `/payments/find/${'x'.repeat(600)}`);
    expect(long.status).toBe(414);
    expect(long.body).toMatchObject({ code: 1, response: null });
  });
});

describe('query strings', () => {
  it('accepts customer_uid[] and imp_uid[] given once', async () => {
    await pier.call('POST', '/subscribe/customers/q_once', { token: m.token, body: card });
    before.billing_keys += 1;
    ledgerBefore.billingKeys += 1;
    const cust = await raw('GET', '/subscribe/customers?customer_uid[]=q_once');
    expect(cust.status).toBe(200);
    expect(cust.body.response.map((c: { customer_uid: string }) => c.customer_uid)).toEqual(['q_once']);
    const plain = await raw('GET', '/subscribe/customers?customer_uid=q_once');
    expect(plain.body.response).toHaveLength(1);
    const pay = await raw('GET', `/payments?imp_uid[]=${paidImpUid}`);
    expect(pay.status).toBe(200);
    expect(pay.body.response.map((p: { imp_uid: string }) => p.imp_uid)).toEqual([paidImpUid]);
  });

  it('answers 400 naming the parameter for a missing or malformed query value', async () => {
    const cases: Array<[string, string]> = [
      ['/subscribe/customers', 'customer_uid'],
      ['/subscribe/customers?customer_uid[]=a&customer_uid[][x]=b', 'customer_uid'],
      ['/payments/status/all?page=abc', 'page'],
      ['/payments/status/all?page=0', 'page'],
      ['/payments/status/all?page=99999999999999999999', 'page'],
      ['/payments/status/all?limit=1.5', 'limit'],
      ['/payments/status/all?limit[]=5', 'limit'],
      ['/payments/status/all?from=99999999999999999999&to=99999999999999999999', 'from'],
      ['/payments/status/all?to=-1', 'to'],
      ['/payments/findAll/x?page=99999999999999999999', 'page'],
      ['/subscribe/customers/q_once/payments?page=99999999999999999999', 'page'],
      ['/payments/find/x?sorting=amount', 'sorting'],
      [`/payments/${paidImpUid}?include_sandbox=maybe`, 'include_sandbox'],
      ['/subscribe/customers/q_once?x=1&reason[]=a', 'reason'],
    ];
    for (const [url, field] of cases) {
      const res = await raw(url.includes('reason[]') ? 'DELETE' : 'GET', url);
      expectEnvelope(res, 400, 1);
      expect(res.body.message, url).toContain(field);
    }
    expect((await pier.call('GET', '/subscribe/customers/q_once', { token: m.token })).status).toBe(200);
  });
});

describe('wrongly-typed fields', () => {
  it('names the field for every write endpoint', async () => {
    const cases: Array<[string, string, Record<string, unknown>, string, null?]> = [
      ['POST', '/users/getToken', { imp_key: 123, imp_secret: 'x' }, 'imp_key', null],
      ['POST', '/users/getToken', { imp_key: 'k', imp_secret: ['x'] }, 'imp_secret', null],
      ['POST', '/subscribe/customers/bad_cust', { ...card, card_number: 9410000000000000 }, 'card_number'],
      ['POST', '/subscribe/customers/bad_cust', { ...card, expiry: 203012 }, 'expiry'],
      ['POST', '/subscribe/customers/bad_cust', { ...card, customer_name: { first: 'a' } }, 'customer_name'],
      ['POST', '/subscribe/customers/bad_cust', { ...card, pg: 5 }, 'pg'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: '1,000', ...card }, 'amount'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, card_quota: 'two' }, 'card_quota'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, use_card_point: 'yes' }, 'use_card_point'],
      // an integer id is its digits (decision 0109); a fraction or a boolean is not an id
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 123.5, amount: 1000, ...card }, 'merchant_uid'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, notice_url: 5 }, 'notice_url'],
      ['POST', '/subscribe/payments/again', { customer_uid: true, merchant_uid: 'bad_again', amount: 1000 }, 'customer_uid'],
      ['POST', '/subscribe/payments/again', { customer_uid: 'q_once', merchant_uid: 'bad_again', amount: 1000, tax_free: 'none' }, 'tax_free'],
      ['POST', '/subscribe/payments/again', { customer_uid: 'q_once', merchant_uid: 'bad_again', amount: true }, 'amount'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, amount: 'all' }, 'amount'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, amount: 1000.5 }, 'amount'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, checksum: '5000.5' }, 'checksum'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, amount: -1000 }, 'amount'],
      ['POST', '/payments/cancel', { imp_uid: 5 }, 'imp_uid'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, enable_webhook: 'yes' }, 'enable_webhook'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, extra: 'customer' }, 'extra'],
      ['POST', '/payments/prepare', { merchant_uid: 'bad_prepare', amount: '1000원' }, 'amount'],
      ['POST', '/payments/prepare', { merchant_uid: ['bad_prepare'], amount: 1000 }, 'merchant_uid'],
      ['PUT', '/payments/prepare', { merchant_uid: 7.5, amount: 1000 }, 'merchant_uid'],
      ['POST', '/vbanks', { merchant_uid: 'bad_vbank', amount: 1000, vbank_code: '088', vbank_due: 'tomorrow' }, 'vbank_due'],
      ['POST', '/vbanks', { merchant_uid: 'bad_vbank', amount: 1000, vbank_code: 88, vbank_due: 1900000000 }, 'vbank_code'],
    ];
    for (const [method, url, body, field, token] of cases) {
      const res = await json(method, url, body, token);
      expectEnvelope(res, 400, 1);
      expect(res.body.message, `${url} ${JSON.stringify(body)}`).toContain(field);
    }
  });

  it('names the field in a form body too', async () => {
    const cases: Array<[string, string, string, string]> = [
      ['POST', '/payments/cancel', `imp_uid=${paidImpUid}&amount=abc`, 'amount'],
      ['POST', '/payments/cancel', `imp_uid=${paidImpUid}&checksum=1e3`, 'checksum'],
      ['POST', '/payments/prepare', 'merchant_uid=bad_prepare&amount=10.5', 'amount'],
      ['POST', '/payments/prepare', 'merchant_uid=bad_prepare&amount=1&amount=2', 'amount'],
      ['POST', '/subscribe/payments/again', 'customer_uid=q_once&merchant_uid=bad_again&amount=1000&card_quota=x', 'card_quota'],
      ['POST', '/subscribe/payments/onetime', `merchant_uid=bad_onetime&amount=1000&card_number=${good}&expiry=2030-12&use_card_point=maybe`, 'use_card_point'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await raw(method, url, { contentType: 'application/x-www-form-urlencoded', payload });
      expectEnvelope(res, 400, 1);
      expect(res.body.message, payload).toContain(field);
    }
  });

  it('refuses a custom_data object nested too deep to serialise, or whose JSON is over 10,000 characters, naming it', async () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const big = JSON.stringify({ note: 'x'.repeat(10_001 - '{"note":""}'.length) });
    for (const customData of [deep, big]) {
      for (const [url, body] of [
        ['/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card }],
        ['/subscribe/payments/again', { customer_uid: 'bad_cust', merchant_uid: 'bad_again', amount: 1000 }],
        ['/subscribe/payments/schedule', { customer_uid: 'bad_cust', schedules: [{ merchant_uid: 'bad_sched', schedule_at: 1900000000, amount: 1000, custom_data: 'CD' }] }],
      ] as const) {
        // written by hand: JSON.stringify of the deep value overflows the stack, which is the point
        const payload = JSON.stringify(url.endsWith('schedule') ? body : { ...body, custom_data: 'CD' }).replace('"CD"', customData);
        const res = await raw('POST', url, { contentType: 'application/json', payload });
        expectEnvelope(res, 400, 1);
        expect(res.body.message, url).toBe(`파라미터 형식이 올바르지 않습니다: ${url.endsWith('schedule') ? 'schedules.0.custom_data' : 'custom_data'}`);
      }
    }
  });

  it('refuses a NUL character in any string, naming the field, on SQLite and PostgreSQL alike', async () => {
    const cases: Array<[string, string, unknown, string, null?]> = [
      ['POST', '/users/getToken', { imp_key: 'k\u0000', imp_secret: 's' }, 'imp_key', null],
      ['POST', '/payments/prepare', { merchant_uid: 'bad\u0000prepare', amount: 1000 }, 'merchant_uid'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, reason: 'why\u0000' }, 'reason'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, buyer_name: '홍\u0000' }, 'buyer_name'],
      ['POST', '/subscribe/customers/bad_cust', { ...card, customer_name: 'a\u0000' }, 'customer_name'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, extra: { requester: 'customer\u0000' } }, 'extra.requester'],
    ];
    for (const [method, url, body, field, token] of cases) {
      const res = await json(method, url, body, token);
      expectEnvelope(res, 400, 1);
      expect(res.body.message).toBe(`파라미터 형식이 올바르지 않습니다: ${field}`);
      expect(res.detail).toBe('must not contain a NUL character');
    }
    for (const [url, field] of [
      ['/payments/find/bad%00uid', 'merchant_uid'],
      ['/payments/imp_%00', 'imp_uid'],
      ['/payments?imp_uid[]=imp_%00', 'imp_uid'],
      ['/subscribe/customers?customer_uid[]=a%00', 'customer_uid'],
      ['/payments/prepare/a%00', 'merchant_uid'],
    ]) {
      const res = await raw('GET', url);
      expectEnvelope(res, 400, 1);
      expect(res.body.message, url).toContain(field);
    }
    const form = await raw('POST', '/subscribe/customers/bad%00cust', { contentType: 'application/json', payload: JSON.stringify(card) });
    expectEnvelope(form, 400, 1);
    expect(form.body.message).toContain('customer_uid');
  });

  it('refuses a body without imp_uid or merchant_uid for a cancel, and a getToken without credentials', async () => {
    const cancel = await json('POST', '/payments/cancel', { amount: 1000, reason: 'x' });
    expectEnvelope(cancel, 400, 1);
    expect(cancel.body.message).toContain('merchant_uid');
    const token = await json('POST', '/users/getToken', {}, null);
    expectEnvelope(token, 400, -1); // V1's code for missing credentials (decision 0131)
    expect(token.body.message).toContain('imp_key');
  });
});

describe('merchant_uid and customer_uid characters (decision 0054)', () => {
  it('refuses a control character or an unpaired surrogate in a merchant_uid or customer_uid body field, naming it, on SQLite and PostgreSQL alike', async () => {
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime\n', amount: 1000, ...card }, 'merchant_uid'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime\ud800', amount: 1000, ...card }, 'merchant_uid'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, customer_uid: 'bad_cust\u0085' }, 'customer_uid'],
      ['POST', '/subscribe/payments/again', { customer_uid: 'bad_cust', merchant_uid: 'bad_again\t', amount: 1000 }, 'merchant_uid'],
      ['POST', '/subscribe/payments/again', { customer_uid: 'bad_cust\udc00', merchant_uid: 'bad_again', amount: 1000 }, 'customer_uid'],
      ['POST', '/subscribe/payments/schedule', { customer_uid: 'bad_cust', ...card, schedules: [{ merchant_uid: 'bad_sched\ud800', schedule_at: 4102444800, amount: 1000 }] }, 'schedules.0.merchant_uid'],
      ['POST', '/subscribe/payments/schedule', { customer_uid: 'bad_cust\r', ...card, schedules: [{ merchant_uid: 'bad_sched', schedule_at: 4102444800, amount: 1000 }] }, 'customer_uid'],
      ['POST', '/subscribe/payments/unschedule', { customer_uid: 'bad_cust', merchant_uid: ['bad_sched\ud800'] }, 'merchant_uid.0'],
      ['POST', '/payments/prepare', { merchant_uid: 'bad_prepare\u001f', amount: 1000 }, 'merchant_uid'],
      ['PUT', '/payments/prepare', { merchant_uid: 'bad_prepare\ud800', amount: 1000 }, 'merchant_uid'],
      ['POST', '/payments/cancel', { merchant_uid: 'bad_input_paid\ud800' }, 'merchant_uid'],
      ['POST', '/vbanks', { merchant_uid: 'bad_vbank\n', amount: 1000, vbank_code: '088', vbank_due: 1900000000 }, 'merchant_uid'],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await json(method, url, body);
      expectEnvelope(res, 400, 1);
      expect(res.body.message, `${url} ${JSON.stringify(body)}`).toBe(`파라미터 형식이 올바르지 않습니다: ${field}`);
    }
  });

  it('takes control characters in lookups (path segments, query lists, unschedule), where an earlier Pier could have stored them: not found, not malformed (decision 0068)', async () => {
    const cases: Array<[string, string, unknown, number, number]> = [
      ['GET', '/payments/find/bad%0Auid', undefined, 404, -1],
      ['GET', '/payments/findAll/bad%09uid', undefined, 404, -1],
      ['GET', '/payments/prepare/bad%7Fprepare', undefined, 404, -1],
      ['GET', '/subscribe/customers/bad%0Dcust', undefined, 200, 1],
      ['GET', '/subscribe/payments/schedule/bad%0Asched', undefined, 404, -1],
      ['POST', '/subscribe/payments/unschedule', { customer_uid: 'bad_cust', merchant_uid: ['bad_sched\u007f'] }, 200, 1],
    ];
    for (const [method, url, body, status, code] of cases) {
      const res = body === undefined ? await raw(method, url) : await json(method, url, body);
      expect(res.status, url).toBe(status);
      expect(res.body, url).toEqual({ code, message: expect.any(String), response: null });
      expect(res.body.message, url).not.toMatch(/파라미터/);
    }
    for (const url of ['/payments?merchant_uid[]=bad%C2%85', '/subscribe/customers?customer_uid[]=bad%0A']) {
      const res = await raw('GET', url);
      expect(res.status, url).not.toBe(400);
      expect(res.body.message, url).not.toMatch(/파라미터/);
    }
    const emoji = await raw('GET', `/payments/find/${encodeURIComponent('주문_😀')}`);
    expectEnvelope(emoji, 404, -1);
  });

  it('refuses an unpaired surrogate in any string like NUL (neither store keeps it as sent), naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, amount: 100, reason: '환불\ud800' }, 'reason'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, ...card, buyer_name: '\udc00홍' }, 'buyer_name'],
      ['POST', '/subscribe/customers/bad_cust', { ...card, customer_name: 'a\ud83d' }, 'customer_name'],
      ['POST', '/payments/cancel', { imp_uid: paidImpUid, extra: { 'requester\ud800': 'customer' } }, 'extra.requester\ud800'],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await json(method, url, body);
      expectEnvelope(res, 400, 1);
      expect(res.body.message).toBe(`파라미터 형식이 올바르지 않습니다: ${field}`);
      expect(res.detail).toBe('must not contain an unpaired UTF-16 surrogate');
    }
  });
});

describe("unschedule's merchant_uid, a string or a list", () => {
  it('names the entry of the list that is wrong, and says what is wrong with it, in x-pier-detail', async () => {
    const cases: Array<[unknown, string]> = [
      [['sched_ok', 5.5], 'merchant_uid.1 must be string'],
      [['sched_ok', ['nested']], 'merchant_uid.1 must be string'],
      [['sched_ok', null], 'merchant_uid.1 must be string'],
      // an empty entry beside ids is ignored (decision 0081); a list of none is refused
      [['', ''], 'merchant_uid lists no id; omit it to revoke every schedule of the customer'],
      [['a'.repeat(41)], 'merchant_uid.0 must NOT have more than 40 characters'],
      [Array.from({ length: 1001 }, (_, i) => `sched_${i}`), 'merchant_uid must NOT have more than 1000 items'],
      // a single id is read as a list of one, as form bodies send it (form-coercion.ts) and the route reads it
      ['a'.repeat(41), 'merchant_uid.0 must NOT have more than 40 characters'],
      [7.5, 'merchant_uid.0 must be string'],
    ];
    for (const [merchantUid, detail] of cases) {
      const res = await json('POST', '/subscribe/payments/unschedule', { customer_uid: 'bad_cust', merchant_uid: merchantUid });
      expectEnvelope(res, 400, 1);
      expect(res.body.message, JSON.stringify(merchantUid).slice(0, 80)).toBe('파라미터 형식이 올바르지 않습니다: merchant_uid');
      expect(res.detail, JSON.stringify(merchantUid).slice(0, 80)).toBe(detail);
    }
    const form = await raw('POST', '/subscribe/payments/unschedule', { contentType: 'application/x-www-form-urlencoded', payload: 'customer_uid=bad_cust&merchant_uid[0]=&merchant_uid[1]=' });
    expectEnvelope(form, 400, 1);
    expect(form.detail).toBe('merchant_uid lists no id; omit it to revoke every schedule of the customer');
    // a union of no list is told every type it takes
    const customer = await json('POST', '/subscribe/payments/unschedule', { customer_uid: 5.5 });
    expectEnvelope(customer, 400, 1);
    expect(customer.body.message).toBe('파라미터 형식이 올바르지 않습니다: customer_uid');
    expect(customer.detail).toBe('customer_uid must be string or null');
  });
});

describe('parts of the amount', () => {
  it('refuses a vat_amount larger than the taxable part (amount − tax_free) on onetime, again and schedule items', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, vat_amount: 1001, ...card }, ''],
      ['/subscribe/payments/onetime', { merchant_uid: 'bad_onetime', amount: 1000, tax_free: 600, vat_amount: 401, ...card }, ''],
      ['/subscribe/payments/again', { customer_uid: 'bad_cust', merchant_uid: 'bad_again', amount: 1000, vat_amount: 5000 }, ''],
      ['/subscribe/payments/schedule', { customer_uid: 'bad_cust', ...card, schedules: [{ merchant_uid: 'bad_sched', schedule_at: 4102444800, amount: 1000, tax_free: 1000, vat_amount: 1 }] }, 'schedules[bad_sched].'],
    ];
    for (const [url, body, prefix] of cases) {
      const res = await json('POST', url, body);
      expectEnvelope(res, 400, 1);
      expect(res.body.message, `${url} ${JSON.stringify(body)}`).toBe(`${prefix}vat_amount는 amount에서 tax_free를 뺀 금액보다 클 수 없습니다.`);
    }
  });
});

describe('after all of the above', () => {
  it('never answered 500, and always answered the V1 envelope', () => {
    expect(seen.length).toBeGreaterThan(150);
    const bad = seen.filter((s) => s.status === 500 || typeof s.body !== 'object' || s.body === null);
    expect(bad).toEqual([]);
    for (const s of seen) {
      expect(Object.keys(s.body as object).sort(), s.what).toEqual(['code', 'message', 'response']);
      if (s.status >= 400) expect((s.body as { response: unknown }).response, s.what).toBeNull();
    }
  });

  it('wrote no payment, refund, billing key or prepare row for a rejected request, and sent nothing to the PG', async () => {
    expect(await counts()).toEqual(before);
    expect(await ledgerCounts()).toEqual(ledgerBefore);
    const p = await pier.call('GET', `/payments/${paidImpUid}`, { token: m.token });
    expect(p.body.response).toMatchObject({ status: 'paid', cancel_amount: 0, cancel_history: [] });
    for (const uid of ['bad_onetime', 'bad_again', 'bad_vbank']) {
      expect((await pier.call('GET', `/payments/find/${uid}`, { token: m.token })).status).toBe(404);
    }
    const noKey = await pier.call('GET', '/subscribe/customers/bad_cust', { token: m.token });
    expect(noKey.body).toEqual({ code: 1, message: '요청하신 customer_uid(bad_cust)로 등록된 정보를 찾을 수 없습니다.', response: null });
    expect((await pier.call('GET', '/payments/prepare/bad_prepare', { token: m.token })).status).toBe(404);
  });
});
