/**
 * The database failing while Pier records a payment window's approval (decision 0119): the buyer
 * paid in tPay's window (the simulator over real HTTP), the browser posts the result to Pier's
 * return URL over real HTTP, Pier asks tPay (trans_search, its answer held until the fault is in
 * place), and recording the approval fails. SQLite: another connection holds the write lock
 * (BEGIN IMMEDIATE) past Pier's lock wait; PostgreSQL: another session holds the payment's row
 * (FOR UPDATE) and the Pier connection waiting for it is ended (pg_terminate_backend). The buyer
 * must get the checkout's "being confirmed" result page (F1007, with the imp_uid), never a JSON 500
 * nor the database's words; the card charged once; reconciliation records it paid once, with one
 * `paid` webhook; a post of the result replayed after the database recovers ends with the paid page.
 * The same for every other result the post carries (a virtual account, a decline, a buyer's cancel,
 * a late approval to a closed checkout): the "being confirmed" page, settled by reconciliation or a
 * later post. A failure before NICE's approve is sent (its claim) answers a "not paid, try again"
 * page, and the same result posted again is approved once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { releaseAbandonedWindows, SESSION_TTL_SECONDS } from '../../src/core/checkout/sessions.js';
import { reconcileGraceSeconds, reconcileInDoubt, settleAttempt } from '../../src/core/payments/reconcile.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { DATABASE_WORDS, lockOut } from '../db-lockout.js';
import type { TestPier } from '../harness.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { authenticateAtNice, startNicePier, type NicePier } from './nice-harness.js';
import { card, cardFields, postHttp, uid, windowRig } from './window-rig.js';
import { simulatorControl } from '../sim-control.js';

const r = windowRig({ listen: true, sqliteLockWaitMs: 300, simulatorSlowMs: 60_000, readTimeoutMs: 10_000 });

const control = (path: string, body?: unknown) => simulatorControl(r.pier.simulatorUrl, path, body);

/**
 * The buyer acts in tPay's window (pays, is declined, gets an account, cancels); Pier asks tPay about
 * the browser's post of the result, and what it then writes fails.
 */
async function windowResultWhoseRecordFails(
  act: Record<string, string>,
  open: { params: Record<string, unknown>; cardCode?: string; first?: (w: { sessionId: string }) => Promise<unknown> } = { params: {} },
  postTo: 'return' | 'cancel' = 'return',
) {
  const w = await r.openWindow({ merchant_uid: uid('dbf_w'), ...open.params }, { cardCode: open.cardCode });
  await open.first?.(w);
  const result = await r.actInWindow(w, act);
  expect(result.action).toBe(`${r.pier.pierUrl}/checkout/${w.sessionId}/${postTo}`);
  await control('faults', { mode: 'hold', op: 'trans_search' });
  const pending = postHttp(result.action, result.fields);
  await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
  const lock = await lockOut(r.pier, w.impUid);
  let answer: { status: number; html: string };
  try {
    await control('holds/release', {});
    await lock.fail();
    answer = await pending;
  } finally {
    await lock.release();
  }
  return { w, result, answer };
}

/** The buyer pays in tPay's window; the browser's post of the result to Pier fails to be recorded. */
const paidWindowWhoseRecordFails = (amount: number) => windowResultWhoseRecordFails({ action: 'pay', ...cardFields(card('5151')) }, { params: { amount } });

function expectBeingConfirmed(answer: { status: number; html: string }, impUid: string, pier: TestPier = r.pier, logged: RegExp = /recording a window approval failed/) {
  expectResultPage(answer, impUid, pier, logged);
  const rsp = rspOf(answer.html);
  expect(rsp.error_msg).toContain('결제 결과를 확인하는 중입니다');
}

