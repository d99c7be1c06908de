/**
 * A deposit the PG reports into a virtual account Pier records closed (decision 0124): the merchant
 * revoked it (DELETE /vbanks/{imp_uid}), the PG closed it, and then the PG took a transfer into it
 * after all and says so, signed. "A result that arrives late is recorded or refunded, never dropped":
 * the deposit is recorded paid (the PG confirming it when asked), with a note and the `paid` webhook,
 * so the merchant refunds it; a notice the PG does not confirm changes no state.
 *
 * As the PG would do it: Pier in-process and listening, the tPay and NICEPAY simulators over real
 * HTTP; the account issued through Pier's checkout and each simulator's window, revoked through V1,
 * then the simulator's bank takes the transfer into the closed account (its `closedAccount` fault,
 * on request) and the simulator sends its own signed notice (tPay's deposit notice, NICE's webhook)
 * to the URL registered for the account.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { formOf, postForm, rspOf } from '../buyer-forms.js';
import { niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from '../checkout/nice-harness.js';
import { testCardNumber } from '../harness.js';
import { depositNoticeSignature } from '../../src/simulators/jtnet/window-crypto.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { kstTimestamp14 } from '../../src/lib/clock.js';

let n: NicePier;
let token: string;
let seq = 0;
const uid = (p: string) => `closed_${p}_${++seq}_${Date.now() % 100000}`;
const ORIGIN = 'https://shop.example';
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });

beforeAll(async () => {
  n = await startNicePier();
  // NICE's webhooks for the clientId go to the URL registered for the window channel
  expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: `${n.pierUrl}/checkout/pg/${n.channelId}/notify` })).status).toBe(200);
});
afterAll(async () => {
  await n?.close();
});
beforeEach(async () => {
  token = (await n.pier.call('POST', '/users/getToken', { body: { imp_key: n.merchant.impKey, imp_secret: n.merchant.impSecret } })).body.response.access_token;
});

const v1 = (method: string, url: string, body?: unknown) => n.pier.call(method, url, { token, body });
const payment = async (impUid: string) => (await v1('GET', `/payments/${impUid}`)).body.response;
const events = async (impUid: string) =>
  (await n.pier.deps.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', '=', impUid).orderBy('id').execute()).map((e) => `${e.status}:${e.cause}`);
const tpaySim = async (path: string, body: unknown) => {
  const res = await fetch(`${n.pier.simulatorUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

/** request_pay (tPay, vbank) through Pier's checkout and the tPay simulator's window: the account issued, recorded ready */
async function issueTpayVbank(merchantUid: string, amount: number, expected: Record<string, unknown> = { success: true, status: 'ready' }, posted: Record<string, string> = {}) {
  const s = await n.pier.call('POST', '/checkout/sessions', {
    body: { imp_code: n.merchant.merchantCode, params: { pg: 'jtnet', pay_method: 'vbank', merchant_uid: merchantUid, amount, name: '가상계좌 상품', buyer_name: '홍길동', buyer_tel: '010-1234-5678' }, mode: 'overlay', origin: ORIGIN },
  });
  expect(s.body.ok, JSON.stringify(s.body)).toBe(true);
  const toPg = await postForm(`${n.pierUrl}/checkout/${s.body.session_id}/start`, { agree: '1' });
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postForm(pgForm.action, { ...pgForm.fields, ...posted });
  const payForm = formOf(window.html, 'payForm');
  const issued = await postForm(new URL(payForm.action, n.pier.simulatorUrl).toString(), { txToken: payForm.fields.txToken!, action: 'pay', bankCode: '004' });
  const result = formOf(issued.html, 'tpayResult');
  const rsp = rspOf((await postForm(result.action, result.fields)).html);
  expect(rsp).toMatchObject({ ...expected, merchant_uid: merchantUid });
  return rsp as { imp_uid: string; merchant_uid: string };
}

/** request_pay (NICE, vbank) through Pier's checkout and NICE's window: the account issued, recorded ready */
async function issueNiceVbank(merchantUid: string, amount: number) {
  const { handOver } = await openNiceWindow(n, { pay_method: 'vbank', merchant_uid: merchantUid, amount, name: '나이스 가상계좌', buyer_name: '홍길동', buyer_tel: '010-1234-5678' });
  const { token: windowToken } = await niceWindowPage(n, handOver.params);
  const result = await submitNiceWindow(n, windowToken, { vbankCode: '004' });
  const rsp = rspOf((await postForm(result.action, result.fields)).html);
  expect(rsp).toMatchObject({ success: true, status: 'ready', merchant_uid: merchantUid });
  return rsp as { imp_uid: string; merchant_uid: string };
}

