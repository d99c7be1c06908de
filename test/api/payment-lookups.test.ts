import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const NOT_FOUND = { code: -1, message: '존재하지 않는 결제정보입니다.', response: null };
const DAY = 24 * 3600;
const good = testCardNumber({ kftcCode: '381', lastFour: '5678' });
const declined = testCardNumber({ kftcCode: '366', lastFour: '0054' });
describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let other: Awaited<ReturnType<TestPier['newMerchant']>>;

  const now = () => Math.floor(pier.clock.now() / 1000);
  const minute = () => pier.clock.advance(60_000);

  /** The V1 Payment of a key-in charge through the simulator (paid, or failed for a declining card). */
  async function charge(token: string, merchant_uid: string, amount: number, card = good) {
    const res = await pier.call('POST', '/subscribe/payments/onetime', {
      token,
      body: { merchant_uid, amount, card_number: card, expiry: '2030-12', birth: '820213', name: `order ${merchant_uid}` },
    });
    expect(res.body.code, JSON.stringify(res.body)).toBe(0);
    return res.body.response;
  }

  const uids = (list: Array<{ imp_uid: string }>) => list.map((p) => p.imp_uid);

  // The timeline every test below reads (t0 = start; one step per minute):
  //   t0      A  lk_a        1000 paid
  //   t0+60   F1 lk_retry    declined (failed)
  //   t0+120  F2 lk_retry    declined (failed)
  //   t0+180  R  lk_retry    2000 paid
  //   t0+240  C  lk_c        3000 paid, fully cancelled at t0+300
  //   t0+360  Y  lk_ready    in doubt at the PG, still `ready`
  //   t0+420  P  lk_partial  5000 paid, 1000 refunded at t0+480
  //   t0+540  O  lk_a        other merchant, paid
  let t0: number;
  const ids: Record<'A' | 'F1' | 'F2' | 'R' | 'C' | 'Y' | 'P' | 'O', string> = {} as never;

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
    other = await pier.newMerchant();
    t0 = now();
    ids.A = (await charge(m.token, 'lk_a', 1000)).imp_uid;
    minute();
    const f1 = await charge(m.token, 'lk_retry', 1500, declined);
    expect(f1.status).toBe('failed');
    ids.F1 = f1.imp_uid;
    minute();
    ids.F2 = (await charge(m.token, 'lk_retry', 1500, declined)).imp_uid;
    minute();
    ids.R = (await charge(m.token, 'lk_retry', 2000)).imp_uid;
    minute();
    ids.C = (await charge(m.token, 'lk_c', 3000)).imp_uid;
    minute();
    const cancelled = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: ids.C, reason: 'full' } });
    expect(cancelled.body.response.status).toBe('cancelled');
    minute();
    // the approval's answer is lost and the inquiry fails too: the attempt stays `ready`
    await facts.loseNextKeyInAnswerAndInquiry(pier, m);
    // V1's error envelope says the result is being confirmed and names the imp_uid (issue #10 item 8)
    const ready = await pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: 'lk_ready', amount: 4000, card_number: good, expiry: '2030-12', birth: '820213', name: 'order lk_ready' },
    });
    expect(ready.status).toBe(502);
    ids.Y = /imp_uid: (imp_\d{12})/.exec(ready.body.message)![1]!;
    expect((await pier.call('GET', `/payments/${ids.Y}`, { token: m.token })).body.response.status).toBe('ready');
    minute();
    ids.P = (await charge(m.token, 'lk_partial', 5000)).imp_uid;
    minute();
    const partial = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: ids.P, amount: 1000, reason: 'part' } });
    expect(partial.body.response).toMatchObject({ status: 'paid', cancel_amount: 1000 });
    minute();
    ids.O = (await charge(other.token, 'lk_a', 1000)).imp_uid;
    minute();
  });
  afterAll(() => pier.close());

  describe('GET /payments/{imp_uid}', () => {
    it('answers the payment with its V1 fields', async () => {
      const res = await pier.call('GET', `/payments/${ids.A}`, { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.message).toBeNull();
      expect(res.body.response).toMatchObject({
        imp_uid: ids.A,
        merchant_uid: 'lk_a',
        status: 'paid',
        amount: 1000,
        cancel_amount: 0,
        name: 'order lk_a',
        pay_method: 'card',
        pg_provider: facts.pg,
        pg_id: facts.pgId(m),
        card_code: '381',
        started_at: t0,
        paid_at: t0,
        failed_at: 0,
        cancelled_at: 0,
        cancel_history: [],
      });
    });

    it('shows a failed attempt with its reason and a cancelled one with its refund', async () => {
      const failed = await pier.call('GET', `/payments/${ids.F1}`, { token: m.token });
      expect(failed.body.response).toMatchObject({ status: 'failed', failed_at: t0 + 60, paid_at: 0 });
      expect(failed.body.response.fail_reason).toMatch(/잔액부족/);
      const cancelled = await pier.call('GET', `/payments/${ids.C}`, { token: m.token });
      expect(cancelled.body.response).toMatchObject({ status: 'cancelled', paid_at: t0 + 240, cancelled_at: t0 + 300, cancel_amount: 3000, cancel_reason: 'full' });
      expect(cancelled.body.response.cancel_history).toHaveLength(1);
    });

    it('answers 404 with the V1 envelope for an unknown imp_uid', async () => {
      const res = await pier.call('GET', '/payments/imp_000000000000', { token: m.token });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(NOT_FOUND);
    });

    it("answers 404 for another merchant's payment", async () => {
      const res = await pier.call('GET', `/payments/${ids.O}`, { token: m.token });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(NOT_FOUND);
      const own = await pier.call('GET', `/payments/${ids.O}`, { token: other.token });
      expect(own.body.response.merchant_uid).toBe('lk_a');
    });

    it('answers 401 without a token', async () => {
      const res = await pier.call('GET', `/payments/${ids.A}`);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: -1, response: null });
    });

    it('accepts include_sandbox and a trailing slash (sandbox payments are always shown: the code\'s choice)', async () => {
      const withFlag = await pier.call('GET', `/payments/${ids.A}?include_sandbox=true`, { token: m.token });
      expect(withFlag.body.response).toMatchObject({ imp_uid: ids.A, sandbox: true });
      const slash = await pier.call('GET', `/payments/${ids.A}/`, { token: m.token });
      expect(slash.body.response.imp_uid).toBe(ids.A);
    });
  });

  describe('GET /payments?imp_uid[]=&merchant_uid[]=', () => {
    it('answers 200 with every payment when all are found, imp_uids first in request order', async () => {
      const res = await pier.call('GET', `/payments?imp_uid[]=${ids.R}&imp_uid[]=${ids.A}&merchant_uid[]=lk_c`, { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(uids(res.body.response)).toEqual([ids.R, ids.A, ids.C]);
    });

    it('resolves a merchant_uid to its latest attempt and does not repeat a payment asked for twice', async () => {
      const res = await pier.call('GET', `/payments?merchant_uid[]=lk_retry&imp_uid[]=${ids.R}`, { token: m.token });
      expect(res.status).toBe(200);
      expect(uids(res.body.response)).toEqual([ids.R]);
    });

    it('accepts imp_uid[] given once', async () => {
      const res = await pier.call('GET', `/payments?imp_uid[]=${ids.A}`, { token: m.token });
      expect(res.status).toBe(200);
      expect(uids(res.body.response)).toEqual([ids.A]);
    });

    it("answers 207 with the found ones only when some are unknown or another merchant's", async () => {
      const res = await pier.call('GET', `/payments?imp_uid[]=${ids.A}&imp_uid[]=imp_000000000000&imp_uid[]=${ids.O}&merchant_uid[]=nope`, { token: m.token });
      expect(res.status).toBe(207);
      expect(res.body.code).toBe(0);
      expect(uids(res.body.response)).toEqual([ids.A]);
    });

    it('answers 404 when none is found', async () => {
      const res = await pier.call('GET', `/payments?imp_uid[]=imp_000000000000&merchant_uid[]=nope&imp_uid[]=${ids.O}`, { token: m.token });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(NOT_FOUND);
    });

    it('answers 400 without ids and with more than 100', async () => {
      const none = await pier.call('GET', '/payments', { token: m.token });
      expect(none.status).toBe(400);
      expect(none.body.code).toBe(1);
      expect(none.body.message).toContain('imp_uid');
      const many = Array.from({ length: 101 }, (_, i) => `imp_uid[]=imp_${String(i).padStart(12, '0')}`).join('&');
      const tooMany = await pier.call('GET', `/payments?${many}`, { token: m.token });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.message).toContain('imp_uid');
    });
  });

  describe('GET /payments/find/{merchant_uid}[/{payment_status}]', () => {
    it('answers the latest attempt of a merchant_uid', async () => {
      const res = await pier.call('GET', '/payments/find/lk_retry', { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.response).toMatchObject({ imp_uid: ids.R, status: 'paid' });
    });

    it('answers the latest attempt with a given status', async () => {
      const failed = await pier.call('GET', '/payments/find/lk_retry/failed', { token: m.token });
      expect(failed.body.response).toMatchObject({ imp_uid: ids.F2, status: 'failed' });
      const paid = await pier.call('GET', '/payments/find/lk_retry/paid', { token: m.token });
      expect(paid.body.response.imp_uid).toBe(ids.R);
    });

    it('follows sorting: `started` answers the first attempt', async () => {
      const res = await pier.call('GET', '/payments/find/lk_retry?sorting=started', { token: m.token });
      expect(res.body.response.imp_uid).toBe(ids.F1);
      const failed = await pier.call('GET', '/payments/find/lk_retry/failed?sorting=started', { token: m.token });
      expect(failed.body.response.imp_uid).toBe(ids.F1);
    });

    it('answers 404 when no attempt has that status or the merchant_uid is unknown', async () => {
      const status = await pier.call('GET', '/payments/find/lk_retry/cancelled', { token: m.token });
      expect(status.status).toBe(404);
      expect(status.body).toEqual(NOT_FOUND);
      const unknown = await pier.call('GET', '/payments/find/nope', { token: m.token });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(NOT_FOUND);
    });

    it("keeps merchants apart: the same merchant_uid finds each merchant's own payment", async () => {
      expect((await pier.call('GET', '/payments/find/lk_a', { token: m.token })).body.response.imp_uid).toBe(ids.A);
      expect((await pier.call('GET', '/payments/find/lk_a', { token: other.token })).body.response.imp_uid).toBe(ids.O);
      expect((await pier.call('GET', '/payments/find/lk_retry', { token: other.token })).status).toBe(404);
    });

    it('answers 400 for an unknown status', async () => {
      const res = await pier.call('GET', '/payments/find/lk_retry/refunded', { token: m.token });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 1, response: null });
      expect(res.body.message).toContain('payment_status');
    });

    it('tolerates a trailing slash, with and without a status', async () => {
      expect((await pier.call('GET', '/payments/find/lk_retry/', { token: m.token })).body.response.imp_uid).toBe(ids.R);
      expect((await pier.call('GET', '/payments/find/lk_retry/failed/', { token: m.token })).body.response.imp_uid).toBe(ids.F2);
    });
  });

  describe('GET /payments/findAll/{merchant_uid}[/{payment_status}]', () => {
    it('lists every attempt, newest first, with paging fields', async () => {
      const res = await pier.call('GET', '/payments/findAll/lk_retry', { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.response).toMatchObject({ total: 3, previous: 0, next: 0 });
      expect(uids(res.body.response.list)).toEqual([ids.R, ids.F2, ids.F1]);
    });

    it('pages with page and limit', async () => {
      const first = await pier.call('GET', '/payments/findAll/lk_retry?limit=2', { token: m.token });
      expect(first.body.response).toMatchObject({ total: 3, previous: 0, next: 2 });
      expect(uids(first.body.response.list)).toEqual([ids.R, ids.F2]);
      const second = await pier.call('GET', '/payments/findAll/lk_retry?limit=2&page=2', { token: m.token });
      expect(second.body.response).toMatchObject({ total: 3, previous: 1, next: 0 });
      expect(uids(second.body.response.list)).toEqual([ids.F1]);
    });

    it('filters by status and follows sorting', async () => {
      const failed = await pier.call('GET', '/payments/findAll/lk_retry/failed', { token: m.token });
      expect(failed.body.response.total).toBe(2);
      expect(uids(failed.body.response.list)).toEqual([ids.F2, ids.F1]);
      const asc = await pier.call('GET', '/payments/findAll/lk_retry?sorting=started', { token: m.token });
      expect(uids(asc.body.response.list)).toEqual([ids.F1, ids.F2, ids.R]);
    });

    it('treats an empty status segment (`/findAll/x/`) as no status', async () => {
      const res = await pier.call('GET', '/payments/findAll/lk_retry/', { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.response.total).toBe(3);
    });

    it('answers 404 for an unknown merchant_uid, or one with no attempt of that status', async () => {
      const unknown = await pier.call('GET', '/payments/findAll/nope/', { token: m.token });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(NOT_FOUND);
      const status = await pier.call('GET', '/payments/findAll/lk_retry/cancelled', { token: m.token });
      expect(status.status).toBe(404);
      expect((await pier.call('GET', '/payments/findAll/lk_retry', { token: other.token })).status).toBe(404);
    });

    it('answers 400 for a bad status, limit or page', async () => {
      for (const url of ['/payments/findAll/lk_retry/refunded', '/payments/findAll/lk_retry?limit=1001', '/payments/findAll/lk_retry?limit=0', '/payments/findAll/lk_retry?page=0', '/payments/findAll/lk_retry?sorting=name']) {
        const res = await pier.call('GET', url, { token: m.token });
        expect(res.status, url).toBe(400);
        expect(res.body.code).toBe(1);
        expect(res.body.response).toBeNull();
      }
    });
  });

  describe('GET /payments/status/{payment_status}', () => {
    const list = async (status: string, query = '') => {
      const res = await pier.call('GET', `/payments/status/${status}${query}`, { token: m.token });
      expect(res.status, `${status}${query}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body.code).toBe(0);
      return res.body.response as { total: number; previous: number; next: number; list: Array<{ imp_uid: string; status: string }> };
    };

    it('lists each status over the default window, newest first', async () => {
      expect(uids((await list('all')).list)).toEqual([ids.P, ids.Y, ids.C, ids.R, ids.F2, ids.F1, ids.A]);
      expect(uids((await list('paid')).list)).toEqual([ids.P, ids.R, ids.A]);
      expect(uids((await list('failed')).list)).toEqual([ids.F2, ids.F1]);
      expect(uids((await list('cancelled')).list)).toEqual([ids.C]);
      expect(uids((await list('ready')).list)).toEqual([ids.Y]);
      const all = await list('all');
      expect(all).toMatchObject({ total: 7, previous: 0, next: 0 });
    });

    it('keeps a partially refunded payment under `paid`', async () => {
      const paid = await list('paid');
      expect(paid.list.find((p) => p.imp_uid === ids.P)).toMatchObject({ status: 'paid', cancel_amount: 1000 });
    });

    it('windows paid payments by paid_at, inclusive at both ends', async () => {
      expect(uids((await list('paid', `?from=${t0}&to=${t0 + 180}`)).list)).toEqual([ids.R, ids.A]);
      expect((await list('paid', `?from=${t0 + 1}&to=${t0 + 179}`)).total).toBe(0);
      // P was refunded in part at t0+480 but paid at t0+420: only paid_at counts
      expect((await list('paid', `?from=${t0 + 430}&to=${t0 + 600}`)).total).toBe(0);
    });

    it('windows cancelled payments by cancelled_at, failed by failed_at and ready by started_at', async () => {
      // C was paid at t0+240 and cancelled at t0+300
      expect(uids((await list('cancelled', `?from=${t0 + 250}&to=${t0 + 300}`)).list)).toEqual([ids.C]);
      expect((await list('cancelled', `?from=${t0 + 200}&to=${t0 + 299}`)).total).toBe(0);
      expect(uids((await list('failed', `?from=${t0 + 60}&to=${t0 + 60}`)).list)).toEqual([ids.F1]);
      expect(uids((await list('ready', `?from=${t0 + 360}&to=${t0 + 360}`)).list)).toEqual([ids.Y]);
      expect((await list('ready', `?from=${t0}&to=${t0 + 359}`)).total).toBe(0);
    });

    it("windows `all` by each payment's own status time", async () => {
      // t0+250..t0+360: C (cancelled_at t0+300) and Y (started_at t0+360); not C's paid_at, not P
      expect(uids((await list('all', `?from=${t0 + 250}&to=${t0 + 360}`)).list)).toEqual([ids.Y, ids.C]);
    });

    it('keeps total(all) equal to the sum of the four statuses', async () => {
      for (const query of ['', `?from=${t0 + 50}&to=${t0 + 400}`, `?from=${t0 + 250}&to=${t0 + 360}`]) {
        const all = (await list('all', query)).total;
        let sum = 0;
        for (const s of ['ready', 'paid', 'failed', 'cancelled']) sum += (await list(s, query)).total;
        expect(all, query).toBe(sum);
      }
      expect((await list('all')).total).toBe(7);
    });

    it('pages with page and limit', async () => {
      const first = await list('all', '?limit=3');
      expect(first).toMatchObject({ total: 7, previous: 0, next: 2 });
      expect(uids(first.list)).toEqual([ids.P, ids.Y, ids.C]);
      const last = await list('all', '?limit=3&page=3');
      expect(last).toMatchObject({ total: 7, previous: 2, next: 0 });
      expect(uids(last.list)).toEqual([ids.A]);
    });

    it('sorts by started, paid or updated, either way', async () => {
      expect(uids((await list('all', '?sorting=started')).list)).toEqual([ids.A, ids.F1, ids.F2, ids.R, ids.C, ids.Y, ids.P]);
      expect(uids((await list('paid', '?sorting=paid')).list)).toEqual([ids.A, ids.R, ids.P]);
      expect(uids((await list('paid', '?sorting=-paid')).list)).toEqual([ids.P, ids.R, ids.A]);
      // updated: C changed last at its cancel (t0+300), P at its refund (t0+480)
      expect(uids((await list('paid', '?sorting=-updated')).list)).toEqual([ids.P, ids.R, ids.A]);
      expect(uids((await list('all', `?sorting=updated&from=${t0 + 200}&to=${t0 + 600}`)).list)).toEqual([ids.C, ids.Y, ids.P]);
    });

    it('shows each merchant only its own payments', async () => {
      const res = await pier.call('GET', '/payments/status/all', { token: other.token });
      expect(uids(res.body.response.list)).toEqual([ids.O]);
    });

    it('answers 400 with `지원되지 않는 상태값입니다.` for an unsupported status', async () => {
      const res = await pier.call('GET', '/payments/status/refunded', { token: m.token });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(1);
      expect(res.body.response).toBeNull();
      expect(res.body.message).toContain('지원되지 않는 상태값입니다.');
    });

    it('answers 400 for a window over 90 days or reversed, and accepts exactly 90 days', async () => {
      const tooLong = await pier.call('GET', `/payments/status/all?from=${t0 - 90 * DAY - 1}&to=${t0}`, { token: m.token });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.message).toContain('90');
      const reversed = await pier.call('GET', `/payments/status/all?from=${t0 + 10}&to=${t0}`, { token: m.token });
      expect(reversed.status).toBe(400);
      expect((await list('all', `?from=${t0 - 90 * DAY}&to=${t0}`)).total).toBe(1);
    });

    it('answers 400 for a page beyond the data (V1: 데이터 범위를 넘어선 page), 200 for the first page of nothing', async () => {
      const pastEnd = await pier.call('GET', '/payments/status/all?limit=3&page=4', { token: m.token });
      expect(pastEnd.status).toBe(400);
      expect(pastEnd.body).toEqual({ code: 1, message: '데이터 범위를 넘어선 page입니다.', response: null });
      expect((await pier.call('GET', '/payments/status/all?limit=3&page=3', { token: m.token })).body.response).toMatchObject({ total: 7, next: 0 });
      const empty = await pier.call('GET', `/payments/status/paid?from=${t0 + 1}&to=${t0 + 179}`, { token: m.token });
      expect(empty.status).toBe(200);
      expect(empty.body.response).toEqual({ total: 0, previous: 0, next: 0, list: [] });
      expect((await pier.call('GET', `/payments/status/paid?from=${t0 + 1}&to=${t0 + 179}&page=2`, { token: m.token })).status).toBe(400);
    });

    it('answers 400 for bad paging and sorting values', async () => {
      for (const q of ['?page=0', '?limit=1001', '?limit=abc', '?from=yesterday', '?sorting=amount']) {
        const res = await pier.call('GET', `/payments/status/all${q}`, { token: m.token });
        expect(res.status, q).toBe(400);
        expect(res.body.code).toBe(1);
      }
    });

    it('answers 401 without a token', async () => {
      expect((await pier.call('GET', '/payments/status/all')).status).toBe(401);
    });
  });

  describe('GET /payments/{imp_uid}/balance', () => {
    const zero = { tax_free: 0, supply: 0, vat: 0, service: 0 };

    it('breaks a partially refunded payment into its remaining primary amount and its history', async () => {
      const res = await pier.call('GET', `/payments/${ids.P}/balance`, { token: m.token });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      const b = res.body.response;
      expect(b).toEqual({
        amount: 5000,
        cash_receipt: zero,
        primary: { tax_free: 0, supply: 3636, vat: 364, service: 0 },
        secondary: zero,
        discount: zero,
        histories: [
          { cash_receipt: zero, primary: { tax_free: 0, supply: 4545, vat: 455, service: 0 }, secondary: zero, discount: zero, created: t0 + 420 },
          { cash_receipt: zero, primary: { tax_free: 0, supply: -909, vat: -91, service: 0 }, secondary: zero, discount: zero, created: t0 + 480 },
        ],
      });
      const sum = b.histories.reduce((n: number, h: { primary: { supply: number; vat: number } }) => n + h.primary.supply + h.primary.vat, 0);
      expect(sum).toBe(b.primary.supply + b.primary.vat);
    });

    it('answers zero for a fully cancelled payment and no history for a failed one', async () => {
      const cancelled = (await pier.call('GET', `/payments/${ids.C}/balance`, { token: m.token })).body.response;
      expect(cancelled).toMatchObject({ amount: 3000, primary: zero });
      expect(cancelled.histories).toHaveLength(2);
      const failed = (await pier.call('GET', `/payments/${ids.F1}/balance`, { token: m.token })).body.response;
      expect(failed).toEqual({ amount: 1500, cash_receipt: zero, primary: zero, secondary: zero, discount: zero, histories: [] });
    });

    it("answers 404 for an unknown or another merchant's payment, and 401 without a token", async () => {
      const unknown = await pier.call('GET', '/payments/imp_000000000000/balance', { token: m.token });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(NOT_FOUND);
      expect((await pier.call('GET', `/payments/${ids.O}/balance`, { token: m.token })).status).toBe(404);
      expect((await pier.call('GET', `/payments/${ids.P}/balance`)).status).toBe(401);
    });
  });

  // Moves the clock 90 days on: keep this block last.
  describe('GET /payments/status/{payment_status} default window', () => {
    it('covers the 90 days before now', async () => {
      pier.clock.set((t0 + 90 * DAY + 60) * 1000);
      const token = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
      const fresh = token.body.response.access_token;
      // now − 90 days = t0+60: A (paid at t0) has left the window, R (t0+180) and P (t0+420) are still in
      const res = await pier.call('GET', '/payments/status/paid', { token: fresh });
      expect(uids(res.body.response.list)).toEqual([ids.P, ids.R]);
      const explicit = await pier.call('GET', `/payments/status/paid?from=${t0}&to=${t0 + 600}`, { token: fresh });
      expect(explicit.body.response.total).toBe(3);
      const fromOnly = await pier.call('GET', `/payments/status/paid?from=${t0}`, { token: fresh });
      expect(fromOnly.status).toBe(400);
    });
  });
});
