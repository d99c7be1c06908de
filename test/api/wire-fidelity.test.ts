/**
 * Issue #11: merchant code and the published V1 clients compare `code`, `message` and the HTTP status
 * for equality, so Pier must answer exactly what V1 answers. Each case is sent the way a client or
 * an attacker sends it. Evidence for each choice: docs/decisions/0011-v1-wire-fidelity.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMerchant, DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const good = testCardNumber({ kftcCode: '366', lastFour: '4242' });

/** A parenthesised English gloss such as `(already fully cancelled)`: V1 never sends one. */
const ENGLISH_GLOSS = /\([A-Za-z][^)]*\)/;

describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  const now = () => Math.floor(pier.clock.now() / 1000);

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  const keyIn = (merchantUid: string, extra: Record<string, unknown> = {}) => ({
    merchant_uid: merchantUid,
    amount: 3000,
    card_number: good,
    expiry: '2030-12',
    birth: '820213',
    pwd_2digit: '00',
    ...extra,
  });
  const pay = (body: unknown) => pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body });
  const rows = (merchantUid: string) =>
    pier.store.db.selectFrom('payments').select(['status', 'amount']).where('merchant_uid', '=', merchantUid).execute();

  describe('1. imp_key is matched without regard to case; the secret is exact', () => {
    let demo: { impKey: string; impSecret: string };
    beforeAll(async () => {
      demo = await createMerchant(pier.deps, { name: 'demo pair', impKey: DEMO_IMP_KEY, impSecret: DEMO_IMP_SECRET });
    });

    it('issues the same token for imp_apikey, imp_apiKey (the clients\' default) and IMP_APIKEY', async () => {
      const tokens = [];
      for (const impKey of ['imp_apikey', 'imp_apiKey', 'IMP_APIKEY']) {
        const res = await pier.call('POST', '/users/getToken', { body: { imp_key: impKey, imp_secret: demo.impSecret } });
        expect(res.status, impKey).toBe(200);
        expect(res.body.code).toBe(0);
        tokens.push(res.body.response.access_token);
      }
      expect(new Set(tokens).size).toBe(1);
      const form = await pier.call('POST', '/users/getToken', { form: `imp_key=Imp_ApiKey&imp_secret=${demo.impSecret}` });
      expect(form.body.response.access_token).toBe(tokens[0]);
    });

    it('refuses the secret in another case, with 401', async () => {
      for (const secret of [demo.impSecret.toUpperCase(), demo.impSecret.toLowerCase()]) {
        const res = await pier.call('POST', '/users/getToken', { body: { imp_key: 'imp_apiKey', imp_secret: secret } });
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ code: -1, message: '아임포트 API 인증에 실패하였습니다.', response: null });
      }
    });

    it('never lets a second key that differs only in case exist (the match would be ambiguous)', async () => {
      await expect(createMerchant(pier.deps, { name: 'shadow', impKey: 'IMP_APIKEY', impSecret: 'another-secret-of-enough-length' })).rejects.toThrow(/already exists/);
    });
  });

  describe('2. message carries V1\'s Korean text exactly', () => {
    // code -1, as ModernPUG/iamport-rest-client-modern-php's HttpClientTest asserts of V1 for the
    // `{"imp_key":null,"imp_secret":null}` its unconfigured client sends (docs/decisions/0131)
    it('names the missing credentials for null, empty or absent imp_key/imp_secret, with code -1', async () => {
      for (const body of [{ imp_key: null, imp_secret: null }, { imp_key: null }, { imp_key: 'imp_apikey', imp_secret: '' }, {}]) {
        const res = await pier.call('POST', '/users/getToken', { body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body).toEqual({ code: -1, message: 'imp_key, imp_secret 파라메터가 누락되었습니다.', response: null });
      }
    });

    it('answers 401 `Unauthorized` for a missing, forged or foreign-looking token on every kind of path', async () => {
      const paths: Array<[string, string]> = [
        ['GET', '/payments/imp_000000000000'],
        ['POST', '/payments/cancel'],
        ['GET', '/subscribe/customers/c1'],
        ['GET', '/certifications/imp_1'],
        ['POST', '/receipts/imp_1'],
      ];
      for (const [method, url] of paths) {
        for (const headers of [{}, { authorization: 'Bearer 0000000000000000000000000000000000000000' }, { authorization: 'x'.repeat(300) }]) {
          const res = await pier.app.inject({ method: method as 'GET', url, headers });
          expect(res.statusCode, `${method} ${url}`).toBe(401);
          expect(JSON.parse(res.body)).toEqual({ code: -1, message: 'Unauthorized', response: null });
        }
      }
    });

    it('asks for imp_uid or merchant_uid in V1\'s words when a cancel names neither', async () => {
      const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { reason: 'no uid', amount: 1000 } });
      expect(res.body.code).toBe(1);
      expect(res.body.message).toMatch(/지정해주셔야합니다\.$/);
      expect(res.body.message).not.toMatch(ENGLISH_GLOSS);
    });

    it('answers `이미 전액취소된 주문입니다.` to a second full cancel, by imp_uid and by merchant_uid', async () => {
      const paid = await pay(keyIn('wire_cancel_twice'));
      expect(paid.body.response.status).toBe('paid');
      const first = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paid.body.response.imp_uid, reason: 'once' } });
      expect(first.body.response.status).toBe('cancelled');
      for (const body of [{ imp_uid: paid.body.response.imp_uid }, { merchant_uid: 'wire_cancel_twice' }]) {
        const again = await pier.call('POST', '/payments/cancel', { token: m.token, body: { ...body, reason: 'twice' } });
        expect(again.status).toBe(200);
        expect(again.body).toEqual({ code: 1, message: '이미 전액취소된 주문입니다.', response: null });
      }
    });

    it('answers `지원되지 않는 상태값입니다.` for an unknown payment_status of any length', async () => {
      for (const status of ['paidd', 'PAID', 'x'.repeat(21), 'y'.repeat(400)]) {
        const res = await pier.call('GET', `/payments/status/${status}`, { token: m.token });
        expect(res.status, status.slice(0, 30)).toBe(400);
        expect(res.body).toEqual({ code: 1, message: '지원되지 않는 상태값입니다.', response: null });
      }
    });

    it('never glosses a message in English; the English reason goes to the x-pier-detail header', async () => {
      const answers = await Promise.all([
        pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: 'imp_000000000000', amount: 1000 } }),
        pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'wire_gloss' } }),
        pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('wire_gloss', { amount: -1 }) }),
        pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'nobody', schedules: [] } }),
        pier.call('GET', '/subscribe/payments/schedule?schedule_from=1', { token: m.token }),
        pier.call('POST', '/kcpquick/payment/money', { token: m.token, body: {} }),
      ]);
      for (const a of answers) {
        expect(a.body.code, JSON.stringify(a.body)).not.toBe(0);
        expect(a.body.message).not.toMatch(ENGLISH_GLOSS);
      }
      const res = await pier.app.inject({
        method: 'POST',
        url: '/payments/prepare',
        headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ merchant_uid: 'wire_gloss', amount: true }),
      });
      expect(JSON.parse(res.body)).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: amount', response: null });
      expect(res.headers['x-pier-detail']).toBe('amount must be integer');
    });
  });

  describe('3. codes', () => {
    it('answers `again` with an unknown customer_uid with code -1, and charges nothing', async () => {
      const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'wire_nobody', merchant_uid: 'wire_again_1', amount: 5000 } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ code: -1, message: '등록되지 않은 구매자입니다.', response: null });
      expect(await rows('wire_again_1')).toEqual([]);
    });

    it('answers GET and DELETE of an unknown customer_uid with HTTP 200 and code 1, as the V1 clients expect', async () => {
      for (const method of ['GET', 'DELETE']) {
        const res = await pier.call(method, '/subscribe/customers/invalid-uid', { token: m.token });
        expect(res.status, method).toBe(200);
        expect(res.body).toEqual({ code: 1, message: '요청하신 customer_uid(invalid-uid)로 등록된 정보를 찾을 수 없습니다.', response: null });
      }
    });

    it('answers card data that fails authentication at the PG with code -1 and the PG reason, and records no paid payment', async () => {
      const luhnBad = good.slice(0, 15) + String((Number(good[15]) + 1) % 10);
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['wire_auth_number', { card_number: luhnBad }, facts.cardAuthReasons.number],
        ['wire_auth_dashed', { card_number: '1234-1234-1234-1234', expiry: '2020-02' }, facts.cardAuthReasons.number],
        ['wire_auth_expired', { expiry: '2020-02' }, facts.cardAuthReasons.expired],
        ['wire_auth_birth', { birth: '999999' }, facts.cardAuthReasons.birth],
        ['wire_auth_pwd', { pwd_2digit: '99' }, facts.cardAuthReasons.password],
      ];
      for (const [uid, card, reason] of cases) {
        const res = await pay(keyIn(uid, card));
        expect(res.status, uid).toBe(200);
        expect(res.body, uid).toEqual({ code: -1, message: `카드정보 인증에 실패하였습니다. ${reason}`, response: null });
        expect(await rows(uid), uid).toEqual([{ status: 'failed', amount: 3000 }]);
      }
      const issuer = await pay(keyIn('wire_auth_pwd_card', { card_number: testCardNumber({ kftcCode: '366', lastFour: '0019' }) }));
      const refusal = facts.issuerPasswordRefusal;
      if (refusal.code === -1) expect(issuer.body).toEqual({ code: -1, message: refusal.message, response: null });
      else expect(issuer.body).toMatchObject({ code: 0, response: { status: 'failed', fail_reason: refusal.fail_reason } });
      expect(await rows('wire_auth_pwd_card')).toEqual([{ status: 'failed', amount: 3000 }]);
      // the merchant_uid was not paid, so the buyer can fix the card and pay it
      const retry = await pay(keyIn('wire_auth_expired'));
      expect(retry.body.response).toMatchObject({ status: 'paid', merchant_uid: 'wire_auth_expired' });
    });

    it('keeps an issuer\'s decline of a valid card a `failed` payment with code 0', async () => {
      for (const [lastFour, reason] of [['0054', '잔액부족'], ['0016', '월 사용한도 초과'], ['0001', '거래제한(정지)카드']]) {
        const res = await pay(keyIn(`wire_decline_${lastFour}`, { card_number: testCardNumber({ kftcCode: '366', lastFour }) }));
        expect(res.body.code, lastFour).toBe(0);
        expect(res.body.response).toMatchObject({ status: 'failed', fail_reason: expect.stringContaining(reason) });
      }
    });

    it('answers a reschedule of a schedule that has not failed with HTTP 200 and code 1, leaving it as it was', async () => {
      const key = await pier.call('POST', '/subscribe/customers/wire_sched', { token: m.token, body: { card_number: good, expiry: '2030-12' } });
      expect(key.body.code).toBe(0);
      const at = now() + 3600;
      const made = await pier.call('POST', '/subscribe/payments/schedule', {
        token: m.token,
        body: { customer_uid: 'wire_sched', schedules: [{ merchant_uid: 'wire_sched_1', schedule_at: at, amount: 9900 }] },
      });
      expect(made.body.code).toBe(0);
      const res = await pier.call('POST', '/subscribe/payments/schedule/wire_sched_1/reschedule', { token: m.token, body: { schedule_at: at + 60 } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ code: 1, message: '아직 실행되지 않은 예약결제입니다.', response: null });
      const still = await pier.call('GET', '/subscribe/payments/schedule/wire_sched_1', { token: m.token });
      expect(still.body.response).toMatchObject({ schedule_status: 'scheduled', schedule_at: at });
    });
  });

  describe('4. the token is checked before "not supported"', () => {
    it('answers 401 on unimplemented and retired V1 paths without a valid token, then 501 with one', async () => {
      for (const [method, url] of [['POST', '/subscribe/payments/foreign'], ['GET', '/tiers/ABC'], ['POST', '/escrows/logis/imp_1']]) {
        const anonymous = await pier.app.inject({ method: method as 'GET', url });
        expect(anonymous.statusCode, url).toBe(401);
        expect(JSON.parse(anonymous.body).message).toBe('Unauthorized');
        const res = await pier.call(method, url, { token: m.token, body: method === 'POST' ? {} : undefined });
        expect(res.status, url).toBe(501);
        expect(res.body.code).toBe(1);
      }
    });

    it('answers a certification lookup with V1\'s 404 after the token check (Pier has no certifications)', async () => {
      for (const method of ['GET', 'DELETE']) {
        const res = await pier.call(method, '/certifications/imp_123456789012', { token: m.token });
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ code: -1, message: '인증결과가 존재하지 않습니다.', response: null });
      }
    });
  });

  describe('5. ordinary Visa/Mastercard numbers approve through Pier', () => {
    it('charges and stores 4092-0230-1234-5677 dashed, spaced or plain, with BC as the unnamed issuer', async () => {
      for (const [i, number] of ['4092-0230-1234-5677', '4092 0230 1234 5677', '4092023012345677'].entries()) {
        const res = await pay(keyIn(`wire_visa_${i}`, { card_number: number }));
        expect(res.body.code, number).toBe(0);
        expect(res.body.response).toMatchObject({ status: 'paid', card_code: '361', card_number: '409202******5677' });
      }
      const key = await pier.call('POST', '/subscribe/customers/wire_master', { token: m.token, body: { card_number: testCardNumber({ prefix: '540000', lastFour: '4242' }), expiry: '2030-12' } });
      expect(key.body).toMatchObject({ code: 0, response: { customer_uid: 'wire_master', card_code: '361' } });
    });

    it('refuses a card ending in 3051 as overseas: issuance with code -1, a charge as a failed payment', async () => {
      const overseas = testCardNumber({ prefix: '411111', lastFour: '3051' });
      const key = await pier.call('POST', '/subscribe/customers/wire_overseas', { token: m.token, body: { card_number: overseas, expiry: '2030-12' } });
      expect(key.body).toEqual({ code: -1, message: '카드정보 인증 및 빌키 발급에 실패하였습니다. [3051]해외카드 거래불가', response: null });
      const res = await pay(keyIn('wire_overseas_pay', { card_number: overseas }));
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ status: 'failed', fail_reason: '[3051]해외카드 거래불가' });
    });
  });

  describe('7. numbers sent as strings in a JSON body', () => {
    it('accepts "amount": "3000" for prepare, onetime, again and cancel, and answers numbers', async () => {
      const prepared = await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'wire_str_1', amount: '3000' } });
      expect(prepared.body.response).toMatchObject({ merchant_uid: 'wire_str_1', amount: 3000 });
      const paid = await pay(keyIn('wire_str_1', { amount: '3000', card_quota: '0' }));
      expect(paid.body.response).toMatchObject({ status: 'paid', amount: 3000 });
      await pier.call('POST', '/subscribe/customers/wire_str', { token: m.token, body: { card_number: good, expiry: '2030-12' } });
      const again = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'wire_str', merchant_uid: 'wire_str_2', amount: '5000', tax_free: '0' } });
      expect(again.body.response).toMatchObject({ status: 'paid', amount: 5000 });
      const cancel = await pier.call('POST', '/payments/cancel', { token: m.token, body: { merchant_uid: 'wire_str_2', amount: '2000', checksum: '5000' } });
      expect(cancel.body.response).toMatchObject({ cancel_amount: 2000, status: 'paid' });
    });

    it('still refuses strings that are not whole numbers, naming the field, and charges nothing', async () => {
      for (const amount of ['3,000', '3000.5', '3e3', ' 3000', '', '삼천']) {
        const res = await pay(keyIn('wire_str_bad', { amount }));
        expect(res.status, JSON.stringify(amount)).toBe(400);
        expect(res.body).toEqual({ code: 1, message: '파라미터 형식이 올바르지 않습니다: amount', response: null });
      }
      expect(await rows('wire_str_bad')).toEqual([]);
    });
  });

  describe('2. (expiry) an expired token', () => {
    it('answers 401 `Unauthorized` once the token has expired', async () => {
      pier.clock.advance(31 * 60 * 1000);
      const res = await pier.call('GET', '/payments/status/all', { token: m.token });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ code: -1, message: 'Unauthorized', response: null });
    });
  });
});
