/**
 * Payment-window money safety (issue #9 items 1–5), as a buyer, an attacker, a crash and a flaky
 * PG would have it. Pier runs in-process against a fresh database; the tPay simulator is reached
 * over real HTTP through a small proxy that can make `resultConfirm` fail; the test posts Pier's
 * and the simulator's forms as the buyer's browser would, and edits them as an attacker would.
 * The simulator net-cancels approvals nobody acknowledged (TPAY_SIM_NET_CANCEL_MS) after 40 min.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { completeCheckout, releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { confirmNow, DEFAULT_CONFIRM_RETRY, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { recordPgApproval, type FoundAtPg } from '../../src/core/checkout/window-settlement.js';
import { channelById } from '../../src/core/merchants/channels.js';
import { recordVbankDeposit } from '../../src/core/virtual-accounts/deposit.js';
import type { Deps } from '../../src/core/deps.js';
import { RECHECK_BACKOFF_SECONDS, reconcileGraceSeconds, reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { openStore } from '../../src/store/db.js';
import { depsWith, dieBeforeInsertInto, startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { formOf, rspOf } from '../buyer-forms.js';

const NET_CANCEL_MS = 40 * 60_000;
const ORIGIN = 'https://shop.example';
let pier: TestPier;
let m: TestMerchant;
let proxy: Server;
let proxyTarget = '';
/** while set, the proxy answers tPay's resultConfirm with HTTP 503 */
let failConfirms = false;
/** while set, the proxy answers tPay's refunds with a decline (2024 취소패스워드 불일치) */
let declineRefunds = false;
let seq = 0;
const uid = (p: string) => `${p}_${++seq}_${Date.now() % 100000}`;

beforeAll(async () => {
  // a pass-through to the simulator, so the test can make the PG's resultConfirm endpoint fail
  proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (failConfirms && req.url === '/resultConfirm') {
      res.writeHead(503).end('unavailable');
      return;
    }
    if (declineRefunds && req.url === '/api/v1/refunds') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result_cd: '2024', result_msg: '취소패스워드 불일치' }));
      return;
    }
    const up = await request(`${proxyTarget}${req.url}`, {
      method: req.method as 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' },
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'text/plain') });
    res.end(Buffer.from(await up.body.arrayBuffer()));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  pier = await startTestPier({ jtnetUrl: proxyUrl, simulatorNetCancelMs: NET_CANCEL_MS });
  proxyTarget = pier.simulatorUrl;
  m = await pier.newMerchant();
});
afterAll(async () => {
  await pier?.close();
  await new Promise<void>((r) => proxy.close(() => r()));
});
beforeEach(async () => {
  failConfirms = false;
  declineRefunds = false;
  // tests move the clock past the tokens' 30 minutes
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

// ---- the buyer's browser, without a browser ----



async function postHttp(url: string, fields: Record<string, string>) {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  return { status: res.statusCode, html: await res.body.text() };
}

/** A POST to Pier (in-process): `url` may be Pier's absolute public URL. */
async function postPier(url: string, fields: Record<string, string>) {
  const path = url.replace(/^https?:\/\/[^/]+/, '');
  const res = await pier.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });
  return { status: res.statusCode, html: res.body };
}


interface OpenWindow {
  sessionId: string;
  impUid: string;
  merchantUid: string;
  submitUrl: string;
  txToken: string;
}

/** request_pay → Pier's checkout → the PG window, open and waiting for the buyer. */
async function openWindow(params: Record<string, unknown>, opts: { cardCode?: string; editPgForm?: (f: Record<string, string>) => void } = {}): Promise<OpenWindow> {
  const merchantUid = (params.merchant_uid as string) ?? uid('order');
  const created = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', name: '상품', amount: 5000, buyer_name: '홍길동', buyer_tel: '010-1234-5678', ...params, merchant_uid: merchantUid }, mode: 'overlay', origin: ORIGIN }),
  });
  const s = JSON.parse(created.body);
  if (!s.session_id) throw new Error(`no session: ${created.body}`);
  const toPg = await postPier(`/checkout/${s.session_id}/start`, { agree: '1', ...(opts.cardCode === undefined ? { card_code: '366' } : opts.cardCode ? { card_code: opts.cardCode } : {}) });
  expect(toPg.status, toPg.html).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  opts.editPgForm?.(pgForm.fields);
  const window = await postHttp(pgForm.action, pgForm.fields);
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const session = await pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
  return { sessionId: s.session_id, impUid: session.imp_uid!, merchantUid, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken };
}

const cardFields = (pan: string, quota = '00') => ({ cardNo: pan, cardExpiry: '12/30', buyerAuthNum: '900101', cardPwd: '12', cardQuota: quota });
const card = (lastFour = '4242', kftcCode = '366') => testCardNumber({ kftcCode, lastFour });

/** The buyer pays (or cancels) in the PG window; returns the auto-post form the PG sends back to Pier. */
async function actInWindow(w: OpenWindow, fields: Record<string, string>) {
  const res = await postHttp(w.submitUrl, { txToken: w.txToken, ...fields });
  expect(res.status, res.html).toBe(200);
  return formOf(res.html, 'tpayResult');
}

const payment = (impUid: string) => pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
const session = (id: string) => pier.deps.store.db.selectFrom('checkout_sessions').select(['state', 'result']).where('id', '=', id).executeTakeFirstOrThrow();
const eventsOf = async (impUid: string) =>
  (await pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).orderBy('created_at').execute()).map((e) => e.status);
const ledgerTx = async (moid: string) => {
  const l = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: any[]; declines: any[] };
  return [...l.approvals, ...l.declines].filter((t) => t.moid === moid);
};
const confirmRows = (impUid: string) => pier.deps.store.db.selectFrom('window_confirms').selectAll().where('imp_uid', '=', impUid).execute();

