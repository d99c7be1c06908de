import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const NOTHING_TO_CANCEL = { code: 1, message: '취소할 결제건이 존재하지 않습니다.', response: null };
const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });
describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let other: Awaited<ReturnType<TestPier['newMerchant']>>;

  const now = () => Math.floor(pier.clock.now() / 1000);

  async function paid(merchant_uid: string, amount: number, token = m.token) {
    const res = await pier.call('POST', '/subscribe/payments/onetime', {
      token,
      body: { merchant_uid, amount, card_number: good, expiry: '2030-12', birth: '820213', name: 'cancel test' },
    });
    expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
    return res.body.response as { imp_uid: string; merchant_uid: string; pg_tid: string; amount: number };
  }

  const cancel = (body: Record<string, unknown>, token = m.token) => pier.call('POST', '/payments/cancel', { token, body });

  /** The PG's slip page of a tid (approval or cancel). */
  const slipUrl = (tid: string) => facts.slipUrl(pier, tid);

  /** The PG's record of the approval Pier sent for this imp_uid (order id = imp_uid on both PGs). */
  const ledgerOf = (impUid: string, merchant = m) => facts.ledger(pier, merchant, impUid);

  async function stored(impUid: string, token = m.token) {
    return (await pier.call('GET', `/payments/${impUid}`, { token })).body.response;
  }

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
    other = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  describe('POST /payments/cancel: partial refunds', () => {
    let p: Awaited<ReturnType<typeof paid>>;
    const firstIds: string[] = [];

    it('refunds part of a payment: status stays `paid`, cancel_amount grows, cancel_history gains the refund', async () => {
      p = await paid('c_partial', 10000);
      pier.clock.advance(60_000);
      const res = await cancel({ imp_uid: p.imp_uid, amount: 3000, reason: '부분환불' });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.message).toBeNull();
      const r = res.body.response;
      expect(r).toMatchObject({ imp_uid: p.imp_uid, status: 'paid', amount: 10000, cancel_amount: 3000, cancel_reason: '부분환불' });
      expect(r.cancel_history).toHaveLength(1);
      const h = r.cancel_history[0];
      expect(h).toMatchObject({ amount: 3000, reason: '부분환불', cancelled_at: now() });
      expect(h.cancellation_id).toMatch(/^[0-9A-Z]{20}$/);
      expect(typeof h.pg_tid).toBe('string');
      expect(h.pg_tid.length).toBeGreaterThan(0);
      expect(h.pg_tid).not.toBe(p.pg_tid);
      // the slips are the simulator's pages, on the address Pier reaches it at: the payment's, and this cancel's own
      expect(r.receipt_url).toBe(slipUrl(p.pg_tid));
      expect(h.receipt_url).toBe(slipUrl(h.pg_tid));
      expect(r.cancel_receipt_urls).toEqual([h.receipt_url]);
      firstIds.push(h.cancellation_id);
    });

    it('refunds a second part, then the rest with amount omitted: the payment becomes `cancelled`', async () => {
      pier.clock.advance(60_000);
      const second = await cancel({ imp_uid: p.imp_uid, amount: 2000, reason: '두번째' });
      expect(second.body.response).toMatchObject({ status: 'paid', cancel_amount: 5000, cancelled_at: now() });
      expect(second.body.response.cancel_history.map((c: { amount: number }) => c.amount)).toEqual([3000, 2000]);
      pier.clock.advance(60_000);
      const rest = await cancel({ imp_uid: p.imp_uid, reason: '나머지' });
      expect(rest.body.code).toBe(0);
      const r = rest.body.response;
      expect(r).toMatchObject({ status: 'cancelled', cancel_amount: 10000, cancelled_at: now(), cancel_reason: '나머지' });
      expect(r.cancel_history.map((c: { amount: number }) => c.amount)).toEqual([3000, 2000, 5000]);
      const cids = r.cancel_history.map((c: { cancellation_id: string }) => c.cancellation_id);
      expect(cids[0]).toBe(firstIds[0]);
      expect(new Set(cids).size).toBe(3);
      expect(new Set(r.cancel_history.map((c: { pg_tid: string }) => c.pg_tid)).size).toBe(3);
      expect(r.cancel_history.map((c: { receipt_url: string }) => c.receipt_url)).toEqual(r.cancel_history.map((c: { pg_tid: string }) => slipUrl(c.pg_tid)));
      expect(r.cancel_receipt_urls).toEqual(r.cancel_history.map((c: { receipt_url: string }) => c.receipt_url));
      expect(await stored(p.imp_uid)).toEqual(r);
    });

    it('agrees with the simulator ledger on every refund', async () => {
      const tx = await ledgerOf(p.imp_uid);
      expect(tx.tid).toBe(p.pg_tid);
      expect(tx.amount).toBe(10000);
      expect(tx.cancelledAmount).toBe(10000);
      expect(tx.status).toBe('cancelled');
      const mine = (await stored(p.imp_uid)).cancel_history;
      expect(tx.cancels.map((c) => [c.tid, c.amount])).toEqual(mine.map((c: { pg_tid: string; amount: number }) => [c.pg_tid, c.amount]));
      expect(tx.cancelWire).toEqual(facts.expectedCancelWire(p.imp_uid));
    });

    it('refuses to cancel a fully cancelled payment, by imp_uid and by merchant_uid, and changes nothing', async () => {
      const before = await stored(p.imp_uid);
      for (const body of [{ imp_uid: p.imp_uid }, { imp_uid: p.imp_uid, amount: 100 }, { merchant_uid: 'c_partial' }]) {
        const res = await cancel(body);
        expect(res.status).toBe(200);
        expect(res.body.code).toBe(1);
        expect(res.body.response).toBeNull();
        expect(res.body.message).toContain('취소');
      }
      expect(await stored(p.imp_uid)).toEqual(before);
      expect((await ledgerOf(p.imp_uid)).cancels).toHaveLength(3);
    });
  });

  describe('POST /payments/cancel: full refunds', () => {
    it('cancels the whole amount when amount is omitted', async () => {
      const p = await paid('c_full_1', 4000);
      const res = await cancel({ imp_uid: p.imp_uid, reason: '전액' });
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 4000, cancelled_at: now(), cancel_reason: '전액' });
      expect(res.body.response.cancel_history).toEqual([
        { pg_tid: expect.any(String), amount: 4000, cancelled_at: now(), reason: '전액', receipt_url: expect.any(String), cancellation_id: expect.stringMatching(/^[0-9A-Z]{20}$/) },
      ]);
      const [h] = res.body.response.cancel_history;
      expect(h.receipt_url).toBe(slipUrl(h.pg_tid));
      expect(h.receipt_url).not.toBe(res.body.response.receipt_url);
      const tx = await ledgerOf(p.imp_uid);
      expect(tx).toMatchObject({ cancelledAmount: 4000, status: 'cancelled' });
      expect(tx.cancels.map((c) => [c.tid, c.amount])).toEqual([[h.pg_tid, 4000]]);
    });

    it('cancels the whole amount when amount is 0 or null', async () => {
      for (const [uid, amount] of [['c_full_0', 0], ['c_full_null', null]] as const) {
        const p = await paid(uid, 2500);
        const res = await cancel({ imp_uid: p.imp_uid, amount });
        expect(res.body.response, uid).toMatchObject({ status: 'cancelled', cancel_amount: 2500 });
        expect((await ledgerOf(p.imp_uid)).cancelledAmount).toBe(2500);
      }
    });

    it('cancels by merchant_uid', async () => {
      const p = await paid('c_by_muid', 1200);
      const res = await cancel({ merchant_uid: 'c_by_muid', amount: 200 });
      expect(res.body.response).toMatchObject({ imp_uid: p.imp_uid, status: 'paid', cancel_amount: 200 });
      const rest = await cancel({ merchant_uid: 'c_by_muid' });
      expect(rest.body.response).toMatchObject({ imp_uid: p.imp_uid, status: 'cancelled', cancel_amount: 1200 });
    });

    it('gives imp_uid priority over merchant_uid, even when the imp_uid is unknown', async () => {
      const a = await paid('c_prio_a', 1000);
      const b = await paid('c_prio_b', 1000);
      const res = await cancel({ imp_uid: a.imp_uid, merchant_uid: 'c_prio_b' });
      expect(res.body.response).toMatchObject({ imp_uid: a.imp_uid, merchant_uid: 'c_prio_a', status: 'cancelled' });
      expect((await stored(b.imp_uid)).status).toBe('paid');
      const unknown = await cancel({ imp_uid: 'imp_000000000000', merchant_uid: 'c_prio_b' });
      expect(unknown.status).toBe(200);
      expect(unknown.body).toEqual(NOTHING_TO_CANCEL);
      expect((await stored(b.imp_uid)).cancel_amount).toBe(0);
    });

    it('accepts a form-encoded body at the trailing-slash path', async () => {
      const p = await paid('c_form', 3000);
      const form = new URLSearchParams({ imp_uid: p.imp_uid, amount: '1000', checksum: '3000', reason: '폼 취소' }).toString() + '&extra[requester]=customer';
      const res = await pier.call('POST', '/payments/cancel/', { token: m.token, form });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ status: 'paid', cancel_amount: 1000, cancel_reason: '폼 취소' });
      const json = await pier.call('POST', '/payments/cancel/', { token: m.token, body: { imp_uid: p.imp_uid } });
      expect(json.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 3000 });
    });
  });

  describe('POST /payments/cancel: checksum and limits', () => {
    it('passes when checksum equals the cancellable balance', async () => {
      const p = await paid('c_sum_ok', 5000);
      const first = await cancel({ imp_uid: p.imp_uid, amount: 1000, checksum: 5000 });
      expect(first.body.response).toMatchObject({ cancel_amount: 1000 });
      const second = await cancel({ imp_uid: p.imp_uid, amount: 1000, checksum: 4000 });
      expect(second.body.response).toMatchObject({ cancel_amount: 2000 });
      const rest = await cancel({ imp_uid: p.imp_uid, checksum: 3000 });
      expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 5000 });
    });

    it('refuses with HTTP 200 code 1 when checksum differs from the balance, and refunds nothing', async () => {
      const p = await paid('c_sum_bad', 5000);
      await cancel({ imp_uid: p.imp_uid, amount: 1000 });
      const stale = await cancel({ imp_uid: p.imp_uid, amount: 1000, checksum: 5000 });
      expect(stale.status).toBe(200);
      expect(stale.body.code).toBe(1);
      expect(stale.body.response).toBeNull();
      expect(stale.body.message).toContain('checksum');
      expect((await stored(p.imp_uid)).cancel_amount).toBe(1000);
      expect((await ledgerOf(p.imp_uid)).cancelledAmount).toBe(1000);
    });

    it('refuses to cancel more than the remaining balance', async () => {
      const p = await paid('c_over', 3000);
      const over = await cancel({ imp_uid: p.imp_uid, amount: 3001 });
      expect(over.status).toBe(200);
      expect(over.body).toMatchObject({ code: 1, response: null });
      expect(over.body.message).toContain('3000');
      await cancel({ imp_uid: p.imp_uid, amount: 2000 });
      const overRest = await cancel({ imp_uid: p.imp_uid, amount: 1001 });
      expect(overRest.body.code).toBe(1);
      expect(overRest.body.message).toContain('1000');
      const s = await stored(p.imp_uid);
      expect(s).toMatchObject({ status: 'paid', cancel_amount: 2000 });
      expect(s.cancel_history).toHaveLength(1);
      expect((await ledgerOf(p.imp_uid)).cancelledAmount).toBe(2000);
    });

    it('lets only one of two concurrent refunds through when both together exceed the balance', async () => {
      const p = await paid('c_race', 10000);
      const results = await Promise.all([cancel({ imp_uid: p.imp_uid, amount: 6000 }), cancel({ imp_uid: p.imp_uid, amount: 6000 })]);
      expect(results.map((r) => r.status)).toEqual([200, 200]);
      expect(results.map((r) => r.body.code).sort()).toEqual([0, 1]);
      const s = await stored(p.imp_uid);
      expect(s).toMatchObject({ status: 'paid', cancel_amount: 6000 });
      expect(s.cancel_history).toHaveLength(1);
      expect((await ledgerOf(p.imp_uid)).cancelledAmount).toBe(6000);
      const rest = await cancel({ imp_uid: p.imp_uid, checksum: 4000 });
      expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10000 });
    });
  });

  describe('POST /payments/cancel: nothing to cancel', () => {
    it('answers HTTP 200 code 1 `취소할 결제건이 존재하지 않습니다.` for an unknown payment', async () => {
      for (const body of [{ imp_uid: 'imp_000000000000' }, { merchant_uid: 'no_such_order' }]) {
        const res = await cancel(body);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(NOTHING_TO_CANCEL);
      }
    });

    it("answers the same for another merchant's payment, which stays untouched", async () => {
      const p = await paid('c_theirs', 2000, other.token);
      expect((await cancel({ imp_uid: p.imp_uid })).body).toEqual(NOTHING_TO_CANCEL);
      expect((await cancel({ merchant_uid: 'c_theirs' })).body).toEqual(NOTHING_TO_CANCEL);
      expect((await stored(p.imp_uid, other.token)).cancel_amount).toBe(0);
      expect((await ledgerOf(p.imp_uid, other)).cancelledAmount).toBe(0);
    });

    it('refuses to cancel a failed payment', async () => {
      const declined = testCardNumber({ kftcCode: '366', lastFour: '0054' });
      const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'c_failed', amount: 1000, card_number: declined, expiry: '2030-12' } });
      expect(res.body.response.status).toBe('failed');
      const byImp = await cancel({ imp_uid: res.body.response.imp_uid });
      expect(byImp.status).toBe(200);
      expect(byImp.body).toMatchObject({ code: 1, response: null });
      expect(byImp.body.message).toContain('failed');
      expect((await cancel({ merchant_uid: 'c_failed' })).body).toEqual(NOTHING_TO_CANCEL);
      const s = await stored(res.body.response.imp_uid);
      expect(s).toMatchObject({ status: 'failed', cancel_amount: 0, cancel_history: [] });
    });

    it('answers 400 when neither imp_uid nor merchant_uid is given, and 401 without a token', async () => {
      const res = await cancel({ amount: 1000 });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 1, response: null });
      expect(res.body.message).toContain('imp_uid');
      expect((await pier.call('POST', '/payments/cancel', { body: { imp_uid: 'imp_000000000000' } })).status).toBe(401);
    });
  });

  describe('POST /payments/cancel: an empty id (decision 0072)', () => {
    const CANCEL_UID_MISSING = { code: 1, message: 'imp_uid 또는 merchant_uid 중 하나는 지정해주셔야합니다.', response: null };
    async function raw(url: string, o: { json?: unknown; form?: string }) {
      const res = await pier.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${m.token}`, 'content-type': o.form === undefined ? 'application/json' : 'application/x-www-form-urlencoded' },
        payload: o.form ?? JSON.stringify(o.json),
      });
      return { status: res.statusCode, body: JSON.parse(res.body), detail: res.headers['x-pier-detail'] };
    }

    it('refuses an empty merchant_uid (imp_uid absent) naming it, as POST /payments/prepare does, not as if no id were sent', async () => {
      const prepare = await raw('/payments/prepare', { json: { merchant_uid: '', amount: 1000 } });
      expect(prepare).toEqual({ status: 400, body: { code: 1, message: '파라미터 형식이 올바르지 않습니다: merchant_uid', response: null }, detail: 'merchant_uid must NOT have fewer than 1 characters' });
      for (const body of [{ json: { merchant_uid: '' } }, { json: { merchant_uid: '', imp_uid: '' } }, { json: { merchant_uid: '', imp_uid: null, amount: 100 } }, { form: 'merchant_uid=' }, { form: 'imp_uid=&merchant_uid=&amount=100' }]) {
        expect(await raw('/payments/cancel', body), JSON.stringify(body)).toEqual(prepare);
      }
      const emptyImpUid = await raw('/payments/cancel', { json: { imp_uid: '' } });
      expect(emptyImpUid).toEqual({ status: 400, body: { code: 1, message: '파라미터 형식이 올바르지 않습니다: imp_uid', response: null }, detail: 'imp_uid must NOT have fewer than 1 characters' });
      // not sent at all, or JSON null: V1's own answer, unchanged
      for (const body of [{}, { merchant_uid: null }, { imp_uid: null, merchant_uid: null, amount: 100 }]) {
        const res = await raw('/payments/cancel', { json: body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toEqual(CANCEL_UID_MISSING);
      }
    });

    it('refunds by the other id when one is empty (typed V1 clients send "" for the id they do not use)', async () => {
      const byMerchantUid = await paid('c_empty_imp', 1000);
      const json = await raw('/payments/cancel', { json: { imp_uid: '', merchant_uid: 'c_empty_imp', amount: 300 } });
      expect(json.body.response).toMatchObject({ imp_uid: byMerchantUid.imp_uid, cancel_amount: 300 });
      const form = await raw('/payments/cancel', { form: 'imp_uid=&merchant_uid=c_empty_imp&amount=200' });
      expect(form.body.response).toMatchObject({ imp_uid: byMerchantUid.imp_uid, cancel_amount: 500 });
      const byImpUid = await paid('c_empty_muid', 1000);
      const other = await raw('/payments/cancel', { json: { imp_uid: byImpUid.imp_uid, merchant_uid: '' } });
      expect(other.body.response).toMatchObject({ imp_uid: byImpUid.imp_uid, status: 'cancelled', cancel_amount: 1000 });
      expect((await stored(byMerchantUid.imp_uid)).cancel_amount).toBe(500);
    });
  });
});
