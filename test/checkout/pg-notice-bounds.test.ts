/**
 * What an attacker posting to the PG notify route can cost, and whom (decision 0087). Pier
 * listening, the NICEPAY simulator over real HTTP delivering NICE's own webhooks; the attacker
 * posts over real HTTP too.
 *
 *  - one client address (behind PIER_TRUST_PROXY: the X-Forwarded-For the proxy sets) gets its
 *    allowance of posts a window, then `429 RETRY` before its body is read; other addresses, NICE's
 *    among them, are served meanwhile;
 *  - genuine NICE bodies replayed with their unsigned status rewritten, many of them: they cannot keep
 *    a genuine notice from being asked about, neither a deposit into an account Pier holds open nor a
 *    cancel made at NICE, and a body made before Pier's last read of its payment asks NICE nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { paymentSignature } from '../../src/connectors/nicepay/crypto.js';
import { channelById } from '../../src/core/merchants/channels.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { authenticateAtNice, niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';

let n: NicePier;
let seq = 0;
const uid = (p: string) => `bounds_${p}_${++seq}_${Date.now() % 100000}`;
const card = () => ({ cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
const order = (over: Record<string, unknown> = {}) => ({ pay_method: 'card', merchant_uid: uid('o'), name: '나이스 상품', amount: 12000, buyer_name: '홍길동', ...over });
/** every status a replayer can write into a paid card payment's body but its own: NICE's five others and one it has not */
const REWRITES = ['ready', 'cancelled', 'partialCancelled', 'failed', 'expired', 'refunded'];

beforeAll(async () => {
  n = await startNicePier();
});
afterAll(async () => {
  await n?.close();
});

