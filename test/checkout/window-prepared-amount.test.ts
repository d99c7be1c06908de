/**
 * The amount registered with /payments/prepare is checked when the checkout session is made, again
 * when its PG window opens (V1 "blocks the PG window": F1003, nothing opens, nothing paid), and
 * against the amount the PG confirms before an approval is recorded (a PUT while the PG window was
 * open: the approval is refunded, F1003). Decision 0043.
 */
import { describe, expect, it } from 'vitest';
import { formOf, rspOf } from '../buyer-forms.js';
import { card, cardFields, postHttp, uid, windowRig } from './window-rig.js';

const r = windowRig();

async function startAndPay(sessionId: string) {
  const toPg = await r.postPier(`/checkout/${sessionId}/start`, { agree: '1', card_code: '366' });
  if (toPg.status !== 200 || !toPg.html.includes('pg-form')) return { refused: true as const, html: toPg.html, status: toPg.status };
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postHttp(pgForm.action, pgForm.fields);
  const payForm = formOf(window.html, 'payForm');
  const result = await r.actInWindow({ submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', ...cardFields(card()) });
  return { refused: false as const, rsp: rspOf((await r.postPier(result.action, result.fields)).html) };
}

const prepare = async (method: 'POST' | 'PUT', merchantUid: string, amount: number) =>
  expect((await r.pier.call(method, '/payments/prepare', { token: r.m.token, body: { merchant_uid: merchantUid, amount } })).body.code).toBe(0);
const paymentsOf = (merchantUid: string) => r.pier.deps.store.db.selectFrom('payments').select(['imp_uid', 'status', 'amount', 'fail_reason', 'merchant_uid_lock']).where('merchant_uid', '=', merchantUid).execute();

describe('prepared amount', () => {
  it('a session made while the prepared amount was 10,000 KRW cannot pay 10,000 after the merchant changed it to 50,000 (PUT /payments/prepare)', async () => {
    const merchantUid = uid('cart');
    await prepare('POST', merchantUid, 10000);
    const s = await r.createSession({ merchant_uid: merchantUid, amount: 10000 });
    expect(s.ok).toBe(true);
    // the buyer adds to the cart; the merchant's server re-registers the amount
    await prepare('PUT', merchantUid, 50000);
    // the buyer presses "pay" in the session made earlier: no PG window opens, nothing is recorded
    const paid = await startAndPay(s.session_id);
    expect(paid.refused).toBe(true);
    expect(await paymentsOf(merchantUid)).toEqual([]);
    // the checkout ends with V1's pre-window refusal
    const done = await r.pier.deps.store.db.selectFrom('checkout_sessions').select(['state', 'result']).where('id', '=', s.session_id).executeTakeFirstOrThrow();
    expect({ state: done.state, error_code: JSON.parse(done.result!).error_code }).toEqual({ state: 'done', error_code: 'F1003' });
  });

  it('a session made before the merchant registered the amount cannot pay less than it', async () => {
    const merchantUid = uid('order');
    const s = await r.createSession({ merchant_uid: merchantUid, amount: 1000 });
    expect(s.ok).toBe(true);
    await prepare('POST', merchantUid, 50000);
    const paid = await startAndPay(s.session_id);
    expect(paid.refused).toBe(true);
    expect((await paymentsOf(merchantUid)).filter((p) => p.status === 'paid')).toEqual([]);
  });

  it('an approval in a PG window opened at 10,000 after the merchant changed the amount to 50,000 is refunded at the PG and recorded failed (F1003)', async () => {
    const merchantUid = uid('cart');
    await prepare('POST', merchantUid, 10000);
    const w = await r.openWindow({ merchant_uid: merchantUid, amount: 10000 });
    await prepare('PUT', merchantUid, 50000);
    const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    const rsp = rspOf((await r.postPier(result.action, result.fields)).html);
    const p = await r.payment(w.impUid);
    const atPg = (await r.ledgerTx(w.impUid))[0];
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status, lock: p.merchant_uid_lock, pg: atPg.status }).toEqual({
      success: false,
      error_code: 'F1003',
      status: 'failed',
      lock: null,
      pg: 'cancelled',
    });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
  });

  it('an unchanged prepared amount pays as before', async () => {
    const merchantUid = uid('cart');
    await prepare('POST', merchantUid, 10000);
    const s = await r.createSession({ merchant_uid: merchantUid, amount: 10000 });
    const paid = await startAndPay(s.session_id);
    expect(paid.refused ? 'refused' : paid.rsp.success).toBe(true);
    expect((await paymentsOf(merchantUid)).map((p) => ({ status: p.status, amount: Number(p.amount) }))).toEqual([{ status: 'paid', amount: 10000 }]);
  });
});
