import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

/**
 * Issue #9 item 7: everything request_pay carries comes from an anonymous browser. Pier bounds it when
 * the checkout session is created (docs/decisions/0008-window-input-limits-and-origins.md), so that
 * nothing a buyer (or anyone holding the public merchant code) sends can break a later write.
 */
let pier: TestPier;
let m: TestMerchant;
const ORIGIN = 'https://shop.example';

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

const order = (extra: Record<string, unknown> = {}) => ({ pg: 'jtnet', pay_method: 'card', merchant_uid: `lim_${Math.random().toString(36).slice(2)}`, name: '주문명', amount: 14000, buyer_tel: '010-1234-5678', ...extra });

async function session(params: Record<string, unknown>) {
  const res = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ imp_code: m.merchantCode, params, mode: 'overlay', origin: ORIGIN }),
  });
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

const form = (url: string, fields: Record<string, string>) =>
  pier.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The hidden fields and action of the auto-posting form in a page (Pier's to-PG page, the simulator's result page). */
function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = unescape(/<form[^>]*action="([^"]*)"/.exec(html)![1]);
  const fields: Record<string, string> = {};
  for (const f of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[unescape(f[1])] = unescape(f[2]);
  return { action, fields };
}

async function postTo(url: string, fields: Record<string, string>): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  return res.text();
}

/** The buyer confirms Pier's checkout, pays with a 신한 test card in the simulator's window, and the browser posts the result back. */
async function payThroughWindow(sessionId: string) {
  const start = await form(`/checkout/${sessionId}/start`, { card_code: '366', agree: '1' });
  expect(start.statusCode).toBe(200);
  const toPg = formOf(start.body);
  const windowHtml = await postTo(toPg.action, toPg.fields);
  const txToken = /name="txToken" value="([^"]+)"/.exec(windowHtml)![1];
  const resultHtml = await postTo(`${pier.simulatorUrl}/webTxInit/pay`, {
    txToken,
    cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }),
    cardExpiry: '12/30',
    cardPwd: '12',
    buyerAuthNum: '900101',
    cardQuota: '00',
  });
  const result = formOf(resultHtml);
  expect(result.action).toBe(`http://localhost:8080/checkout/${sessionId}/return`);
  return form(`/checkout/${sessionId}/return`, result.fields);
}

const rspOf = (html: string) => JSON.parse(/<script type="application\/json" id="pier-data">(.*?)<\/script>/s.exec(html)![1]).rsp;

describe('notice_url from the browser', () => {
  it('5,000 notice URLs are refused with F1000 before any window opens: no session, no payment', async () => {
    const merchant_uid = `flood_${Date.now()}`;
    // short URLs, so the list fits the body limit and reaches validation (3,000 of them made the approval's
    // webhook insert exceed SQLite's variable limit: a 500 on return, the payment `ready` forever)
    const urls = Array.from({ length: 5000 }, (_, i) => `http://h.io/${i}`);
    const r = await session(order({ merchant_uid, notice_url: urls }));
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.rsp).toMatchObject({ success: false, imp_uid: null, merchant_uid, error_code: 'F1000' });
    expect(r.body.rsp.error_msg).toContain('notice_url');
    expect(r.body.rsp.error_msg).toContain('5');
    const sessions = await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('merchant_uid', '=', merchant_uid).execute();
    expect(sessions).toEqual([]);
    const payments = await pier.deps.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', merchant_uid).execute();
    expect(payments).toEqual([]);
  });

  it('five notice URLs (the most allowed) go through to a paid payment with one webhook delivery each', async () => {
    const urls = Array.from({ length: 5 }, (_, i) => `https://hooks.example/pier/${i}`);
    const r = await session(order({ notice_url: urls }));
    expect(r.body.ok).toBe(true);
    const ret = await payThroughWindow(r.body.session_id);
    expect(ret.statusCode).toBe(200);
    const rsp = rspOf(ret.body);
    expect(rsp).toMatchObject({ success: true, status: 'paid', paid_amount: 14000 });
    const deliveries = await pier.deps.store.db
      .selectFrom('webhook_deliveries')
      .innerJoin('webhook_events', 'webhook_events.id', 'webhook_deliveries.event_id')
      .select('webhook_deliveries.url')
      .where('webhook_events.imp_uid', '=', rsp.imp_uid)
      .execute();
    expect(deliveries.map((d) => d.url).sort()).toEqual([...urls].sort());
  });

  it('six URLs, a relative or non-http URL, an over-long URL, a non-string entry and a list that is not a list of strings are refused', async () => {
    const long = `https://hooks.example/${'a'.repeat(2001 - 'https://hooks.example/'.length)}`;
    expect(long.length).toBe(2001);
    const cases: unknown[] = [
      Array.from({ length: 6 }, (_, i) => `https://hooks.example/${i}`),
      '/relative/hook',
      'javascript:alert(1)',
      'ftp://hooks.example/x',
      long,
      ['https://hooks.example/ok', 42],
      ['https://hooks.example/ok', ''],
      { url: 'https://hooks.example/x' },
      'https://a.example/x https://b.example/y',
    ];
    for (const notice_url of cases) {
      const r = await session(order({ notice_url }));
      expect(r.body.ok, JSON.stringify(notice_url).slice(0, 80)).toBe(false);
      expect(r.body.rsp.error_code).toBe('F1000');
      expect(r.body.rsp.error_msg).toContain('notice_url');
    }
  });

  it('accepts a single string, an array, an exactly 2,000-character URL and an empty array (= none)', async () => {
    const exact = `https://hooks.example/${'b'.repeat(2000 - 'https://hooks.example/'.length)}`;
    for (const notice_url of ['https://hooks.example/one', ['https://hooks.example/a', 'http://hooks.example/b'], exact, []]) {
      const r = await session(order({ notice_url }));
      expect(r.body.ok, JSON.stringify(notice_url).slice(0, 80)).toBe(true);
    }
  });
});