/**
 * A window closed before the buyer paid in it, its merchant_uid then paid over REST (card ending
 * `otherCard`), and the PG's approval in the still-open window: the auto-post it sends back to Pier.
 */
async function paidElsewhereThenApproved(otherCard: string) {
  const w = await openWindow({});
  await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${w.sessionId}/close` });
  const other = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: w.merchantUid, amount: 5000, card_number: card(otherCard), expiry: '2030-12' } });
  expect(other.body.response).toMatchObject({ status: 'paid' });
  const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
  return { w, otherImpUid: other.body.response.imp_uid as string, result };
}

/** The payments holding a merchant_uid's lock (paid, issued, or in flight). */
const lockHolders = (merchantUid: string) => pier.deps.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid_lock', '=', merchantUid).execute();

describe('0. a checkout open on a merchant_uid holds nothing until the PG approves (decision 0058)', () => {
  it('a squatter’s open window does not keep the buyer from paying; the squatter’s approval afterwards is refunded', async () => {
    // anyone with the public merchant code opens the PG window on the buyer's order and leaves it open
    const squatter = await openWindow({});
    expect(await payment(squatter.impUid)).toMatchObject({ status: 'ready', pg_state: 'window', merchant_uid_lock: null });
    const buyer = await openWindow({ merchant_uid: squatter.merchantUid });
    const result = await actInWindow(buyer, { action: 'pay', ...cardFields(card('1111')) });
    const paid = rspOf((await postPier(result.action, result.fields)).html);
    expect(paid).toMatchObject({ success: true, imp_uid: buyer.impUid, merchant_uid: squatter.merchantUid, paid_amount: 5000 });

    // the squatter pays in their window too: a merchant_uid is paid once, so theirs is refunded at once
    const late = await actInWindow(squatter, { action: 'pay', ...cardFields(card('2222')) });
    expect(rspOf((await postPier(late.action, late.fields)).html)).toMatchObject({ success: false, imp_uid: squatter.impUid });
    expect(await payment(squatter.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, merchant_uid_lock: null });
    expect(await eventsOf(squatter.impUid)).toEqual(['cancelled']);
    expect((await ledgerTx(squatter.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    expect(await lockHolders(squatter.merchantUid)).toEqual([{ imp_uid: buyer.impUid }]);
    expect(await eventsOf(buyer.impUid)).toEqual(['paid']);
  });

  it('two windows approved at once for one merchant_uid: one is paid, the other refunded', async () => {
    const a = await openWindow({});
    const b = await openWindow({ merchant_uid: a.merchantUid });
    const [ra, rb] = await Promise.all([actInWindow(a, { action: 'pay', ...cardFields(card('3333')) }), actInWindow(b, { action: 'pay', ...cardFields(card('4444')) })]);
    const rsps = (await Promise.all([postPier(ra.action, ra.fields), postPier(rb.action, rb.fields)])).map((r) => rspOf(r.html));
    expect(rsps.filter((r) => r.success)).toHaveLength(1);
    const statuses = [(await payment(a.impUid)).status, (await payment(b.impUid)).status].sort();
    expect(statuses).toEqual(['cancelled', 'paid']);
    const winner = (await payment(a.impUid)).status === 'paid' ? a : b;
    expect(await lockHolders(a.merchantUid)).toEqual([{ imp_uid: winner.impUid }]);
    const atPg = [...(await ledgerTx(a.impUid)), ...(await ledgerTx(b.impUid))].map((t) => t.status).sort();
    expect(atPg).toEqual(['cancelled', 'paid']);
  });

  it('a window approval and an API charge for one merchant_uid at the same moment: paid once, the window’s approval refunded when the API charge got the order', async () => {
    const winners = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const w = await openWindow({});
      const result = await actInWindow(w, { action: 'pay', ...cardFields(card('5151')) });
      const charge = () => pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: w.merchantUid, amount: 5000, card_number: card('5252'), expiry: '2030-12' } });
      // The API charge starts when the PG has confirmed the window's approval to Pier, just before
      // Pier records it: in even rounds the two writes race; in odd rounds the charge is answered first.
      let api: ReturnType<typeof charge> | undefined;
      const meanwhile = depsWith(pier.deps, (real) => ({
        async inquire(channel, q) {
          const found = await real.inquire(channel, q);
          if (q.moid === w.impUid && !api) {
            api = charge();
            if (round % 2 === 1) await api;
          }
          return found;
        },
      }));
      const { rsp: windowRsp } = await completeCheckout(meanwhile, w.sessionId, result.fields);
      const apiAnswer = await api!;
      const rows = await pier.deps.store.db.selectFrom('payments').select(['imp_uid', 'status', 'merchant_uid_lock']).where('merchant_uid', '=', w.merchantUid).execute();
      const holding = rows.filter((r) => r.merchant_uid_lock === w.merchantUid);
      expect(holding, JSON.stringify(rows)).toEqual([expect.objectContaining({ status: 'paid' })]);
      // at the PG, one approval stands for the order; any other was refunded
      const atPg = (await Promise.all(rows.map((r) => ledgerTx(r.imp_uid)))).flat();
      expect(atPg.filter((t) => t.status === 'paid'), JSON.stringify(atPg)).toHaveLength(1);
      expect(atPg.filter((t) => t.status === 'paid')[0].moid).toBe(holding[0]!.imp_uid);
      // each side answers what it got
      if (holding[0]!.imp_uid === w.impUid) {
        winners.add('window');
        expect(windowRsp).toMatchObject({ success: true, status: 'paid' });
        expect(apiAnswer.body).toMatchObject({ code: 1 });
      } else {
        winners.add('api');
        expect(apiAnswer.body).toMatchObject({ code: 0, response: { status: 'paid' } });
        expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000 });
      }
    }
    expect(winners.has('api')).toBe(true);
  });

  it('a squatter’s unpaid virtual account (its due date theirs to choose) gives the order up to the buyer’s approval, closed at the PG', async () => {
    const squat = await openWindow({ pay_method: 'vbank', amount: 5000, vbank_due: '2099-12-31' }, { cardCode: '' });
    const issued = await actInWindow(squat, { action: 'pay', bankCode: '004' });
    expect(rspOf((await postPier(issued.action, issued.fields)).html)).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank' });
    expect(await lockHolders(squat.merchantUid)).toEqual([{ imp_uid: squat.impUid }]);

    const buyer = await openWindow({ merchant_uid: squat.merchantUid });
    const result = await actInWindow(buyer, { action: 'pay', ...cardFields(card('8888')) });
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ success: true, imp_uid: buyer.impUid, status: 'paid' });
    expect(await payment(squat.impUid)).toMatchObject({ status: 'cancelled', merchant_uid_lock: null });
    expect((await ledgerTx(squat.impUid))[0]).toMatchObject({ status: 'cancelled' });
    expect(await lockHolders(squat.merchantUid)).toEqual([{ imp_uid: buyer.impUid }]);
    expect((await ledgerTx(buyer.impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0 });
  });

  it('an unpaid-looking account the buyer has just paid into at the PG keeps the order: the PG refuses to close it, and the card approval is refunded', async () => {
    const v = await openWindow({ pay_method: 'vbank', amount: 5000, vbank_due: '2099-12-31' }, { cardCode: '' });
    const issued = await actInWindow(v, { action: 'pay', bankCode: '004' });
    expect(rspOf((await postPier(issued.action, issued.fields)).html)).toMatchObject({ success: true, status: 'ready' });
    // the deposit reaches the PG; its notice has not reached Pier yet (Pier is not listening here,
    // and no notice URL is registered for the MID)
    const dep = (await (await fetch(`${pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: v.impUid, amount: 5000 }) })).json()) as any;
    expect({ status: dep.status, delivered: dep.notice?.delivered ?? false }).toEqual({ status: 'paid', delivered: false });

    const buyer = await openWindow({ merchant_uid: v.merchantUid });
    const result = await actInWindow(buyer, { action: 'pay', ...cardFields(card('9191')) });
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ imp_uid: buyer.impUid });
    expect(await payment(buyer.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, merchant_uid_lock: null });
    expect((await ledgerTx(v.impUid))[0]).toMatchObject({ status: 'paid' });
    expect((await ledgerTx(buyer.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    expect(await lockHolders(v.merchantUid)).toEqual([{ imp_uid: v.impUid }]);
    expect(await eventsOf(buyer.impUid)).toEqual(['cancelled']);

    // the PG, refusing to close the account, was asked why: it holds the deposit, recorded then
    // (decision 0103); the PG's deposit notice, when it comes, is a repeat: the order is paid once
    expect(await payment(v.impUid)).toMatchObject({ status: 'paid', paid_at: Math.floor(dep.depositedAt / 1000) });
    expect((await eventsOf(v.impUid)).sort()).toEqual(['paid', 'ready']);
    const channel = (await channelById(pier.deps, (await payment(v.impUid)).channel_id!))!;
    expect(await recordVbankDeposit(pier.deps, channel, { moid: v.impUid, pgTid: dep.tid, amount: 5000, depositedAt: Math.floor(dep.depositedAt / 1000), depositorName: null })).toMatchObject({ ok: true, duplicate: true });
    const rows = await pier.deps.store.db.selectFrom('payments').select(['imp_uid', 'status']).where('merchant_uid', '=', v.merchantUid).orderBy('imp_uid').execute();
    expect(rows.filter((r) => r.status === 'paid')).toEqual([{ imp_uid: v.impUid, status: 'paid' }]);
  });

  it('a virtual account issued for a merchant_uid paid meanwhile is closed at the PG, and stays closed (F1002)', async () => {
    const v = await openWindow({ pay_method: 'vbank', amount: 23000 }, { cardCode: '' });
    const other = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: v.merchantUid, amount: 23000, card_number: card('5555'), expiry: '2030-12' } });
    expect(other.body.response).toMatchObject({ status: 'paid' });
    const issued = await actInWindow(v, { action: 'pay', bankCode: '004' });
    const rsp = rspOf((await postPier(issued.action, issued.fields)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: v.impUid, error_code: 'F1002' });
    expect(await payment(v.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null, vbank_num: null });
    expect((await ledgerTx(v.impUid))[0]).toMatchObject({ status: 'cancelled' });
    expect(await eventsOf(v.impUid)).toEqual([]);
    // the acknowledgement and recheck jobs, later, leave it closed: not recorded as paid and refunded
    pier.clock.advance(31 * 60_000);
    await new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger }).drain();
    expect(await payment(v.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect(await eventsOf(v.impUid)).toEqual([]);
    expect(await lockHolders(v.merchantUid)).toEqual([{ imp_uid: other.body.response.imp_uid }]);
  });
});

