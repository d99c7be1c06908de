/**
 * The official Node client of the i'mport V1 REST API (`iamport-rest-client-nodejs`, axios) against
 * Pier listening on a real loopback port. The client takes a `baseUrl` constructor option, so it is
 * used unchanged: only the base URL differs from production.
 */
import { Iamport, Request } from 'iamport-rest-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const { Authenticate, Customers, Subscribe, Payments } = Request;

const card = testCardNumber({ kftcCode: '366', lastFour: '2468' });
const masked = `${card.slice(0, 6)}******${card.slice(12)}`;

/** The client's error shape: axios errors and `code != 0` answers both carry `response.data`. */
async function failureOf(p: Promise<unknown>): Promise<{ code: number; message: string; response: unknown }> {
  try {
    await p;
  } catch (err) {
    return (err as { response: { data: { code: number; message: string; response: unknown } } }).response.data;
  }
  throw new Error('expected the client call to fail');
}

// The client's request types list optional V1 fields as required; Pier does not need them.
type CancelData = Parameters<typeof Payments.cancel>[0];
type PostBillingKeyData = Parameters<typeof Customers.postBillingKey>[0];

// the merchant's unchanged client code, against Pier on each PG
describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let baseUrl: string;
  let iamport: Iamport;

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
    baseUrl = await pier.app.listen({ host: '127.0.0.1', port: 0 });
    iamport = new Iamport({ apiKey: m.impKey, apiSecret: m.impSecret, baseUrl });
  });
  afterAll(() => pier.close());

  describe('iamport-rest-client-nodejs against Pier', () => {
    it('gets a token with the merchant REST key and secret', async () => {
      const res = await Authenticate.getToken({ imp_key: m.impKey, imp_secret: m.impSecret }).request(iamport);
      // the client resolves with the whole axios response (its own type declares only `data`)
      expect((res as unknown as { status: number }).status).toBe(200);
      expect(res.data.code).toBe(0);
      // the client turns V1's UNIX seconds into Dates
      const auth = res.data.response as { access_token: string; now: Date; expired_at: Date };
      expect(auth.access_token).toMatch(/^[0-9a-f]{40}$/);
      expect(auth.now).toBeInstanceOf(Date);
      expect(auth.now.getTime()).toBe(Math.floor(pier.clock.now() / 1000) * 1000);
      expect(auth.expired_at.getTime() - auth.now.getTime()).toBe(30 * 60 * 1000);
      // the client's own token handling (used by every call below) sends it as a Bearer header
      expect((await iamport.getHeaders()).Authorization).toBe(`Bearer ${auth.access_token}`);
    });

    it('refuses a wrong secret with the V1 error envelope', async () => {
      const bad = await failureOf(Authenticate.getToken({ imp_key: m.impKey, imp_secret: 'wrong' }).request(iamport));
      expect(bad.code).toBe(-1);
      expect(bad.response).toBeNull();
    });

    it('issues a billing key and reads it back', async () => {
      const issued = await Customers.postBillingKey({
        customer_uid: 'client_customer_1',
        card_number: card,
        expiry: '2030-12',
        birth: '900101',
        pwd_2digit: '12',
        customer_name: '홍길동',
        customer_email: 'gildong@example.com',
        customer_tel: '010-1234-5678',
      } as PostBillingKeyData).request(iamport);
      expect(issued.data.code).toBe(0);
      expect(issued.data.response).toMatchObject({ customer_uid: 'client_customer_1', card_code: '366', card_name: '신한카드', card_number: masked, customer_name: '홍길동' });

      const read = await Customers.getBillingKey({ customer_uid: 'client_customer_1' }).request(iamport);
      expect(read.data.response).toMatchObject({ customer_uid: 'client_customer_1', card_code: '366' });

      const missing = await failureOf(Customers.getBillingKey({ customer_uid: 'nobody' }).request(iamport));
      expect(missing).toEqual({ code: 1, message: '요청하신 customer_uid(nobody)로 등록된 정보를 찾을 수 없습니다.', response: null });
    });

    let onetimeImpUid = '';

    it('pays onetime by key-in and parses the Payment (timestamps become Dates)', async () => {
      const res = await Subscribe.onetime({
        merchant_uid: 'client_order_1',
        amount: 12_000,
        card_number: card,
        expiry: '2030-12',
        birth: '900101',
        name: '클라이언트 키인',
        buyer_name: '홍길동',
      }).request(iamport);
      expect(res.data.code).toBe(0);
      const p = res.data.response;
      expect(p).toMatchObject({ merchant_uid: 'client_order_1', status: 'paid', amount: 12_000, cancel_amount: 0, currency: 'KRW', pg_provider: facts.pg, pg_id: facts.pgId(m), pay_method: 'card', card_number: masked, buyer_name: '홍길동' });
      expect(p.imp_uid).toMatch(/^imp_\d{12}$/);
      expect(p.paid_at).toBeInstanceOf(Date);
      expect((p.paid_at as Date).getTime()).toBe(Math.floor(pier.clock.now() / 1000) * 1000);
      expect(p.failed_at).toBe(0);
      expect(p.cancelled_at).toBe(0);
      onetimeImpUid = p.imp_uid;
    });

    it('pays again with the billing key', async () => {
      const res = await Subscribe.again({ customer_uid: 'client_customer_1', merchant_uid: 'client_order_2', amount: 5_000, name: '정기결제' }).request(iamport);
      expect(res.data.code).toBe(0);
      expect(res.data.response).toMatchObject({ merchant_uid: 'client_order_2', status: 'paid', amount: 5_000, customer_uid: 'client_customer_1', customer_uid_usage: 'payment' });

      const dup = await failureOf(Subscribe.again({ customer_uid: 'client_customer_1', merchant_uid: 'client_order_2', amount: 5_000, name: '정기결제' }).request(iamport));
      expect(dup.code).toBe(1);
      expect(dup.message).toContain('이미 결제가 이루어진 거래건입니다');
    });

    it('looks a payment up by imp_uid and by merchant_uid', async () => {
      const byImp = await Payments.getByImpUid({ imp_uid: onetimeImpUid }).request(iamport);
      expect(byImp.data.response).toMatchObject({ imp_uid: onetimeImpUid, merchant_uid: 'client_order_1', status: 'paid' });

      const byMerchant = await Payments.getByMerchantUid({ merchant_uid: 'client_order_1', status: 'paid' as never, sorting: '-started' as never }).request(iamport);
      expect(byMerchant.data.response).toMatchObject({ imp_uid: onetimeImpUid, status: 'paid' });

      const several = await Payments.getByImpUids({ imp_uid: [onetimeImpUid, 'imp_000000000000'] }).request(iamport);
      expect(several.data.code).toBe(0);
      expect(several.data.response.map((x: { imp_uid: string }) => x.imp_uid)).toEqual([onetimeImpUid]);

      const unknown = await failureOf(Payments.getByImpUid({ imp_uid: 'imp_000000000000' }).request(iamport));
      expect(unknown.code).toBe(-1);
    });

    it('cancels partially, then fully, and the parsed Payment shows it', async () => {
      const partial = await Payments.cancel({ imp_uid: onetimeImpUid, amount: 2_000, reason: '부분 환불' } as CancelData).request(iamport);
      expect(partial.data.code).toBe(0);
      expect(partial.data.response).toMatchObject({ imp_uid: onetimeImpUid, status: 'paid', amount: 12_000, cancel_amount: 2_000, cancel_reason: '부분 환불' });
      expect(partial.data.response.cancel_history).toHaveLength(1);
      expect(partial.data.response.cancel_history[0]).toMatchObject({ amount: 2_000, reason: '부분 환불' });
      expect(partial.data.response.cancelled_at).toBeInstanceOf(Date);

      const over = await failureOf(Payments.cancel({ imp_uid: onetimeImpUid, amount: 20_000 } as CancelData).request(iamport));
      expect(over.code).toBe(1);

      const full = await Payments.cancel({ merchant_uid: 'client_order_1', reason: '전액 환불', checksum: 10_000 } as CancelData).request(iamport);
      expect(full.data.code).toBe(0);
      expect(full.data.response).toMatchObject({ imp_uid: onetimeImpUid, status: 'cancelled', cancel_amount: 12_000 });
      expect(full.data.response.cancel_history.map((h: { amount: number }) => h.amount)).toEqual([2_000, 10_000]);

      const twice = await failureOf(Payments.cancel({ imp_uid: onetimeImpUid } as CancelData).request(iamport));
      expect(twice.code).toBe(1);

      const balanceOf = await Payments.getByImpUid({ imp_uid: onetimeImpUid }).request(iamport);
      expect(balanceOf.data.response).toMatchObject({ status: 'cancelled', cancel_amount: 12_000 });
    });

    it('lists the billing key\'s payments', async () => {
      const res = await Customers.getPayments({ customer_uid: 'client_customer_1' }).request(iamport);
      expect(res.data.code).toBe(0);
      expect(res.data.response.list.map((p: { merchant_uid: string }) => p.merchant_uid)).toEqual(['client_order_2']);
    });
  });
});
