import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const ORIGIN = 'https://shop.example';
const UA_PC = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36';

const order = (extra: Record<string, unknown> = {}) => ({ pg: 'jtnet', pay_method: 'card', merchant_uid: `o_${Math.random().toString(36).slice(2)}`, name: '주문명', amount: 14000, buyer_tel: '010-1234-5678', ...extra });

async function session(params: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const res = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json', 'user-agent': UA_PC, origin: ORIGIN },
    payload: JSON.stringify({ imp_code: m.merchantCode, params, mode: 'overlay', origin: ORIGIN, ...extra }),
  });
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body) };
}

async function page(url: string, form?: Record<string, string>) {
  const res = await pier.app.inject({
    method: form ? 'POST' : 'GET',
    url,
    headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
    payload: form ? new URLSearchParams(form).toString() : undefined,
  });
  return res;
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('the SDK bundle', () => {
  it('is served at /v1/iamport.js and under the legacy name, and defines window.IMP', async () => {
    for (const url of ['/v1/iamport.js', '/js/iamport.payment-1.2.0.js']) {
      const res = await pier.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/javascript/);
      expect(res.body).toContain('request_pay');
      expect(res.body).toContain('판매자 코드가 설정되지 않았습니다. IMP.init()함수를 먼저 호출하세요.');
      expect(res.body.length).toBeLessThan(40_000);
    }
  });
});

describe('POST /checkout/sessions (request_pay validation before any window opens)', () => {
  it('opens a session for a valid request, with CORS for the merchant page', async () => {
    const r = await session(order());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, mode: 'overlay' });
    expect(r.body.session_id).toMatch(/^cs_/);
    expect(r.body.checkout_url).toBe(`http://localhost:8080/checkout/${r.body.session_id}`);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    const pre = await pier.app.inject({ method: 'OPTIONS', url: '/checkout/sessions', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-headers']).toContain('content-type');
  });

  it('generates nobody_<ms> when merchant_uid is absent, as V1 does', async () => {
    const { merchant_uid: _omit, ...params } = order();
    const r = await session(params);
    expect(r.body.ok).toBe(true);
    expect(r.body.merchant_uid).toMatch(/^nobody_\d{13}$/);
  });

  it('accepts pg as jtnet.{MID} and refuses an unknown pg with F1001', async () => {
    expect((await session(order({ pg: 'jtnet.tpaytest0m' }))).body.ok).toBe(true);
    const r = await session(order({ pg: 'jtnet.nosuchmid' }));
    expect(r.body).toMatchObject({ ok: false, rsp: { success: false, imp_uid: null, error_code: 'F1001' } });
    expect(r.body.rsp.error_msg).toContain('등록되지 않은 PG모듈 정보입니다');
    expect((await session(order({ pg: 'kcp' }))).body.rsp.error_code).toBe('F1001');
  });

  it('refuses an amount given as a string, a missing amount and an unsupported pay_method', async () => {
    const s = await session(order({ amount: '14000' }));
    expect(s.body.rsp).toMatchObject({ success: false, error_code: 'F1000', imp_uid: null });
    expect(s.body.rsp.error_msg).toMatch(/amount/);
    expect((await session(order({ amount: undefined }))).body.rsp.error_code).toBe('F1000');
    const pm = await session(order({ pay_method: 'kakaopay' }));
    expect(pm.body.rsp.error_msg).toContain('kakaopay');
    expect((await session(order({ amount: 0 }))).body.rsp.error_code).toBe('F1000');
    expect((await session(order({ customer_uid: 'c_1', pay_method: 'trans' }))).body.rsp.error_msg).toMatch(/card/);
  });

  it('refuses an unknown merchant code, a non-http origin, and redirect mode without m_redirect_url', async () => {
    expect((await session(order(), { imp_code: 'imp00000000' })).body.rsp.error_code).toBe('F1005');
    expect((await session(order(), { origin: 'file://' })).body.rsp.error_code).toBe('F1000');
    expect((await session(order(), { mode: 'redirect' })).body.rsp.error_msg).toMatch(/m_redirect_url/);
  });

  it('answers F1002 with V1 text for a merchant_uid that is already paid', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: 'already_paid_1', amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '4242' }), expiry: '2030-12' },
    });
    expect(paid.body.response.status).toBe('paid');
    const r = await session(order({ merchant_uid: 'already_paid_1' }));
    expect(r.body).toEqual({
      ok: false,
      rsp: { success: false, imp_success: false, imp_uid: null, merchant_uid: 'already_paid_1', error_code: 'F1002', error_msg: '이미 결제가 이루어진 거래건입니다.' },
    });
  });

  it('refuses an amount that differs from the prepared amount, and accepts the prepared one', async () => {
    await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'prep_1', amount: 5000 } });
    const bad = await session(order({ merchant_uid: 'prep_1', amount: 4000 }));
    expect(bad.body.rsp).toMatchObject({ success: false, error_code: 'F1003', merchant_uid: 'prep_1', imp_uid: null });
    expect(bad.body.rsp.error_msg).toContain('5000');
    expect((await session(order({ merchant_uid: 'prep_1', amount: 5000 }))).body.ok).toBe(true);
  });

  it('refuses malformed card.detail, display.card_quota and vbank_due', async () => {
    expect((await session(order({ card: { detail: [{ card_code: 366 }] } }))).body.rsp.error_code).toBe('F1000');
    expect((await session(order({ display: { card_quota: '3' } }))).body.rsp.error_code).toBe('F1000');
    expect((await session(order({ pay_method: 'vbank', vbank_due: 'tomorrow' }))).body.rsp.error_code).toBe('F1000');
    expect((await session(order({ card: { detail: [{ card_code: '*', enabled: false }] } }))).body.rsp.error_msg).toMatch(/카드사/);
  });
});