describe('1. GET is read-only, and an approval reaching a closed checkout is never dropped', () => {
  it('a GET of a checkout whose PG window is open changes nothing; the buyer then pays and is recorded paid', async () => {
    const w = await openWindow({});
    const get = await pier.app.inject({ method: 'GET', url: `/checkout/${w.sessionId}` });
    expect(get.statusCode).toBe(200);
    expect(get.body).toContain('결제가 진행 중입니다');
    expect(await session(w.sessionId)).toEqual({ state: 'started', result: null });
    expect(await payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'window', merchant_uid_lock: null });

    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: true, imp_uid: w.impUid, merchant_uid: w.merchantUid, paid_amount: 5000 });
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: expect.any(Number) });
  });

  it('closing asks the PG first; an approval arriving afterwards is recorded paid while its merchant_uid is free', async () => {
    const w = await openWindow({});
    const closed = await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${w.sessionId}/close` });
    expect(JSON.parse(closed.body).rsp).toMatchObject({ success: false, error_code: 'F0005' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // the buyer had already pressed "pay" in the PG window (or pays there now)
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: true, imp_uid: w.impUid, paid_amount: 5000 });
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid, fail_reason: null, failed_at: 0 });
    expect(await eventsOf(w.impUid)).toEqual(['paid']);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: expect.any(Number) });
    // the merchant_uid is now paid: a new request_pay for it is refused
    const again = await pier.app.inject({
      method: 'POST',
      url: '/checkout/sessions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', amount: 5000, merchant_uid: w.merchantUid }, mode: 'overlay', origin: ORIGIN }),
    });
    expect(JSON.parse(again.body).rsp.error_code).toBe('F1002');
  });

  it('an approval arriving after the merchant_uid was paid by another payment is refunded at once, with a `cancelled` webhook', async () => {
    const { w, otherImpUid, result } = await paidElsewhereThenApproved('3141');
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: w.impUid, status: 'paid' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, merchant_uid_lock: null });
    expect(await eventsOf(w.impUid)).toEqual(['cancelled']);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    // the merchant_uid stays paid once, by the other payment
    expect(await lockHolders(w.merchantUid)).toEqual([{ imp_uid: otherImpUid }]);
  });
});

describe('1c. a virtual account issued after its checkout closed', () => {
  it('is closed at the PG, and the recheck then leaves the attempt failed: never recorded paid (no `paid` webhook)', async () => {
    const v = await openWindow({ pay_method: 'vbank', amount: 21000 }, { cardCode: '' });
    await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${v.sessionId}/close` });
    expect(await payment(v.impUid)).toMatchObject({ status: 'failed' });
    // the buyer had the PG window issue the account anyway; its post reaches the closed checkout
    const issued = await actInWindow(v, { action: 'pay', bankCode: '004' });
    await postPier(issued.action, issued.fields);
    expect((await ledgerTx(v.impUid))[0]).toMatchObject({ status: 'cancelled' });
    // the recheck written by the close, once the PG window's lifetime is over
    pier.clock.advance(31 * 60_000);
    await new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger }).drain();
    expect(await payment(v.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null, cancel_amount: 0 });
    expect(await eventsOf(v.impUid)).toEqual([]);
  });
});

