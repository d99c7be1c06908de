/**
 * NICE's webhooks replayed (decision 0082): a genuine signed body, captured once, posted again and
 * again to Pier's notify URL. NICE signs only tid, amount and ediDate (spec §6.4), so status,
 * orderId and the rest of a captured body can be rewritten and still verify. Pier in-process and
 * listening, the NICEPAY simulator over real HTTP; what Pier asked of NICE is counted at the
 * simulator (`GET /__control/calls`): `find` (by order id) and `payment` (by tid) are inquiries.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { channelById } from '../../src/core/merchants/channels.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { authenticateAtNice, startNicePier, type NicePier } from './nice-harness.js';

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