/** DELETE /vbanks/{imp_uid}: closed at the PG, recorded cancelled; PUT (settle only) is refused on it after */
async function revoke(impUid: string) {
  const res = await v1('DELETE', `/vbanks/${impUid}`);
  expect(res.body, JSON.stringify(res.body)).toMatchObject({ code: 0, response: { imp_uid: impUid, status: 'cancelled', paid_at: 0 } });
  const put = await v1('PUT', `/vbanks/${impUid}`, { vbank_due: Math.floor(n.pier.clock.now() / 1000) + 86400 });
  expect(put.body).toMatchObject({ code: 1, message: expect.stringContaining('(status: cancelled)') });
}

describe('tPay: a deposit into an account the merchant revoked', () => {
  it('the signed notice the simulator sends is recorded paid (note, `paid` webhook), answered received', async () => {
    const merchantUid = uid('tpay');
    const rsp = await issueTpayVbank(merchantUid, 17000);
    await revoke(rsp.imp_uid);
    const p = await payment(rsp.imp_uid);

    // the PG's bank takes the transfer into the closed account; tPay notifies Pier, signed in full
    const dep = await tpaySim('/__control/vbank/deposit', { tid: p.pg_tid, amount: 17000, depositorName: '홍길동', closedAccount: true });
    expect(dep.status, JSON.stringify(dep.body)).toBe(200);
    expect(dep.body).toMatchObject({ status: 'paid', notice: { delivered: true, status: 200 } });
    expect(JSON.parse(dep.body.notice.body)).toMatchObject({ result_cd: '0000', imp_uid: rsp.imp_uid });

    const after = await payment(rsp.imp_uid);
    expect(after).toMatchObject({ status: 'paid', amount: 17000, cancel_amount: 0, cancelled_at: 0, cancel_reason: null, merchant_uid: merchantUid });
    expect(after.paid_at).toBe(Math.floor(dep.body.depositedAt / 1000));
    expect(after.fail_reason).toContain('발급 취소');
    expect(await events(rsp.imp_uid)).toEqual(['ready:vbank_issued', 'paid:vbank_deposit']);
    // the order's merchant_uid, freed by the revoke, is the deposit's again: not paid twice by an API charge
    const dup = await v1('POST', '/subscribe/payments/onetime', { merchant_uid: merchantUid, amount: 17000, card_number: card, expiry: '2030-12' });
    expect(dup.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제가 이루어진 거래건입니다') });
    // the simulator sends the same notice again: nothing new
    const again = await tpaySim('/__control/vbank/notify', { tid: p.pg_tid });
    expect(again.body.notice).toMatchObject({ delivered: true, status: 200 });
    expect(await events(rsp.imp_uid)).toEqual(['ready:vbank_issued', 'paid:vbank_deposit']);
    // and the merchant can refund it (a vbank refund needs the buyer's account)
    const refund = await v1('POST', '/payments/cancel', { imp_uid: rsp.imp_uid, reason: '닫은 계좌에 입금', refund_holder: '홍길동', refund_bank: '004', refund_account: '12345678901234' });
    expect(refund.body, JSON.stringify(refund.body)).toMatchObject({ code: 0, response: { status: 'cancelled', cancel_amount: 17000 } });
  });

  it('when the order was paid again after the revoke, the deposit is recorded paid beside that payment, which keeps the merchant_uid', async () => {
    const merchantUid = uid('tpay_again');
    const rsp = await issueTpayVbank(merchantUid, 9000);
    await revoke(rsp.imp_uid);
    const paidAgain = await v1('POST', '/subscribe/payments/onetime', { merchant_uid: merchantUid, amount: 9000, card_number: card, expiry: '2030-12' });
    expect(paidAgain.body, JSON.stringify(paidAgain.body)).toMatchObject({ code: 0, response: { status: 'paid' } });
    const p = await payment(rsp.imp_uid);
    const dep = await tpaySim('/__control/vbank/deposit', { tid: p.pg_tid, amount: 9000, closedAccount: true });
    expect(dep.body.notice).toMatchObject({ delivered: true, status: 200 });
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'paid', amount: 9000 });
    const all = (await v1('GET', `/payments/findAll/${merchantUid}`)).body.response.list as Array<{ imp_uid: string; status: string }>;
    expect(all.map((x) => x.status).sort()).toEqual(['paid', 'paid']);
    const holder = await n.pier.deps.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid_lock', '=', merchantUid).execute();
    expect(holder.map((h) => h.imp_uid)).toEqual([paidAgain.body.response.imp_uid]);
  });

  it('a signed notice the PG does not confirm when asked (its books still show the account closed) changes no state: noted for an operator', async () => {
    const rsp = await issueTpayVbank(uid('tpay_unconfirmed'), 12000);
    await revoke(rsp.imp_uid);
    const p = await payment(rsp.imp_uid);
    // a notice built and signed as the simulator's sendNotice does, for a deposit tPay's books do not hold
    const registered = (await (await fetch(`${n.pier.simulatorUrl}/__control/notify-url?mid=${p.pg_id}`)).json()) as { url: string };
    const fields: Record<string, string> = {
      payMethod: 'VBANK', mid: p.pg_id, tid: p.pg_tid, moid: rsp.imp_uid, amt: '12000', resultCd: '4110', resultMsg: '가상계좌 입금 완료',
      depositDate: kstTimestamp14(n.pier.clock.now()), depositorName: '홍길동', vbankCode: p.vbank_code, vbankNum: p.vbank_num, ediDate: kstTimestamp14(n.pier.clock.now()),
    };
    fields.signature = depositNoticeSignature(JTNET_TEST_MIDS.find((t) => t.mid === p.pg_id)!.merchantKey, fields);
    const post = async (f: Record<string, string>) => {
      const res = await request(registered.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(f).toString() });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    // unsigned (a forger's): refused, nothing written
    expect(await post({ ...fields, signature: 'f'.repeat(64) })).toMatchObject({ status: 403, body: { reason: 'unverified' } });
    expect(await payment(rsp.imp_uid)).toMatchObject({ status: 'cancelled', fail_reason: null });
    // signed, but tPay's trans_search says the account is closed: not paid, the PG's word written on it
    expect(await post(fields)).toMatchObject({ status: 200, body: { result_cd: '0000', reason: 'not_open' } });
    const after = await payment(rsp.imp_uid);
    expect(after).toMatchObject({ status: 'cancelled', paid_at: 0, cancel_amount: 12000 });
    expect(after.fail_reason).toContain('12000원');
    expect(await events(rsp.imp_uid)).toEqual(['ready:vbank_issued']);
  });
});