describe('1a. a late approval for a merchant_uid paid meanwhile, whose refund cannot be written at once', () => {
  it('is not acknowledged while its refund is owed: the confirm job refunds it, never leaving it paid beside the other payment', async () => {
    const { w, otherImpUid, result } = await paidElsewhereThenApproved('2718');
    // the database refuses the refund's row at that moment (a failover, a full disk; or the process dies there)
    const revive = await dieBeforeInsertInto(pier.store, 'payment_cancels');
    try {
      expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ imp_uid: w.impUid });
    } finally {
      await revive();
    }
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: null, cancel_amount: 0 });
    const acknowledgement = (await confirmRows(w.impUid)).find((r) => r.pg_tid !== '')!;
    expect(acknowledgement).toMatchObject({ state: 'pending' });

    // the job (after its first backoff) refunds it, then acknowledges
    pier.clock.advance(DEFAULT_CONFIRM_RETRY.firstDelaySeconds * 1000);
    await new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger }).drain();
    expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, cancel_pending_amount: 0, merchant_uid_lock: null });
    expect(await eventsOf(w.impUid)).toEqual(['cancelled']);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    expect((await confirmRows(w.impUid)).find((r) => r.id === acknowledgement.id)).toMatchObject({ state: 'done' });
    expect(await lockHolders(w.merchantUid)).toEqual([{ imp_uid: otherImpUid }]);
  });
});

describe('1f. a late approval whose refund the PG declines, beside a charge in flight that the PG then declines (decision 0073)', () => {
  it('takes the merchant_uid when that charge fails: a further charge for the order is refused, not paid a second time', async () => {
    const sim = (path: string, body: unknown) =>
      fetch(`${pier.simulatorUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
    const w = await openWindow({});
    await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${w.sessionId}/close` });
    // a card charge for the order takes the merchant_uid; the PG holds its answer (a decline, 51)
    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    const held = pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: w.merchantUid, amount: 5000, card_number: card('0051'), expiry: '2030-12' } });
    for (let i = 0; (await (await fetch(`${pier.simulatorUrl}/__control/holds`)).json() as { held: number }).held < 1; i++) {
      if (i > 600) throw new Error('the PG never held the charge');
      await new Promise((r) => setTimeout(r, 20)); // the simulator's progress: poll it
    }
    const charge = await pier.deps.store.db.selectFrom('payments').select(['imp_uid', 'pg_state']).where('merchant_uid_lock', '=', w.merchantUid).executeTakeFirstOrThrow();
    expect(charge.pg_state).toBe('calling');

    // the buyer pays in the still-open window meanwhile: recorded beside the charge, its refund declined by the PG
    declineRefunds = true;
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ imp_uid: w.impUid });
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: null, cancel_amount: 0, cancel_pending_amount: 0 });

    // the held charge is declined: its failure gives the merchant_uid to the approval
    await sim('/__control/holds/release', {});
    expect((await held).body).toMatchObject({ code: -1, message: expect.stringContaining('[51]'), response: null });
    expect(await payment(charge.imp_uid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // the order is paid once, by the window's approval: another charge for it is refused
    const again = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: w.merchantUid, amount: 5000, card_number: card('1212'), expiry: '2030-12' } });
    expect(again.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    expect(await lockHolders(w.merchantUid)).toEqual([{ imp_uid: w.impUid }]);

    // holding the order, the approval is no longer refunded: the confirm job acknowledges it, the PG keeps it
    declineRefunds = false;
    pier.clock.advance(DEFAULT_CONFIRM_RETRY.firstDelaySeconds * 1000);
    await new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger }).drain();
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid, cancel_amount: 0, cancel_pending_amount: 0 });
    expect((await confirmRows(w.impUid)).find((r) => r.pg_tid !== '')).toMatchObject({ state: 'done' });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ cancelledAmount: 0 });
  });
});