/** The checkout's result page with an F1007 rsp carrying the imp_uid; the database's words in the error log only. */
function expectResultPage(answer: { status: number; html: string }, impUid: string, pier: TestPier, logged: RegExp) {
  expect(answer.status, answer.html.slice(0, 500)).toBe(200);
  expect(answer.html).toContain('id="pier-data"');
  const rsp = rspOf(answer.html);
  expect({ success: rsp.success, imp_uid: rsp.imp_uid, error_code: rsp.error_code }).toEqual({ success: false, imp_uid: impUid, error_code: 'F1007' });
  expect(answer.html).not.toMatch(DATABASE_WORDS);
  const infoLines = pier.logs().split('\n').filter((l) => l.includes('"level":30'));
  expect(infoLines.filter((l) => DATABASE_WORDS.test(l))).toEqual([]);
  // the cause is in the error log, with the imp_uid
  expect(pier.logs().split('\n').some((l) => l.includes('"level":50') && l.includes(impUid) && logged.test(l))).toBe(true);
}

async function expectChargedOnceAndOpen(impUid: string, amount: number) {
  expect((await r.ledgerTx(impUid)).map((t) => t.amount)).toEqual([amount]);
  const p = await r.payment(impUid);
  expect({ status: p.status, pg_state: p.pg_state }).toEqual({ status: 'ready', pg_state: 'in_doubt' });
  expect(await r.eventsOf(impUid)).toEqual([]);
}

describe("the payment window's result post whose approval the database cannot record", () => {
  it('answers the "being confirmed" result page with the imp_uid; reconciliation records it paid once, with one webhook; a replayed post then ends paid', async () => {
    const { w, result, answer } = await paidWindowWhoseRecordFails(23_000);
    expectBeingConfirmed(answer, w.impUid);
    await expectChargedOnceAndOpen(w.impUid, 23_000);

    const grace = reconcileGraceSeconds(r.pier.deps.connectors);
    r.pier.clock.advance((grace + 1) * 1000);
    expect((await reconcileInDoubt(r.pier.deps, { graceSeconds: grace }))[w.impUid]).toBe('paid');
    expect((await reconcileInDoubt(r.pier.deps, { graceSeconds: grace }))[w.impUid]).toBeUndefined();
    expect((await r.payment(w.impUid)).status).toBe('paid');

    const replay = await postHttp(result.action, result.fields);
    expect(replay.status).toBe(200);
    expect(rspOf(replay.html)).toMatchObject({ success: true, imp_uid: w.impUid, status: 'paid', paid_amount: 23_000 });
    expect(await r.eventsOf(w.impUid)).toEqual(['paid']);
    expect((await r.ledgerTx(w.impUid)).map((t) => t.amount)).toEqual([23_000]);
  });

  it('a post of the result replayed once the database is back ends with the paid result page; reconciliation then has nothing to record', async () => {
    const { w, result, answer } = await paidWindowWhoseRecordFails(24_000);
    expectBeingConfirmed(answer, w.impUid);
    await expectChargedOnceAndOpen(w.impUid, 24_000);

    const replay = await postHttp(result.action, result.fields);
    expect(replay.status).toBe(200);
    expect(rspOf(replay.html)).toMatchObject({ success: true, imp_uid: w.impUid, status: 'paid', paid_amount: 24_000 });
    expect((await r.payment(w.impUid)).status).toBe('paid');

    const grace = reconcileGraceSeconds(r.pier.deps.connectors);
    r.pier.clock.advance((grace + 1) * 1000);
    expect((await reconcileInDoubt(r.pier.deps, { graceSeconds: grace }))[w.impUid]).toBeUndefined();
    expect(await r.eventsOf(w.impUid)).toEqual(['paid']);
    expect((await r.ledgerTx(w.impUid)).map((t) => t.amount)).toEqual([24_000]);
  });
});

