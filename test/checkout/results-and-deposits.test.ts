import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositNoticeSignature, tpayEncrypt } from '../../src/connectors/jtnet/window-crypto.js';
import { releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { kstTimestamp14 } from '../../src/lib/clock.js';
import { buildApp } from '../../src/api/app.js';
import type { Connector } from '../../src/connectors/types.js';
import { depsWith, startTestPier, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let windowChannelId: string;
const ORIGIN = 'https://shop.example';
const KEY = JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest0m')!.merchantKey;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  windowChannelId = (await pier.deps.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).where('kind', '=', 'window').executeTakeFirstOrThrow()).id;
});
afterAll(() => pier.close());

const form = (url: string, fields: Record<string, string>) =>
  pier.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });

/** A session whose buyer went to the PG window: returns the session id and the attempt's imp_uid. */
async function started(merchantUid: string, params: Record<string, unknown> = {}) {
  const res = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ imp_code: m.merchantCode, params: { merchant_uid: merchantUid, amount: 5000, buyer_tel: '010', ...params }, mode: 'overlay', origin: ORIGIN }),
  });
  const id = JSON.parse(res.body).session_id as string;
  const start = await form(`/checkout/${id}/start`, { card_code: '366', agree: '1', ...(params.pay_method && params.pay_method !== 'card' ? {} : {}) });
  expect(start.statusCode).toBe(200);
  const s = await pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', id).executeTakeFirstOrThrow();
  return { id, impUid: s.imp_uid! };
}

const rspOf = (html: string) => JSON.parse(/<script type="application\/json" id="pier-data">(.*?)<\/script>/s.exec(html)![1]).rsp;

