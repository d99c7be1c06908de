/**
 * Fields that take one value or a list of them (unschedule's `merchant_uid`, `GET /payments?imp_uid[]`,
 * `merchant_uid[]`, `GET /subscribe/customers?customer_uid[]`, `notice_url`): only what a form can
 * send becomes a list, a single value (`name=x`) a list of one and repeated keys or `name[]` a list.
 * Before, any value did: `{"merchant_uid": {"first": "x"}}` was read as `["x"]` and acted on
 * (a schedule revoked, a payment found, a charge made with a notice_url object), and a string
 * `custom_data` was stored as the JSON of a list of it (`"abc"` became `["abc"]`). V1 refuses a
 * value of the wrong type, and so does Pier: V1's envelope, HTTP 400, the field named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const card = { card_number: testCardNumber({ kftcCode: '381', lastFour: '5678' }), expiry: '2030-12', birth: '820213' };
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

async function send(method: 'GET' | 'POST', url: string, o: { json?: unknown; form?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${m.token}` };
  let payload: string | undefined;
  if (o.json !== undefined) [headers['content-type'], payload] = [JSON_TYPE, JSON.stringify(o.json)];
  if (o.form !== undefined) [headers['content-type'], payload] = [FORM, o.form];
  const res = await pier.app.inject({ method, url, headers, payload });
  const detail = res.headers['x-pier-detail'];
  return { status: res.statusCode, body: JSON.parse(res.body), detail: typeof detail === 'string' ? detail : undefined };
}

function expectRefused(res: { status: number; body: unknown; detail?: string }, field: string, detail: string, what: string) {
  expect(res.status, what).toBe(400);
  expect(res.body, what).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: ${field}`, response: null });
  expect(res.detail, what).toBe(detail);
}

async function scheduled(customerUid: string, merchantUids: string[]) {
  const key = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: card });
  expect(key.body.code).toBe(0);
  const at = Math.floor(pier.clock.now() / 1000) + 86_400;
  const res = await pier.call('POST', '/subscribe/payments/schedule', {
    token: m.token,
    body: { customer_uid: customerUid, schedules: merchantUids.map((merchant_uid, i) => ({ merchant_uid, schedule_at: at + i, amount: 1000, name: 'plan' })) },
  });
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
}

const scheduleStatus = async (merchantUid: string) =>
  (await pier.store.db.selectFrom('payment_schedules').select('state').where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow()).state;

describe("unschedule's merchant_uid", () => {
  it('refuses an object, JSON or form, and revokes nothing', async () => {
    await scheduled('lf_cust', ['lf_keep']);
    const attempts: Array<[string, { json?: unknown; form?: string }]> = [
      ['JSON object', { json: { customer_uid: 'lf_cust', merchant_uid: { first: 'lf_keep' } } }],
      ['JSON object keyed by index', { json: { customer_uid: 'lf_cust', merchant_uid: { 0: 'lf_keep' } } }],
      ['form object', { form: 'customer_uid=lf_cust&merchant_uid[first]=lf_keep' }],
    ];
    for (const [what, body] of attempts) {
      expectRefused(await send('POST', '/subscribe/payments/unschedule', body), 'merchant_uid', 'merchant_uid must be string or array', what);
    }
    // a null is refused as before, not read as omitted (which would revoke every schedule of the customer)
    expectRefused(await send('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'lf_cust', merchant_uid: null } }), 'merchant_uid', 'merchant_uid must be string or array', 'null');
    // a list inside the list, a number that is no integer id (decision 0109): refused naming the entry
    expectRefused(await send('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'lf_cust', merchant_uid: [['lf_keep']] } }), 'merchant_uid', 'merchant_uid.0 must be string', 'nested list');
    expectRefused(await send('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'lf_cust', merchant_uid: 7.5 } }), 'merchant_uid', 'merchant_uid.0 must be string', 'number');
    expect(await scheduleStatus('lf_keep')).toBe('scheduled');
  });

  it('takes a single id as a list of one and repeated keys or name[] as a list, JSON or form', async () => {
    await scheduled('lf_cust2', ['lf_a', 'lf_b', 'lf_c', 'lf_d', 'lf_e']);
    const revoked = (res: { body: { code: number; response: Array<{ merchant_uid: string }> } }) => res.body.response.map((s) => s.merchant_uid);
    expect(revoked(await send('POST', '/subscribe/payments/unschedule', { json: { customer_uid: 'lf_cust2', merchant_uid: 'lf_a' } }))).toEqual(['lf_a']);
    expect(revoked(await send('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=lf_cust2&merchant_uid=lf_b' }))).toEqual(['lf_b']);
    expect(revoked(await send('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=lf_cust2&merchant_uid=lf_c&merchant_uid=lf_d' }))).toEqual(['lf_c', 'lf_d']);
    expect(revoked(await send('POST', '/subscribe/payments/unschedule', { form: 'customer_uid=lf_cust2&merchant_uid[]=lf_e' }))).toEqual(['lf_e']);
  });
});

describe('query lists', () => {
  it('refuses an object for imp_uid[], merchant_uid[] and customer_uid[], and finds nothing with it', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'lf_paid', amount: 1000, ...card } });
    const impUid = paid.body.response.imp_uid as string;
    await pier.call('POST', '/subscribe/customers/lf_key', { token: m.token, body: card });
    const cases: Array<[string, string, string]> = [
      [`/payments?imp_uid[first]=${impUid}`, 'imp_uid', 'imp_uid must be array or string'],
      ['/payments?merchant_uid[first]=lf_paid', 'merchant_uid', 'merchant_uid must be array or string'],
      ['/subscribe/customers?customer_uid[first]=lf_key', 'customer_uid', 'customer_uid must be array or string'],
      [`/payments?imp_uid[0][0]=${impUid}`, 'imp_uid.0', 'imp_uid.0 must be string'],
    ];
    for (const [url, field, detail] of cases) expectRefused(await send('GET', url), field, detail, url);

    // what a form sends: one value, repeated keys, name[]
    for (const url of [`/payments?imp_uid=${impUid}`, `/payments?imp_uid[]=${impUid}`, `/payments?imp_uid[]=${impUid}&imp_uid[]=${impUid}`, '/payments?merchant_uid=lf_paid']) {
      const res = await send('GET', url);
      expect(res.status, url).toBe(200);
      expect(res.body.response.map((p: { imp_uid: string }) => p.imp_uid), url).toContain(impUid);
    }
    const keys = await send('GET', '/subscribe/customers?customer_uid=lf_key');
    expect(keys.body.response.map((k: { customer_uid: string }) => k.customer_uid)).toEqual(['lf_key']);
  });
});

describe('notice_url and custom_data', () => {
  it('refuses a notice_url object before charging anything', async () => {
    const ledger = async () => ((await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: unknown[] }).approvals.length;
    const before = await ledger();
    for (const [what, body] of [
      ['JSON', { json: { merchant_uid: 'lf_notice', amount: 1000, ...card, notice_url: { a: 'https://shop.example/hook' } } }],
      ['form', { form: `merchant_uid=lf_notice&amount=1000&card_number=${card.card_number}&expiry=${card.expiry}&birth=${card.birth}&notice_url[a]=https://shop.example/hook` }],
    ] as const) {
      expectRefused(await send('POST', '/subscribe/payments/onetime', body), 'notice_url', 'notice_url must be string, array or null', what);
    }
    expect(await ledger()).toBe(before);
    expect((await pier.call('GET', '/payments/find/lf_notice', { token: m.token })).status).toBe(404);
  });

  it('keeps a custom_data string a string (it was stored as the JSON of a list of it)', async () => {
    const json = await send('POST', '/subscribe/payments/onetime', { json: { merchant_uid: 'lf_custom_json', amount: 1000, ...card, custom_data: 'order-7' } });
    expect(json.body.response.custom_data).toBe('order-7');
    const form = await send('POST', '/subscribe/payments/onetime', {
      form: `merchant_uid=lf_custom_form&amount=1000&card_number=${card.card_number}&expiry=${card.expiry}&birth=${card.birth}&custom_data=${encodeURIComponent('{"sku":1}')}`,
    });
    expect(form.body.response.custom_data).toBe('{"sku":1}');
    const found = await pier.call('GET', '/payments/find/lf_custom_json', { token: m.token });
    expect(found.body.response.custom_data).toBe('order-7');
  });
});