describe('1e. the merchant cancels a late approval while Pier is refunding it', () => {
  it('refunded once: the merchant’s cancel meets the refund already reserved, and Pier agrees with the PG', async () => {
    const { w, otherImpUid, result } = await paidElsewhereThenApproved('3131');
    let refunding!: () => void;
    let letThrough!: () => void;
    const atPg = new Promise<void>((r) => (refunding = r));
    const gate = new Promise<void>((r) => (letThrough = r));
    const slowRefund = depsWith(pier.deps, (real) => ({
      async refund(channel, req) {
        refunding();
        await gate;
        return real.refund(channel, req);
      },
    }));
    const posted = completeCheckout(slowRefund, w.sessionId, result.fields);
    await atPg;
    // the merchant sees a second paid payment for the order and cancels it, in full and in part
    const full = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: w.impUid, reason: '중복 결제' } });
    const part = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: w.impUid, amount: 1000, reason: '중복 결제' } });
    expect([full.body.code, part.body.code]).toEqual([1, 1]);
    letThrough();
    await posted;
    expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, cancel_pending_amount: 0, merchant_uid_lock: null });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    expect(await eventsOf(w.impUid)).toEqual(['cancelled']);
    expect(await lockHolders(w.merchantUid)).toEqual([{ imp_uid: otherImpUid }]);
  });
});