describe('other buyer-supplied fields', () => {
  it('each text field over its limit is refused with F1000 naming the field and the limit', async () => {
    const limits: Record<string, number> = { name: 200, buyer_name: 100, buyer_email: 100, buyer_tel: 40, buyer_addr: 200, buyer_postcode: 16 };
    for (const [field, max] of Object.entries(limits)) {
      const ok = await session(order({ [field]: '가'.repeat(max) }));
      expect(ok.body.ok, field).toBe(true);
      const r = await session(order({ [field]: '가'.repeat(max + 1) }));
      expect(r.body.ok, field).toBe(false);
      expect(r.body.rsp).toMatchObject({ error_code: 'F1000' });
      expect(r.body.rsp.error_msg).toContain(field);
      expect(r.body.rsp.error_msg).toContain(String(max));
    }
  });

  it('custom_data over 10,000 characters of JSON is refused; 10,000 exactly is kept and echoed back', async () => {
    const big = { note: 'x'.repeat(10_001 - '{"note":""}'.length) };
    expect(JSON.stringify(big).length).toBe(10_001);
    const r = await session(order({ custom_data: big }));
    expect(r.body.rsp).toMatchObject({ error_code: 'F1000' });
    expect(r.body.rsp.error_msg).toContain('custom_data');
    const fits = { note: 'x'.repeat(10_000 - '{"note":""}'.length) };
    expect((await session(order({ custom_data: fits }))).body.ok).toBe(true);
  });

  it('custom_data nested too deep to serialise (20,000 arrays, 40 KB) is refused with F1000, not a 500', async () => {
    const merchant_uid = `deep_${Date.now()}`;
    // written by hand: JSON.stringify of such a value overflows the stack, which is the point
    const payload = JSON.stringify({ imp_code: m.merchantCode, params: order({ merchant_uid, custom_data: 'DEEP' }), mode: 'overlay', origin: ORIGIN }).replace('"DEEP"', '['.repeat(20_000) + ']'.repeat(20_000));
    const res = await pier.app.inject({ method: 'POST', url: '/checkout/sessions', headers: { 'content-type': 'application/json' }, payload });
    expect(res.statusCode, res.body).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.ok).toBe(false);
    expect(body.rsp).toMatchObject({ success: false, imp_uid: null, merchant_uid, error_code: 'F1000' });
    expect(body.rsp.error_msg).toContain('custom_data');
    expect(await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', merchant_uid).execute()).toEqual([]);
  });

  it('a control character in a text field is refused with F1000 naming the field', async () => {
    for (const [field, value] of [
      ['name', '주문\u0001명'],
      ['buyer_name', '홍\u001b[2J길동'],
      ['buyer_addr', '서울\u0007'],
      ['buyer_email', 'a\u007f@b.example'],
      ['custom_data', 'plain\u0008string'],
    ] as const) {
      const r = await session(order({ [field]: value }));
      expect(r.body.ok, field).toBe(false);
      expect(r.body.rsp).toMatchObject({ error_code: 'F1000' });
      expect(r.body.rsp.error_msg).toContain(field);
    }
    // line breaks and tabs are ordinary text (addresses, custom_data strings)
    expect((await session(order({ buyer_addr: '서울시\n중구\t1' }))).body.ok).toBe(true);
  });

  it('merchant_uid and customer_uid with a control character (tab and line breaks too), a C1 control or an unpaired surrogate are refused with F1000, as REST refuses them (decision 0054)', async () => {
    const before = await pier.store.db.selectFrom('checkout_sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    for (const [field, value] of [
      ['merchant_uid', 'order\n1'],
      ['merchant_uid', 'order\t1'],
      ['merchant_uid', 'order\u00851'],
      ['customer_uid', 'cust\r1'],
      ['customer_uid', 'cust/1'],
    ] as const) {
      const r = await session(order({ [field]: value }));
      expect(r.body.ok, JSON.stringify(value)).toBe(false);
      expect(r.body.rsp).toMatchObject({ error_code: 'F1000' });
      expect(r.body.rsp.error_msg).toContain(field);
    }
    // an unpaired surrogate, in any field, is refused before validation like NUL (the SDK shows the message with F1000)
    for (const [field, value] of [
      ['merchant_uid', 'order\ud8001'],
      ['merchant_uid', '\udc00order'],
      ['customer_uid', 'cust\ud800'],
      ['buyer_name', '홍\ud800'],
    ] as const) {
      const r = await session(order({ [field]: value }));
      expect(r.status, JSON.stringify(value)).toBe(400);
      expect(r.body).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: params.${field}`, response: null });
    }
    const after = await pier.store.db.selectFrom('checkout_sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    // a paired surrogate (an emoji) and Korean are ordinary characters
    expect((await session(order({ merchant_uid: `주문_😀_${Math.random().toString(36).slice(2)}` }))).body.ok).toBe(true);
  });

  it('merchant_uid over 40 and customer_uid over 80 bytes of UTF-8 are refused with F1000 as REST refuses them, at exactly 40 and 80 bytes accepted (decision 0062)', async () => {
    const before = await pier.store.db.selectFrom('checkout_sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // 14 Hangul: 14 UTF-16 units, 42 bytes; 11 emoji: 22 units, 44 bytes
    for (const [field, value, max] of [
      ['merchant_uid', '가'.repeat(14), 40],
      ['merchant_uid', '😀'.repeat(11), 40],
      ['customer_uid', '고'.repeat(27), 80],
      ['customer_uid', '😀'.repeat(21), 80],
    ] as const) {
      const r = await session(order({ [field]: value }));
      expect(r.body.ok, value).toBe(false);
      expect(r.body.rsp).toMatchObject({ error_code: 'F1000', error_msg: `${field} 파라미터가 너무 깁니다(UTF-8 최대 ${max}바이트). (${field} is longer than ${max} bytes of UTF-8)` });
    }
    const after = await pier.store.db.selectFrom('checkout_sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    for (const merchant_uid of ['가'.repeat(13) + 'a', '😀'.repeat(10), 'x'.repeat(40)]) {
      const r = await session(order({ merchant_uid }));
      expect(r.body.ok, merchant_uid).toBe(true);
      const row = await pier.store.db.selectFrom('checkout_sessions').select('merchant_uid').where('id', '=', r.body.session_id).executeTakeFirstOrThrow();
      expect(row.merchant_uid).toBe(merchant_uid);
    }
    expect((await session(order({ customer_uid: '고'.repeat(26) + 'ab' }))).body.ok).toBe(true);
  });

  it('vat_amount larger than the taxable part (amount − tax_free) is refused with F1000; equal to it is accepted', async () => {
    for (const extra of [{ vat_amount: 14001 }, { tax_free: 10000, vat_amount: 4001 }, { tax_free: 10000, vat: 5000 }]) {
      const r = await session(order(extra));
      expect(r.body.ok, JSON.stringify(extra)).toBe(false);
      expect(r.body.rsp).toMatchObject({ error_code: 'F1000' });
      expect(r.body.rsp.error_msg).toContain('vat_amount');
    }
    expect((await session(order({ tax_free: 10000, vat_amount: 4000 }))).body.ok).toBe(true);
  });

  it('card.detail and display.card_quota lists are bounded (a huge list is refused, not stored)', async () => {
    const detail = Array.from({ length: 1000 }, () => ({ card_code: '366', enabled: true }));
    const r1 = await session(order({ card: { detail } }));
    expect(r1.body.rsp).toMatchObject({ error_code: 'F1000' });
    expect(r1.body.rsp.error_msg).toContain('card.detail');
    const r2 = await session(order({ card: { detail: [{ card_code: 'x'.repeat(100), enabled: true }] } }));
    expect(r2.body.rsp).toMatchObject({ error_code: 'F1000' });
    const quotas = Array.from({ length: 5000 }, () => 3);
    const r3 = await session(order({ amount: 60000, display: { card_quota: quotas } }));
    expect(r3.body.rsp).toMatchObject({ error_code: 'F1000' });
    expect(r3.body.rsp.error_msg).toContain('display.card_quota');
    // the ordinary shapes still work
    expect((await session(order({ card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } }))).body.ok).toBe(true);
    expect((await session(order({ amount: 60000, display: { card_quota: [0, 2, 3, 6, 12] } }))).body.ok).toBe(true);
  });

  it('a request body far larger than any valid request_pay is refused without a session being written', async () => {
    const merchant_uid = `huge_${Date.now()}`;
    const res = await pier.app.inject({
      method: 'POST',
      url: '/checkout/sessions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ imp_code: m.merchantCode, params: order({ merchant_uid, junk: 'j'.repeat(200_000) }), mode: 'overlay', origin: ORIGIN }),
    });
    expect(res.statusCode).toBe(413);
    // the SDK turns this envelope into an F1000 rsp (test/e2e/window-origins.test.ts)
    expect(JSON.parse(res.body)).toMatchObject({ code: 1, response: null, message: '요청 본문이 너무 큽니다.' });
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const sessions = await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('merchant_uid', '=', merchant_uid).execute();
    expect(sessions).toEqual([]);
  });
});