const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
/** NICE's inquiries Pier made with this clientId since the last reset: lookups by order id and by tid */
const inquiries = async () => {
  const { calls } = (await (await fetch(`${n.simUrl}/__control/calls?clientId=${n.clientId}`)).json()) as { calls: Record<string, number> };
  return (calls.find ?? 0) + (calls.payment ?? 0);
};
const resetCalls = () => fetch(`${n.simUrl}/__control/calls`, { method: 'DELETE' });
interface Delivery {
  body: Record<string, unknown>;
  attempts: number;
  deliveredAt: number | null;
}
/** NICE's webhooks of an order as the simulator sent them, once `count` of them are answered */
const deliveredWebhooks = async (orderId: string, count: number): Promise<Delivery[]> =>
  waitFor(async () => {
    const { webhooks } = (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(orderId)}`)).json()) as { webhooks: { body: string; attempts: number; deliveredAt: number | null; lastError: string | null }[] };
    if (webhooks.length < count) return null;
    // a delivery answered with anything but OK: NICE would send it again a minute later
    if (webhooks.some((w) => !w.deliveredAt && w.lastError)) return webhooks.map((w) => ({ body: JSON.parse(w.body), attempts: w.attempts, deliveredAt: w.deliveredAt }));
    return webhooks.every((w) => w.deliveredAt) ? webhooks.map((w) => ({ body: JSON.parse(w.body), attempts: w.attempts, deliveredAt: w.deliveredAt })) : null;
  }, 10_000, `${count} webhooks of ${orderId} answered`) as Promise<Delivery[]>;

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json;charset=utf-8', ...headers }, body });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

async function paidByCard() {
  const o = order();
  const { result } = await authenticateAtNice(n, o, card());
  const rsp = rspOf((await postForm(result.action, result.fields)).html);
  expect(rsp).toMatchObject({ success: true, status: 'paid' });
  const impUid = rsp.imp_uid as string;
  const [paidHook] = await deliveredWebhooks(impUid, 1);
  expect(paidHook).toMatchObject({ attempts: 1, deliveredAt: expect.any(Number), body: { orderId: impUid, status: 'paid' } });
  return { impUid, tid: result.fields.tid!, paidHook: paidHook!.body };
}

async function issuedAccount() {
  const { handOver } = await openNiceWindow(n, order({ pay_method: 'vbank', amount: 23000 }));
  const { token } = await niceWindowPage(n, handOver.params);
  const result = await submitNiceWindow(n, token, { vbankCode: '004' });
  const rsp = rspOf((await postForm(result.action, result.fields)).html);
  expect(rsp).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank' });
  return { impUid: rsp.imp_uid as string, tid: result.fields.tid! };
}

/** The replayer's flood: each body posted once with each status it can be rewritten to, all at once. */
async function replay(bodies: Record<string, unknown>[], notifyUrl: string) {
  return Promise.all(bodies.flatMap((b) => REWRITES.map((status) => post(notifyUrl, JSON.stringify({ ...b, status })))));
}

describe('one address posting to the notify route', () => {
  const ALLOWANCE = 25;
  let limited: PierApp;
  let url: string;

  beforeAll(async () => {
    // Pier behind a reverse proxy on loopback (PIER_TRUST_PROXY): the proxy's X-Forwarded-For is the client
    limited = await buildApp(n.pier.deps, { bodyLimit: 64 * 1024, publicUrl: 'http://127.0.0.1', trustProxy: '127.0.0.1', pgNoticeRateLimit: { limit: ALLOWANCE, windowSeconds: 60 } });
    url = `${await limited.listen({ host: '127.0.0.1', port: 0 })}/checkout/pg/${n.channelId}/notify`;
    // NICE's webhooks go to this Pier too; they come from the simulator's own address, without the header
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url })).status).toBe(200);
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('gets its allowance a window, then 429 RETRY with Retry-After before its body is read; NICE and other addresses are served meanwhile; next window it is served again', async () => {
    const refusedLines = () => n.pier.logs().split('\n').filter((l) => l.includes('"PG notice refused"')).length;
    const before = refusedLines();
    const ediDate = '2026-12-07T12:00:00.000+0900';
    const forged = JSON.stringify({ resultCode: '0000', tid: 'nictest00m0101261207120000A001', orderId: 'imp_000000000001', amount: 1000, status: 'paid', ediDate, signature: paymentSignature({ tid: 'x', amount: 1000, ediDate }, randomBytes(16).toString('hex')) });
    const attacker = { 'x-forwarded-for': '203.0.113.7' };

    const answers = [];
    for (let i = 0; i < ALLOWANCE + 40; i++) answers.push(await post(url, forged, attacker));
    // verified (and refused: NICE's answer either way, a forged body changes nothing and is not worth a resend)
    expect(answers.slice(0, ALLOWANCE).map((a) => [a.status, a.text])).toEqual(Array(ALLOWANCE).fill([200, 'OK']));
    expect(answers.slice(ALLOWANCE).map((a) => [a.status, a.text])).toEqual(Array(40).fill([429, 'RETRY']));
    expect(Number(answers.at(-1)!.retryAfter)).toBeGreaterThan(0);
    expect(Number(answers.at(-1)!.retryAfter)).toBeLessThanOrEqual(60);
    // only the allowance was parsed and verified
    expect(refusedLines() - before).toBe(ALLOWANCE);
    // a body that would not even parse is refused the same: it is never read
    expect(await post(url, '{"not json', attacker)).toMatchObject({ status: 429, text: 'RETRY' });

    // the attacker's posts used up nobody else's allowance: NICE's own webhook of a new payment is answered OK at once
    const { impUid } = await paidByCard();
    expect(await row(impUid)).toMatchObject({ status: 'paid' });
    expect(await post(url, forged, { 'x-forwarded-for': '198.51.100.20' })).toMatchObject({ status: 200, text: 'OK' });

    // an IPv6 client counts by its /64: its other addresses share the allowance, the next /64 does not
    for (let i = 0; i < ALLOWANCE; i++) expect((await post(url, forged, { 'x-forwarded-for': `2001:db8:1:2::${(i + 1).toString(16)}` })).status).toBe(200);
    expect(await post(url, forged, { 'x-forwarded-for': '2001:db8:1:2:ffff:ffff:ffff:ffff' })).toMatchObject({ status: 429, text: 'RETRY' });
    expect(await post(url, forged, { 'x-forwarded-for': '2001:db8:1:3::1' })).toMatchObject({ status: 200, text: 'OK' });

    // bounded, not banned: the next window serves the address again
    n.pier.clock.advance(60_000);
    expect(await post(url, forged, attacker)).toMatchObject({ status: 200, text: 'OK' });
  });
});

describe('genuine NICE bodies replayed with their status rewritten', () => {
  // enough bodies that their rewrites outnumber a channel's burst of inquiries (60) several times over
  const BODIES = 12;

  it("cannot hold back NICE's deposit notice of an account Pier holds open: it is recorded at its first delivery", async () => {
    const notifyUrl = `${n.pierUrl}/checkout/pg/${n.channelId}/notify`;
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: notifyUrl })).status).toBe(200);
    const bodies = [];
    for (let i = 0; i < BODIES; i++) bodies.push((await paidByCard()).paidHook);
    const account = await issuedAccount();
    await deliveredWebhooks(account.impUid, 1);

    // fresh bodies, made at the same instant as Pier's reads of them (the clock stands still): each rewrite asks NICE
    await resetCalls();
    const flood = await replay(bodies, notifyUrl);
    // the channel's burst is spent: the rest are answered RETRY, unasked
    expect(flood.filter((a) => a.status === 503 && a.text === 'RETRY')).not.toHaveLength(0);
    expect(await inquiries()).toBeLessThanOrEqual(60);

    // the buyer pays into the account: NICE's notice is asked about and recorded at once, not resent
    expect((await n.simPost('/__control/vbank/deposit', { tid: account.tid, amount: 23000 })).status).toBe(200);
    const hooks = await deliveredWebhooks(account.impUid, 2);
    expect(hooks[1]).toMatchObject({ attempts: 1, deliveredAt: expect.any(Number), body: { status: 'paid' } });
    expect(await row(account.impUid)).toMatchObject({ status: 'paid', amount: 23000 });
  });

  it("made before Pier's last read of their payments, they ask NICE once per payment whatever they claim; a cancel made at NICE afterwards is recorded at its first delivery", async () => {
    const notifyUrl = `${n.pierUrl}/checkout/pg/${n.channelId}/notify`;
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: notifyUrl })).status).toBe(200);
    // the channel's inquiries have refilled since the last test's flood
    n.pier.clock.advance(120_000);
    const paid = [];
    for (let i = 0; i < BODIES; i++) paid.push(await paidByCard());
    // captured bodies are old by the time they are replayed (past 0082's hour of remembered messages too)
    n.pier.clock.advance(2 * 3600_000);

    await resetCalls();
    // one at a time, then all again at once: the first rewrite of each payment reads it, the rest are older than that read
    const oneByOne = [];
    for (const p of paid) for (const status of REWRITES) oneByOne.push(await post(notifyUrl, JSON.stringify({ ...p.paidHook, status })));
    expect(await inquiries()).toBe(BODIES);
    expect(oneByOne.every((a) => a.status === 200 && a.text === 'OK')).toBe(true);
    const again = await replay(paid.map((p) => p.paidHook), notifyUrl);
    expect(again.every((a) => a.status === 200 && a.text === 'OK')).toBe(true);
    expect(await inquiries()).toBe(BODIES);
    for (const p of paid) expect(await row(p.impUid)).toMatchObject({ status: 'paid', cancel_amount: 0 });

    // a real new event: a cancel made in NICE's admin, which only NICE's webhook tells Pier
    const target = paid[0]!;
    const channel = (await channelById(n.pier.deps, n.channelId))!;
    expect(await channel.connector.refund(channel.credentials, { pgTid: target.tid, moid: target.impUid, amount: 12000, partial: false, reason: '관리자 취소' })).toMatchObject({ outcome: 'refunded' });
    const hooks = await deliveredWebhooks(target.impUid, 2);
    expect(hooks[1]).toMatchObject({ attempts: 1, deliveredAt: expect.any(Number), body: { status: 'cancelled' } });
    expect(await row(target.impUid)).toMatchObject({ status: 'cancelled', cancel_amount: 12000 });
  });
});
