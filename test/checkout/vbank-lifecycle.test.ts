/**
 * The virtual-account lifecycle without a browser (issue #4, item 4): a vbank issued through the
 * payment window (the test posts Pier's and the tPay simulator's forms as the buyer's browser
 * would) → `ready` webhook → a deposit at the simulator (POST /pier/sandbox/vbank-deposit, and
 * `pier sandbox deposit` in a child process) → the simulator's notice makes it `paid` → `paid`
 * webhook; wrong amounts and late deposits refused; DELETE /vbanks/{imp_uid}; an overdue account
 * releases its merchant_uid; a refund of a paid vbank needs the refund account. Pier listens on a
 * loopback port so the simulator can post its deposit notices; time moves by the injected clock.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { channelById } from '../../src/core/merchants/channels.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { lockHolder } from '../../src/core/payments/attempts.js';
import { failAttempt } from '../../src/core/payments/record-outcome.js';
import { recordVbankDeposit } from '../../src/core/virtual-accounts/deposit.js';
import { releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { settleAttempt } from '../../src/core/payments/reconcile.js';
import { depsWith, startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startReceiver, verify } from '../webhooks/receiver.js';
import { formOf, postForm, rspOf } from '../buyer-forms.js';
import { listenAgain, listenOn } from '../child-process.js';
import { depositNoticeSignature } from '../../src/simulators/jtnet/window-crypto.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { kstTimestamp14 } from '../../src/lib/clock.js';

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let queue: ReturnType<typeof webhookQueue>;
let runner: JobRunner;
let secret: string;
const ORIGIN = 'https://shop.example';
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

beforeAll(async () => {
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
  other = await pier.newMerchant();
  receiver = await startReceiver();
  queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
  runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
  const set = await pier.call('PUT', '/pier/webhooks/settings', { token: m.token, body: { url: receiver.url } });
  expect(set.body.code, JSON.stringify(set.body)).toBe(0);
  secret = set.body.response.secret;
});
afterAll(async () => {
  await queue?.close();
  await receiver?.stop();
  await pier?.close();
});
beforeEach(async () => {
  // earlier tests may have moved the clock past the tokens' 30 minutes
  for (const x of [m, other]) {
    x.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: x.impKey, imp_secret: x.impSecret } })).body.response.access_token;
  }
  await runner.drain();
  receiver.requests.length = 0;
});

// ---- the buyer's browser, without a browser ----





/** request_pay with pay_method vbank, through Pier's checkout and the simulator's window; returns the rsp. */
async function issueVbank(merchantUid: string, amount: number, merchant = m) {
  const result = await issueVbankAtPg(merchantUid, amount, merchant);
  const back = await postForm(result.action, result.fields);
  expect(back.status, back.html).toBe(200);
  return rspOf(back.html) as { success: boolean; imp_uid: string; merchant_uid: string; status: string; vbank_num: string; vbank_date: number };
}

/**
 * request_pay with pay_method vbank up to the PG's issuance: the simulator's window has shown the
 * buyer the account; its result form, which the browser would post to Pier, is returned unposted.
 */