describe('1b. an approval whose result never reaches Pier after a close', () => {
  it('is found by the recheck Pier schedules when it closes a window, recorded paid and acknowledged before the PG net-cancels', async () => {
    const w = await openWindow({});
    await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${w.sessionId}/close` });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed' });
    // the buyer pays in the still-open PG window, and the browser is closed before the post
    await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const runner = new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(0); // not due before the PG window's lifetime is over
    pier.clock.advance(31 * 60_000);
    await runner.drain();
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid });
    expect(await eventsOf(w.impUid)).toEqual(['paid']);
    pier.clock.advance(NET_CANCEL_MS);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0, confirmedAt: expect.any(Number) });
  });
});

describe('1d. an abandoned window failed on one inquiry, with no recheck (decision 0069)', () => {
  it('a browser that posts Pier’s form to the PG only after that: its approval, posted back, is recorded paid; never posted, the PG net-cancels it', async () => {
    for (const postsBack of [true, false]) {
      const merchantUid = uid('late_form');
      const created = await pier.app.inject({
        method: 'POST',
        url: '/checkout/sessions',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', name: '상품', amount: 5000, buyer_name: '홍길동', merchant_uid: merchantUid }, mode: 'overlay', origin: ORIGIN }),
      });
      const sessionId = JSON.parse(created.body).session_id as string;
      const toPg = await postPier(`/checkout/${sessionId}/start`, { agree: '1', card_code: '366' });
      const pgForm = formOf(toPg.html, 'pg-form');
      const impUid = (await pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', sessionId).executeTakeFirstOrThrow()).imp_uid!;
      // the browser holds the form (a laptop asleep); the window is handed over and asked about once
      pier.clock.advance(32 * 60_000);
      await releaseAbandonedWindows(pier.deps);
      expect((await reconcileInDoubt(pier.deps, { graceSeconds: 0 }))[impUid]).toBe('failed');
      expect(await confirmRows(impUid)).toEqual([]);
      // awake, it posts the form: the PG opens a window and approves the card
      const window = await postHttp(pgForm.action, pgForm.fields);
      const payForm = formOf(window.html, 'payForm');
      const result = await actInWindow({ sessionId, impUid, merchantUid, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken }, { action: 'pay', ...cardFields(card('2727')) });
      if (postsBack) {
        expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ success: true, imp_uid: impUid, status: 'paid' });
        expect(await payment(impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: merchantUid });
        pier.clock.advance(NET_CANCEL_MS);
        expect((await ledgerTx(impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0, confirmedAt: expect.any(Number) });
      } else {
        // nothing reaches Pier, which acknowledges nothing: the PG gives the buyer's money back
        pier.clock.advance(NET_CANCEL_MS + 60_000);
        await new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger }).drain();
        expect(await payment(impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
        expect((await ledgerTx(impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
      }
    }
  });
});

describe('2. declines and cancels are confirmed with the PG', () => {
  it('an approval the browser turns into a decline is recorded paid', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    // resultCd is not signed by tPay: the attacker rewrites it
    const forged = { ...result.fields, resultCd: '3051', resultMsg: '카드 거절', errorCd: '54', errorMsg: '잔액부족' };
    const rsp = rspOf((await postPier(result.action, forged)).html);
    expect(rsp).toMatchObject({ success: true, imp_uid: w.impUid, paid_amount: 5000 });
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', pg_tid: result.fields.tid });
  });

  it('an approval the browser turns into a buyer cancel (U001 to the cancel URL) is recorded paid', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const forged = { ...result.fields, resultCd: 'U001', resultMsg: '사용자 취소' };
    const rsp = rspOf((await postPier(`/checkout/${w.sessionId}/cancel`, forged)).html);
    expect(rsp).toMatchObject({ success: true, imp_uid: w.impUid });
    expect((await payment(w.impUid)).status).toBe('paid');
  });

  it('a real decline is recorded failed once the PG confirms it holds no approval', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: w.impUid });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
  });

  it('a decline the PG cannot be asked about leaves the attempt in doubt (holding no merchant_uid until the PG approves)', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
    await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'trans_search' }) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F1007' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: null });
  });
});

describe('3. resultConfirm is a durable job, retried until the PG has it', () => {
  const runner = () => new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger });

  it('a failed confirm is retried with backoff, and the PG then keeps the approval past its net-cancel time', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    failConfirms = true;
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: true });
    const [row] = await confirmRows(w.impUid);
    expect(row).toMatchObject({ state: 'pending', attempts: 1, pg_tid: result.fields.tid });
    expect(Number(row.due_at)).toBeGreaterThan(Math.floor(pier.clock.now() / 1000));

    // still failing on the next due try: attempts grow, the delay doubles
    pier.clock.advance(5_000);
    expect(await runner().runOnce()).toBe(1);
    const [again] = await confirmRows(w.impUid);
    expect(again).toMatchObject({ state: 'pending', attempts: 2 });
    expect(Number(again.due_at) - Math.floor(pier.clock.now() / 1000)).toBe(10);

    failConfirms = false;
    pier.clock.advance(10_000);
    expect(await runner().drain()).toBe(1);
    expect((await confirmRows(w.impUid))[0]).toMatchObject({ state: 'done', attempts: 3 });
    pier.clock.advance(NET_CANCEL_MS + 60_000);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0, confirmedAt: expect.any(Number) });
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', cancel_amount: 0 });
  });

  it('a confirm that keeps failing until the PG net-cancels is settled by inquiry: Pier records the refund, with a `cancelled` webhook', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    failConfirms = true;
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ success: true });
    pier.clock.advance(NET_CANCEL_MS + 60_000);
    await fetch(`${pier.simulatorUrl}/__health`); // the simulator sweeps on any request
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    await runner().drain();
    expect((await confirmRows(w.impUid))[0]).toMatchObject({ state: 'done' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000 });
    expect(await eventsOf(w.impUid)).toEqual(['paid', 'cancelled']);
  });

  it('an acknowledgement whose approval Pier never recorded (the process died after writing its row) is not sent inline: the queue asks the PG, records, then confirms', async () => {
    const w = await openWindow({});
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    // the row written before the record, then the process died: the buyer's result never reached Pier
    const channelId = (await payment(w.impUid)).channel_id!;
    await enqueueWindowConfirm(pier.deps, w.impUid, channelId, result.fields.tid);

    await confirmNow(pier.deps, w.impUid, result.fields.tid);
    // nothing acknowledged for an approval Pier has not recorded, and the row is the queue's again at once
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: null });
    expect((await confirmRows(w.impUid))[0]).toMatchObject({ state: 'pending', attempts: 0, lease_owner: null, lease_until: 0 });
    expect(await payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'window' });

    expect(await runner().drain()).toBe(1);
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', pg_state: 'done', pg_tid: result.fields.tid });
    expect((await confirmRows(w.impUid))[0]).toMatchObject({ state: 'done', attempts: 1 });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: expect.any(Number) });
    expect(await eventsOf(w.impUid)).toEqual(['paid']);
  });
});

describe('4. billing keys from the window only as the PG confirms them', () => {
  it('the forgery: cancel in the PG window, post the billing-key success code with any cardToken: refused, the victim keeps the card', async () => {
    const victim = uid('victim');
    const issued = await pier.call('POST', `/subscribe/customers/${victim}`, { token: m.token, body: { card_number: card('1234'), expiry: '2030-12', birth: '820213', pwd_2digit: '00' } });
    expect(issued.body.code, JSON.stringify(issued.body)).toBe(0);
    const keyBefore = await pier.deps.store.db.selectFrom('billing_keys').selectAll().where('customer_uid', '=', victim).executeTakeFirstOrThrow();

    const w = await openWindow({ amount: 0, customer_uid: victim });
    const cancel = await actInWindow(w, { action: 'cancel' });
    const forged = { ...cancel.fields, resultCd: 'F100', resultMsg: '빌키 발급 성공', cardToken: 'attacker-chosen-token', fnCd: '06', cardNo: '9366********9999' };
    const rsp = rspOf((await postPier(`/checkout/${w.sessionId}/return`, forged)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: w.impUid });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect(await eventsOf(w.impUid)).toEqual([]);
    const keyAfter = await pier.deps.store.db.selectFrom('billing_keys').selectAll().where('customer_uid', '=', victim).executeTakeFirstOrThrow();
    expect(keyAfter).toEqual(keyBefore);
  });

  it('a real key from another window (or the REST API) replayed into this one is refused', async () => {
    const donor = await openWindow({ amount: 0, customer_uid: uid('donor') });
    const real = await actInWindow(donor, { action: 'pay', ...cardFields(card()) });
    const victim = uid('victim2');
    const w = await openWindow({ amount: 0, customer_uid: victim });
    const cancel = await actInWindow(w, { action: 'cancel' });
    const replayed = { ...cancel.fields, resultCd: 'F100', cardToken: real.fields.cardToken };
    expect(rspOf((await postPier(`/checkout/${w.sessionId}/return`, replayed)).html)).toMatchObject({ success: false });
    expect(await pier.deps.store.db.selectFrom('billing_keys').select('customer_uid').where('customer_uid', '=', victim).executeTakeFirst()).toBeUndefined();
  });

  it('a billing-key result in a checkout that asked for a payment is refused', async () => {
    const donor = await openWindow({ amount: 0, customer_uid: uid('donor') });
    const real = await actInWindow(donor, { action: 'pay', ...cardFields(card()) });
    const w = await openWindow({});
    const cancel = await actInWindow(w, { action: 'cancel' });
    const rsp = rspOf((await postPier(`/checkout/${w.sessionId}/return`, { ...cancel.fields, resultCd: 'F100', cardToken: real.fields.cardToken })).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F1007' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', customer_uid: null });
    expect(await eventsOf(w.impUid)).toEqual([]);
  });

  it('a key issued in a window whose merchant_uid was paid meanwhile is stored, and its first payment never charged (F1002)', async () => {
    const customer = uid('cust_taken');
    const w = await openWindow({ amount: 7000, customer_uid: customer });
    const other = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: w.merchantUid, amount: 7000, card_number: card('6666'), expiry: '2030-12' } });
    expect(other.body.response).toMatchObject({ status: 'paid' });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('7777')) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: w.impUid, error_code: 'F1002' });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect((await ledgerTx(w.impUid)).filter((t) => t.status === 'paid')).toEqual([]);
    expect(await eventsOf(w.impUid)).toEqual([]);
    expect((await pier.call('GET', `/subscribe/customers/${customer}`, { token: m.token })).body.response).toMatchObject({ customer_uid: customer, card_number: expect.stringMatching(/7777$/) });
    expect(await lockHolders(w.merchantUid)).toEqual([{ imp_uid: other.body.response.imp_uid }]);
  });

  it('the first payment with a key issued in the window is not given up by reconciliation while Pier’s charge is in flight (the buyer took minutes in the window)', async () => {
    const customer = uid('cust_slow');
    const w = await openWindow({ amount: 7000, customer_uid: customer });
    // the buyer types the card for two minutes: the attempt was written when the window opened
    pier.clock.advance(2 * 60_000);
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('8181')) });
    // Pier's charge with the new key is held at the PG's door until reconciliation has run a pass
    let charging!: () => void;
    let letThrough!: () => void;
    const atPg = new Promise<void>((r) => (charging = r));
    const gate = new Promise<void>((r) => (letThrough = r));
    const slowPg = depsWith(pier.deps, (real) => ({
      async chargeBillingKey(channel, key, req) {
        charging();
        await gate;
        return real.chargeBillingKey(channel, key, req);
      },
    }));
    const posted = completeCheckout(slowPg, w.sessionId, result.fields);
    await atPg;
    // a pass with the real grace: an attempt whose PG call may still be answered is not asked about
    const out = await reconcileInDoubt(pier.deps, { graceSeconds: reconcileGraceSeconds(pier.deps.connectors) });
    letThrough();
    const { rsp } = await posted;
    // charged at the PG once, and recorded paid at Pier holding the order (not failed with its merchant_uid freed)
    expect((await ledgerTx(w.impUid)).map((t) => t.status)).toEqual(['paid']);
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid });
    expect(rsp).toMatchObject({ success: true, imp_uid: w.impUid, status: 'paid', customer_uid: customer });
    expect(await eventsOf(w.impUid)).toEqual(['paid']);
    expect(out[w.impUid]).toBeUndefined();
  });

  it('the first payment with a key issued in the window, timed out, keeps its grace from the timeout as an API charge does: not given up while the PG may still be charging it', async () => {
    const customer = uid('cust_timeout');
    const w = await openWindow({ amount: 7000, customer_uid: customer });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('8282')) });
    // Pier's charge with the new key reaches the PG, which is still working on it when Pier's call
    // runs out of its whole deadline (connect + read): the answer is lost, the charge lands later
    const maxCallMs = pier.deps.connectors.maxCallMs();
    let landAtPg!: () => Promise<unknown>;
    const timingOut = depsWith(pier.deps, (real) => ({
      async chargeBillingKey(channel, key, req) {
        landAtPg = () => real.chargeBillingKey(channel, key, req);
        pier.clock.advance(maxCallMs);
        throw new ConnectorError('timeout', 'read timeout', true, true);
      },
    }));
    await completeCheckout(timingOut, w.sessionId, result.fields);
    expect(await payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: w.merchantUid });

    // 31 s after the timeout: an API charge whose answer was lost at that moment is in its grace
    // still (markInDoubt counts it from then); before, this one's counted from the call's start
    const grace = reconcileGraceSeconds(pier.deps.connectors);
    pier.clock.advance(31_000);
    const first = await reconcileInDoubt(pier.deps, { graceSeconds: grace });
    const afterFirst = await payment(w.impUid);
    // the PG's charge lands; reconciliation, past the grace, finds and records it
    await landAtPg();
    pier.clock.advance(grace * 1000);
    const second = await reconcileInDoubt(pier.deps, { graceSeconds: grace });
    expect({ first: first[w.impUid], afterFirst: afterFirst.status, second: second[w.impUid] }).toEqual({ first: undefined, afterFirst: 'ready', second: 'paid' });
    // charged once at the PG and paid at Pier, holding the order (before: failed, the merchant_uid freed, the card charged)
    expect((await ledgerTx(w.impUid)).map((t) => t.status)).toEqual(['paid']);
    expect(await payment(w.impUid)).toMatchObject({ status: 'paid', pg_state: 'done', merchant_uid_lock: w.merchantUid });
    expect(await eventsOf(w.impUid)).toEqual(['paid']);
  });

  it('a key the PG issued in this window is stored with the card facts the PG reports, replacing the old card', async () => {
    const customer = uid('cust');
    await pier.call('POST', `/subscribe/customers/${customer}`, { token: m.token, body: { card_number: card('1234'), expiry: '2030-12', birth: '820213', pwd_2digit: '00' } });
    const w = await openWindow({ amount: 0, customer_uid: customer });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('5678', '381')) });
    // the browser's card facts are not trusted: the attacker's edits do not reach the record
    const rsp = rspOf((await postPier(result.action, { ...result.fields, cardNo: '0000********0000', fnCd: '06' })).html);
    expect(rsp).toMatchObject({ success: true, customer_uid: customer });
    const key = await pier.call('GET', `/subscribe/customers/${customer}`, { token: m.token });
    expect(key.body.response).toMatchObject({ customer_uid: customer, card_code: '381', card_number: expect.stringMatching(/5678$/) });
  });
});

describe('5. card.detail and installments are enforced on the approval', () => {
  it('a card company the merchant did not enable is refunded at once and recorded failed with the reason', async () => {
    const w = await openWindow({ card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } });
    // the buyer types a KB국민 card into the PG window
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('4242', '381')) });
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, imp_uid: w.impUid, error_code: 'F1008', error_msg: expect.stringContaining('허용하지 않은 카드사') });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null, fail_reason: expect.stringMatching(/^\[F1008\]/) });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
    expect(await eventsOf(w.impUid)).toEqual([]);
  });

  it('a second settlement that read the PG before the first refunded it (the confirm job beside the post) does not record it paid', async () => {
    const w = await openWindow({ card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card('4343', '381')) });
    // the other settlement's inquiry, read while the approval stood
    const attempt = await payment(w.impUid);
    const channel = (await channelById(pier.deps, attempt.channel_id!))!;
    const stale = await channel.connector.inquire(channel.credentials, { moid: w.impUid, aroundMs: attempt.started_at * 1000 });
    expect(stale).toMatchObject({ found: true, state: 'paid', cancelledAmount: 0 });
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ success: false, error_code: 'F1008' });

    // it goes on with what it read: the PG declines its refund (nothing is left to refund)
    const params = JSON.parse((await pier.deps.store.db.selectFrom('checkout_sessions').select('params').where('id', '=', w.sessionId).executeTakeFirstOrThrow()).params);
    await recordPgApproval(pier.deps, { impUid: w.impUid, merchantId: m.merchantId, amount: 5000, channel, params }, stale as FoundAtPg);
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null, fail_reason: expect.stringMatching(/^\[F1008\]/) });
    expect(await eventsOf(w.impUid)).toEqual([]);
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
  });

  it('installments the checkout did not allow (the buyer edited the PG form) are refunded at once', async () => {
    const w = await openWindow({ amount: 60000, display: { card_quota: [3] } }, { editPgForm: (f) => void (f.quotaFixed = '00:03:06') });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card(), '06') });
    expect(result.fields.resultCd).toBe('3001');
    const rsp = rspOf((await postPier(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: false, error_code: 'F1009', error_msg: expect.stringContaining('6개월') });
    expect(await payment(w.impUid)).toMatchObject({ status: 'failed', fail_reason: expect.stringMatching(/^\[F1009\]/) });
    expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled' });
  });

  it('installments within display.card_quota from 50,000 KRW are kept', async () => {
    const w = await openWindow({ amount: 60000, display: { card_quota: [3] } });
    const result = await actInWindow(w, { action: 'pay', ...cardFields(card(), '03') });
    expect(rspOf((await postPier(result.action, result.fields)).html)).toMatchObject({ success: true, card_quota: 3 });
  });
});

describe('a crash between the PG approval and its record (done-criterion)', () => {
  /** Pier after a restart: a new store on the same database, a new app, nothing in memory. */
  async function restartedPier() {
    const store = openStore(pier.databaseUrl, { poolSize: 5 });
    const deps: Deps = { ...pier.deps, store };
    const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
    await app.ready();
    return { deps, async close() { await app.close(); await store.close(); } };
  }

  it('the result never recorded: after restart, reconciliation records it paid and acknowledges it, so the PG keeps it', async () => {
    const w = await openWindow({});
    await actInWindow(w, { action: 'pay', ...cardFields(card()) }); // approved; Pier dies before the post is recorded
    const after = await restartedPier();
    try {
      pier.clock.advance(31 * 60_000); // the session's lifetime: the window counts as abandoned
      await releaseAbandonedWindows(after.deps);
      const settled = await reconcileInDoubt(after.deps, { graceSeconds: 0 });
      expect(settled[w.impUid]).toBe('paid');
      await new JobRunner({ queues: [windowConfirmQueue(after.deps)], logger: after.deps.logger }).drain();
      pier.clock.advance(NET_CANCEL_MS);
      expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0, confirmedAt: expect.any(Number) });
      expect(await payment(w.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: w.merchantUid });
    } finally {
      await after.close();
    }
  });

  it('down past the PG net-cancel: after restart the payment is recorded paid and refunded, as at the PG', async () => {
    const w = await openWindow({});
    await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const after = await restartedPier();
    try {
      pier.clock.advance(NET_CANCEL_MS + 60_000);
      await releaseAbandonedWindows(after.deps);
      await reconcileInDoubt(after.deps, { graceSeconds: 0 });
      await new JobRunner({ queues: [windowConfirmQueue(after.deps)], logger: after.deps.logger }).drain();
      expect((await ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled', cancelledAmount: 5000 });
      expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000 });
      expect(await eventsOf(w.impUid)).toEqual(['paid', 'cancelled']);
    } finally {
      await after.close();
    }
  });

  it('down past the PG net-cancel, then dead again before the refund is written: nothing is recorded paid alone, and the next pass records both', async () => {
    const w = await openWindow({});
    await actInWindow(w, { action: 'pay', ...cardFields(card()) });
    const after = await restartedPier();
    try {
      pier.clock.advance(NET_CANCEL_MS + 60_000);
      await releaseAbandonedWindows(after.deps);
      const revive = await dieBeforeInsertInto(after.deps.store, 'payment_cancels');
      try {
        expect((await reconcileInDoubt(after.deps, { graceSeconds: 0 }))[w.impUid]).toBe('unknown');
      } finally {
        await revive();
      }
      expect(await payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', cancel_amount: 0 });
      expect(await eventsOf(w.impUid)).toEqual([]);

      pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + 1) * 1000);
      expect((await reconcileInDoubt(after.deps, { graceSeconds: 0 }))[w.impUid]).toBe('cancelled');
      expect(await payment(w.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 5000, cancel_pending_amount: 0 });
      expect(await eventsOf(w.impUid)).toEqual(['paid', 'cancelled']);
    } finally {
      await after.close();
    }
  });
});
