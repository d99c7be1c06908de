/**
 * NICE's webhooks replayed (decision 0082): a genuine signed body, captured once, posted again and
 * again to Pier's notify URL. NICE signs only tid, amount and ediDate (spec §6.4), so status,
 * orderId and the rest of a captured body can be rewritten and still verify. Pier in-process and
 * listening, the NICEPAY simulator over real HTTP; what Pier asked of NICE is counted at the
 * simulator (`GET /__control/calls`): `find` (by order id) and `payment` (by tid) are inquiries.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { paymentSignature } from '../../src/connectors/nicepay/crypto.js';
import { addChannel, channelById } from '../../src/core/merchants/channels.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { authenticateAtNice, niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';

let n: NicePier;
let seq = 0;
const uid = (p: string) => `replay_${p}_${++seq}_${Date.now() % 100000}`;
const card = () => ({ cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
const order = (over: Record<string, unknown> = {}) => ({ pay_method: 'card', merchant_uid: uid('o'), name: '나이스 상품', amount: 12000, buyer_name: '홍길동', ...over });
const REPLAYS = 40;

beforeAll(async () => {
  n = await startNicePier();
});
afterAll(async () => {
  await n?.close();
});
beforeEach(async () => {
  expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: notifyUrl(n.channelId) })).status).toBe(200);
});

const notifyUrl = (channelId: string) => `${n.pierUrl}/checkout/pg/${channelId}/notify`;
const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
/** NICE's inquiries Pier made with this clientId since the last reset: lookups by order id and by tid */
const inquiries = async (clientId = n.clientId) => {
  const { calls } = (await (await fetch(`${n.simUrl}/__control/calls?clientId=${clientId}`)).json()) as { calls: Record<string, number> };
  return (calls.find ?? 0) + (calls.payment ?? 0);
};
const resetCalls = () => fetch(`${n.simUrl}/__control/calls`, { method: 'DELETE' });
/** the webhooks the simulator sent for an order, once each was answered (delivered) */
const deliveredWebhooks = async (orderId: string, count: number): Promise<Record<string, unknown>[]> =>
  waitFor(async () => {
    const { webhooks } = (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(orderId)}`)).json()) as { webhooks: { body: string; deliveredAt: unknown }[] };
    return webhooks.length >= count && webhooks.every((w) => w.deliveredAt) ? webhooks.map((w) => JSON.parse(w.body) as Record<string, unknown>) : null;
  }, 10_000, `${count} webhooks of ${orderId} delivered`) as Promise<Record<string, unknown>[]>;
const notify = async (body: Record<string, unknown>, channelId = n.channelId) => {
  const res = await fetch(notifyUrl(channelId), { method: 'POST', headers: { 'content-type': 'application/json;charset=utf-8' }, body: JSON.stringify(body) });
  return [res.status, await res.text()] as const;
};

async function paidByCard() {
  const o = order();
  const { result } = await authenticateAtNice(n, o, card());
  const rsp = rspOf((await postForm(result.action, result.fields)).html);
  expect(rsp).toMatchObject({ success: true, status: 'paid' });
  const impUid = rsp.imp_uid as string;
  const [paidHook] = await deliveredWebhooks(impUid, 1);
  expect(paidHook).toMatchObject({ tid: result.fields.tid, orderId: impUid, status: 'paid', amount: 12000 });
  return { impUid, tid: result.fields.tid!, paidHook: paidHook! };
}

describe('a genuine NICE webhook replayed', () => {
  it(`${REPLAYS} times one after another, then ${REPLAYS} at once, with its unsigned status rewritten: answered OK each time, one inquiry per status it can claim, nothing changes`, async () => {
    const { impUid, paidHook } = await paidByCard();
    await resetCalls();
    // as captured: Pier records the payment in the state it claims (same tid, status, amount): NICE is not asked
    for (let i = 0; i < REPLAYS; i++) expect(await notify(paidHook)).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(0);
    // status is not signed: claiming another state, the body makes Pier ask, once
    const rewritten = { ...paidHook, status: 'ready' };
    for (let i = 0; i < REPLAYS; i++) expect(await notify(rewritten)).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(1);
    // at once, with every status NICE has and one it has not: one inquiry for each status not asked about yet
    const statuses = ['ready', 'cancelled', 'partialCancelled', 'failed', 'expired', 'refunded', 'paid'];
    const atOnce = await Promise.all(Array.from({ length: REPLAYS }, (_, i) => notify({ ...paidHook, status: statuses[i % statuses.length] })));
    for (const answer of atOnce) expect(answer).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(1 + 4 + 1);
    // and again, any of them: nothing more
    for (const status of statuses) expect(await notify({ ...paidHook, status, cancelledTid: `${status}-x` })).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(6);
    expect(await row(impUid)).toMatchObject({ status: 'paid', cancel_amount: 0, amount: 12000 });
  });

  it("a cancel made at NICE (its console) is recorded from NICE's webhook; the old paid webhook replayed after it undoes nothing and asks NICE at most once", async () => {
    const { impUid, tid, paidHook } = await paidByCard();
    // cancelled at NICE, not through Pier: only NICE's webhook tells Pier
    const channel = (await channelById(n.pier.deps, n.channelId))!;
    const refund = await channel.connector.refund(channel.credentials, { pgTid: tid, moid: impUid, amount: 12000, partial: false, reason: '관리자 취소' });
    expect(refund).toMatchObject({ outcome: 'refunded' });
    const hooks = await deliveredWebhooks(impUid, 2);
    expect(hooks.map((h) => h.status)).toEqual(['paid', 'cancelled']);
    expect(await row(impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 12000 });

    await resetCalls();
    for (let i = 0; i < REPLAYS; i++) expect(await notify(paidHook)).toEqual([200, 'OK']);
    await Promise.all(Array.from({ length: REPLAYS }, () => notify(paidHook)));
    for (let i = 0; i < REPLAYS; i++) expect(await notify(hooks[1]!)).toEqual([200, 'OK']);
    expect(await inquiries()).toBeLessThanOrEqual(1);
    expect(await row(impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 12000 });
    const events = await n.pier.deps.store.db.selectFrom('webhook_events').select(['status']).where('imp_uid', '=', impUid).orderBy('created_at').execute();
    expect(events.map((e) => e.status)).toEqual(['paid', 'cancelled']);
  });

  it('while NICE cannot answer: answered RETRY (so NICE resends), without one inquiry per replay; asked again once NICE is back', async () => {
    const { impUid, paidHook } = await paidByCard();
    const rewritten = { ...paidHook, status: 'ready' };
    await n.simPost('/__control/faults', { op: 'find', kind: '5xx', when: 'before', count: 1000, clientId: n.clientId });
    try {
      await resetCalls();
      for (let i = 0; i < REPLAYS; i++) expect(await notify(rewritten)).toEqual([503, 'RETRY']);
      expect(await inquiries()).toBeLessThanOrEqual(1);
    } finally {
      await fetch(`${n.simUrl}/__control/faults`, { method: 'DELETE' });
    }
    // NICE's own retry comes a minute later and is read
    n.pier.clock.advance(60_000);
    expect(await notify(rewritten)).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(2);
    expect(await row(impUid)).toMatchObject({ status: 'paid' });
  });
});

describe('two channels on one NICE key pair (decision 0082)', () => {
  it("a deposit into another channel's virtual account, notified to the URL NICE has for the key, is recorded on that channel's payment", async () => {
    // another merchant (a sub-merchant of the same NICE contract) with a channel on the same key pair;
    // NICE calls one URL per key: the first channel's
    const other = await n.pier.newMerchant();
    const shared = await addChannel(n.pier.deps, other.merchantId, { provider: 'nice_v2', mid: n.clientId, merchantKey: n.secretKey, cancelPassword: '', kind: 'window', sandbox: true, name: 'NICE shared' });
    const o = order({ pay_method: 'vbank', amount: 23000 });
    const { handOver } = await openNiceWindow({ ...n, merchant: other }, o);
    const { token } = await niceWindowPage(n, handOver.params);
    const result = await submitNiceWindow(n, token, { vbankCode: '004' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    expect(rsp).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank' });
    const impUid = rsp.imp_uid as string;
    expect(await row(impUid)).toMatchObject({ channel_id: shared.id, merchant_id: other.merchantId, status: 'ready' });

    expect((await n.simPost('/__control/vbank/deposit', { tid: result.fields.tid, amount: 23000 })).status).toBe(200);
    await deliveredWebhooks(impUid, 2);
    const paid = await waitFor(async () => {
      const p = await row(impUid);
      return p.status === 'paid' && p;
    }, 10_000, "the deposit recorded on the other channel's payment");
    expect(paid).toMatchObject({ status: 'paid', channel_id: shared.id, amount: 23000 });
    const events = await n.pier.deps.store.db.selectFrom('webhook_events').select(['status', 'cause', 'merchant_id']).where('imp_uid', '=', impUid).orderBy('created_at').execute();
    expect(events).toEqual([
      { status: 'ready', cause: 'vbank_issued', merchant_id: other.merchantId },
      { status: 'paid', cause: 'vbank_deposit', merchant_id: other.merchantId },
    ]);
  });

  it("a channel naming another merchant's clientId with a secret of its own reaches none of that merchant's payments, and costs that key no inquiry", async () => {
    const { impUid, tid } = await paidByCard();
    // the clientId is public (every requestPay carries it); the secret is not
    const intruder = await n.pier.newMerchant();
    const forgedSecret = randomBytes(16).toString('hex');
    const foreign = await addChannel(n.pier.deps, intruder.merchantId, { provider: 'nice_v2', mid: n.clientId, merchantKey: forgedSecret, cancelPassword: '', kind: 'window', sandbox: true, name: 'NICE intruder' });
    const ediDate = '2026-12-07T12:00:00.000+0900';
    const forged = { resultCode: '0000', tid, orderId: impUid, amount: 12000, status: 'cancelled', ediDate, signature: paymentSignature({ tid, amount: 12000, ediDate }, forgedSecret) };
    await resetCalls();
    for (let i = 0; i < 10; i++) expect(await notify(forged, foreign.id)).toEqual([200, 'OK']);
    expect(await inquiries()).toBe(0);
    expect(await row(impUid)).toMatchObject({ status: 'paid', cancel_amount: 0 });
  });
});