async function issueVbankAtPg(merchantUid: string, amount: number, merchant = m) {
  const created = await request(`${pier.pierUrl}/checkout/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imp_code: merchant.merchantCode, params: { pg: 'jtnet', pay_method: 'vbank', merchant_uid: merchantUid, amount, name: '가상계좌 상품', buyer_name: '홍길동', buyer_tel: '010-1234-5678' }, mode: 'overlay', origin: ORIGIN }),
  });
  const session = (await created.body.json()) as { session_id?: string; rsp?: unknown };
  if (!session.session_id) throw new Error(`no session: ${JSON.stringify(session)}`);
  const toPg = await postForm(`${pier.pierUrl}/checkout/${session.session_id}/start`, { agree: '1' });
  expect(toPg.status, toPg.html).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postForm(pgForm.action, pgForm.fields);
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const paid = await postForm(new URL(payForm.action, pier.simulatorUrl).toString(), { txToken: payForm.fields.txToken, action: 'pay', bankCode: '004' });
  expect(paid.status, paid.html).toBe(200);
  const result = formOf(paid.html, 'tpayResult');
  expect(result.action).toBe(`${pier.pierUrl}/checkout/${session.session_id}/return`);
  return result;
}

const payment = async (impUid: string, merchant = m) => (await pier.call('GET', `/payments/${impUid}`, { token: merchant.token })).body.response;
const deposit = (body: Record<string, unknown>, merchant = m) => pier.call('POST', '/pier/sandbox/vbank-deposit', { token: merchant.token, body });
const ledgerTx = async (tid: string) => {
  const l = (await (await fetch(`${pier.simulatorUrl}/__ledger?mid=tpaytest0m`)).json()) as { approvals: Array<{ tid: string; status: string; cancelledAmount: number; cancels: Array<Record<string, unknown>> }> };
  return l.approvals.find((t) => t.tid === tid);
};
const events = () => receiver.requests.map((r) => verify(secret, r));
/** Pier up again after it was down, on the port of the public URL the simulator posts its notices to (bounded wait if another socket took it meanwhile) */
const pierBackOn = (port: number) => listenAgain('Pier', port, () => listenOn(pier.app.server, port));

describe('issue → ready webhook → deposit → paid webhook', () => {
  it('issues a vbank in the window (ready, `ready` webhook), and a deposit at the simulator makes it paid (`paid` webhook), signed', async () => {
    const merchantUid = uid('vb_life');
    const rsp = await issueVbank(merchantUid, 23000);
    expect(rsp).toMatchObject({ success: true, status: 'ready', merchant_uid: merchantUid });
    expect(rsp.vbank_num).toMatch(/^\d{10,}$/);
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'ready', pay_method: 'vbank', amount: 23000, vbank_num: rsp.vbank_num, vbank_code: '004', paid_at: 0 });

    expect(await runner.drain()).toBe(1);
    expect(events()).toEqual([{ imp_uid: rsp.imp_uid, merchant_uid: merchantUid, status: 'ready' }]);
    receiver.requests.length = 0;

    const res = await deposit({ imp_uid: rsp.imp_uid, depositor_name: '홍길동' });
    expect(res.body, JSON.stringify(res.body)).toMatchObject({
      code: 0,
      response: { imp_uid: rsp.imp_uid, merchant_uid: merchantUid, status: 'paid', amount: 23000, paid_at: Math.floor(pier.clock.now() / 1000), pg: { status: 'paid', notice: { delivered: true, status: 200 } } },
    });
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'paid', amount: 23000 });
    expect(await runner.drain()).toBe(1);
    expect(events()).toEqual([{ imp_uid: rsp.imp_uid, merchant_uid: merchantUid, status: 'paid' }]);
    expect(receiver.requests[0].headers['webhook-signature']).toMatch(/^v1,/);

    // paid now: the bank refuses a second deposit, and Pier's merchant_uid stays paid
    const again = await deposit({ imp_uid: rsp.imp_uid });
    expect(again.body).toMatchObject({ code: 1, response: null });
    expect(again.body.message).toContain('not awaiting a deposit');
    const dup = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 1000, card_number: card, expiry: '2030-12' } });
    expect(dup.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제가 이루어진 거래건입니다') });
  });

  it('refuses a deposit of the wrong amount; the account stays ready and no webhook is sent', async () => {
    const rsp = await issueVbank(uid('vb_amount'), 23000);
    await runner.drain();
    receiver.requests.length = 0;
    const res = await deposit({ imp_uid: rsp.imp_uid, amount: 22000 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ code: 1, response: null });
    expect(res.body.message).toContain('입금액 불일치');
    expect((await payment(rsp.imp_uid)).status).toBe('ready');
    expect(await runner.drain()).toBe(0);
    // the right amount still goes through
    expect((await deposit({ imp_uid: rsp.imp_uid, amount: 23000 })).body.response.status).toBe('paid');
  });

  it('refuses a deposit after vbank_date; the account stays ready', async () => {
    const rsp = await issueVbank(uid('vb_late'), 15000);
    const due = (await payment(rsp.imp_uid)).vbank_date as number;
    pier.clock.set((due + 60) * 1000);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const res = await deposit({ imp_uid: rsp.imp_uid });
    expect(res.body).toMatchObject({ code: 1, response: null });
    expect(res.body.message).toContain('입금기한 경과');
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'ready', paid_at: 0 });
  });

  /**
   * tPay's deposit notice for an account as tPay signs it (the simulator's sendNotice: same fields,
   * same HMAC over the MID's merchantKey), posted over HTTP to the URL registered for the MID: what
   * tPay sends when it took a deposit the simulator's bank refuses (another amount, past the deadline).
   */
  async function pgNotice(impUid: string, amount: number, depositMs: number) {
    const p = await payment(impUid);
    const registered = (await (await fetch(`${pier.simulatorUrl}/__control/notify-url?mid=tpaytest0m`)).json()) as { url: string };
    const fields: Record<string, string> = {
      payMethod: 'VBANK', mid: 'tpaytest0m', tid: p.pg_tid, moid: impUid, amt: String(amount), resultCd: '4110', resultMsg: '가상계좌 입금 완료',
      depositDate: kstTimestamp14(depositMs), depositorName: '홍길동', vbankCode: p.vbank_code, vbankNum: p.vbank_num, ediDate: kstTimestamp14(pier.clock.now()),
    };
    fields.signature = depositNoticeSignature(JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest0m')!.merchantKey, fields);
    const res = await request(registered.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams(fields).toString() });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  it('a deposit of another amount tPay signs is answered OK (tPay stops sending it) and written on the payment for an operator; not paid, no webhook (decision 0123)', async () => {
    const rsp = await issueVbank(uid('vb_pg_amount'), 23000);
    await runner.drain();
    receiver.requests.length = 0;
    const answer = await pgNotice(rsp.imp_uid, 22000, pier.clock.now());
    expect(answer).toMatchObject({ status: 200, body: { result_cd: '0000', reason: 'wrong_amount' } });
    const p = await payment(rsp.imp_uid);
    expect(p).toMatchObject({ status: 'ready', paid_at: 0, amount: 23000 });
    expect(p.fail_reason).toContain('22000원');
    expect(await runner.drain()).toBe(0);
    // the buyer's right deposit still pays it, and the note goes
    expect((await deposit({ imp_uid: rsp.imp_uid, amount: 23000 })).body.response.status).toBe('paid');
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'paid', amount: 23000, fail_reason: null });
  });

  it('a deposit after vbank_date that tPay signs is recorded paid with the `paid` webhook (the PG took the money; decision 0123)', async () => {
    const rsp = await issueVbank(uid('vb_pg_late'), 15000);
    await runner.drain();
    receiver.requests.length = 0;
    const due = (await payment(rsp.imp_uid)).vbank_date as number;
    pier.clock.set((due + 60) * 1000);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const answer = await pgNotice(rsp.imp_uid, 15000, pier.clock.now());
    expect(answer).toMatchObject({ status: 200, body: { result_cd: '0000', imp_uid: rsp.imp_uid } });
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'paid', amount: 15000, paid_at: due + 60 });
    await runner.drain();
    expect(events()).toEqual([{ imp_uid: rsp.imp_uid, merchant_uid: rsp.merchant_uid, status: 'paid' }]);
  });

  it('the deposit endpoint: only the merchant\'s own virtual accounts, a token, and a vbank', async () => {
    const rsp = await issueVbank(uid('vb_owner'), 5000);
    expect((await deposit({ imp_uid: rsp.imp_uid }, other)).status).toBe(404);
    expect((await pier.call('POST', '/pier/sandbox/vbank-deposit', { body: { imp_uid: rsp.imp_uid } })).status).toBe(401);
    const cardPay = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('card'), amount: 1000, card_number: card, expiry: '2030-12' } });
    expect((await deposit({ imp_uid: cardPay.body.response.imp_uid })).status).toBe(404);
    expect((await deposit({ imp_uid: rsp.imp_uid, amount: 0 })).status).toBe(400);
    expect((await payment(rsp.imp_uid)).status).toBe('ready');
  });
});

describe('an overdue virtual account releases its merchant_uid', () => {
  it('blocks its merchant_uid until vbank_date, then a card payment (API) takes it; the old account stays ready', async () => {
    const merchantUid = uid('vb_expire_api');
    const old = await issueVbank(merchantUid, 8000);
    const onetime = () => pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 8000, card_number: card, expiry: '2030-12' } });
    expect((await onetime()).body).toMatchObject({ code: 1, message: expect.stringContaining('진행 중인 결제') });
    pier.clock.set((old.vbank_date + 1) * 1000);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const paid = await onetime();
    expect(paid.body, JSON.stringify(paid.body)).toMatchObject({ code: 0, response: { status: 'paid', merchant_uid: merchantUid } });
    expect(await payment(old.imp_uid)).toMatchObject({ status: 'ready', merchant_uid: merchantUid });
    // the old account can no longer be paid
    expect((await deposit({ imp_uid: old.imp_uid })).body.message).toContain('입금기한 경과');
    const all = (await pier.call('GET', `/payments/findAll/${merchantUid}`, { token: m.token })).body.response.list;
    expect(all.map((p: { status: string }) => p.status).sort()).toEqual(['paid', 'ready']);
  });

  it('and for a schedule: the merchant_uid can be scheduled once its account is overdue', async () => {
    const merchantUid = uid('vb_expire_schedule');
    const old = await issueVbank(merchantUid, 9900);
    const customerUid = uid('vb_customer');
    const key = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: card, expiry: '2030-12', birth: '820213' } });
    expect(key.body.code, JSON.stringify(key.body)).toBe(0);
    const schedule = () =>
      pier.call('POST', '/subscribe/payments/schedule', {
        token: m.token,
        body: { customer_uid: customerUid, schedules: [{ merchant_uid: merchantUid, schedule_at: Math.floor(pier.clock.now() / 1000) + 3600, amount: 9900 }] },
      });
    expect((await schedule()).body.code).toBe(1);
    pier.clock.set((old.vbank_date + 1) * 1000);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const res = await schedule();
    expect(res.body, JSON.stringify(res.body)).toMatchObject({ code: 0, response: [{ merchant_uid: merchantUid, schedule_status: 'scheduled' }] });
  });

  it('and through the payment window: request_pay for the same merchant_uid opens and issues a new account', async () => {
    const merchantUid = uid('vb_expire_window');
    const old = await issueVbank(merchantUid, 9000);
    pier.clock.set((old.vbank_date + 1) * 1000);
    const fresh = await issueVbank(merchantUid, 9000);
    expect(fresh).toMatchObject({ success: true, status: 'ready', merchant_uid: merchantUid });
    expect(fresh.imp_uid).not.toBe(old.imp_uid);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    expect((await deposit({ imp_uid: fresh.imp_uid })).body.response.status).toBe('paid');
    expect((await payment(old.imp_uid)).status).toBe('ready');
  });
});

describe('an unpaid window account before its deadline (decision 0058)', () => {
  it('gives its merchant_uid to a second window account for the same order, closed at the PG first; a paid one keeps it (F1002)', async () => {
    const merchantUid = uid('vb_second');
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const first = await issueVbank(merchantUid, 9000);
    const second = await issueVbank(merchantUid, 9000);
    expect(second).toMatchObject({ success: true, status: 'ready', merchant_uid: merchantUid });
    expect(await payment(first.imp_uid)).toMatchObject({ status: 'cancelled' });
    expect((await ledgerTx((await payment(first.imp_uid)).pg_tid))?.status).toBe('cancelled');
    expect((await deposit({ imp_uid: second.imp_uid })).body.response.status).toBe('paid');
    await expect(issueVbank(merchantUid, 9000)).rejects.toThrow(/F1002/);
  });
});

describe('a virtual account past its deadline: the PG is asked before its merchant_uid is released', () => {
  const simControl = async (path: string, body: unknown) => {
    const res = await fetch(`${pier.simulatorUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as any;
  };
  const freshToken = async () => {
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
  };

  it('a deposit made in time whose notice never reached Pier is recorded, and the merchant_uid stays paid once', async () => {
    const merchantUid = uid('vb_late_notice');
    const vb = await issueVbank(merchantUid, 8000);
    // Pier is down while the buyer deposits, a minute before the deadline: the notice is lost
    const port = Number(new URL(pier.pierUrl!).port);
    await new Promise<void>((r) => pier.app.server.close(() => r()));
    pier.clock.set((vb.vbank_date - 60) * 1000);
    const dep = await simControl('/__control/vbank/deposit', { moid: vb.imp_uid, amount: 8000 });
    expect(dep).toMatchObject({ status: 'paid', notice: { delivered: false } });
    await pierBackOn(port);

    // past the deadline, not told of the deposit, the merchant takes payment for the order by card
    pier.clock.set((vb.vbank_date + 60) * 1000);
    await freshToken();
    const byCard = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 8000, card_number: card, expiry: '2030-12' } });
    expect(byCard.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'paid', paid_at: vb.vbank_date - 60 });

    // the PG's notice, sent again, is a repeat
    expect((await simControl('/__control/vbank/notify', { tid: dep.tid })).notice.delivered).toBe(true);
    const all = (await pier.call('GET', `/payments/findAll/${merchantUid}`, { token: m.token })).body.response.list as Array<{ status: string; pay_method: string }>;
    expect(all.map((p) => `${p.pay_method}:${p.status}`)).toEqual(['vbank:paid']);
    await runner.drain();
    expect(events().filter((e) => (e as { imp_uid: string }).imp_uid === vb.imp_uid)).toEqual([{ imp_uid: vb.imp_uid, merchant_uid: merchantUid, status: 'ready' }, { imp_uid: vb.imp_uid, merchant_uid: merchantUid, status: 'paid' }]);
  });

  it('a deposit made in time that the PG shows only after the merchant_uid was released takes it back: the order is not paid again', async () => {
    const merchantUid = uid('vb_pg_lag');
    const vb = await issueVbank(merchantUid, 6000);
    // the buyer deposits a minute before the deadline while Pier is down: the notice is lost
    const port = Number(new URL(pier.pierUrl!).port);
    await new Promise<void>((r) => pier.app.server.close(() => r()));
    pier.clock.set((vb.vbank_date - 60) * 1000);
    const dep = await simControl('/__control/vbank/deposit', { moid: vb.imp_uid, amount: 6000 });
    expect(dep).toMatchObject({ status: 'paid', notice: { delivered: false } });
    await pierBackOn(port);

    // Past the deadline Pier asks the PG before releasing the merchant_uid (a checkout for the order
    // asks who holds it). The PG does not show the deposit yet: the bank's credit reaches its
    // inquiry after the transfer, which the bank stamped in time. The account gives the order up.
    pier.clock.set((vb.vbank_date + 60) * 1000);
    const lagging = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        const found = await real.inquire(channel, q);
        return q.moid === vb.imp_uid && found.found ? { ...found, state: 'awaiting_deposit' as const, cancelledAmount: 0 } : found;
      },
    }));
    expect(await lockHolder(lagging, m.merchantId, merchantUid)).toBeUndefined();

    // the PG's notice of the deposit, sent again, is recorded: the buyer paid in time
    expect((await simControl('/__control/vbank/notify', { tid: dep.tid })).notice.delivered).toBe(true);
    await freshToken();
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'paid', paid_at: vb.vbank_date - 60 });

    // the order is paid: a card payment for it is refused, not charged a second time
    const byCard = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 6000, card_number: card, expiry: '2030-12' } });
    expect(byCard.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    const all = (await pier.call('GET', `/payments/findAll/${merchantUid}`, { token: m.token })).body.response.list as Array<{ status: string; pay_method: string }>;
    expect(all.map((p) => `${p.pay_method}:${p.status}`)).toEqual(['vbank:paid']);
  });

  it('a late deposit recorded beside a charge held at the PG takes the merchant_uid once that charge is declined: the order is not paid again', async () => {
    const merchantUid = uid('vb_lag_held_charge');
    const vb = await issueVbank(merchantUid, 6100);
    // the buyer deposits a minute before the deadline while Pier is down: the notice is lost
    const port = Number(new URL(pier.pierUrl!).port);
    await new Promise<void>((r) => pier.app.server.close(() => r()));
    pier.clock.set((vb.vbank_date - 60) * 1000);
    const dep = await simControl('/__control/vbank/deposit', { moid: vb.imp_uid, amount: 6100 });
    expect(dep).toMatchObject({ status: 'paid', notice: { delivered: false } });
    await pierBackOn(port);

    // past the deadline the PG does not show the deposit yet: the account gives the order up
    pier.clock.set((vb.vbank_date + 60) * 1000);
    await freshToken();
    const lagging = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        const found = await real.inquire(channel, q);
        return q.moid === vb.imp_uid && found.found ? { ...found, state: 'awaiting_deposit' as const, cancelledAmount: 0 } : found;
      },
    }));
    expect(await lockHolder(lagging, m.merchantId, merchantUid)).toBeUndefined();

    // a card charge for the order takes the merchant_uid; the PG holds its answer (a decline)
    await simControl('/__control/faults', { mode: 'hold', op: 'payments' });
    const declinedCard = testCardNumber({ kftcCode: '366', lastFour: '0051' });
    const held = pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 6100, card_number: declinedCard, expiry: '2030-12' } });
    for (let i = 0; (await (await fetch(`${pier.simulatorUrl}/__control/holds`)).json() as { held: number }).held < 1; i++) {
      if (i > 600) throw new Error('the PG never held the charge');
      await new Promise((r) => setTimeout(r, 20)); // the simulator's progress: poll it
    }
    expect((await lockHolder(pier.deps, m.merchantId, merchantUid))?.pg_state).toBe('calling');

    // the PG's notice of the deposit arrives meanwhile: recorded paid beside the charge in flight
    expect((await simControl('/__control/vbank/notify', { tid: dep.tid })).notice.delivered).toBe(true);
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'paid', paid_at: vb.vbank_date - 60 });

    // the held charge is declined: its failure gives the merchant_uid to the paid account
    await simControl('/__control/holds/release', {});
    expect((await held).body).toMatchObject({ code: -1, message: expect.stringContaining('[51]'), response: null });

    // the order is paid: another card payment for it is refused, not charged a second time
    const byCard = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 6100, card_number: card, expiry: '2030-12' } });
    expect(byCard.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    expect(await lockHolder(pier.deps, m.merchantId, merchantUid)).toMatchObject({ imp_uid: vb.imp_uid, status: 'paid' });
    const all = (await pier.call('GET', `/payments/findAll/${merchantUid}`, { token: m.token })).body.response.list as Array<{ status: string; pay_method: string }>;
    expect(all.map((p) => `${p.pay_method}:${p.status}`).sort()).toEqual(['card:failed', 'vbank:paid']);
  });

  it('a late deposit recorded at the moment its order\'s holder fails: whichever commits first, the deposit ends holding the order (20 races)', async () => {
    const merchantUid = uid('vb_race');
    const vb = await issueVbank(merchantUid, 6200);
    const { db } = pier.deps.store;
    const account = await db.selectFrom('payments').selectAll().where('imp_uid', '=', vb.imp_uid).executeTakeFirstOrThrow();
    const channel = (await channelById(pier.deps, account.channel_id!))!;
    for (let i = 0; i < 20; i++) {
      // an account released past its deadline, and the charge that took its order, in flight at the PG
      const order = `${merchantUid}_${i}`;
      const late = `imp_7${String(seq * 1000 + 2 * i).padStart(11, '0')}`;
      const charge = `imp_7${String(seq * 1000 + 2 * i + 1).padStart(11, '0')}`;
      await db.insertInto('payments').values({ ...account, imp_uid: late, merchant_uid: order, merchant_uid_lock: null, pg_tid: `tid_${late}` }).execute();
      await db
        .insertInto('payments')
        .values({ ...account, imp_uid: charge, merchant_uid: order, merchant_uid_lock: order, pay_method: 'card', channel: 'api', pg_state: 'calling', pg_tid: null, vbank_num: null, vbank_date: 0 })
        .execute();
      // the PG's notice of the deposit and the PG's decline of the charge, at once. On PostgreSQL each
      // side reads before it writes, and without the row locks of merchant-uid-handback.ts neither
      // saw the other (the deposit paid, nothing holding the order); SQLite runs them one after the other
      const [recorded] = await Promise.all([
        recordVbankDeposit(pier.deps, channel, { moid: late, pgTid: `tid_${late}`, amount: 6200, depositedAt: vb.vbank_date - 60, depositorName: null }),
        failAttempt(pier.deps, charge, '[51] declined'),
      ]);
      expect(recorded).toMatchObject({ ok: true, impUid: late });
      const rows = await db.selectFrom('payments').select(['imp_uid', 'status', 'merchant_uid_lock']).where('merchant_uid', '=', order).orderBy('imp_uid').execute();
      expect(rows, `race ${i}`).toEqual([
        { imp_uid: late, status: 'paid', merchant_uid_lock: order },
        { imp_uid: charge, status: 'failed', merchant_uid_lock: null },
      ]);
    }
  });

  it('a PG that cannot be asked keeps the merchant_uid held; once it answers "no deposit" the merchant_uid is free', async () => {
    const merchantUid = uid('vb_pg_down');
    const vb = await issueVbank(merchantUid, 7000);
    pier.clock.set((vb.vbank_date + 60) * 1000);
    await freshToken();
    const onetime = () => pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 7000, card_number: card, expiry: '2030-12' } });
    await simControl('/__control/faults', { mode: 'http_500', op: 'trans_search' });
    try {
      expect((await onetime()).body).toMatchObject({ code: 1, message: expect.stringContaining('진행 중인 결제') });
    } finally {
      await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'DELETE' });
    }
    expect((await onetime()).body).toMatchObject({ code: 0, response: { status: 'paid', merchant_uid: merchantUid } });
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'ready' });
  });
});

