/**
 * Attacks on the buyer's-browser path of NICE's payment window (Server 승인) that
 * nice-window-money-safety.test.ts does not make: a result moved between sessions, results racing
 * a close, bodies no browser sends, notices from elsewhere. Pier in-process and listening, the
 * NICEPAY simulator over real HTTP (nice-harness.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockHolder } from '../../src/core/payments/attempts.js';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
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
});
