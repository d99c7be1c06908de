/**
 * Attacks on the buyer's-browser path of NICE's payment window (Server 승인) that
 * nice-window-money-safety.test.ts does not make: a result moved to another session (decision
 * 0078), a post racing Pier's approve, the buyer's retry after an approve timed out, results after
 * the order was paid otherwise or the session ended, billing-key fields, bodies no browser sends, a
 * rewritten webhook. Pier in-process and listening, the NICEPAY simulator over real HTTP
 * (nice-harness.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { addChannel } from '../../src/core/merchants/channels.js';
import { lockHolder } from '../../src/core/payments/attempts.js';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { authenticateAtNice, startNicePier, type NicePier } from './nice-harness.js';

let n: NicePier;
let seq = 0;
const uid = (p: string) => `niceatk_${p}_${++seq}_${Date.now() % 100000}`;
const card = (lastFour = '4242') => ({ cardNo: testCardNumber({ kftcCode: '366', lastFour }), cardExpiry: '12/30', cardQuota: '0' });
const order = (over: Record<string, unknown> = {}) => ({ pay_method: 'card', merchant_uid: uid('o'), name: '나이스 상품', amount: 12000, buyer_name: '홍길동', ...over });

beforeAll(async () => {
  n = await startNicePier({ readTimeoutMs: 1500, slowResponseMs: 8_000 });
});
afterAll(async () => {
  await n?.close();
});

const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
const drainConfirms = () => new JobRunner({ queues: [windowConfirmQueue(n.pier.deps)], logger: n.pier.deps.logger }).drain();
const confirmStates = async (impUid: string) =>
  (await n.pier.deps.store.db.selectFrom('window_confirms').select(['pg_tid', 'state']).where('imp_uid', '=', impUid).execute()).map((r) => [r.pg_tid, r.state]);
const niceLedger = async (orderId: string) => (await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(orderId)}`)).json()) as { payments: any[] };

describe('an auth result moved to another session (same channel and amount: the returnUrl signature binds neither tid nor orderId)', () => {
  it('on one merchant_uid: Pier’s approve charges the other window’s order; this attempt fails at once, and that order, posted back, is recorded paid holding the merchant_uid', async () => {
    const o = order();
    // two windows on one merchant_uid (decision 0058), both authenticated, neither approved yet
    const a = await authenticateAtNice(n, o, card('1111'));
    const b = await authenticateAtNice(n, o, card('2222'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    const moved = rspOf((await postForm(b.result.action, { ...a.result.fields, orderId: bImp })).html);
    expect(moved).toMatchObject({ success: false, imp_uid: bImp, error_code: 'F1007' });
    // NICE approves by tid: it charged A's order, not B's
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status, p.amount])).toEqual([[a.result.fields.tid, 'paid', 12000]]);
    expect((await niceLedger(bImp)).payments).toEqual([]);
    // B charged nothing: it holds the merchant_uid no more
    expect(await row(bImp)).toMatchObject({ status: 'failed', pg_state: 'done', merchant_uid_lock: null });
    // A's own result comes back: NICE says its tid is spent (U114), asked by order it holds A's approval: paid
    const own = rspOf((await postForm(a.result.action, a.result.fields)).html);
    expect(own).toMatchObject({ success: true, status: 'paid', imp_uid: aImp, paid_amount: 12000 });
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    await drainConfirms();
    expect(await confirmStates(aImp)).toEqual([[a.result.fields.tid, 'done']]);
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: aImp, status: 'paid' });
    expect((await niceLedger(aImp)).payments).toHaveLength(1);
  });

  it('whose own result never comes back: the acknowledgement row written for the charged order records it paid, with its `paid` webhook, at once', async () => {
    const a = await authenticateAtNice(n, order({ amount: 15000 }), card('3333'));
    const b = await authenticateAtNice(n, order({ amount: 15000 }), card('4444'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    expect(rspOf((await postForm(b.result.action, { ...a.result.fields, orderId: bImp })).html)).toMatchObject({ success: false, imp_uid: bImp, error_code: 'F1007' });
    await drainConfirms();
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_state: 'done', pg_tid: a.result.fields.tid, amount: 15000 });
    expect(await row(bImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    const events = await n.pier.deps.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', 'in', [aImp, bImp]).execute();
    expect(events.map((e) => `${e.status}:${e.cause}`)).toEqual(['paid:window']);
  });

  it('whose approve answer is lost (timeout) on one merchant_uid: the other window, refused the merchant_uid, is asked about again, and NICE’s charge of it is recorded', async () => {
    // amounts ending 998: the simulator records the approval, then holds the answer past Pier's read timeout
    const o = order({ amount: 10998 });
    const a = await authenticateAtNice(n, o, card('5555'));
    const b = await authenticateAtNice(n, o, card('6666'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    expect(rspOf((await postForm(b.result.action, { ...a.result.fields, orderId: bImp })).html)).toMatchObject({ success: false, imp_uid: bImp, error_code: 'F1007' });
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status])).toEqual([[a.result.fields.tid, 'paid']]);
    // B waits in doubt holding the merchant_uid (Pier never read which order NICE charged)
    expect(await row(bImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: o.merchant_uid });
    // A's own result: refused the merchant_uid B holds; Pier approves nothing for it
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp });
    expect(await row(aImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    // reconciliation finds nothing for B's order and fails it; then A's recheck asks NICE about A's order
    n.pier.clock.advance(31 * 60_000 + 2 * n.pier.deps.connectors.maxCallMs());
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[bImp]).toBe('failed');
    await drainConfirms();
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: aImp, status: 'paid' });
    expect((await niceLedger(aImp)).payments).toHaveLength(1);
  });

  it('whose approve answer is lost, then the merchant prepares another amount: the other window, refused for that amount, is asked about again, and NICE’s charge of it refunded', async () => {
    const o = order({ amount: 11998 });
    const a = await authenticateAtNice(n, o, card('7777'));
    const b = await authenticateAtNice(n, o, card('8888'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    expect(rspOf((await postForm(b.result.action, { ...a.result.fields, orderId: bImp })).html)).toMatchObject({ success: false, imp_uid: bImp, error_code: 'F1007' });
    expect((await niceLedger(aImp)).payments.map((p) => p.status)).toEqual(['paid']);
    // the merchant registers another amount for the order while both windows are open
    const token = (await n.pier.call('POST', '/users/getToken', { body: { imp_key: n.merchant.impKey, imp_secret: n.merchant.impSecret } })).body.response.access_token;
    expect((await n.pier.call('POST', '/payments/prepare', { token, body: { merchant_uid: o.merchant_uid, amount: 20000 } })).body.code).toBe(0);
    // A's own result: Pier approves nothing for an amount no longer prepared
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1003' });
    n.pier.clock.advance(31 * 60_000 + 2 * n.pier.deps.connectors.maxCallMs());
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[bImp]).toBe('failed');
    await drainConfirms();
    // what NICE charged for A is refunded there, and A stays failed at Pier with the prepared-amount reason
    expect((await niceLedger(aImp)).payments.map((p) => [p.status, p.balanceAmt])).toEqual([['cancelled', 0]]);
    expect(await row(aImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect((await row(aImp)).fail_reason).toMatch(/^\[F1003\]/);
  });

  it('across merchants sharing one NICE key pair (sub-merchants of one contract, the sandbox pair): the order NICE charged, another merchant’s, is recorded paid there at once', async () => {
    const other = await n.pier.newMerchant();
    await addChannel(n.pier.deps, other.merchantId, { provider: 'nice_v2', mid: n.clientId, merchantKey: n.secretKey, cancelPassword: '', kind: 'window', sandbox: true, name: 'NICE window (shared pair)' });
    const a = await authenticateAtNice(n, order({ amount: 14000 }), card('9191'));
    const b = await authenticateAtNice({ ...n, merchant: other }, order({ amount: 14000 }), card('9292'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    expect(rspOf((await postForm(b.result.action, { ...a.result.fields, orderId: bImp })).html)).toMatchObject({ success: false, imp_uid: bImp, error_code: 'F1007' });
    await drainConfirms();
    expect(await row(aImp)).toMatchObject({ merchant_id: n.merchant.merchantId, status: 'paid', pg_tid: a.result.fields.tid, amount: 14000 });
    expect(await row(bImp)).toMatchObject({ merchant_id: other.merchantId, status: 'failed', merchant_uid_lock: null });
    expect((await niceLedger(bImp)).payments).toEqual([]);
  });

  it('posted at once to its own window and, moved, to another on the same merchant_uid: whichever claims first, NICE charges once and that charge ends recorded paid on its own order', async () => {
    const o = order({ amount: 16000 });
    const a = await authenticateAtNice(n, o, card('2424'));
    const b = await authenticateAtNice(n, o, card('2525'));
    const aImp = a.result.fields.orderId!;
    const bImp = b.result.fields.orderId!;
    const [own, moved] = await Promise.all([postForm(a.result.action, a.result.fields), postForm(b.result.action, { ...a.result.fields, orderId: bImp })]);
    expect(rspOf(moved.html)).toMatchObject({ success: false, imp_uid: bImp });
    expect(rspOf(own.html).imp_uid).toBe(aImp);
    await drainConfirms();
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    expect(await row(bImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status])).toEqual([[a.result.fields.tid, 'paid']]);
    expect((await niceLedger(bImp)).payments).toEqual([]);
  });
});

describe('a result after the order was paid by another route, or after the session ended (withstood; the recheck is decision 0078\'s)', () => {
  it('paid by a REST charge while the window was authenticated: the result is refused F1002, NICE never approves it, and the recheck written then finds nothing to record', async () => {
    const o = order({ amount: 9000 });
    const a = await authenticateAtNice(n, o, card('1212'));
    const aImp = a.result.fields.orderId!;
    await addChannel(n.pier.deps, n.merchant.merchantId, { provider: 'nice_v2', mid: n.clientId, merchantKey: n.secretKey, cancelPassword: '', kind: 'api', sandbox: true, name: 'NICE api' });
    const token = (await n.pier.call('POST', '/users/getToken', { body: { imp_key: n.merchant.impKey, imp_secret: n.merchant.impSecret } })).body.response.access_token;
    const rest = await n.pier.call('POST', '/subscribe/payments/onetime', {
      token,
      body: { pg: n.pg, merchant_uid: o.merchant_uid, amount: 9000, card_number: testCardNumber({ kftcCode: '366', lastFour: '3434' }), expiry: '2030-12', birth: '900101' },
    });
    expect(rest.body).toMatchObject({ code: 0, response: { status: 'paid', merchant_uid: o.merchant_uid } });
    const restImp = rest.body.response.imp_uid as string;
    const refused = rspOf((await postForm(a.result.action, a.result.fields)).html);
    expect(refused).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1002' });
    expect((await niceLedger(aImp)).payments).toEqual([]);
    expect(await confirmStates(aImp)).toEqual([['', 'pending']]);
    n.pier.clock.advance(31 * 60_000);
    await drainConfirms();
    expect(await confirmStates(aImp)).toEqual([['', 'done']]);
    expect(await row(aImp)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    expect((await niceLedger(aImp)).payments).toEqual([]);
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toMatchObject({ imp_uid: restImp, status: 'paid' });
  });

  it('an authentication posted after the abandoned attempt was reconciled failed is never approved: nothing charged at NICE', async () => {
    const o = order({ amount: 8000 });
    const a = await authenticateAtNice(n, o, card('2323'));
    const aImp = a.result.fields.orderId!;
    // the buyer's browser holds the result past the session's lifetime; the sweep hands the attempt to reconciliation
    n.pier.clock.advance(31 * 60_000);
    await releaseAbandonedWindows(n.pier.deps);
    n.pier.clock.advance(2 * n.pier.deps.connectors.maxCallMs() + 60_000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[aImp]).toBe('failed');
    const late = rspOf((await postForm(a.result.action, a.result.fields)).html);
    expect(late).toMatchObject({ success: false, imp_uid: aImp, status: 'failed' });
    expect((await niceLedger(aImp)).payments).toEqual([]);
    expect(await row(aImp)).toMatchObject({ status: 'failed', pg_tid: null, merchant_uid_lock: null });
  });
});

describe('posts racing Pier’s approve', () => {
  it('a forged cancel (I002) posted while Pier’s approve is in flight neither fails the attempt nor frees its merchant_uid: another window on the order is not approved meanwhile', async () => {
    const o = order({ amount: 13000 });
    const a = await authenticateAtNice(n, o, card('4141'));
    const aImp = a.result.fields.orderId!;
    const other = await authenticateAtNice(n, o, card('4242'));
    // NICE holds Pier's approve unprocessed until Pier gives up on it (outcome unknown to Pier)
    expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'timeout', when: 'before', clientId: n.clientId })).status).toBe(200);
    const genuine = postForm(a.result.action, a.result.fields);
    await waitFor(async () => (await row(aImp)).pg_tid === a.result.fields.tid, 5_000, 'the attempt to be claimed for the approve');
    // NICE does not sign a cancel, and NICE holds nothing for the order yet
    const forged = rspOf((await postForm(a.result.action, { authResultCode: 'I002', authResultMsg: '사용자가 결제를 취소하였습니다.' })).html);
    expect(forged).toMatchObject({ success: false, imp_uid: aImp });
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: o.merchant_uid });
    // the other window's result: Pier does not approve it while its own approve of the order may charge
    expect(rspOf((await postForm(other.result.action, other.result.fields)).html)).toMatchObject({ success: false, error_code: 'F1004' });
    expect((await niceLedger(other.result.fields.orderId!)).payments).toEqual([]);
    expect(rspOf((await genuine).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    // NICE never processed it: reconciliation fails it and frees the order
    n.pier.clock.advance(5 * 60_000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[aImp]).toBe('failed');
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toBeUndefined();
  });
});

const netCancels = new Map<string, number>();
/** net-cancels reconciliation sent for an order while withNetCancelHook ran */
const netCancelsOf = (impUid: string) => netCancels.get(impUid) ?? 0;