describe('DELETE /vbanks/{imp_uid}', () => {
  it('revokes an unpaid account at the PG and in Pier: cancelled, merchant_uid free, no webhook; deposits refused after', async () => {
    const merchantUid = uid('vb_revoke');
    const rsp = await issueVbank(merchantUid, 12000);
    await runner.drain();
    receiver.requests.length = 0;
    const before = Math.floor(pier.clock.now() / 1000);
    const res = await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: m.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ code: 0, response: { imp_uid: rsp.imp_uid, status: 'cancelled', amount: 12000, cancel_amount: 12000, cancel_history: [], paid_at: 0 } });
    expect(res.body.response.cancelled_at).toBeGreaterThanOrEqual(before);
    const pg = await ledgerTx((await payment(rsp.imp_uid)).pg_tid);
    expect(pg).toMatchObject({ status: 'cancelled', cancelledAmount: 12000 });
    expect(await runner.drain()).toBe(0);
    expect((await deposit({ imp_uid: rsp.imp_uid })).body).toMatchObject({ code: 1, message: expect.stringContaining('not awaiting a deposit') });
    const again = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 12000, card_number: card, expiry: '2030-12' } });
    expect(again.body).toMatchObject({ code: 0, response: { status: 'paid' } });
    // not ready any more
    expect((await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: m.token })).status).toBe(400);
  });

  it('records a revoke the PG made earlier whose answer was lost', async () => {
    const rsp = await issueVbank(uid('vb_revoke_lost'), 7000);
    const p = await pier.store.db.selectFrom('payments').select(['channel_id', 'pg_tid']).where('imp_uid', '=', rsp.imp_uid).executeTakeFirstOrThrow();
    const ch = (await channelById(pier.deps, p.channel_id!))!;
    expect(await ch.connector.revokeVbank!(ch.credentials, { pgTid: p.pg_tid!, moid: rsp.imp_uid, amount: 7000, reason: 'lost answer' })).toMatchObject({ outcome: 'refunded' });
    const res = await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: m.token });
    expect(res.body).toMatchObject({ code: 0, response: { status: 'cancelled' } });
  });

  it('an account the buyer paid into while its notice was lost: the PG refuses the revoke, and Pier records the deposit the PG reports (paid, `paid` webhook, order paid once)', async () => {
    const merchantUid = uid('vb_revoke_paid');
    const vb = await issueVbank(merchantUid, 9000);
    await runner.drain();
    receiver.requests.length = 0;
    // Pier is down while the buyer deposits: the PG's notice is lost
    const port = Number(new URL(pier.pierUrl!).port);
    await new Promise<void>((r) => pier.app.server.close(() => r()));
    const dep = (await (await fetch(`${pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: vb.imp_uid, amount: 9000 }) })).json()) as any;
    expect(dep).toMatchObject({ status: 'paid', notice: { delivered: false } });
    await pierBackOn(port);
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'ready', paid_at: 0 });

    // the merchant, seeing the order unpaid, revokes the account: the PG refuses (money is in it)
    const res = await pier.call('DELETE', `/vbanks/${vb.imp_uid}`, { token: m.token });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 1, response: null, message: expect.stringContaining('status: paid') });
    // and the deposit the PG reported on the way is recorded now, not a day later
    expect(await payment(vb.imp_uid)).toMatchObject({ status: 'paid', amount: 9000, paid_at: Math.floor(dep.depositedAt / 1000), vbank_num: vb.vbank_num, cancel_amount: 0 });
    expect(await ledgerTx(dep.tid)).toMatchObject({ status: 'paid', cancelledAmount: 0 });
    await runner.drain();
    expect(events().filter((e) => (e as { imp_uid: string }).imp_uid === vb.imp_uid)).toEqual([{ imp_uid: vb.imp_uid, merchant_uid: merchantUid, status: 'paid' }]);
    // the order is paid: the merchant cannot have it paid a second time
    const byCard = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 9000, card_number: card, expiry: '2030-12' } });
    expect(byCard.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    // the PG's notice, sent again, is a repeat
    const renotified = (await (await fetch(`${pier.simulatorUrl}/__control/vbank/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tid: dep.tid }) })).json()) as any;
    expect(renotified.notice.delivered).toBe(true);
    expect(await runner.drain()).toBe(0);
  });

  it('answers 400 for a card payment or a paid account, 404 for unknown or another merchant\'s, 401 without a token', async () => {
    const rsp = await issueVbank(uid('vb_revoke_err'), 6000);
    expect((await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`)).status).toBe(401);
    expect((await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: 'not-a-token' })).status).toBe(401);
    const foreign = await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: other.token });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({ code: -1, response: null });
    expect((await pier.call('DELETE', '/vbanks/imp_000000000000', { token: m.token })).status).toBe(404);
    const cardPay = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('card'), amount: 1000, card_number: card, expiry: '2030-12' } });
    const notVbank = await pier.call('DELETE', `/vbanks/${cardPay.body.response.imp_uid}`, { token: m.token });
    expect(notVbank.status).toBe(400);
    expect(notVbank.body).toMatchObject({ code: 1, message: expect.stringContaining('가상계좌 결제건이 아닙니다') });
    expect((await deposit({ imp_uid: rsp.imp_uid })).body.response.status).toBe('paid');
    const paid = await pier.call('DELETE', `/vbanks/${rsp.imp_uid}`, { token: m.token });
    expect(paid.status).toBe(400);
    expect(paid.body.message).toContain('status: paid');
    expect((await payment(rsp.imp_uid, m)).status).toBe('paid');
    // the other merchant's attempt changed nothing
    expect((await ledgerTx((await payment(rsp.imp_uid)).pg_tid))!.status).toBe('paid');
  });

  it('PUT /vbanks/{imp_uid} answers 501 "not supported by this PG" (V1: settle only), after the same checks', async () => {
    const rsp = await issueVbank(uid('vb_put'), 4000);
    const res = await pier.call('PUT', `/vbanks/${rsp.imp_uid}`, { token: m.token, body: { amount: 5000 } });
    expect(res.status).toBe(501);
    expect(res.body).toMatchObject({ code: 1, response: null, message: expect.stringContaining('지원하지 않습니다') });
    expect((await pier.call('PUT', `/vbanks/${rsp.imp_uid}`, { token: other.token, body: { amount: 5000 } })).status).toBe(404);
    expect((await pier.call('PUT', `/vbanks/${rsp.imp_uid}`, { body: { amount: 5000 } })).status).toBe(401);
    expect((await payment(rsp.imp_uid)).amount).toBe(4000);
  });
});

describe('a window account paid into before Pier recorded its issuance', () => {
  it('reconciliation records it paid with the account the PG reports (bank, number, holder, deadline, issue time), as the window would have', async () => {
    const merchantUid = uid('vb_reconciled_paid');
    // the PG issued the account and showed it to the buyer; the browser never came back to Pier
    await issueVbankAtPg(merchantUid, 11000);
    const { db } = pier.deps.store;
    const attempt = await db.selectFrom('payments').selectAll().where('merchant_id', '=', m.merchantId).where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();
    expect(attempt).toMatchObject({ pay_method: 'vbank', status: 'ready', pg_state: 'window', vbank_num: null });
    const channel = (await channelById(pier.deps, attempt.channel_id!))!;
    const issued = await channel.connector.inquire(channel.credentials, { moid: attempt.imp_uid, pgTid: null, aroundMs: Number(attempt.started_at) * 1000 });
    if (!issued.found || !issued.vbank) throw new Error(`the PG shows no account: ${JSON.stringify(issued)}`);

    // ten minutes later the buyer deposits into the account the window showed; Pier, awaiting the
    // window, records nothing yet
    pier.clock.advance(10 * 60_000);
    const dep = (await (await fetch(`${pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: attempt.imp_uid, amount: 11000 }) })).json()) as any;
    expect(dep).toMatchObject({ status: 'paid' });
    expect(await payment(attempt.imp_uid)).toMatchObject({ status: 'ready', vbank_num: null });

    // the window is abandoned and reconciliation asks the PG
    pier.clock.advance(2 * 3600_000);
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    expect(await releaseAbandonedWindows(pier.deps)).toBeGreaterThanOrEqual(1);
    expect(await settleAttempt(pier.deps, attempt.imp_uid, { giveUpIfUnknown: false })).toBe('paid');
    expect(await payment(attempt.imp_uid)).toMatchObject({
      status: 'paid',
      pay_method: 'vbank',
      amount: 11000,
      paid_at: Math.floor(dep.depositedAt / 1000),
      vbank_code: issued.vbank.code,
      vbank_name: issued.vbank.name,
      vbank_num: issued.vbank.num,
      vbank_holder: issued.vbank.holder,
      vbank_date: issued.vbank.dueAt,
      vbank_issued_at: issued.paidAt,
    });
    expect(issued.vbank.num).toMatch(/^\d{10,}$/);
    expect(Math.floor(dep.depositedAt / 1000) - issued.paidAt).toBe(600);
  });
});