describe('the checkout page', () => {
  it('offers only the card companies card.detail leaves enabled (seed: * off, 366 on → 신한 only)', async () => {
    const r = await session(order({ card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } }));
    const res = await page(`/checkout/${r.body.session_id}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBe(`frame-ancestors ${ORIGIN}`);
    const cards = [...res.body.matchAll(/name="card_code" id="card-(\d+)"/g)].map((x) => x[1]);
    expect(cards).toEqual(['366']);
    expect(res.body).toContain('신한카드');
  });

  it('offers every domestic card company by default, and disables single ones', async () => {
    const all = await page(`/checkout/${(await session(order())).body.session_id}`);
    expect([...all.body.matchAll(/name="card_code"/g)].length).toBe(20);
    const some = await page(`/checkout/${(await session(order({ card: { detail: [{ card_code: '381', enabled: false }] } }))).body.session_id}`);
    expect(some.body).not.toContain('id="card-381"');
    expect([...some.body.matchAll(/name="card_code"/g)].length).toBe(19);
  });

  it('offers installments only from 50,000 KRW, limited by display.card_quota', async () => {
    const info = async (params: Record<string, unknown>) => {
      const body = (await page(`/checkout/${(await session(order(params))).body.session_id}`)).body;
      return /id="quota-info">([^<]*)/.exec(body)?.[1];
    };
    expect(await info({ amount: 49_999 })).toBe('할부는 50,000원 이상 결제 시 선택할 수 있습니다.');
    expect(await info({ amount: 50_000, display: { card_quota: [3, 6] } })).toBe('할부기간: 일시불, 3개월, 6개월 ');
    expect(await info({ amount: 90_000, display: { card_quota: [] } })).toBe('이 상점은 일시불 결제만 가능합니다.');
    expect(await info({ amount: 90_000 })).toContain('일시불, 2개월, 3개월, 4개월, 5개월, 6개월, 7개월, 8개월, 9개월, 10개월, 11개월, 12개월');
  });

  it('is in Korean by default and in English with language: en', async () => {
    const ko = await page(`/checkout/${(await session(order())).body.session_id}`);
    expect(ko.body).toContain('<html lang="ko">');
    expect(ko.body).toContain('14,000원 결제하기');
    const en = await page(`/checkout/${(await session(order({ language: 'en' }))).body.session_id}`);
    expect(en.body).toContain('<html lang="en">');
    expect(en.body).toContain('Pay KRW 14,000');
    const popup = await page(`/checkout/${(await session(order({ language: 'en' }), { mode: 'popup' })).body.session_id}`);
    expect(popup.body).toContain('aria-label="Close the payment window"');
  });

  it('re-renders with a clear error when the buyer did not agree or picked a card that is not offered', async () => {
    const id = (await session(order({ card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } }))).body.session_id;
    const noAgree = await page(`/checkout/${id}/start`, { card_code: '366' });
    expect(noAgree.statusCode).toBe(400);
    expect(noAgree.body).toContain('role="alert"');
    expect(noAgree.body).toContain('약관에 동의해 주세요');
    const wrongCard = await page(`/checkout/${id}/start`, { card_code: '381', agree: '1' });
    expect(wrongCard.statusCode).toBe(400);
    expect(wrongCard.body).toContain('카드사를 선택해 주세요');
  });

  it('answers 404 with a page for an unknown session', async () => {
    const res = await page('/checkout/cs_nosuchsessionxxxxxxxxxxxxxxxxxx');
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('결제 세션을 찾을 수 없습니다');
  });
});

describe('starting and closing', () => {
  it('records the attempt, then hands the buyer a form into the PG window', async () => {
    const r = await session(order({ merchant_uid: 'start_1' }));
    const res = await page(`/checkout/${r.body.session_id}/start`, { card_code: '366', agree: '1' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`action="${pier.simulatorUrl}/webTxInit"`);
    expect(res.body).toMatch(/name="encryptData" value="[^"]+"/);
    expect(res.body).toContain(`/checkout/${r.body.session_id}/return`);
    const found = await pier.call('GET', '/payments/findAll/start_1', { token: m.token });
    expect(found.body.response.list).toHaveLength(1);
    expect(found.body.response.list[0]).toMatchObject({ status: 'ready', channel: 'pc', pg_id: 'tpaytest0m', user_agent: UA_PC, amount: 14000 });
    // an open window holds no merchant_uid (decision 0058): a second request_pay for it opens too
    expect((await session(order({ merchant_uid: 'start_1' }))).body).toMatchObject({ ok: true, session_id: expect.stringMatching(/^cs_/) });
  });

  it('closing before the PG window opened gives a cancel rsp with imp_uid null, once', async () => {
    const r = await session(order({ merchant_uid: 'close_1' }));
    const close = async () =>
      JSON.parse((await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${r.body.session_id}/close`, headers: { 'content-type': 'application/json' }, payload: '{}' })).body);
    const first = await close();
    expect(first.rsp).toMatchObject({ success: false, imp_uid: null, merchant_uid: 'close_1', error_code: 'F0005' });
    expect(first.rsp.error_msg).toContain('취소');
    expect(await close()).toEqual(first);
    const result = await page(`/checkout/${r.body.session_id}`);
    expect(result.body).toContain('"page":"result"');
  });

  it('redirect mode ends with a 303 to m_redirect_url carrying imp_success=false and the error', async () => {
    const r = await session(order({ merchant_uid: 'redir_1', m_redirect_url: 'https://shop.example/done?x=1' }), { mode: 'redirect' });
    const res = await page(`/checkout/${r.body.session_id}/close`, {});
    expect(res.statusCode).toBe(303);
    const u = new URL(res.headers.location as string);
    expect(u.origin + u.pathname).toBe('https://shop.example/done');
    expect(Object.fromEntries(u.searchParams)).toMatchObject({ x: '1', imp_uid: '', merchant_uid: 'redir_1', imp_success: 'false', error_code: 'F0005' });
  });
});

describe('the deposit notice endpoint', () => {
  it('refuses a notice that does not verify', async () => {
    const ch = await pier.deps.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).where('kind', '=', 'window').executeTakeFirstOrThrow();
    const res = await page(`/checkout/pg/${ch.id}/notify`, { mid: 'tpaytest0m', moid: 'imp_000000000000', tid: 'x', amt: '1000', resultCd: '4110', signature: 'bad' });
    expect(res.statusCode).toBe(403);
  });
});