describe('tPay: a deposit into an account Pier closed with its failed attempt (F1012)', () => {
  it('the signed notice is asked about at tPay and recorded paid with its account, the `paid` webhook; not answered 400 and dropped', async () => {
    const merchantUid = uid('tpay_f1012');
    // the deadline rewritten in the browser's form: tPay issues the account, Pier closes it at tPay (decision 0085)
    const rsp = await issueTpayVbank(merchantUid, 14000, { success: false, error_code: 'F1012' }, { vbankExpDate: '20991231' });
    const failed = await payment(rsp.imp_uid);
    expect(failed).toMatchObject({ status: 'failed', vbank_num: null });
    const dep = await tpaySim('/__control/vbank/deposit', { tid: failed.pg_tid, amount: 14000, closedAccount: true });
    expect(dep.status, JSON.stringify(dep.body)).toBe(200);
    expect(dep.body.notice).toMatchObject({ delivered: true, status: 200 });
    const after = await payment(rsp.imp_uid);
    expect(after).toMatchObject({ status: 'paid', amount: 14000, pay_method: 'vbank', vbank_code: '004', merchant_uid: merchantUid, fail_reason: null });
    expect(after.vbank_num).toMatch(/^\d{10,}$/);
    expect(await events(rsp.imp_uid)).toEqual(['paid:window']);
    // the same notice again: asked about once, nothing new
    expect((await tpaySim('/__control/vbank/notify', { tid: failed.pg_tid })).body.notice).toMatchObject({ delivered: true, status: 200 });
    expect(await events(rsp.imp_uid)).toEqual(['paid:window']);
  });
});

describe('NICE: a deposit into an account the merchant revoked', () => {
  it('NICE’s webhook, re-read from NICE, is recorded paid (note, `paid` webhook) instead of answered OK and dropped', async () => {
    const merchantUid = uid('nice');
    const rsp = await issueNiceVbank(merchantUid, 21000);
    await revoke(rsp.imp_uid);
    const p = await payment(rsp.imp_uid);
    const dep = await n.simPost('/__control/vbank/deposit', { tid: p.pg_tid, closedAccount: true });
    expect(dep.status, JSON.stringify(dep.body)).toBe(200);
    expect(dep.body).toMatchObject({ status: 'paid', tid: p.pg_tid });
    // NICE delivers its webhook after the deposit's answer: wait for Pier's answer to it
    const delivered = async () => {
      const l = (await (await fetch(`${n.simUrl}/__ledger?orderId=${rsp.imp_uid}`)).json()) as { webhooks: Array<{ status: string; deliveredAt: unknown; attempts: unknown }> };
      return l.webhooks.filter((w) => w.status === 'paid' && w.deliveredAt);
    };
    await vi.waitUntil(async () => (await delivered()).length > 0, { timeout: 10_000, interval: 20 });
    const after = await payment(rsp.imp_uid);
    expect(after).toMatchObject({ status: 'paid', amount: 21000, cancel_amount: 0, merchant_uid: merchantUid });
    expect(after.paid_at).toBeGreaterThan(0);
    expect(after.fail_reason).toContain('발급 취소');
    expect(await events(rsp.imp_uid)).toEqual(['ready:vbank_issued', 'paid:vbank_deposit']);
  });
});