describe('refunds of a paid virtual account', () => {
  it('need refund_holder, refund_bank and refund_account; with them the refund goes to that account', async () => {
    const rsp = await issueVbank(uid('vb_refund'), 30000);
    expect((await deposit({ imp_uid: rsp.imp_uid })).body.response.status).toBe('paid');
    const bare = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: rsp.imp_uid, reason: '환불' } });
    expect(bare.status).toBe(400);
    expect(bare.body.message).toContain('refund_holder, refund_bank, refund_account');
    expect((await payment(rsp.imp_uid)).status).toBe('paid');
    const refund = await pier.call('POST', '/payments/cancel', {
      token: m.token,
      body: { imp_uid: rsp.imp_uid, reason: '환불', refund_holder: '홍길동', refund_bank: '088', refund_account: '110-123-456789' },
    });
    expect(refund.body, JSON.stringify(refund.body)).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 30000 } });
    expect(refund.body.response.cancel_history).toHaveLength(1);
    const pg = await ledgerTx(refund.body.response.pg_tid);
    expect(pg).toMatchObject({ status: 'cancelled', cancelledAmount: 30000 });
    expect(pg!.cancels[0]).toMatchObject({ refundBankCd: '088', refundAcctMasked: '********6789', refundAcctName: '홍길동' });
  });
});

