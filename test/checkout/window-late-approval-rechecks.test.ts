/**
 * Every path that fails a window attempt while its PG window may still be submitted leaves a
 * recheck (window_confirms row without a tid), as closing the checkout does: an approval made
 * afterwards in that window, whose result post never reaches Pier, is then found and recorded or
 * refunded (decision 0007: "a late approval is never dropped").
 */
import { describe, expect, it } from 'vitest';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowOverAtMs } from '../../src/core/checkout/window-confirms.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { formOf } from '../buyer-forms.js';
import { card, cardFields, postHttp, windowRig } from './window-rig.js';

const r = windowRig();

const runner = () => new JobRunner({ queues: [windowConfirmQueue(r.pier.deps)], logger: r.pier.deps.logger });

describe('a window attempt failed while its PG window is open', () => {
  it('after a bare U001 cancel post, the approval made afterwards in that window is found, recorded and acknowledged', async () => {
    const w = await r.openWindow({});
    // the buyer's browser posts a cancel Pier cannot verify (tPay's U001 needs no amt/moid)
    const cancel = await r.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' });
    expect(cancel.status).toBe(200);
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // the tPay window is still open: the buyer pays, and the result post never reaches Pier
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    expect((await r.ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid' });

    // everything Pier runs in the background, well past the window's lifetime
    r.pier.clock.advance(31 * 60_000);
    await runner().drain();
    await reconcileInDoubt(r.pier.deps, { graceSeconds: 0 });
    r.pier.clock.advance(24 * 3600_000);
    await runner().drain();
    await reconcileInDoubt(r.pier.deps, { graceSeconds: 0 });

    const p = await r.payment(w.impUid);
    const atPg = (await r.ledgerTx(w.impUid))[0];
    expect({ pier: p.status, pg: atPg.status, pgConfirmed: atPg.confirmedAt !== null && atPg.confirmedAt !== undefined }).toEqual({ pier: 'paid', pg: 'paid', pgConfirmed: true });
    expect(p.merchant_uid_lock).toBe(w.merchantUid);
  });

  it('a virtual account issued in that window afterwards is closed at the PG: no deposit can land where no payment awaits it', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 12000 });
    await r.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // the buyer has the account issued in the still open tPay window; the result never reaches Pier
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    expect((await r.ledgerTx(w.impUid))[0]).toMatchObject({ status: 'ready' });

    r.pier.clock.advance(31 * 60_000);
    await runner().drain();
    expect((await r.ledgerTx(w.impUid))[0]).toMatchObject({ status: 'cancelled' });
    const deposit = await fetch(`${r.pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: w.impUid, amount: 12000 }) });
    expect((await deposit.json()) as Record<string, unknown>).not.toMatchObject({ status: 'paid' });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });
  });

  it('after an unverifiable post that reconciliation gives up (PG_NO_RECORD) while the PG window is open, the approval is still found', async () => {
    const w = await r.openWindow({});
    const garbled = await r.postPier(`/checkout/${w.sessionId}/return`, { resultCd: '3001' });
    expect(garbled.status).toBe(200);
    expect(await r.payment(w.impUid)).toMatchObject({ pg_state: 'in_doubt' });
    r.pier.clock.advance(60_000);
    await reconcileInDoubt(r.pier.deps, { graceSeconds: 32 });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });

    await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    r.pier.clock.advance(31 * 60_000);
    await runner().drain();
    await reconcileInDoubt(r.pier.deps, { graceSeconds: 0 });
    const p = await r.payment(w.impUid);
    const atPg = (await r.ledgerTx(w.impUid))[0];
    expect({ pier: p.status, pg: atPg.status }).toEqual({ pier: 'paid', pg: 'paid' });
  });

  it('reconciliation giving the attempt up late in its window: the recheck asks when the window is over, not a window lifetime after the give-up, and records the approval made meanwhile', async () => {
    const w = await r.openWindow({});
    const startedAt = Number((await r.payment(w.impUid)).started_at);
    // 20 minutes into the window, a post Pier cannot verify; reconciliation gives it up a minute later
    r.pier.clock.advance(20 * 60_000);
    await r.postPier(`/checkout/${w.sessionId}/return`, { resultCd: '3001' });
    expect(await r.payment(w.impUid)).toMatchObject({ pg_state: 'in_doubt' });
    r.pier.clock.advance(60_000);
    await reconcileInDoubt(r.pier.deps, { graceSeconds: 32 });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

    // the buyer pays in the still open tPay window; the result post never reaches Pier
    r.pier.clock.advance(60_000);
    expect((await r.actInWindow(w, { action: 'pay', ...cardFields(card()) })).fields.resultCd).toBe('3001');

    // the recheck is due when that window can give no result any more (windowOverAtMs): before
    // (a window lifetime after the give-up) it came 21 minutes later, the approval unrecorded meanwhile
    const overAtMs = windowOverAtMs(r.pier.deps, startedAt);
    r.pier.clock.set(overAtMs - 1000);
    await runner().drain();
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });
    r.pier.clock.set(overAtMs);
    await runner().drain();
    const p = await r.payment(w.impUid);
    const atPg = (await r.ledgerTx(w.impUid))[0];
    expect({ pier: p.status, lock: p.merchant_uid_lock, pg: atPg.status, confirmed: atPg.confirmedAt != null }).toEqual({ pier: 'paid', lock: w.merchantUid, pg: 'paid', confirmed: true });
    const recheck = await r.pier.deps.store.db.selectFrom('window_confirms').select(['due_at', 'state']).where('imp_uid', '=', w.impUid).where('pg_tid', '=', '').executeTakeFirstOrThrow();
    expect({ due_at: Number(recheck.due_at), state: recheck.state }).toEqual({ due_at: Math.ceil(overAtMs / 1000), state: 'done' });
  });

  it('a decline post the PG confirms leaves the same recheck, due once the PG window can no longer be submitted', async () => {
    const w = await r.openWindow({});
    // the buyer's first card is declined (0054: 잔액부족); the post reaches Pier
    const declined = await r.actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
    expect(declined.fields.resultCd).not.toBe('3001');
    await r.postPier(declined.action, declined.fields);
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });
    const failedAt = Number((await r.payment(w.impUid)).failed_at);
    const rechecks = await r.pier.deps.store.db.selectFrom('window_confirms').select(['pg_tid', 'state', 'due_at']).where('imp_uid', '=', w.impUid).execute();
    expect(rechecks.map((x) => ({ ...x, due_at: Number(x.due_at) }))).toEqual([{ pg_tid: '', state: 'pending', due_at: failedAt + 30 * 60 }]);
  });

  it("after a decline, the PG window submitted again (the browser's Back) and paid: the recheck finds that approval, whose tid is not the decline's", async () => {
    const w = await r.openWindow({});
    const declined = await r.actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
    await r.postPier(declined.action, declined.fields);
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', pg_tid: declined.fields.tid });

    // Back resubmits Pier's form to the PG: a new window for the same order id, paid with another card;
    // its result post never reaches Pier
    const reopened = await postHttp(w.pgForm.action, w.pgForm.fields);
    const payForm = formOf(reopened.html, 'payForm');
    const approved = await r.actInWindow({ submitUrl: new URL(payForm.action, w.pgForm.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', ...cardFields(card()) });
    expect(approved.fields.resultCd).toBe('3001');
    expect(approved.fields.tid).not.toBe(declined.fields.tid);

    r.pier.clock.advance(31 * 60_000);
    await runner().drain();
    const p = await r.payment(w.impUid);
    expect({ status: p.status, pg_tid: p.pg_tid, lock: p.merchant_uid_lock, amount: Number(p.amount) }).toEqual({ status: 'paid', pg_tid: approved.fields.tid, lock: w.merchantUid, amount: 5000 });
    const atPg = (await r.ledgerTx(w.impUid)).find((t) => t.tid === approved.fields.tid);
    expect({ status: atPg.status, confirmed: atPg.confirmedAt != null }).toEqual({ status: 'paid', confirmed: true });
  });
});