describe("the window's other results whose record the database cannot write", () => {
  /** the abandoned-window sweep hands an attempt still in the window over; reconciliation asks tPay */
  async function settledByReconciliation(impUid: string) {
    r.pier.clock.advance((SESSION_TTL_SECONDS + 1) * 1000);
    await releaseAbandonedWindows(r.pier.deps);
    return settleAttempt(r.pier.deps, impUid, { giveUpIfUnknown: true });
  }
  const approvalsAt = async (impUid: string) =>
    ((await (await fetch(`${r.pier.simulatorUrl}/__ledger`)).json()) as { approvals: any[] }).approvals.filter((t) => t.moid === impUid).map((t) => t.amount);

  it('a virtual account tPay issued, whose record fails: the "being confirmed" page with the imp_uid; reconciliation records the account', async () => {
    const { w, answer } = await windowResultWhoseRecordFails({ action: 'pay', bankCode: '004' }, { params: { pay_method: 'vbank', amount: 27_000 }, cardCode: '' });
    // SQLite fails the account's acknowledgement row first (any write waits for the lock); PostgreSQL
    // the account's record itself (the payment's row is held), which recordVbankFromPg answers
    expectBeingConfirmed(answer, w.impUid, r.pier, /handling a window result failed|recording a window virtual account failed/);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, vbank_num: p.vbank_num }).toEqual({ status: 'ready', vbank_num: null });
    expect(await r.eventsOf(w.impUid)).toEqual([]);

    expect(await settledByReconciliation(w.impUid)).toBe('awaiting_deposit');
    const after = await r.payment(w.impUid);
    expect({ status: after.status, pg_state: after.pg_state, amount: after.amount, has_account: !!after.vbank_num, merchant_uid_lock: after.merchant_uid_lock }).toEqual({
      status: 'ready',
      pg_state: 'done',
      amount: 27_000,
      has_account: true,
      merchant_uid_lock: w.merchantUid,
    });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready']);
  });

  it('a decline whose record fails: the "being confirmed" page with the imp_uid, nothing charged; reconciliation fails the attempt', async () => {
    const { w, answer } = await windowResultWhoseRecordFails({ action: 'pay', ...cardFields(card('0054')) }, { params: { amount: 28_000 } });
    expectBeingConfirmed(answer, w.impUid, r.pier, /handling a window result failed/);
    expect(await approvalsAt(w.impUid)).toEqual([]);
    expect((await r.payment(w.impUid)).status).toBe('ready');

    expect(await settledByReconciliation(w.impUid)).toBe('failed');
    const after = await r.payment(w.impUid);
    expect({ status: after.status, merchant_uid_lock: after.merchant_uid_lock }).toEqual({ status: 'failed', merchant_uid_lock: null });
    expect(await approvalsAt(w.impUid)).toEqual([]);
  });

  it("a buyer's cancel whose record fails: the same page, nothing charged; reconciliation fails the attempt", async () => {
    const { w, answer } = await windowResultWhoseRecordFails({ action: 'cancel' }, { params: { amount: 29_000 } }, 'cancel');
    expectBeingConfirmed(answer, w.impUid, r.pier, /handling a window result failed/);
    expect(await approvalsAt(w.impUid)).toEqual([]);
    expect((await r.payment(w.impUid)).status).toBe('ready');

    expect(await settledByReconciliation(w.impUid)).toBe('failed');
    expect((await r.payment(w.impUid)).status).toBe('failed');
  });

  it('a late approval (the checkout closed first) whose record fails: the "being confirmed" page with the imp_uid; posted again once the database is back, it is recorded paid once', async () => {
    // the browser posts a bare cancel (U001) first: the checkout ends, the attempt fails; the tPay window stays open, and the buyer pays in it
    const closeFirst = async (w: { sessionId: string }) => expect((await r.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' })).status).toBe(200);
    const { w, result, answer } = await windowResultWhoseRecordFails({ action: 'pay', ...cardFields(card('5454')) }, { params: { amount: 26_000 }, first: closeFirst });
    expectBeingConfirmed(answer, w.impUid, r.pier, /handling a window result failed/);
    expect(await approvalsAt(w.impUid)).toEqual([26_000]);
    expect((await r.payment(w.impUid)).status).toBe('failed');
    expect(await r.eventsOf(w.impUid)).toEqual([]);

    const replay = await postHttp(result.action, result.fields);
    expect(rspOf(replay.html)).toMatchObject({ success: true, imp_uid: w.impUid, status: 'paid', paid_amount: 26_000 });
    expect((await r.payment(w.impUid)).status).toBe('paid');
    expect(await r.eventsOf(w.impUid)).toEqual(['paid']);
    expect(await approvalsAt(w.impUid)).toEqual([26_000]);
  });
});