/**
 * Runs `between` when reconciliation sends its net-cancel of an attempt it is about to give up
 * (`before`), or once NICE has answered it (`after`): a result post landing between
 * reconciliation's read of the attempt and its write, injected there rather than raced by timing.
 */
async function withNetCancelHook<T>(at: 'inquired' | 'before' | 'after', impUid: string, between: () => Promise<void>, run: () => Promise<T>): Promise<T> {
  const registry = n.pier.deps.connectors;
  let inquired = false;
  const hooked = new Proxy(registry, {
    get(target, prop, receiver) {
      if (prop !== 'get') return Reflect.get(target, prop, receiver);
      return (provider: string) => {
        const c = target.get(provider);
        if (!c || provider !== 'nice_v2' || !c.voidUnknownAttempt) return c;
        const w = Object.create(c) as typeof c;
        // `inquired`: once reconciliation's own inquiry about the attempt is answered (the post's
        // inquiries, made inside `between`, pass through)
        w.inquire = async (channel, q) => {
          const answer = await c.inquire(channel, q);
          if (at === 'inquired' && q.moid === impUid && !inquired) {
            inquired = true;
            await between();
          }
          return answer;
        };
        w.voidUnknownAttempt = async (channel, q) => {
          netCancels.set(q.moid, (netCancels.get(q.moid) ?? 0) + 1);
          if (q.moid !== impUid) return c.voidUnknownAttempt!(channel, q);
          if (at === 'before') await between();
          const answer = await c.voidUnknownAttempt!(channel, q);
          if (at === 'after') await between();
          return answer;
        };
        return w;
      };
    },
  });
  n.pier.deps.connectors = hooked;
  try {
    return await run();
  } finally {
    n.pier.deps.connectors = registry;
  }
}

