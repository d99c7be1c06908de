/**
 * NICE's payment window through Pier's checkout (issue #13 item 3), as a buyer, a forger, a replay
 * and a slow PG would have it: Pier in-process and listening, the NICEPAY simulator over real HTTP,
 * the buyer's browser played by posting each page's form (nice-harness.ts). What NICE holds is
 * read from the simulator's ledger, what Pier holds from its REST API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockHolder } from '../../src/core/payments/attempts.js';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { dieBeforeInsertInto } from '../harness.js';
import { authenticateAtNice, niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';

let n: NicePier;
let seq = 0;
const uid = (p: string) => `nice_${p}_${++seq}_${Date.now() % 100000}`;
const card = (lastFour = '4242') => ({ cardNo: testCardNumber({ kftcCode: '366', lastFour }), cardExpiry: '12/30', cardQuota: '0' });
const order = (over: Record<string, unknown> = {}) => ({ pay_method: 'card', merchant_uid: uid('o'), name: '나이스 상품', amount: 12000, buyer_name: '홍길동', buyer_tel: '010-1234-5678', ...over });

beforeAll(async () => {
  n = await startNicePier({ readTimeoutMs: 1500, slowResponseMs: 8_000 });
});
afterAll(async () => {
  await n?.close();
});

/** Pier's V1 payment, with a fresh token (tests move the clock past a token's life) */
const payment = async (impUid: string) => {
  const token = (await n.pier.call('POST', '/users/getToken', { body: { imp_key: n.merchant.impKey, imp_secret: n.merchant.impSecret } })).body.response.access_token;
  return (await n.pier.call('GET', `/payments/${impUid}`, { token })).body.response;
};
const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
const niceLedger = async (orderId: string) => (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(orderId)}`)).json()) as { payments: any[]; authentications: any[] };
const back = (result: { action: string; fields: Record<string, string> }, over: Record<string, string> = {}) => postForm(result.action, { ...result.fields, ...over });

describe('a NICE card payment', () => {
  it('opens NICE’s SDK under a CSP that allows its origin only, with the attempt’s order id and amount', async () => {
    const { handOver } = await openNiceWindow(n, order({ amount: 55000, display: { card_quota: [2, 3] } }));
    expect(handOver.call).toBe('AUTHNICE.requestPay');
    expect(handOver.csp).toContain(`script-src 'self' ${new URL(n.simUrl).origin}`);
    expect(handOver.html).toContain(`<script src="${n.simUrl}/v1/js/" defer></script>`);
    expect(handOver.params).toMatchObject({ clientId: n.clientId, method: 'card', amount: 55000, cardQuota: '00,02,03', cardCode: '06' });
    expect(handOver.params.orderId).toMatch(/^imp_\d{12}$/);
    expect(handOver.params.returnUrl).toMatch(new RegExp(`^${n.pierUrl}/checkout/cs_[\\w-]+/return$`));
  });

  it('is approved by Pier with its own amount, confirmed by inquiry and recorded paid', async () => {
    const o = order();
    const { result } = await authenticateAtNice(n, o, card());
    expect(result.action).toMatch(/\/return$/);
    const rsp = rspOf((await back(result)).html);
    expect(rsp).toMatchObject({ success: true, status: 'paid', paid_amount: 12000, pg_provider: 'nice_v2', merchant_uid: o.merchant_uid });
    expect(rsp.imp_uid).toBe(result.fields.orderId);
    const stored = await payment(rsp.imp_uid);
    expect(stored).toMatchObject({ status: 'paid', amount: 12000, pg_provider: 'nice_v2', pg_tid: result.fields.tid, card_code: '366', card_name: '신한카드' });
    expect(stored.receipt_url).toContain(`TID=${result.fields.tid}`);
    const at = await niceLedger(rsp.imp_uid);
    expect(at.payments.map((p) => [p.tid, p.status, p.amount])).toEqual([[result.fields.tid, 'paid', 12000]]);
  });
});

describe('a forged or misrouted auth result moves no money', () => {
  it('a wrong signature: nothing is approved at NICE; the attempt waits in doubt, then reconciliation fails it', async () => {
    const { result } = await authenticateAtNice(n, order(), card());
    const rsp = rspOf((await back(result, { signature: result.fields.signature!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) })).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F1007' });
    expect((await niceLedger(result.fields.orderId!)).payments).toEqual([]);
    expect(await row(result.fields.orderId!)).toMatchObject({ status: 'ready', pg_state: 'in_doubt' });
    // NICE holds nothing for the order: reconciliation gives the merchant_uid back
    n.pier.clock.advance(5 * 60_000);
    await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true });
    expect(await row(result.fields.orderId!)).toMatchObject({ status: 'failed', pg_state: 'done' });
  });

  it('an amount lowered in the post, or another attempt’s result, is refused before any approve', async () => {
    const cheap = await authenticateAtNice(n, order({ amount: 1000 }), card());
    const dear = await authenticateAtNice(n, order({ amount: 50000 }), card());
    // the 50,000 KRW attempt's post, claiming 1,000 KRW with the cheap window's token and signature
    const swapped = rspOf((await back(dear.result, { amount: '1000', authToken: cheap.result.fields.authToken!, signature: cheap.result.fields.signature!, tid: cheap.result.fields.tid! })).html);
    expect(swapped).toMatchObject({ success: false, error_code: 'F1007' });
    // the cheap window's whole result posted to the dear attempt's return URL (its orderId differs)
    const misrouted = rspOf((await postForm(dear.result.action, cheap.result.fields)).html);
    expect(misrouted).toMatchObject({ success: false });
    for (const r of [cheap, dear]) expect((await niceLedger(r.result.fields.orderId!)).payments).toEqual([]);
    // each window's genuine result still pays its own attempt (the forged posts claimed nothing)
    expect(rspOf((await back(cheap.result)).html)).toMatchObject({ success: true, paid_amount: 1000 });
    expect(rspOf((await back(dear.result)).html)).toMatchObject({ success: true, paid_amount: 50000 });
    expect((await niceLedger(dear.result.fields.orderId!)).payments.map((p) => [p.status, p.amount])).toEqual([['paid', 50000]]);
  });

  it('a replayed post, sequential or concurrent, approves once and answers the same payment', async () => {
    const { result } = await authenticateAtNice(n, order({ amount: 13000 }), card());
    const [a, b] = await Promise.all([back(result), back(result)]);
    const c = await back(result);
    const rsps = [a, b, c].map((r) => rspOf(r.html));
    const paid = rsps.filter((r) => r.success);
    expect(paid.length).toBeGreaterThanOrEqual(1);
    for (const r of rsps) expect(r.imp_uid).toBe(result.fields.orderId);
    expect(rsps[2]).toMatchObject({ success: true, status: 'paid' });
    const at = await niceLedger(result.fields.orderId!);
    expect(at.payments.filter((p) => p.status === 'paid')).toHaveLength(1);
    expect((await payment(result.fields.orderId!)).status).toBe('paid');
  });
});

describe('two windows on one merchant_uid (decision 0058: a window takes it only with its approval)', () => {
  it('both open at once; the first approved is paid, and Pier never approves the second at NICE (F1002)', async () => {
    const o = order();
    const first = await authenticateAtNice(n, o, card('1111'));
    // opened while the first was authenticated and not yet approved: nothing held the merchant_uid
    const second = await authenticateAtNice(n, o, card('2222'));
    expect(rspOf((await back(first.result)).html)).toMatchObject({ success: true, status: 'paid', merchant_uid: o.merchant_uid });
    const refused = rspOf((await back(second.result)).html);
    expect(refused).toMatchObject({ success: false, imp_uid: second.result.fields.orderId, error_code: 'F1002', error_msg: '이미 결제가 이루어진 거래건입니다.' });
    expect((await niceLedger(second.result.fields.orderId!)).payments).toEqual([]);
    expect(await row(second.result.fields.orderId!)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: first.result.fields.orderId, status: 'paid' });
  });

  it('an unpaid account squatting the order is closed by NICE’s approval of a card, not by a card NICE declines', async () => {
    const o = order({ pay_method: 'vbank', vbank_due: '2099-12-31' });
    const { handOver } = await openNiceWindow(n, o);
    const squat = rspOf((await back(await submitNiceWindow(n, (await niceWindowPage(n, handOver.params)).token, { vbankCode: '004' }))).html);
    expect(squat).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank' });

    const declined = await authenticateAtNice(n, { ...o, pay_method: 'card' }, card('0051'));
    expect(rspOf((await back(declined.result)).html)).toMatchObject({ success: false });
    expect(await row(squat.imp_uid)).toMatchObject({ status: 'ready', merchant_uid_lock: o.merchant_uid });

    const buyer = await authenticateAtNice(n, { ...o, pay_method: 'card' }, card('3333'));
    expect(rspOf((await back(buyer.result)).html)).toMatchObject({ success: true, status: 'paid', imp_uid: buyer.result.fields.orderId });
    expect(await row(squat.imp_uid)).toMatchObject({ status: 'cancelled', merchant_uid_lock: null });
    expect((await niceLedger(squat.imp_uid)).payments.map((p) => p.status)).toEqual(['cancelled']);
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: buyer.result.fields.orderId, status: 'paid' });
  });
});

describe('Pier dies between NICE’s approval and its record', () => {
  it('of a card claimed without the merchant_uid (an unpaid account held it): reconciliation records it paid holding the order, the account closed at NICE', async () => {
    const o = order({ pay_method: 'vbank', vbank_due: '2099-12-31' });
    const { handOver } = await openNiceWindow(n, o);
    const squat = rspOf((await back(await submitNiceWindow(n, (await niceWindowPage(n, handOver.params)).token, { vbankCode: '004' }))).html);
    expect(squat).toMatchObject({ success: true, status: 'ready' });
    const buyer = await authenticateAtNice(n, { ...o, pay_method: 'card' }, card('4545'));
    const impUid = buyer.result.fields.orderId!;
    // the approval's record (with its webhook event) never commits: the process dies there
    const revive = await dieBeforeInsertInto(n.pier.store, 'webhook_events');
    try {
      await back(buyer.result);
    } finally {
      await revive();
    }
    expect((await niceLedger(impUid)).payments.map((p) => p.status)).toEqual(['paid']);
    expect(await row(impUid)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: buyer.result.fields.tid });
    n.pier.clock.advance(5 * 60_000);
    const out = await reconcileInDoubt(n.pier.deps, { graceSeconds: 60 });
    expect(out[impUid]).toBe('paid');
    expect(await row(impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: o.merchant_uid });
    expect(await row(squat.imp_uid)).toMatchObject({ status: 'cancelled', merchant_uid_lock: null });
    expect((await niceLedger(squat.imp_uid)).payments.map((p) => p.status)).toEqual(['cancelled']);
    expect((await payment(impUid)).status).toBe('paid');
  });
});

describe('the buyer cancels or NICE declines', () => {
  it('a cancel in NICE’s window (I002) fails the attempt once NICE confirms it holds nothing, freeing the merchant_uid', async () => {
    const o = order();
    const { result } = await authenticateAtNice(n, o, 'cancel');
    expect(result.fields).toMatchObject({ authResultCode: 'I002' });
    const rsp = rspOf((await back(result)).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F0005', imp_uid: result.fields.orderId });
    expect(await row(result.fields.orderId!)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    // the same order can be paid again
    const again = await authenticateAtNice(n, o, card());
    expect(rspOf((await back(again.result)).html)).toMatchObject({ success: true, merchant_uid: o.merchant_uid });
  });

  it('an I002 forged over a paid order changes nothing: NICE is asked first', async () => {
    const { result } = await authenticateAtNice(n, order(), card());
    const { sessionId } = { sessionId: result.action.split('/').at(-2)! };
    expect(rspOf((await back(result)).html)).toMatchObject({ success: true });
    const forged = rspOf((await postForm(`${n.pierUrl}/checkout/${sessionId}/return`, { authResultCode: 'I002', authResultMsg: '취소' })).html);
    expect(forged).toMatchObject({ success: true, status: 'paid' });
    expect((await payment(result.fields.orderId!)).status).toBe('paid');
  });

  it('a card NICE declines on approve (00NN) ends failed with NICE’s code', async () => {
    const { result } = await authenticateAtNice(n, order(), card('0051'));
    const rsp = rspOf((await back(result)).html);
    expect(rsp).toMatchObject({ success: false, error_code: '3095' });
    expect((await payment(result.fields.orderId!)).status).toBe('failed');
  });
});

describe('an approve whose answer is lost', () => {
  it('(NICE approved, the answer timed out) stays in doubt with its merchant_uid held; reconciliation finds it paid', async () => {
    // amounts ending 998: the simulator records the approval, then holds the answer past Pier's read timeout
    const o = order({ amount: 10998 });
    const { result } = await authenticateAtNice(n, o, card());
    const rsp = rspOf((await back(result)).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F1007' });
    expect(await row(result.fields.orderId!)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: o.merchant_uid });
    expect((await niceLedger(result.fields.orderId!)).payments.map((p) => p.status)).toEqual(['paid']);
    // not before the read timeout has passed (the grace), then by inquiry on the order id
    let out = await reconcileInDoubt(n.pier.deps, { graceSeconds: 3600 });
    expect(out[result.fields.orderId!]).toBeUndefined();
    n.pier.clock.advance(2 * 3600_000);
    out = await reconcileInDoubt(n.pier.deps, { graceSeconds: 60 });
    expect(out[result.fields.orderId!]).toBe('paid');
    expect(await payment(result.fields.orderId!)).toMatchObject({ status: 'paid', amount: 10998, pg_tid: result.fields.tid });
  });
});

describe('an approve NICE answers with a code that leaves its outcome unknown (decision 0095)', () => {
  it('A299 (NICE still processing): in doubt holding its merchant_uid, so another window on the order is refused F1004; reconciliation net-cancels the authentication before it fails the attempt', async () => {
    const o = order({ amount: 14000 });
    const a = await authenticateAtNice(n, o, card('2929'));
    const aImp = a.result.fields.orderId!;
    // a second window on the order (decision 0058), authenticated too
    const b = await authenticateAtNice(n, o, card('3030'));
    // NICE answers A299 (API delay) without having approved yet: the authentication stays approvable at NICE
    expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'code', resultCode: 'A299', when: 'before', clientId: n.clientId })).status).toBe(200);
    expect(rspOf((await back(a.result)).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    expect((await niceLedger(aImp)).authentications.map((x) => x.state)).toEqual(['pending']);
    // the buyer, told "failed", would pay again in the second window: Pier approves nothing while the first may still be charged
    expect(rspOf((await back(b.result)).html)).toMatchObject({ success: false, error_code: 'F1004' });
    expect((await niceLedger(b.result.fields.orderId!)).payments).toEqual([]);
    // reconciliation, past the approve's read timeout: NICE has no record; the net-cancel voids the authentication first
    n.pier.clock.advance(2 * n.pier.deps.connectors.maxCallMs() + 60_000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[aImp]).toBe('failed');
    expect((await niceLedger(aImp)).authentications.map((x) => x.state)).toEqual(['void']);
    expect((await niceLedger(aImp)).payments).toEqual([]);
    expect(await row(aImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toBeUndefined();
  });

  it('U506 (NICE approved, then its DB insert failed): in doubt, then recorded paid from NICE by reconciliation, charged once', async () => {
    const o = order({ amount: 14500 });
    const a = await authenticateAtNice(n, o, card('3131'));
    const aImp = a.result.fields.orderId!;
    expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'code', resultCode: 'U506', when: 'after', clientId: n.clientId })).status).toBe(200);
    const rsp = rspOf((await back(a.result)).html);
    expect(rsp).toMatchObject({ imp_uid: aImp });
    expect(rsp.status).not.toBe('failed');
    n.pier.clock.advance(2 * n.pier.deps.connectors.maxCallMs() + 60_000);
    await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true });
    expect(await payment(aImp)).toMatchObject({ status: 'paid', amount: 14500, pg_tid: a.result.fields.tid });
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status])).toEqual([[a.result.fields.tid, 'paid']]);
  });
});

describe('virtual accounts and NICE webhooks', () => {
  it('an account NICE issued whose approve answer Pier lost, paid into before reconciliation asked: recorded paid with an issue time (vbank_issued_at), not 0 (decision 0123)', async () => {
    const o = order({ pay_method: 'vbank', amount: 21000 });
    const { handOver } = await openNiceWindow(n, o);
    const { token } = await niceWindowPage(n, handOver.params);
    const result = await submitNiceWindow(n, token, { vbankCode: '004' });
    const impUid = result.fields.orderId!;
    // NICE issues the account, then its answer to Pier's approve fails (U506): Pier holds it in doubt
    expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'code', resultCode: 'U506', when: 'after', clientId: n.clientId })).status).toBe(200);
    expect(rspOf((await back(result)).html).status).not.toBe('failed');
    const attempt = await row(impUid);
    expect(attempt).toMatchObject({ status: 'ready', pg_state: 'in_doubt', vbank_num: null });
    // the buyer, shown the account by NICE's window, deposits before Pier asks
    n.pier.clock.advance(10 * 60_000);
    expect((await n.simPost('/__control/vbank/deposit', { tid: result.fields.tid, amount: 21000 })).status).toBe(200);
    n.pier.clock.advance(2 * n.pier.deps.connectors.maxCallMs() + 60_000);
    await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true });
    const paid = await payment(impUid);
    expect(paid).toMatchObject({ status: 'paid', pay_method: 'vbank', amount: 21000, vbank_code: '004' });
    expect(paid.vbank_num).toMatch(/\d{6,}/);
    // NICE tells no issue time for a paid account: the time Pier opened the window stands in
    expect(paid.vbank_issued_at).toBe(Number(attempt.started_at));
    expect(paid.vbank_issued_at).toBeGreaterThan(0);
    expect(paid.vbank_issued_at).toBeLessThan(paid.paid_at);
  });

  it('issues an account (ready), then NICE’s deposit webhook, re-read from NICE, makes it paid with the merchant’s paid webhook; repeats and forgeries change nothing', async () => {
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: `${n.pierUrl}/checkout/pg/${n.channelId}/notify` })).status).toBe(200);
    const o = order({ pay_method: 'vbank', amount: 23000, notice_url: 'https://hooks.example/pier' });
    const { handOver } = await openNiceWindow(n, o);
    expect(handOver.params).toMatchObject({ method: 'vbank', vbankHolder: '홍길동' });
    const { token } = await niceWindowPage(n, handOver.params);
    const result = await submitNiceWindow(n, token, { vbankCode: '004' });
    const rsp = rspOf((await back(result)).html);
    expect(rsp).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank', paid_amount: 23000 });
    expect(rsp.vbank_num).toMatch(/\d{6,}/);
    const impUid = rsp.imp_uid as string;
    expect(await payment(impUid)).toMatchObject({ status: 'ready', vbank_code: '004', vbank_num: rsp.vbank_num, paid_at: 0 });

    // a forged deposit notice (signature over another secret) is answered OK and changes nothing
    const forged = await fetch(`${n.pierUrl}/checkout/pg/${n.channelId}/notify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json;charset=utf-8' },
      body: JSON.stringify({ resultCode: '0000', tid: result.fields.tid, orderId: impUid, amount: 23000, status: 'paid', ediDate: '2026-11-30T12:00:00.000+0900', signature: 'f'.repeat(64) }),
    });
    expect([forged.status, await forged.text()]).toEqual([200, 'OK']);
    expect((await payment(impUid)).status).toBe('ready');

    // the buyer deposits at the bank: NICE sends its webhook to Pier, which asks NICE and records it
    const dep = await n.simPost('/__control/vbank/deposit', { tid: result.fields.tid, amount: 23000 });
    expect(dep.status).toBe(200);
    const ledger = await niceLedger(impUid);
    expect(ledger.payments.map((p) => p.status)).toEqual(['paid']);
    // NICE delivers its webhook asynchronously to the deposit: wait for Pier's record of it
    const paid = await waitFor(async () => {
      const p = await payment(impUid);
      return p.status === 'paid' && p;
    }, 10_000, 'the deposit webhook to be recorded');
    expect(paid).toMatchObject({ status: 'paid', amount: 23000 });
    expect(paid.paid_at).toBeGreaterThan(0);
    const events = await n.pier.deps.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', '=', impUid).orderBy('created_at').execute();
    expect(events.map((e) => `${e.status}:${e.cause}`)).toEqual(['ready:vbank_issued', 'paid:vbank_deposit']);

    // NICE sends the same event again (its retries): answered OK, nothing new
    const deliveries = (await (await fetch(`${n.simUrl}/__ledger?orderId=${impUid}`)).json()) as { webhooks: any[] };
    expect(deliveries.webhooks.length).toBeGreaterThan(0);
    const again = await n.simPost('/__control/webhooks/retry', {});
    expect(again.status).toBe(200);
    const resent = await fetch(`${n.pierUrl}/checkout/pg/${n.channelId}/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deliveries.webhooks.at(-1).body });
    expect([resent.status, await resent.text()]).toEqual([200, 'OK']);
    expect(await n.pier.deps.store.db.selectFrom('webhook_events').select('id').where('imp_uid', '=', impUid).execute()).toHaveLength(2);
  });

  // last in the file: it moves the shared clock a month on
  it('an account NICE issues without a deadline (vbankExpDate null) is recorded with vbank_date 0, never taken for overdue, and its deposit is recorded', async () => {
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: `${n.pierUrl}/checkout/pg/${n.channelId}/notify` })).status).toBe(200);
    expect((await n.simPost('/__control/vbank/no-deadline', { clientId: n.clientId, on: true })).status).toBe(200);
    try {
      // Pier asks for a deadline three days on; NICE issues the account and answers none
      const due = new Date(n.pier.clock.now() + 3 * 86_400_000 + 9 * 3_600_000).toISOString().slice(0, 10);
      const o = order({ pay_method: 'vbank', amount: 24000, vbank_due: due });
      const { handOver } = await openNiceWindow(n, o);
      expect(handOver.params).toMatchObject({ method: 'vbank', vbankExpDate: expect.stringMatching(new RegExp(`^${due}T`)) });
      const { token } = await niceWindowPage(n, handOver.params);
      const result = await submitNiceWindow(n, token, { vbankCode: '004' });
      const rsp = rspOf((await back(result)).html);
      expect(rsp).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank', vbank_code: '004', vbank_date: 0 });
      const impUid = rsp.imp_uid as string;
      expect((await niceLedger(impUid)).payments.map((p) => [p.status, p.vbank?.vbankExpAt])).toEqual([['ready', null]]);
      expect(await payment(impUid)).toMatchObject({ status: 'ready', vbank_num: rsp.vbank_num, vbank_date: 0 });

      // a month past the deadline Pier asked for, 0 is still "none": the account holds its merchant_uid
      n.pier.clock.advance(30 * 86_400_000);
      expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: impUid, status: 'ready' });

      // the buyer deposits: NICE's webhook is re-read from NICE (a lookup of the account without a deadline) and recorded
      expect((await n.simPost('/__control/vbank/deposit', { tid: result.fields.tid, amount: 24000 })).status).toBe(200);
      const paid = await waitFor(async () => {
        const p = await payment(impUid);
        return p.status === 'paid' && p;
      }, 10_000, 'the deposit webhook to be recorded');
      expect(paid).toMatchObject({ status: 'paid', amount: 24000, vbank_date: 0 });
    } finally {
      await n.simPost('/__control/vbank/no-deadline', { clientId: n.clientId, on: false });
    }
  });
});