describe('pier sandbox deposit (CLI, child process)', () => {
  const ROOT = resolve(import.meta.dirname, '..', '..');
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'pier-vb-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  function cli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
    Object.assign(env, { DATABASE_URL: pier.databaseUrl, PIER_DATA_DIR: dataDir, PIER_VAULT_KEYS: pier.vaultSpec, PIER_SIMULATOR: 'false', PIER_JTNET_URL: pier.simulatorUrl, ...extra });
    return new Promise((done) => {
      execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        done({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
      });
    });
  }

  it('deposits, prints the outcome, and Pier marks the payment paid; refusals exit 1 with the reason', async () => {
    const rsp = await issueVbank(uid('vb_cli'), 21000);
    const wrong = await cli(['sandbox', 'deposit', rsp.imp_uid, '--amount', '20000']);
    expect(wrong.code, wrong.stderr).toBe(1);
    expect(wrong.stderr).toContain('입금액 불일치');
    expect((await payment(rsp.imp_uid)).status).toBe('ready');

    const ok = await cli(['sandbox', 'deposit', rsp.imp_uid, '--depositor', '김철수']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`deposited 21000 KRW into ${rsp.imp_uid}`);
    expect(ok.stdout).toContain(`the PG notified Pier at ${pier.pierUrl}/checkout/pg/`);
    expect(ok.stdout).toMatch(new RegExp(`payment\\s+${rsp.imp_uid} is paid`));
    expect((await payment(rsp.imp_uid)).status).toBe('paid');
    expect(await runner.drain()).toBe(2); // ready, paid
    // both were queued when the runner drained: one batch sends them side by side, in either order
    // (V1 promises no order either; a merchant reads the payment on each webhook)
    expect(events().map((e) => (e as { status: string }).status).sort()).toEqual(['paid', 'ready']);

    const unknown = await cli(['sandbox', 'deposit', 'imp_000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such virtual-account payment');
    const prod = await cli(['sandbox', 'deposit', rsp.imp_uid], { PIER_MODE: 'production' });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toContain('sandbox mode only');
  }, 120_000); // four CLI processes, each starting tsx
});