describe('a result posted while reconciliation gives up an attempt it found NICE holds nothing for (decision 0101)', () => {
  // the first post's signature garbled (by the browser, or rewritten): the attempt waits in doubt
  // without a tid, and the genuine result, posted again, may still claim it for Pier's approve
  const leftInDoubt = async (o: Record<string, unknown>, lastFour: string) => {
    const a = await authenticateAtNice(n, o, card(lastFour));
    const garbled = { ...a.result.fields, signature: a.result.fields.signature!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) };
    expect(rspOf((await postForm(a.result.action, garbled)).html)).toMatchObject({ success: false, error_code: 'F1007' });
    expect(await row(a.result.fields.orderId!)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: null });
    // past reconciliation's grace, within NICE's time to approve an authentication
    n.pier.clock.advance(5 * 60_000);
    return a;
  };

  it('claimed for Pier’s approve after reconciliation asked NICE about it: no net-cancel is sent, and it stays in doubt holding its merchant_uid, so another window on the order is not approved while that approve may charge', async () => {
    const o = order({ amount: 15000 });
    const a = await leftInDoubt(o, '5151');
    const aImp = a.result.fields.orderId!;
    // another window on the order (the first holds no merchant_uid until its approval: decision 0058)
    const other = await authenticateAtNice(n, o, card('5252'));
    let genuine: ReturnType<typeof postForm> | undefined;
    const outcome = await withNetCancelHook('inquired', aImp, async () => {
      // NICE holds Pier's approve unanswered
      expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'timeout', when: 'before', clientId: n.clientId })).status).toBe(200);
      genuine = postForm(a.result.action, a.result.fields);
      await waitFor(async () => (await row(aImp)).pg_tid === a.result.fields.tid, 5_000, 'the attempt to be claimed for the approve');
    }, () => reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }));
    // read before the claim, NICE holding nothing: that says nothing of the approve made since
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    expect(outcome[aImp]).toBe('unknown');
    expect(netCancelsOf(aImp)).toBe(0);
    expect(rspOf((await postForm(other.result.action, other.result.fields)).html)).toMatchObject({ success: false, error_code: 'F1004' });
    expect((await niceLedger(other.result.fields.orderId!)).payments).toEqual([]);
    await n.simPost('/__control/holds/release', {});
    expect(rspOf((await genuine!).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    // the approve's answer lost: reconciliation asks again after its grace; NICE never processed it
    n.pier.clock.advance(5 * 60_000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[aImp]).toBe('failed');
    expect((await niceLedger(aImp)).payments.filter((p) => p.status === 'paid')).toEqual([]);
    expect(await lockHolder(n.pier.deps, n.merchant.merchantId, o.merchant_uid)).toBeUndefined();
  });
});

