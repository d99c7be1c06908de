import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE } from '../../src/core/payments/charge.js';
import { PGS } from '../pgs.js';

const shinhan = testCardNumber({ kftcCode: '366', lastFour: '4321' });
const bc = testCardNumber({ kftcCode: '361', lastFour: '2222' });
const card = (n = shinhan) => ({ card_number: `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`, expiry: '2030-12', birth: '820213', pwd_2digit: '00' });

describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let other: Awaited<ReturnType<TestPier['newMerchant']>>;

  beforeAll(async () => {
    // a PG answer held for a race waits for the test, not for the read timeout
    pier = await startTestPier({ pg: facts.pg, readTimeoutMs: 20_000 });
    m = await pier.newMerchant();
    other = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  describe('POST /subscribe/customers/{customer_uid}', () => {
    it('issues a billing key and answers the V1 Customer with a masked card', async () => {
      const res = await pier.call('POST', '/subscribe/customers/cust_1', { token: m.token, body: { ...card(), customer_name: '홍길동', customer_email: 'a@b.c' } });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      const c = res.body.response;
      expect(c).toMatchObject({
        customer_uid: 'cust_1',
        pg_provider: facts.pg,
        pg_id: facts.pgId(m),
        sandbox: true,
        card_code: '366',
        card_name: '신한카드',
        card_type: facts.billingKeyCardType,
        customer_name: '홍길동',
        customer_email: 'a@b.c',
        customer_tel: null,
      });
      expect(c.card_number).toBe(`${shinhan.slice(0, 6)}******${shinhan.slice(12)}`);
      expect(c.inserted).toBe(Math.floor(pier.clock.now() / 1000));
      expect(Object.keys(c).sort()).toEqual(
        ['customer_uid', 'pg_provider', 'pg_id', 'sandbox', 'customer_id', 'card_name', 'card_code', 'card_issuer_code', 'card_issuer_name', 'card_publisher_code', 'card_publisher_name', 'card_number', 'card_type', 'customer_name', 'customer_tel', 'customer_email', 'customer_addr', 'customer_postcode', 'inserted', 'updated'].sort(),
      );
    });

    it('accepts a form-encoded body and a {pg}.{MID} selector, which wins over the default channel', async () => {
      const c = card();
      const form = new URLSearchParams({ ...c, pg: 'jtnet.tpaytest2m' }).toString();
      const res = await pier.call('POST', '/subscribe/customers/cust_form', { token: m.token, form });
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ pg_provider: 'jtnet', pg_id: 'tpaytest2m' });
      const named = await pier.call('POST', '/subscribe/customers/cust_named', { token: m.token, form: new URLSearchParams({ ...c, pg: facts.pgSelector(m) }).toString() });
      expect(named.body.response).toMatchObject({ pg_provider: facts.pg, pg_id: facts.pgId(m) });
    });

    it('answers code -1 with the PG reason when the card is refused, and stores nothing', async () => {
      const bad = testCardNumber({ kftcCode: '366', lastFour: '0014' });
      const res = await pier.call('POST', '/subscribe/customers/cust_bad', { token: m.token, body: card(bad) });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(-1);
      expect(res.body.response).toBeNull();
      expect(res.body.message).toMatch(/^카드정보 인증 및 빌키 발급에 실패하였습니다\. \[.+\].+/);
      expect((await pier.call('GET', '/subscribe/customers/cust_bad', { token: m.token })).body.code).toBe(1);
    });

    it('rejects an unknown pg with a message naming it', async () => {
      const res = await pier.call('POST', '/subscribe/customers/cust_x', { token: m.token, body: { ...card(), pg: `${facts.pg}.nosuchmid` } });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(`${facts.pg}.nosuchmid`);
    });

    it('rejects a missing card number and an over-long customer_uid, naming the field', async () => {
      const missing = await pier.call('POST', '/subscribe/customers/cust_y', { token: m.token, body: { expiry: '2030-12' } });
      expect(missing.status).toBe(400);
      expect(missing.body.message).toContain('card_number');
      const long = await pier.call('POST', `/subscribe/customers/${'x'.repeat(81)}`, { token: m.token, body: card() });
      expect(long.status).toBe(400);
      expect(long.body.message).toContain('customer_uid');
    });
  });

  describe('GET and DELETE /subscribe/customers', () => {
    it('gets one, several (207 when some are missing) and 404 when none', async () => {
      await pier.call('POST', '/subscribe/customers/cust_2', { token: m.token, body: card() });
      const one = await pier.call('GET', '/subscribe/customers/cust_2', { token: m.token });
      expect(one.body.response.customer_uid).toBe('cust_2');
      const both = await pier.call('GET', '/subscribe/customers?customer_uid[]=cust_1&customer_uid[]=cust_2', { token: m.token });
      expect(both.status).toBe(200);
      expect(both.body.response.map((c: { customer_uid: string }) => c.customer_uid)).toEqual(['cust_1', 'cust_2']);
      const some = await pier.call('GET', '/subscribe/customers?customer_uid[]=cust_1&customer_uid[]=nope', { token: m.token });
      expect(some.status).toBe(207);
      expect(some.body.response).toHaveLength(1);
      const none = await pier.call('GET', '/subscribe/customers?customer_uid[]=nope', { token: m.token });
      expect(none.status).toBe(404);
    });

    it('deletes the key at the PG and in Pier, answering the deleted Customer', async () => {
      await pier.call('POST', '/subscribe/customers/cust_del', { token: m.token, body: card() });
      const res = await pier.call('DELETE', '/subscribe/customers/cust_del?reason=bye', { token: m.token });
      expect(res.body.code).toBe(0);
      expect(res.body.response.customer_uid).toBe('cust_del');
      const after = await pier.call('GET', '/subscribe/customers/cust_del', { token: m.token });
      expect(after.status).toBe(200);
      expect(after.body).toEqual({ code: 1, message: '요청하신 customer_uid(cust_del)로 등록된 정보를 찾을 수 없습니다.', response: null });
      const again = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'cust_del', merchant_uid: 'after_delete', amount: 1000 } });
      expect(again.body).toEqual({ code: -1, message: '등록되지 않은 구매자입니다.', response: null });
    });

    it('never shows one merchant another merchant\'s billing key', async () => {
      const unknown = { code: 1, message: '요청하신 customer_uid(cust_1)로 등록된 정보를 찾을 수 없습니다.', response: null };
      expect((await pier.call('GET', '/subscribe/customers/cust_1', { token: other.token })).body).toEqual(unknown);
      expect((await pier.call('DELETE', '/subscribe/customers/cust_1', { token: other.token })).body).toEqual(unknown);
      expect((await pier.call('GET', '/subscribe/customers/cust_1', { token: m.token })).status).toBe(200);
    });

    it('requires a token', async () => {
      expect((await pier.call('GET', '/subscribe/customers/cust_1')).status).toBe(401);
      expect((await pier.call('POST', '/subscribe/customers/cust_1', { body: card() })).status).toBe(401);
    });

    it('lists the payments made with a key, newest first', async () => {
      await pier.call('POST', '/subscribe/customers/cust_pay', { token: m.token, body: card() });
      for (const uid of ['p_a', 'p_b']) {
        const r = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'cust_pay', merchant_uid: uid, amount: 1000, name: 'x' } });
        expect(r.body.response.status).toBe('paid');
        pier.clock.advance(1000);
      }
      const res = await pier.call('GET', '/subscribe/customers/cust_pay/payments', { token: m.token });
      expect(res.body.code).toBe(0);
      expect(res.body.response.total).toBe(2);
      expect(res.body.response.list.map((p: { merchant_uid: string }) => p.merchant_uid)).toEqual(['p_b', 'p_a']);
      expect(res.body.response).toMatchObject({ previous: 0, next: 0 });
    });
  });
  describe('a stored card and the requests that race it', () => {
    const held = async () => {
      for (let i = 0; (await facts.heldAnswers(pier)) < 1; i++) {
        if (i > 250) throw new Error('the PG never held the answer');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const cardOf = async (uid: string) => (await pier.call('GET', `/subscribe/customers/${uid}`, { token: m.token })).body.response;
    const register = async (uid: string) => {
      const res = await pier.call('POST', `/subscribe/customers/${uid}`, { token: m.token, body: { ...card(), customer_name: '홍길동', customer_tel: '010-1234-5678' } });
      expect(res.body.code).toBe(0);
      return res.body.response;
    };
    const onetime = (merchantUid: string, extra: Record<string, unknown> = {}, n = shinhan) =>
      pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 1000, ...card(n), ...extra } });

    it('a DELETE whose PG answer comes after the customer_uid was registered again deletes the old key only: the new card stays and charges', async () => {
      await register('race_del');
      await facts.holdNextAnswer(pier, m, 'delete_key');
      const del = pier.call('DELETE', '/subscribe/customers/race_del', { token: m.token });
      await held();
      // the merchant registers the customer's new card under the same customer_uid meanwhile
      const again = await pier.call('POST', '/subscribe/customers/race_del', { token: m.token, body: card(bc) });
      expect(again.body.response.card_number).toContain('2222');
      await facts.releaseHeldAnswers(pier);
      // the DELETE answers what it deleted: the old card (decision 0042)
      const deleted = (await del).body;
      expect(deleted.code).toBe(0);
      expect(deleted.response.card_number).toContain('4321');
      expect((await cardOf('race_del')).card_number).toContain('2222');
      const paid = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'race_del', merchant_uid: 'race_del_pay', amount: 1000 } });
      expect(paid.body.response).toMatchObject({ status: 'paid', card_number: expect.stringContaining('2222') });
    });

    it('onetime with customer_uid for a merchant_uid already paid is refused and leaves the stored card as it was', async () => {
      const before = await register('keep_paid');
      expect((await onetime('keep_paid_1')).body.response.status).toBe('paid');
      // a replayed or mistaken request: the same merchant_uid, another card, the existing customer_uid
      const dup = await onetime('keep_paid_1', { customer_uid: 'keep_paid' }, bc);
      expect(dup.body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
      expect(await cardOf('keep_paid')).toEqual(before);
    });

    it('onetime with customer_uid for a merchant_uid whose charge is at the PG is refused as in progress and leaves the stored card', async () => {
      const before = await register('keep_flight');
      await facts.holdNextAnswer(pier, m, 'key_in');
      const first = onetime('keep_flight_1');
      await held();
      const dup = await onetime('keep_flight_1', { customer_uid: 'keep_flight' }, bc);
      expect(dup.body).toEqual({ code: 1, message: IN_PROGRESS_MESSAGE, response: null });
      await facts.releaseHeldAnswers(pier);
      expect((await first).body.response.status).toBe('paid');
      expect(await cardOf('keep_flight')).toEqual(before);
    });

    it('onetime with customer_uid whose merchant_uid is paid while its key is being issued is refused, stores nothing and deletes that key at the PG', async () => {
      const before = await register('keep_race');
      await facts.holdNextAnswer(pier, m, 'issue_key');
      const late = onetime('keep_race_1', { customer_uid: 'keep_race' }, bc);
      await held();
      expect((await onetime('keep_race_1')).body.response.status).toBe('paid');
      await facts.releaseHeldAnswers(pier);
      expect((await late).body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
      expect(await cardOf('keep_race')).toEqual(before);
      const payments = (await pier.call('GET', '/payments/findAll/keep_race_1', { token: m.token })).body.response.list;
      expect(payments.map((p: { status: string }) => p.status)).toEqual(['paid']);
      if (facts.pg === 'jtnet') {
        // the tPay ledger shows the key issued for the refused request deleted again
        const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { billingKeys: Array<{ cardNumMasked: string; deletedAt: number | null }> };
        const bcKeys = ledger.billingKeys.filter((k) => k.cardNumMasked.endsWith('2222'));
        expect(bcKeys.at(-1)!.deletedAt).not.toBeNull();
      }
    });

    it('a schedule request with card fields refused for a merchant_uid scheduled while its key was being issued stores nothing: the schedule made meanwhile charges the card it was made with', async () => {
      const before = await register('keep_sched');
      const scheduleAt = Math.floor(pier.clock.now() / 1000) + 3600;
      const item = { merchant_uid: 'keep_sched_1', schedule_at: scheduleAt, amount: 1000, name: 'monthly' };
      await facts.holdNextAnswer(pier, m, 'issue_key');
      // a replayed request (or a second tab) schedules the same merchant_uid with another card
      const late = pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'keep_sched', ...card(bc), schedules: [item] } });
      await held();
      const first = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'keep_sched', schedules: [item] } });
      expect(first.body.code).toBe(0);
      await facts.releaseHeldAnswers(pier);
      const refused = (await late).body;
      expect(refused).toMatchObject({ code: 1, message: expect.stringContaining('keep_sched_1'), response: null });
      // the refused request changed nothing: the schedule it lost to charges the card it was made with
      expect(await cardOf('keep_sched')).toEqual(before);
      if (facts.pg === 'jtnet') {
        // the key issued for the refused request is deleted at tPay again, not left there unknown
        const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { billingKeys: Array<{ cardNumMasked: string; deletedAt: number | null }> };
        const bcKeys = ledger.billingKeys.filter((k) => k.cardNumMasked.endsWith('2222'));
        expect(bcKeys.at(-1)!.deletedAt).not.toBeNull();
      }
    });

    it('a schedule request with card fields whose merchant_uid is paid while its key is being issued is refused and records nothing', async () => {
      const before = await register('keep_sched_paid');
      const item = { merchant_uid: 'keep_sched_paid_1', schedule_at: Math.floor(pier.clock.now() / 1000) + 3600, amount: 1000 };
      await facts.holdNextAnswer(pier, m, 'issue_key');
      const late = pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'keep_sched_paid', ...card(bc), schedules: [item] } });
      await held();
      const paid = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'keep_sched_paid', merchant_uid: 'keep_sched_paid_1', amount: 1000 } });
      expect(paid.body.response.status).toBe('paid');
      await facts.releaseHeldAnswers(pier);
      expect((await late).body).toMatchObject({ code: 1, message: expect.stringContaining('keep_sched_paid_1'), response: null });
      expect(await cardOf('keep_sched_paid')).toEqual(before);
      const found = await pier.call('GET', '/subscribe/payments/schedule/keep_sched_paid_1', { token: m.token });
      expect(found.body.code).toBe(-1);
    });
  });
});