describe("NICE's window: the approval Pier made, whose record the database cannot write", () => {
  let n: NicePier;
  beforeAll(async () => {
    n = await startNicePier({ sqliteLockWaitMs: 300, readTimeoutMs: 10_000, slowResponseMs: 60_000 });
  });
  afterAll(async () => n?.close());

  it('answers the "being confirmed" result page; reconciliation records it paid once, with one webhook; a replayed post then ends paid', async () => {
    const { pier } = n;
    const { result } = await authenticateAtNice(n, { pay_method: 'card', merchant_uid: uid('dbf_n'), name: '나이스 상품', amount: 31_000, buyer_name: '홍길동' }, { cardNo: testCardNumber({ kftcCode: '366', lastFour: '5252' }), cardExpiry: '12/30', cardQuota: '0' });
    const impUid = result.fields.orderId!;
    // Pier approves (NICE charges), then asks NICE (GET /v1/payments/find/{orderId}): that answer is held
    const fault = await n.simPost('/__control/faults', { op: 'find', kind: 'timeout', when: 'after' });
    expect(fault.status).toBe(200);
    const pending = postForm(result.action, result.fields);
    await vi.waitUntil(async () => ((await (await fetch(`${n.simUrl}/__control/faults`)).json()) as { held: number }).held === 1, { timeout: 10_000, interval: 10 });
    const lock = await lockOut(pier, impUid);
    let answer: { status: number; html: string };
    try {
      await n.simPost('/__control/holds/release', {});
      await lock.fail();
      answer = await pending;
    } finally {
      await lock.release();
    }
    expectBeingConfirmed(answer, impUid, pier);
    const niceLedger = async () => ((await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(impUid)}`)).json()) as { payments: any[] }).payments.map((p) => [p.status, p.amount]);
    expect(await niceLedger()).toEqual([['paid', 31_000]]);
    const row = () => pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    const events = async () => (await pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute()).map((e) => e.status);
    expect(await row()).toEqual({ status: 'ready', pg_state: 'in_doubt' });
    expect(await events()).toEqual([]);

    const grace = reconcileGraceSeconds(pier.deps.connectors);
    pier.clock.advance((grace + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: grace }))[impUid]).toBe('paid');
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: grace }))[impUid]).toBeUndefined();
    const replay = await postForm(result.action, result.fields);
    expect(rspOf(replay.html)).toMatchObject({ success: true, imp_uid: impUid, status: 'paid', paid_amount: 31_000 });
    expect(await row()).toEqual({ status: 'paid', pg_state: 'done' });
    expect(await events()).toEqual(['paid']);
    expect(await niceLedger()).toEqual([['paid', 31_000]]);
  });

  it("a database failure before Pier's approve (its claim of the attempt): a retryable failure page, nothing charged; the same result posted again once the database is back is approved once", async () => {
    const { pier } = n;
    const { result } = await authenticateAtNice(n, { pay_method: 'card', merchant_uid: uid('dbf_nc'), name: '나이스 상품', amount: 32_000, buyer_name: '홍길동' }, { cardNo: testCardNumber({ kftcCode: '366', lastFour: '5353' }), cardExpiry: '12/30', cardQuota: '0' });
    const impUid = result.fields.orderId!;
    const lock = await lockOut(pier, impUid);
    let answer: { status: number; html: string };
    try {
      const pending = postForm(result.action, result.fields);
      await lock.fail();
      answer = await pending;
    } finally {
      await lock.release();
    }
    expectResultPage(answer, impUid, pier, /handling a window result failed/);
    expect(rspOf(answer.html).error_msg).toContain('결제되지 않았으니 다시 시도해 주세요');
    const niceLedger = async () => ((await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(impUid)}`)).json()) as { payments: any[] }).payments.map((p) => [p.status, p.amount]);
    expect(await niceLedger()).toEqual([]);
    const row = () => pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state', 'merchant_uid_lock']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(await row()).toEqual({ status: 'ready', pg_state: 'window', merchant_uid_lock: null });

    const replay = await postForm(result.action, result.fields);
    expect(rspOf(replay.html)).toMatchObject({ success: true, imp_uid: impUid, status: 'paid', paid_amount: 32_000 });
    expect((await row()).status).toBe('paid');
    expect(await niceLedger()).toEqual([['paid', 32_000]]);
    const events = (await pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute()).map((e) => e.status);
    expect(events).toEqual(['paid']);
  });
});