describe('a result posted around reconciliation’s net-cancel of an attempt NICE held nothing for (decision 0110)', () => {
  const leftInDoubt = async (o: Record<string, unknown>, lastFour: string) => {
    const a = await authenticateAtNice(n, o, card(lastFour));
    const garbled = { ...a.result.fields, signature: a.result.fields.signature!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) };
    expect(rspOf((await postForm(a.result.action, garbled)).html)).toMatchObject({ success: false, error_code: 'F1007' });
    n.pier.clock.advance(5 * 60_000);
    return a;
  };
  const webhooksOf = async (impUid: string) =>
    (await n.pier.deps.store.db.selectFrom('webhook_events').select(['status']).where('imp_uid', '=', impUid).execute()).map((e) => e.status);

  it('posted while the net-cancel is in flight: not approved (answered “being confirmed”), so the net-cancel reverses nothing the buyer was told is paid; the attempt fails, nothing charged', async () => {
    const o = order({ amount: 16000 });
    const a = await leftInDoubt(o, '6161');
    const aImp = a.result.fields.orderId!;
    let posted: unknown;
    const outcome = await withNetCancelHook('before', aImp, async () => {
      posted = rspOf((await postForm(a.result.action, a.result.fields)).html);
    }, () => reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }));
    expect(posted).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    expect(outcome[aImp]).toBe('failed');
    expect(await row(aImp)).toMatchObject({ status: 'failed', pg_state: 'done', pg_tid: null, cancel_amount: 0, merchant_uid_lock: null });
    // NICE charged nothing and reversed nothing; the merchant was told nothing was paid
    expect((await niceLedger(aImp)).payments).toEqual([]);
    expect(await webhooksOf(aImp)).toEqual([]);
    // the buyer's browser posts the result again: the attempt is over, Pier approves nothing
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp });
    expect((await niceLedger(aImp)).payments).toEqual([]);
  });

  it('approved and recorded paid between reconciliation’s inquiry and its net-cancel: no net-cancel is sent, and the payment stays paid at Pier as at NICE', async () => {
    const o = order({ amount: 16500 });
    const a = await leftInDoubt(o, '6262');
    const aImp = a.result.fields.orderId!;
    const outcome = await withNetCancelHook('inquired', aImp, async () => {
      expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: true, imp_uid: aImp, status: 'paid' });
    }, () => reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }));
    expect(netCancelsOf(aImp)).toBe(0);
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status, p.balanceAmt])).toEqual([[a.result.fields.tid, 'paid', 16500]]);
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_tid: a.result.fields.tid, cancel_amount: 0, merchant_uid_lock: o.merchant_uid });
    expect(await webhooksOf(aImp)).toEqual(['paid']);
    // this pass settled nothing: the attempt is what the post made it
    expect(outcome[aImp]).toBe('unknown');
  });

  it('an approval NICE made after answering “nothing”, reversed by the net-cancel: recorded paid with its refund (paid and cancelled webhooks), not failed as “no record”', async () => {
    const o = order({ amount: 16800 });
    const a = await leftInDoubt(o, '6565');
    const aImp = a.result.fields.orderId!;
    const tid = a.result.fields.tid!;
    const outcome = await withNetCancelHook('before', aImp, async () => {
      // an approve of this authentication NICE applies only now (an earlier call whose answer was
      // lost, held at NICE): sent straight to NICE, as that call reached it
      const approved = await fetch(`${n.simUrl}/v1/payments/${tid}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${n.clientId}:${n.secretKey}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 16800 }),
      });
      expect(((await approved.json()) as { resultCode: string }).resultCode).toBe('0000');
    }, () => reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }));
    // NICE charged the buyer and reversed it: Pier's record says the same
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status, p.balanceAmt])).toEqual([[tid, 'cancelled', 0]]);
    expect(outcome[aImp]).toBe('cancelled');
    expect(await row(aImp)).toMatchObject({ status: 'cancelled', pg_state: 'done', pg_tid: tid, amount: 16800, cancel_amount: 16800, cancel_pending_amount: 0, fail_reason: null });
    const history = await n.pier.deps.store.db.selectFrom('payment_cancels').select(['amount', 'state']).where('imp_uid', '=', aImp).execute();
    expect(history).toEqual([{ amount: 16800, state: 'succeeded' }]);
    expect(await webhooksOf(aImp)).toEqual(['paid', 'cancelled']);
  });

  it('a net-cancel NICE does not answer gives the attempt back as it was read: the genuine result posted then is approved and recorded', async () => {
    const o = order({ amount: 16600 });
    const a = await leftInDoubt(o, '6363');
    const aImp = a.result.fields.orderId!;
    expect((await n.simPost('/__control/faults', { op: 'netcancel', kind: '5xx', when: 'before', clientId: n.clientId })).status).toBe(200);
    const outcome = await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true });
    expect(outcome[aImp]).not.toBe('failed');
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: null });
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: true, imp_uid: aImp, status: 'paid' });
    expect((await niceLedger(aImp)).payments.map((p) => [p.status, p.balanceAmt])).toEqual([['paid', 16600]]);
  });

  it('held by a process that died during its net-cancel: a post is still not approved, and a later pass gives the attempt up', async () => {
    const o = order({ amount: 16700 });
    const a = await leftInDoubt(o, '6464');
    const aImp = a.result.fields.orderId!;
    // what the hold leaves when its process dies before the net-cancel is answered
    await n.pier.deps.store.db.updateTable('payments').set({ pg_state: 'calling' }).where('imp_uid', '=', aImp).execute();
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'calling', pg_tid: null });
    n.pier.clock.advance(5 * 60_000);
    const outcome = await withNetCancelHook('after', aImp, async () => {}, () => reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }));
    expect(outcome[aImp]).toBe('failed');
    expect(netCancelsOf(aImp)).toBe(1);
    expect((await niceLedger(aImp)).payments).toEqual([]);
  });
});

describe('NICE’s approve times out (outcome unknown), then the buyer retries (withstood)', () => {
  it('the result posted again approves nothing more; a new checkout on the order is refused F1004 while it is in doubt, F1002 once reconciliation finds it paid', async () => {
    // amounts ending 998: the simulator records the approval, then holds the answer past Pier's read timeout
    const o = order({ amount: 12998 });
    const a = await authenticateAtNice(n, o, card('3131'));
    const aImp = a.result.fields.orderId!;
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    // the browser resubmits the return page: the attempt's tid is claimed already, so no second approve
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    expect((await niceLedger(aImp)).payments.map((p) => [p.tid, p.status])).toEqual([[a.result.fields.tid, 'paid']]);
    // the shop calls request_pay again for the same order
    const retry = () => n.pier.call('POST', '/checkout/sessions', { body: { imp_code: n.merchant.merchantCode, params: { pg: n.pg, ...o }, mode: 'overlay', origin: 'https://shop.example' } });
    expect((await retry()).body).toMatchObject({ ok: false, rsp: { success: false, merchant_uid: o.merchant_uid, error_code: 'F1004' } });
    n.pier.clock.advance(5 * 60_000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: 60, ignoreBackoff: true }))[aImp]).toBe('paid');
    expect((await retry()).body).toMatchObject({ ok: false, rsp: { success: false, merchant_uid: o.merchant_uid, error_code: 'F1002' } });
    expect(await row(aImp)).toMatchObject({ status: 'paid', pg_tid: a.result.fields.tid, merchant_uid_lock: o.merchant_uid });
    expect((await niceLedger(aImp)).payments).toHaveLength(1);
  });
});

describe('billing keys through NICE’s window (withstood: it issues none)', () => {
  it('request_pay with customer_uid is refused before any window; billing-key fields added to a genuine result, or a tPay-style key result, store no key', async () => {
    const withKey = await n.pier.call('POST', '/checkout/sessions', {
      body: { imp_code: n.merchant.merchantCode, params: { pg: n.pg, ...order({ amount: 0, customer_uid: 'cu_nice_1' }) }, mode: 'overlay', origin: 'https://shop.example' },
    });
    expect(withKey.body).toMatchObject({ ok: false, rsp: { success: false, error_code: 'F1000' } });
    expect(withKey.body.rsp.error_msg).toContain('빌링키를 발급할 수 없습니다');
    const keys = () => n.pier.deps.store.db.selectFrom('billing_keys').select('customer_uid').where('merchant_id', '=', n.merchant.merchantId).execute();
    // a tPay billing-key success (F100 with a cardToken) posted to a NICE card checkout: not a NICE result at all
    const a = await authenticateAtNice(n, order({ amount: 5000 }), card('7878'));
    const aImp = a.result.fields.orderId!;
    const tpayStyle = rspOf((await postForm(a.result.action, { resultCd: 'F100', cardToken: 'bk_stolen', moid: aImp, amt: '5000', customer_uid: 'cu_nice_1' })).html);
    expect(tpayStyle).toMatchObject({ success: false, imp_uid: aImp, error_code: 'F1007' });
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', pg_tid: null, customer_uid: null });
    // the genuine result with key fields added is approved as the card payment it is, and no key is stored
    expect(rspOf((await postForm(a.result.action, { ...a.result.fields, resultCd: 'F100', cardToken: 'bk_stolen', bid: 'BIKYstolen', customer_uid: 'cu_nice_1' })).html)).toMatchObject({
      success: true,
      status: 'paid',
      imp_uid: aImp,
    });
    expect(await row(aImp)).toMatchObject({ status: 'paid', customer_uid: null, pg_tid: a.result.fields.tid });
    expect(await keys()).toEqual([]);
  });
});

describe('bodies no browser sends (withstood: the V1 envelope, never a 500, and the attempt unchanged)', () => {
  it('to the return, cancel and notify URLs: oversized, malformed JSON, unsupported types, NUL; the genuine result then pays', async () => {
    const o = order({ amount: 7000 });
    const a = await authenticateAtNice(n, o, card('4545'));
    const aImp = a.result.fields.orderId!;
    const send = async (url: string, contentType: string, body: string) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body, redirect: 'manual' });
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    };
    const notify = `${n.pierUrl}/checkout/pg/${n.channelId}/notify`;
    const cancel = a.result.action.replace(/\/return$/, '/cancel');
    const envelope = (message: string) => JSON.stringify({ code: 1, message, response: null });
    for (const url of [a.result.action, cancel, notify]) {
      expect(await send(url, 'application/x-www-form-urlencoded', `authResultCode=0000&x=${'a'.repeat(128 * 1024)}`)).toMatchObject({ status: 413, body: envelope('요청 본문이 너무 큽니다.') });
      expect(await send(url, 'application/json', '{"authResultCode":')).toMatchObject({ status: 400, body: envelope('JSON 형식이 올바르지 않습니다.') });
      expect(await send(url, 'text/plain', 'authResultCode=0000')).toMatchObject({ status: 415, body: envelope('지원하지 않는 Content-Type입니다.') });
      expect(await send(url, 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="authResultCode"\r\n\r\n0000\r\n--x--')).toMatchObject({ status: 415 });
      expect(await send(url, 'application/x-www-form-urlencoded', 'authResultCode=0000%00')).toMatchObject({ status: 400, body: envelope('파라미터 형식이 올바르지 않습니다: authResultCode') });
    }
    // a JSON array or a string where an object is expected: the notice answer NICE wants, nothing read from it
    for (const body of ['[1,2]', '"x"', 'null']) expect(await send(notify, 'application/json', body)).toMatchObject({ status: 200, body: 'OK' });
    // none of them touched the attempt or the session: the genuine result is approved as usual
    expect(await row(aImp)).toMatchObject({ status: 'ready', pg_state: 'window', pg_tid: null });
    expect(rspOf((await postForm(a.result.action, a.result.fields)).html)).toMatchObject({ success: true, status: 'paid', imp_uid: aImp, paid_amount: 7000 });
  });
});

describe('NICE notices (withstood)', () => {
  it('a genuine webhook with its orderId rewritten (the signature covers tid, amount and ediDate only) names no other payment: answered OK, the other attempt unchanged', async () => {
    // NICE's deliveries go nowhere; the test holds the bodies NICE signed
    expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: 'http://127.0.0.1:9/nowhere' })).status).toBe(200);
    try {
      const paid = await authenticateAtNice(n, order({ amount: 6000 }), card('5656'));
      expect(rspOf((await postForm(paid.result.action, paid.result.fields)).html)).toMatchObject({ success: true, status: 'paid' });
      const victim = await authenticateAtNice(n, order({ amount: 6000 }), card('6767'));
      const victimImp = victim.result.fields.orderId!;
      const hooks = ((await (await fetch(`${n.simUrl}/__ledger?orderId=${paid.result.fields.orderId}`)).json()) as { webhooks: { body: string }[] }).webhooks;
      expect(hooks.length).toBeGreaterThan(0);
      const genuine = JSON.parse(hooks.at(-1)!.body) as Record<string, unknown>;
      expect(genuine).toMatchObject({ resultCode: '0000', status: 'paid', tid: paid.result.fields.tid, orderId: paid.result.fields.orderId });
      for (const edit of [{ orderId: victimImp }, { orderId: victimImp, status: 'cancelled' }]) {
        const res = await fetch(`${n.pierUrl}/checkout/pg/${n.channelId}/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...genuine, ...edit }) });
        expect([res.status, await res.text()]).toEqual([200, 'OK']);
      }
      expect(await row(victimImp)).toMatchObject({ status: 'ready', pg_state: 'window', pg_tid: null });
      expect(await row(paid.result.fields.orderId!)).toMatchObject({ status: 'paid', cancel_amount: 0 });
      // the victim's own result is still approved as usual
      expect(rspOf((await postForm(victim.result.action, victim.result.fields)).html)).toMatchObject({ success: true, status: 'paid', imp_uid: victimImp });
    } finally {
      await n.simPost('/__control/webhook', { clientId: n.clientId });
    }
  });
});
