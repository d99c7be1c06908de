/**
 * The V1 schedule endpoints (spec/api-v1.md §5.3-5.5, §12.4): happy paths, V1's errors, and
 * security (no token, another merchant). Due schedules run through the job runner, driven by the
 * injected clock: no sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { PGS } from '../pgs.js';

const SCHEDULE_KEYS = [
  'customer_uid', 'merchant_uid', 'imp_uid', 'pg_provider', 'pg_id', 'customer_id', 'schedule_at', 'executed_at', 'revoked_at', 'amount',
  'currency', 'name', 'buyer_name', 'buyer_email', 'buyer_tel', 'buyer_addr', 'buyer_postcode', 'custom_data', 'schedule_status',
  'payment_status', 'fail_reason', 'promotion_id',
].sort();

const good = testCardNumber({ kftcCode: '366', lastFour: '7001' });
/** a card whose key is issued but whose charges are declined later (simulator 10NN rule: 02) */
const failsLater = testCardNumber({ kftcCode: '365', lastFour: '1002' });
describe.each(PGS)('on $pg', (facts) => {
  let pier: TestPier;
  let m: Awaited<ReturnType<TestPier['newMerchant']>>;
  let other: Awaited<ReturnType<TestPier['newMerchant']>>;
  let runner: JobRunner;

  const now = () => Math.floor(pier.clock.now() / 1000);
  const HOUR = 3600;
  const DAY = 86_400;

  async function key(merchant: TestMerchant, customerUid: string, card = good, extra: Record<string, unknown> = {}) {
    const res = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: merchant.token, body: { card_number: card, expiry: '2030-12', ...extra } });
    expect(res.body.code, JSON.stringify(res.body)).toBe(0);
  }

  async function schedule(merchant: TestMerchant, body: Record<string, unknown>) {
    return pier.call('POST', '/subscribe/payments/schedule', { token: merchant.token, body });
  }

  /** Moves the clock on and runs everything due. Access tokens live 30 minutes of that clock: sign in again. */
  async function runDue(seconds: number) {
    pier.clock.advance(seconds * 1000);
    const ran = await runner.drain();
    for (const merchant of [m, other]) {
      const t = await pier.call('POST', '/users/getToken', { body: { imp_key: merchant.impKey, imp_secret: merchant.impSecret } });
      merchant.token = t.body.response.access_token;
    }
    return ran;
  }

  beforeAll(async () => {
    pier = await startTestPier({ pg: facts.pg });
    m = await pier.newMerchant();
    other = await pier.newMerchant();
    runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
  });
  afterAll(() => pier.close());

  describe('POST /subscribe/payments/schedule', () => {
    it('schedules charges of a billing key and answers a ScheduleResult with every V1 key per item', async () => {
      await key(m, 'sub_1', good, { customer_name: '홍길동', customer_email: 'gd@example.com' });
      const at = now() + HOUR;
      const res = await schedule(m, {
        customer_uid: 'sub_1',
        schedules: [
          { merchant_uid: 'sub_1_m1', schedule_at: at, amount: 9900, name: '월간 구독', custom_data: { plan: 'basic' }, buyer_tel: '010-1234-5678' },
          { merchant_uid: 'sub_1_m2', schedule_at: at + 30 * DAY, amount: 9900, name: '월간 구독', promotion_id: 'promo-1' },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
      expect(res.body.message).toBeNull();
      const [a, b] = res.body.response;
      expect(Object.keys(a).sort()).toEqual(SCHEDULE_KEYS);
      expect(a).toEqual({
        customer_uid: 'sub_1',
        merchant_uid: 'sub_1_m1',
        imp_uid: null,
        pg_provider: facts.pg,
        pg_id: facts.pgId(m),
        customer_id: null,
        schedule_at: at,
        executed_at: 0,
        revoked_at: 0,
        amount: 9900,
        currency: 'KRW',
        name: '월간 구독',
        // buyer_* fall back to the billing key's customer_*
        buyer_name: '홍길동',
        buyer_email: 'gd@example.com',
        buyer_tel: '010-1234-5678',
        buyer_addr: null,
        buyer_postcode: null,
        custom_data: '{"plan":"basic"}',
        schedule_status: 'scheduled',
        payment_status: null,
        fail_reason: null,
        promotion_id: null,
      });
      expect(b).toMatchObject({ merchant_uid: 'sub_1_m2', schedule_at: at + 30 * DAY, promotion_id: 'promo-1', schedule_status: 'scheduled' });
      const one = await pier.call('GET', '/subscribe/payments/schedule/sub_1_m1', { token: m.token });
      expect(one.body).toEqual({ code: 0, message: null, response: a });
    });

    it('issues the billing key in the same call when card fields are given', async () => {
      const res = await schedule(m, {
        customer_uid: 'sub_card',
        customer_id: 'cust-77',
        card_number: good.replace(/(\d{4})(?=\d)/g, '$1-'),
        expiry: '2030-12',
        birth: '880101',
        pwd_2digit: '12',
        schedules: [{ merchant_uid: 'sub_card_1', schedule_at: now() + HOUR, amount: 1000, name: 'x' }],
      });
      expect(res.body.code).toBe(0);
      expect(res.body.response[0]).toMatchObject({ customer_uid: 'sub_card', customer_id: 'cust-77', schedule_status: 'scheduled' });
      const customer = await pier.call('GET', '/subscribe/customers/sub_card', { token: m.token });
      expect(customer.body.response).toMatchObject({ customer_uid: 'sub_card', card_code: '366', customer_id: 'cust-77' });
    });

    it('accepts a form body with bracket notation (schedules[0][merchant_uid]=…)', async () => {
      await key(m, 'sub_form');
      const at = now() + 2 * HOUR;
      const form = [
        'customer_uid=sub_form',
        `schedules[0][merchant_uid]=sub_form_1&schedules[0][schedule_at]=${at}&schedules[0][amount]=3000&schedules[0][name]=form`,
        `schedules[1][merchant_uid]=sub_form_2&schedules[1][schedule_at]=${at + DAY}&schedules[1][amount]=4000&schedules[1][extra][naverUseCfm]=20301001`,
        `schedules[1][notice_url][]=https://a.example/hook&schedules[1][notice_url][]=https://b.example/hook`,
      ].join('&');
      const res = await pier.call('POST', '/subscribe/payments/schedule/', { token: m.token, form });
      expect(res.body.code, JSON.stringify(res.body)).toBe(0);
      expect(res.body.response.map((s: { merchant_uid: string; amount: number }) => [s.merchant_uid, s.amount])).toEqual([
        ['sub_form_1', 3000],
        ['sub_form_2', 4000],
      ]);
      const row = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', 'sub_form_2').executeTakeFirstOrThrow();
      expect(row.notice_url).toBe('https://a.example/hook https://b.example/hook');
      expect(JSON.parse(row.options!)).toEqual({ extra: { naverUseCfm: '20301001' } });
    });

    it("answers V1's errors: past schedule_at (400), duplicate merchant_uid, unknown customer, card check failure", async () => {
      await key(m, 'sub_err');
      const past = await schedule(m, { customer_uid: 'sub_err', schedules: [{ merchant_uid: 'e_1', schedule_at: now() - 1, amount: 1000, name: 'x' }] });
      expect(past.status).toBe(400);
      expect(past.body).toMatchObject({ code: 1, response: null });
      expect(past.body.message).toContain('schedule_at');

      const dupInRequest = await schedule(m, {
        customer_uid: 'sub_err',
        schedules: [
          { merchant_uid: 'e_2', schedule_at: now() + HOUR, amount: 1000, name: 'x' },
          { merchant_uid: 'e_2', schedule_at: now() + 2 * HOUR, amount: 1000, name: 'x' },
        ],
      });
      expect(dupInRequest.status).toBe(200);
      expect(dupInRequest.body).toMatchObject({ code: 1, response: null });
      expect(dupInRequest.body.message).toContain('e_2');

      const dupExisting = await schedule(m, { customer_uid: 'sub_err', schedules: [{ merchant_uid: 'sub_1_m1', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      expect(dupExisting.body).toMatchObject({ code: 1, response: null });
      expect(dupExisting.body.message).toBe('이미 예약된 merchant_uid입니다: sub_1_m1');
      // nothing of a refused request is recorded
      expect(await pier.store.db.selectFrom('payment_schedules').select('id').where('merchant_uid', 'in', ['e_1', 'e_2']).execute()).toEqual([]);

      const unknown = await schedule(m, { customer_uid: 'nobody', schedules: [{ merchant_uid: 'e_3', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      expect(unknown.status).toBe(200);
      expect(unknown.body).toEqual({ code: 1, message: '등록된 고객정보가 없습니다.', response: null });

      const declined = testCardNumber({ kftcCode: '366', lastFour: '0014' });
      const cardFail = await schedule(m, { customer_uid: 'e_card', card_number: declined, expiry: '2030-12', schedules: [{ merchant_uid: 'e_4', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      expect(cardFail.body).toMatchObject({ code: 1, response: null });
      expect(cardFail.body.message).toMatch(/^카드정보 확인에 실패하였습니다\. \[/);

      const bad = await schedule(m, { customer_uid: 'sub_err', schedules: [{ merchant_uid: 'e_5', schedule_at: now() + HOUR, amount: '1,000', name: 'x' }] });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toContain('amount');
      const none = await schedule(m, { customer_uid: 'sub_err', schedules: [] });
      expect(none.status).toBe(400);
      const missing = await schedule(m, { customer_uid: 'sub_err' });
      expect(missing.status).toBe(400);
      expect(missing.body.message).toContain('schedules');
    });

    it('refuses `extra` or `bypass` nested too deep for JSON (11,000 objects in 55 KB) naming the field, and records nothing', async () => {
      await key(m, 'sub_deep');
      for (const field of ['extra', 'bypass']) {
        // written by hand: JSON.stringify of such a value overflows the stack, which is the point
        const payload = JSON.stringify({ customer_uid: 'sub_deep', schedules: [{ merchant_uid: `deep_${field}`, schedule_at: now() + HOUR, amount: 1000, name: 'x', [field]: 'DEEP' }] }).replace(
          '"DEEP"',
          '{"":'.repeat(11_000) + '1' + '}'.repeat(11_000),
        );
        const res = await pier.app.inject({ method: 'POST', url: '/subscribe/payments/schedule', headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' }, payload });
        expect(res.statusCode, res.body).toBe(400);
        expect(JSON.parse(res.body)).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: schedules.0.${field}`, response: null });
      }
      expect(await pier.store.db.selectFrom('payment_schedules').select('id').where('merchant_uid', 'in', ['deep_extra', 'deep_bypass']).execute()).toEqual([]);
    });
  });

  describe('running schedules', () => {
    it('charges a schedule at schedule_at, once, with customer_uid_usage payment.scheduled', async () => {
      await key(m, 'run_1');
      const at = now() + HOUR;
      await schedule(m, { customer_uid: 'run_1', schedules: [{ merchant_uid: 'run_1_a', schedule_at: at, amount: 5000, name: '정기' }] });
      expect(await runDue(HOUR - 1)).toBe(0);
      let s = (await pier.call('GET', '/subscribe/payments/schedule/run_1_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'scheduled', imp_uid: null, payment_status: null });

      await runDue(1);
      s = (await pier.call('GET', '/subscribe/payments/schedule/run_1_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'paid', executed_at: at, fail_reason: null });
      expect(s.imp_uid).toMatch(/^imp_\d{12}$/);
      const p = (await pier.call('GET', `/payments/${s.imp_uid}`, { token: m.token })).body.response;
      expect(p).toMatchObject({ status: 'paid', amount: 5000, merchant_uid: 'run_1_a', customer_uid: 'run_1', customer_uid_usage: 'payment.scheduled', channel: 'api' });

      // nothing runs twice
      await runDue(DAY);
      const all = await pier.call('GET', '/payments/findAll/run_1_a', { token: m.token });
      expect(all.body.response.list).toHaveLength(1);

      // refunded in full later, the schedule's payment_status follows
      await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: s.imp_uid } });
      s = (await pier.call('GET', '/subscribe/payments/schedule/run_1_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'cancelled' });
    });

    it('records a declined charge as failed, with the reason, and never retries it', async () => {
      await key(m, 'run_decl', failsLater);
      await schedule(m, { customer_uid: 'run_decl', schedules: [{ merchant_uid: 'run_decl_a', schedule_at: now() + 60, amount: 5000, name: '정기' }] });
      await runDue(60);
      const s = (await pier.call('GET', '/subscribe/payments/schedule/run_decl_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'failed' });
      expect(s.fail_reason).toBe(facts.laterDeclineReason);
      await runDue(7 * DAY);
      const all = await pier.call('GET', '/payments/findAll/run_decl_a', { token: m.token });
      expect(all.body.response.list.map((p: { status: string }) => p.status)).toEqual(['failed']);
    });

    it('reschedules and retries a failed schedule; refuses both for a paid one', async () => {
      const r1 = await pier.call('POST', '/subscribe/payments/schedule/run_decl_a/reschedule', { token: m.token, body: { schedule_at: now() + HOUR } });
      expect(r1.body.code, JSON.stringify(r1.body)).toBe(0);
      expect(r1.body.response).toMatchObject({ schedule_status: 'scheduled', payment_status: null, imp_uid: null, executed_at: 0, fail_reason: null });
      // the card now works: re-issue the key with a good card, and let it run
      await key(m, 'run_decl', good);
      await runDue(HOUR);
      let s = (await pier.call('GET', '/subscribe/payments/schedule/run_decl_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'paid' });

      const paidAgain = await pier.call('POST', '/subscribe/payments/schedule/run_decl_a/reschedule', { token: m.token, body: { schedule_at: now() + HOUR } });
      // a business refusal, as V1 (issue #11): HTTP 200, code 1
      expect(paidAgain.status).toBe(200);
      expect(paidAgain.body).toEqual({ code: 1, message: '이미 결제된 예약결제입니다.', response: null });
      const retryPaid = await pier.call('POST', '/subscribe/payments/schedule/run_decl_a/retry', { token: m.token });
      expect(retryPaid.status).toBe(200);
      expect(retryPaid.body).toEqual({ code: 1, message: '이미 결제된 예약결제입니다.', response: null });

      // retry: declined again answers the failed Payment with code 0, as V1
      await key(m, 'run_retry', failsLater);
      await schedule(m, { customer_uid: 'run_retry', schedules: [{ merchant_uid: 'run_retry_a', schedule_at: now() + 60, amount: 2000, name: 'x' }] });
      await runDue(60);
      const retried = await pier.call('POST', '/subscribe/payments/schedule/run_retry_a/retry', { token: m.token, body: {} });
      expect(retried.body.code).toBe(0);
      expect(retried.body.response).toMatchObject({ status: 'failed', merchant_uid: 'run_retry_a', customer_uid_usage: 'payment.scheduled' });
      await key(m, 'run_retry', good);
      const retried2 = await pier.call('POST', '/subscribe/payments/schedule/run_retry_a/retry', { token: m.token });
      expect(retried2.body.response).toMatchObject({ status: 'paid', amount: 2000 });
      s = (await pier.call('GET', '/subscribe/payments/schedule/run_retry_a', { token: m.token })).body.response;
      expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'paid', imp_uid: retried2.body.response.imp_uid });
      const all = await pier.call('GET', '/payments/findAll/run_retry_a', { token: m.token });
      expect(all.body.response.list.map((p: { status: string }) => p.status).sort()).toEqual(['failed', 'failed', 'paid']);
    });

    it('moves a waiting schedule with PUT; refuses a past time and an executed schedule', async () => {
      await key(m, 'run_put');
      await schedule(m, { customer_uid: 'run_put', schedules: [{ merchant_uid: 'run_put_a', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      const moved = await pier.call('PUT', '/subscribe/payments/schedule/run_put_a', { token: m.token, body: { schedule_at: now() + 3 * HOUR } });
      expect(moved.body.response).toMatchObject({ schedule_at: now() + 3 * HOUR, schedule_status: 'scheduled' });
      await runDue(2 * HOUR);
      expect((await pier.call('GET', '/subscribe/payments/schedule/run_put_a', { token: m.token })).body.response.schedule_status).toBe('scheduled');
      const past = await pier.call('PUT', '/subscribe/payments/schedule/run_put_a', { token: m.token, body: { schedule_at: now() - 10 } });
      expect(past.status).toBe(400);
      const missing = await pier.call('PUT', '/subscribe/payments/schedule/run_put_a', { token: m.token, body: {} });
      expect(missing.status).toBe(400);
      await runDue(HOUR);
      expect((await pier.call('GET', '/subscribe/payments/schedule/run_put_a', { token: m.token })).body.response.schedule_status).toBe('executed');
      const executed = await pier.call('PUT', '/subscribe/payments/schedule/run_put_a', { token: m.token, body: { schedule_at: now() + HOUR } });
      expect(executed.status).toBe(400);
      expect(executed.body.message).toBe('이미 결제된 예약결제입니다.');
      const unknown = await pier.call('PUT', '/subscribe/payments/schedule/nope', { token: m.token, body: { schedule_at: now() + HOUR } });
      expect(unknown.status).toBe(404);
    });
  });

  describe('POST /subscribe/payments/unschedule', () => {
    it('revokes listed merchant_uids (array or single string), then all of a customer, and says when nothing is left', async () => {
      await key(m, 'un_1');
      const at = now() + DAY;
      await schedule(m, {
        customer_uid: 'un_1',
        schedules: ['a', 'b', 'c', 'd'].map((x, i) => ({ merchant_uid: `un_1_${x}`, schedule_at: at + i, amount: 1000, name: x })),
      });
      const one = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { customer_uid: 'un_1', merchant_uid: ['un_1_a', 'un_1_b'] } });
      expect(one.body.code).toBe(0);
      expect(one.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['un_1_a', 'un_1_b']);
      expect(one.body.response[0]).toMatchObject({ schedule_status: 'revoked', revoked_at: now(), imp_uid: null, payment_status: null });
      expect(Object.keys(one.body.response[0]).sort()).toEqual(SCHEDULE_KEYS);
      const single = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, form: 'merchant_uid=un_1_c' });
      expect(single.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['un_1_c']);
      const rest = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { customer_uid: 'un_1' } });
      expect(rest.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['un_1_d']);
      const nothing = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { customer_uid: 'un_1' } });
      expect(nothing.status).toBe(200);
      expect(nothing.body).toEqual({ code: 1, message: '취소할 예약결제 기록이 존재하지 않습니다.', response: null });
      const neither = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: {} });
      expect(neither.status).toBe(400);
      // revoked schedules never run
      await runDue(2 * DAY);
      const revoked = await pier.store.db.selectFrom('payment_schedules').select(['state', 'imp_uid']).where('merchant_uid', 'like', 'un_1_%').execute();
      expect(revoked).toEqual(Array(4).fill({ state: 'revoked', imp_uid: null }));
      // a revoked one may be retried now
      const retried = await pier.call('POST', '/subscribe/payments/schedule/un_1_a/retry', { token: m.token });
      expect(retried.body.response).toMatchObject({ status: 'paid', merchant_uid: 'un_1_a' });
    });
  });

  describe('schedule lists', () => {
    it("lists a customer's schedules by period and `schedule-status`, paged, on both V1 paths", async () => {
      await key(m, 'list_1');
      const base = now() + DAY;
      await schedule(m, {
        customer_uid: 'list_1',
        schedules: Array.from({ length: 25 }, (_, i) => ({ merchant_uid: `list_1_${String(i).padStart(2, '0')}`, schedule_at: base + i * HOUR, amount: 1000 + i, name: 'x' })),
      });
      await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { merchant_uid: ['list_1_00', 'list_1_01'] } });
      for (const path of ['/subscribe/payments/schedule/customers/list_1', '/subscribe/customers/list_1/schedules']) {
        const p1 = await pier.call('GET', `${path}?from=${base}&to=${base + 30 * HOUR}`, { token: m.token });
        expect(p1.body.code, JSON.stringify(p1.body)).toBe(0);
        expect(p1.body.response).toMatchObject({ total: 25, previous: 0, next: 2 });
        expect(p1.body.response.list).toHaveLength(20);
        expect(p1.body.response.list[0].merchant_uid).toBe('list_1_24'); // newest first
        const p2 = await pier.call('GET', `${path}?from=${base}&to=${base + 30 * HOUR}&page=2`, { token: m.token });
        expect(p2.body.response).toMatchObject({ total: 25, previous: 1, next: 0 });
        expect(p2.body.response.list).toHaveLength(5);
        const revoked = await pier.call('GET', `${path}?from=${base}&to=${base + 30 * HOUR}&schedule-status=revoked`, { token: m.token });
        expect(revoked.body.response.list.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['list_1_01', 'list_1_00']);
        // from <= schedule_at < to
        const window = await pier.call('GET', `${path}?from=${base + HOUR}&to=${base + 3 * HOUR}`, { token: m.token });
        expect(window.body.response.list.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['list_1_02', 'list_1_01']);
        const noFrom = await pier.call('GET', `${path}?to=${base}`, { token: m.token });
        expect(noFrom.status).toBe(400);
        const badStatus = await pier.call('GET', `${path}?from=${base}&to=${base + HOUR}&schedule-status=paid`, { token: m.token });
        expect(badStatus.status).toBe(400);
      }
    });

    it("lists the merchant's schedules between schedule_from and schedule_to, sorted and paged, at most three months", async () => {
      const base = now() + DAY;
      const q = (extra: string) => pier.call('GET', `/subscribe/payments/schedule?schedule_from=${base}&schedule_to=${base + 30 * HOUR}${extra}`, { token: m.token });
      const newest = await q('&schedule_status=scheduled&limit=3');
      expect(newest.body.response).toMatchObject({ total: 23, previous: 0, next: 2 });
      expect(newest.body.response.list.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['list_1_24', 'list_1_23', 'list_1_22']);
      const oldest = await q('&schedule_status=scheduled&limit=3&sorting=scheduled');
      expect(oldest.body.response.list.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual(['list_1_02', 'list_1_03', 'list_1_04']);
      const tooLong = await pier.call('GET', `/subscribe/payments/schedule?schedule_from=${base}&schedule_to=${base + 100 * DAY}`, { token: m.token });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.message).toContain('3');
      const missing = await pier.call('GET', `/subscribe/payments/schedule?schedule_from=${base}`, { token: m.token });
      expect(missing.status).toBe(400);
    });
  });

  describe('security', () => {
    it('refuses every schedule endpoint without a valid token', async () => {
      const calls: Array<[string, string, unknown?]> = [
        ['POST', '/subscribe/payments/schedule', { customer_uid: 'sub_1', schedules: [] }],
        ['POST', '/subscribe/payments/unschedule', { customer_uid: 'sub_1' }],
        ['GET', '/subscribe/payments/schedule/sub_1_m1'],
        ['PUT', '/subscribe/payments/schedule/sub_1_m1', { schedule_at: now() + HOUR }],
        ['POST', '/subscribe/payments/schedule/sub_1_m1/reschedule', { schedule_at: now() + HOUR }],
        ['POST', '/subscribe/payments/schedule/sub_1_m1/retry', {}],
        ['GET', `/subscribe/payments/schedule?schedule_from=0&schedule_to=1`],
        ['GET', `/subscribe/payments/schedule/customers/sub_1?from=0&to=1`],
        ['GET', `/subscribe/customers/sub_1/schedules?from=0&to=1`],
      ];
      for (const [method, url, body] of calls) {
        for (const token of [null, 'not-a-token']) {
          const res = await pier.call(method, url, { token, body });
          expect(res.status, `${method} ${url}`).toBe(401);
          expect(res.body).toMatchObject({ code: -1, response: null });
        }
      }
    });

    it("never shows, changes, revokes or charges another merchant's schedules or billing keys", async () => {
      const get = await pier.call('GET', '/subscribe/payments/schedule/sub_1_m2', { token: other.token });
      expect(get.status).toBe(404);
      expect(get.body).toMatchObject({ code: -1, response: null });
      const put = await pier.call('PUT', '/subscribe/payments/schedule/sub_1_m2', { token: other.token, body: { schedule_at: now() + HOUR } });
      expect(put.status).toBe(404);
      const retry = await pier.call('POST', '/subscribe/payments/schedule/sub_1_m2/retry', { token: other.token });
      expect(retry.status).toBe(404);
      const unschedule = await pier.call('POST', '/subscribe/payments/unschedule', { token: other.token, body: { customer_uid: 'sub_1', merchant_uid: ['sub_1_m2'] } });
      expect(unschedule.body).toEqual({ code: 1, message: '취소할 예약결제 기록이 존재하지 않습니다.', response: null });
      const list = await pier.call('GET', `/subscribe/payments/schedule/customers/sub_1?from=0&to=${now() + 365 * DAY}`, { token: other.token });
      expect(list.body.response).toMatchObject({ total: 0, list: [] });
      // scheduling with another merchant's customer_uid finds no billing key
      const steal = await schedule(other, { customer_uid: 'sub_1', schedules: [{ merchant_uid: 'steal', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      expect(steal.body).toEqual({ code: 1, message: '등록된 고객정보가 없습니다.', response: null });
      // and the other merchant may use the same merchant_uid for its own schedule
      await key(other, 'sub_1');
      const own = await schedule(other, { customer_uid: 'sub_1', schedules: [{ merchant_uid: 'sub_1_m2', schedule_at: now() + HOUR, amount: 1000, name: 'x' }] });
      expect(own.body.code).toBe(0);
      const mine = await pier.call('GET', '/subscribe/payments/schedule/sub_1_m2', { token: m.token });
      expect(mine.body.response.amount).toBe(9900);
    });
  });
});
