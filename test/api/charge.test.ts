import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const dashed = (n: string) => `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
const good = testCardNumber({ kftcCode: '381', lastFour: '5678' });
const keyIn = (merchant_uid: string, extra: Record<string, unknown> = {}) => ({
  merchant_uid,
  amount: 3000,
  card_number: dashed(good),
  expiry: '2030-01',
  birth: '123456',
  name: '주문명',
  ...extra,
});

const V1_PAYMENT_KEYS = [
  'imp_uid', 'merchant_uid', 'pay_method', 'channel', 'pg_provider', 'emb_pg_provider', 'pg_tid', 'pg_id', 'sandbox', 'escrow', 'apply_num',
  'bank_code', 'bank_name', 'card_code', 'card_name', 'card_issuer_code', 'card_issuer_name', 'card_publisher_code', 'card_publisher_name',
  'card_quota', 'card_number', 'card_type', 'vbank_code', 'vbank_name', 'vbank_num', 'vbank_holder', 'vbank_date', 'vbank_issued_at', 'name',
  'amount', 'cancel_amount', 'currency', 'buyer_name', 'buyer_email', 'buyer_tel', 'buyer_addr', 'buyer_postcode', 'custom_data', 'user_agent',
  'status', 'started_at', 'paid_at', 'failed_at', 'cancelled_at', 'fail_reason', 'cancel_reason', 'receipt_url', 'cancel_history',
  'deposit_history', 'cancel_receipt_urls', 'cash_receipt_issued', 'customer_uid', 'customer_uid_usage',
];

describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let other: Awaited<ReturnType<TestPier['newMerchant']>>;

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
    other = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  describe('POST /subscribe/payments/onetime', () => {
    it('charges a card by key-in and answers a paid V1 Payment carrying every key', async () => {
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_1', { buyer_name: '홍길동', custom_data: { sku: 1 } }) });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      const p = res.body.response;
      expect(Object.keys(p).sort()).toEqual([...V1_PAYMENT_KEYS].sort());
      const now = Math.floor(pier.clock.now() / 1000);
      expect(p).toMatchObject({
        merchant_uid: 'order_1',
        status: 'paid',
        amount: 3000,
        cancel_amount: 0,
        currency: 'KRW',
        pay_method: 'card',
        channel: 'api',
        pg_provider: facts.pg,
        pg_id: facts.pgId(m),
        card_code: '381',
        card_name: 'KB국민카드',
        card_quota: 0,
        buyer_name: '홍길동',
        custom_data: '{"sku":1}',
        paid_at: now,
        started_at: now,
        failed_at: 0,
        cancelled_at: 0,
        cancel_history: [],
        customer_uid: null,
        customer_uid_usage: null,
        sandbox: true,
        vbank_date: 0,
      });
      expect(p.imp_uid).toMatch(/^imp_\d{12}$/);
      expect(p.apply_num).toMatch(/^\d{8}$/);
      expect(p.pg_tid).toMatch(facts.pgTid(m));
      expect(p.receipt_url).toBe(facts.slipUrl(pier, p.pg_tid));
      expect(p.card_number).toBe(`${good.slice(0, 6)}******${good.slice(12)}`);
    });

    it('with customer_uid also stores the billing key, which then works with /again', async () => {
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_2', { customer_uid: 'gildong_0001_1234' }) });
      expect(res.body.response).toMatchObject({ status: 'paid', customer_uid: 'gildong_0001_1234', customer_uid_usage: 'payment' });
      const key = await pier.call('GET', '/subscribe/customers/gildong_0001_1234', { token: m.token });
      expect(key.body.response.card_code).toBe('381');
      const again = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'gildong_0001_1234', merchant_uid: 'order_2b', amount: 5000, name: 'again' } });
      expect(again.body.response).toMatchObject({ status: 'paid', amount: 5000, customer_uid: 'gildong_0001_1234', customer_uid_usage: 'payment' });
    });

    it('answers a decline with code 0 and a failed Payment holding the PG reason, and records the attempt', async () => {
      const declined = testCardNumber({ kftcCode: '366', lastFour: '0054' });
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_3', { card_number: declined }) });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ status: 'failed', paid_at: 0, failed_at: Math.floor(pier.clock.now() / 1000) });
      expect(res.body.response.fail_reason).toMatch(/잔액부족/);
      const stored = await pier.call('GET', `/payments/${res.body.response.imp_uid}`, { token: m.token });
      expect(stored.body.response.status).toBe('failed');
    });

    it('lets a failed merchant_uid be paid again, but never a paid one', async () => {
      const declined = testCardNumber({ kftcCode: '366', lastFour: '0016' });
      const first = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_4', { card_number: declined }) });
      expect(first.body.response.status).toBe('failed');
      const second = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_4') });
      expect(second.body.response.status).toBe('paid');
      const third = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_4') });
      expect(third.status).toBe(200);
      expect(third.body.code).toBe(1);
      expect(third.body.response).toBeNull();
      expect(third.body.message).toContain('이미 결제가 이루어진 거래건입니다');
      const all = await pier.call('GET', '/payments/findAll/order_4', { token: m.token });
      expect(all.body.response.list.map((p: { status: string }) => p.status).sort()).toEqual(['failed', 'paid']);
    });

    it('lets another merchant use the same merchant_uid', async () => {
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: other.token, body: keyIn('order_1') });
      expect(res.body.response.status).toBe('paid');
    });

    it('applies the installment rule of the PG: quota below 50,000 KRW is declined', async () => {
      const small = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_5', { card_quota: 3 }) });
      expect(small.body.response.status).toBe('failed');
      const big = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('order_6', { card_quota: 3, amount: 60000 }) });
      expect(big.body.response).toMatchObject({ status: 'paid', card_quota: 3 });
    });

    it('rejects bad input with 400 naming the field, and records nothing', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [keyIn('bad_1', { amount: '3,000' }), 'amount'],
        [keyIn('bad_2', { amount: -5 }), 'amount'],
        [keyIn('bad_3', { amount: 10.5 }), 'amount'],
        [keyIn('x'.repeat(41)), 'merchant_uid'],
        [{ ...keyIn('bad_4'), card_number: undefined }, 'card_number'],
        [keyIn('bad_5', { expiry: '2030/13' }), 'expiry'],
        [{ ...keyIn('bad_6'), merchant_uid: undefined }, 'merchant_uid'],
      ];
      for (const [body, field] of cases) {
        const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body });
        expect(res.status, field).toBe(400);
        expect(res.body.code).toBe(1);
        expect(res.body.response).toBeNull();
        expect(res.body.message).toContain(field);
      }
      const rows = await pier.store.db.selectFrom('payments').select('merchant_uid').where('merchant_uid', 'like', 'bad_%').execute();
      expect(rows).toEqual([]);
    });

    it('accepts a form body with a numeric amount string', async () => {
      const form = new URLSearchParams({ merchant_uid: 'order_form', amount: '1004', card_number: good, expiry: '2030-01', birth: '123456' }).toString();
      const res = await pier.call('POST', '/subscribe/payments/onetime/', { token: m.token, form });
      expect(res.body.response).toMatchObject({ status: 'paid', amount: 1004 });
    });
  });

  describe('POST /subscribe/payments/again', () => {
    it('answers an unknown customer_uid with V1\'s message and code -1, recording nothing', async () => {
      const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'nobody', merchant_uid: 'a_1', amount: 1000, name: 'x' } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ code: -1, message: '등록되지 않은 구매자입니다.', response: null });
      expect(await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', 'a_1').execute()).toEqual([]);
    });

    it('declines charges on a key whose card fails later (10NN rule), with code 0 and status failed', async () => {
      const later = testCardNumber({ kftcCode: '365', lastFour: '1002' });
      const issued = await pier.call('POST', '/subscribe/customers/later_fail', { token: m.token, body: { card_number: later, expiry: '2030-12' } });
      expect(issued.body.code).toBe(0);
      const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'later_fail', merchant_uid: 'a_2', amount: 1000, name: 'x' } });
      expect(res.body.code).toBe(0);
      expect(res.body.response.status).toBe('failed');
      expect(res.body.response.fail_reason).toBe(facts.laterDeclineReason);
    });

    it('never charges another merchant\'s billing key', async () => {
      await pier.call('POST', '/subscribe/customers/mine', { token: m.token, body: { card_number: good, expiry: '2030-12' } });
      const res = await pier.call('POST', '/subscribe/payments/again', { token: other.token, body: { customer_uid: 'mine', merchant_uid: 'steal', amount: 1000, name: 'x' } });
      expect(res.body.code).toBe(-1);
      expect(res.body.message).toBe('등록되지 않은 구매자입니다.');
    });
  });
});