describe('results posted to the return URL', () => {
  it('a result that does not decrypt with the merchant key is not recorded; the attempt goes to reconciliation', async () => {
    const { id, impUid } = await started('forged_1');
    const ediDate = kstTimestamp14(Date.now());
    const res = await form(`/checkout/${id}/return`, { resultCd: '3001', tid: 'tpaytest0m0000000000000001', mid: 'tpaytest0m', ediDate, amt: tpayEncrypt('5000', ediDate, 'not-the-merchant-key-000000000000'), moid: 'x' });
    expect(res.statusCode).toBe(200);
    expect(rspOf(res.body)).toMatchObject({ success: false, error_code: 'F1007', imp_uid: impUid });
    const p = await pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(p).toEqual({ status: 'ready', pg_state: 'in_doubt' });
  });

  it('an approval the PG does not confirm (a decline replayed as 3001) is never recorded as paid', async () => {
    const { id, impUid } = await started('replayed_1');
    const ediDate = kstTimestamp14(Date.now());
    const res = await form(`/checkout/${id}/return`, {
      resultCd: '3001',
      resultMsg: '승인',
      tid: 'tpaytest0m2611301200009999',
      mid: 'tpaytest0m',
      ediDate,
      amt: tpayEncrypt('5000', ediDate, KEY),
      moid: tpayEncrypt(impUid, ediDate, KEY),
      authCode: '12345678',
      fnCd: '06',
      cardNo: '936600******4242',
    });
    expect(rspOf(res.body)).toMatchObject({ success: false, error_code: 'F1007' });
    const p = await pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(p.status).not.toBe('paid');
    // it holds no merchant_uid (decision 0058): another request_pay opens, and should the PG
    // approve this attempt after all, reconciliation records or refunds it
    const again = await pier.app.inject({
      method: 'POST',
      url: '/checkout/sessions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ imp_code: m.merchantCode, params: { merchant_uid: 'replayed_1', amount: 5000 }, mode: 'overlay', origin: ORIGIN }),
    });
    expect(JSON.parse(again.body)).toMatchObject({ ok: true });
  });

  it('a buyer cancel posted by the PG (U001) fails the attempt and frees the merchant_uid', async () => {
    const { id, impUid } = await started('cancel_post_1');
    const res = await form(`/checkout/${id}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소', mid: 'tpaytest0m' });
    expect(rspOf(res.body)).toMatchObject({ success: false, error_code: 'F0005', imp_uid: impUid });
    const p = await pier.deps.store.db.selectFrom('payments').select(['status', 'merchant_uid_lock']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(p).toEqual({ status: 'failed', merchant_uid_lock: null });
    // a second post of any result for the session answers the first rsp
    const replay = await form(`/checkout/${id}/return`, { resultCd: '3001' });
    expect(rspOf(replay.body).error_code).toBe('F0005');
  });

  it('windows abandoned past the session lifetime are handed to reconciliation (in_doubt)', async () => {
    const { impUid } = await started('abandoned_1');
    expect(await releaseAbandonedWindows(pier.deps, { olderThanSeconds: 3600 })).toBe(0);
    pier.clock.advance(31 * 60 * 1000);
    expect(await releaseAbandonedWindows(pier.deps)).toBeGreaterThanOrEqual(1);
    const p = await pier.deps.store.db.selectFrom('payments').select('pg_state').where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(p.pg_state).toBe('in_doubt');
  });
});

describe('virtual-account deposit notices (POST /checkout/pg/:channelId/notify)', () => {
  /** A virtual account as the window leaves it: ready, issued, holding its merchant_uid. */
  async function issuedVbank(merchantUid: string, amount: number, dueInSeconds: number) {
    const now = Math.floor(pier.clock.now() / 1000);
    const impUid = `imp_${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`;
    await pier.deps.store.db
      .insertInto('payments')
      .values({
        imp_uid: impUid, merchant_id: m.merchantId, merchant_uid: merchantUid, merchant_uid_lock: merchantUid, channel_id: windowChannelId,
        pg_provider: 'jtnet', pg_id: 'tpaytest0m', pay_method: 'vbank', channel: 'pc', status: 'ready', pg_state: 'done', amount,
        cancel_amount: 0, cancel_pending_amount: 0, tax_free: 0, vat_amount: null, currency: 'KRW', name: null, buyer_name: null,
        buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null, custom_data: null, notice_url: null, user_agent: null,
        card_code: null, card_name: null, card_number: null, card_type: null, card_quota: 0, apply_num: null, pg_tid: `tid_${impUid}`,
        receipt_url: null, bank_code: null, bank_name: null, customer_uid: null, customer_uid_usage: null, fail_reason: null,
        cancel_reason: null, sandbox: 1, started_at: now, paid_at: 0, failed_at: 0, cancelled_at: 0, updated_at: now,
        vbank_code: '004', vbank_name: 'KB국민은행', vbank_num: '12345678901234', vbank_holder: 'Test', vbank_date: now + dueInSeconds, vbank_issued_at: now,
      })
      .execute();
    return impUid;
  }
  function notice(impUid: string, amount: number, depositMs = pier.clock.now()) {
    const fields: Record<string, string> = {
      payMethod: 'VBANK', mid: 'tpaytest0m', tid: `tid_${impUid}`, moid: impUid, amt: String(amount), resultCd: '4110', resultMsg: '가상계좌 입금 완료',
      depositDate: kstTimestamp14(depositMs), depositorName: '홍길동', vbankCode: '004', vbankNum: '12345678901234', ediDate: kstTimestamp14(pier.clock.now()),
    };
    fields.signature = depositNoticeSignature(KEY, fields);
    return fields;
  }
  // read through the V1 API with a fresh token: another test moved the clock past the first one's lifetime
  const status = async (impUid: string) => {
    const token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    return (await pier.call('GET', `/payments/${impUid}`, { token })).body.response;
  };

  it('marks the payment paid when the notice verifies, and a repeated notice changes nothing', async () => {
    const impUid = await issuedVbank('vb_ok', 23000, 86400);
    const res = await form(`/checkout/pg/${windowChannelId}/notify`, notice(impUid, 23000));
    expect(res.statusCode).toBe(200);
    expect(await status(impUid)).toMatchObject({ status: 'paid', paid_at: Math.floor(pier.clock.now() / 1000) });
    expect((await form(`/checkout/pg/${windowChannelId}/notify`, notice(impUid, 23000))).statusCode).toBe(200);
  });

  it('a genuine notice replayed 30 times, then 30 at once, asks tPay nothing (it is signed in full): recorded once, answered each time (decision 0082)', async () => {
    // Pier's app on the same database, its PG counting every call made through it
    const calls: string[] = [];
    const deps = depsWith(pier.deps, (real) =>
      Object.fromEntries(
        Object.entries(real)
          .filter(([, v]) => typeof v === 'function')
          .map(([op, fn]) => [op, (...args: unknown[]) => (calls.push(op), (fn as (...a: unknown[]) => unknown).apply(real, args))]),
      ) as Partial<Connector>,
    );
    const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
    try {
      const impUid = await issuedVbank('vb_replayed', 23000, 86400);
      const genuine = notice(impUid, 23000);
      const post = () => app.inject({ method: 'POST', url: `/checkout/pg/${windowChannelId}/notify`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(genuine).toString() });
      const answers = [];
      for (let i = 0; i < 30; i++) answers.push(await post());
      answers.push(...(await Promise.all(Array.from({ length: 30 }, post))));
      expect(answers.map((a) => a.statusCode)).toEqual(Array(60).fill(200));
      expect(answers.map((a) => JSON.parse(a.body).imp_uid)).toEqual(Array(60).fill(impUid));
      expect(calls).toEqual([]);
      expect(await status(impUid)).toMatchObject({ status: 'paid', amount: 23000 });
      const events = await pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute();
      expect(events.map((e) => e.status)).toEqual(['paid']);
    } finally {
      await app.close();
    }
  });

  // decision 0123: a notice the PG signs says the buyer's money arrived; it is never answered with a
  // refusal and dropped
  it('a signed deposit of another amount is written on the payment for an operator (not paid), answered OK; the right amount later pays it', async () => {
    const impUid = await issuedVbank('vb_amount', 23000, 86400);
    const res = await form(`/checkout/pg/${windowChannelId}/notify`, notice(impUid, 22000));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ result_cd: '0000', reason: 'wrong_amount' });
    const noted = await status(impUid);
    expect(noted).toMatchObject({ status: 'ready', paid_at: 0, amount: 23000 });
    expect(noted.fail_reason).toContain('22000원');
    expect(noted.fail_reason).toContain(`tid_${impUid}`);
    expect(await pier.deps.store.db.selectFrom('webhook_events').select('id').where('imp_uid', '=', impUid).execute()).toEqual([]);
    // the account stays open: a deposit of its amount is recorded as ever, and the note goes
    expect((await form(`/checkout/pg/${windowChannelId}/notify`, notice(impUid, 23000))).statusCode).toBe(200);
    expect(await status(impUid)).toMatchObject({ status: 'paid', fail_reason: null, amount: 23000 });
  });

  it('a signed deposit made after the due date is recorded paid (the PG took the money), with its paid event, answered OK', async () => {
    const impUid = await issuedVbank('vb_late', 23000, 60);
    const depositMs = pier.clock.now() + 3600_000;
    const res = await form(`/checkout/pg/${windowChannelId}/notify`, notice(impUid, 23000, depositMs));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ result_cd: '0000', imp_uid: impUid });
    expect(await status(impUid)).toMatchObject({ status: 'paid', amount: 23000, paid_at: Math.floor(depositMs / 1000) });
    const events = await pier.deps.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', '=', impUid).execute();
    expect(events).toEqual([{ status: 'paid', cause: 'vbank_deposit' }]);
  });

  it('refuses a tampered notice (signature) and a notice for another channel', async () => {
    const impUid = await issuedVbank('vb_tamper', 23000, 86400);
    const n = { ...notice(impUid, 23000), amt: '1' };
    expect((await form(`/checkout/pg/${windowChannelId}/notify`, n)).statusCode).toBe(403);
    expect((await form('/checkout/pg/ch_nosuchchannel/notify', notice(impUid, 23000))).statusCode).toBe(403);
    expect((await status(impUid)).status).toBe('ready');
  });
});
