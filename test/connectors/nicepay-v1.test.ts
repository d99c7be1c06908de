/**
 * A merchant's unchanged V1 code on a NICE API channel: Pier in-process with the NICE simulator
 * over real HTTP (harness `pg: 'nice_v2'`). Billing keys, charges, key-in, cancels, and what Pier
 * does when NICE's answer is lost: in doubt, settled by lookup, net-cancelled before giving up.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IN_PROGRESS_MESSAGE } from '../../src/core/payments/charge.js';
import { reconcileInDoubt, reconcileInDoubtCancels, RECHECK_BACKOFF_SECONDS } from '../../src/core/payments/reconcile.js';
import { depsWith, startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const GRACE = 32; // the harness's 2 s read timeout + 30 (reconcile.ts inFlightGraceSeconds)
const card = testCardNumber({ kftcCode: '366', lastFour: '4242' });
const slowCharge = testCardNumber({ kftcCode: '366', lastFour: '1098' }); // registers, the charge's answer is held

let pier: TestPier;
let m: TestMerchant & { nice: { clientId: string; secretKey: string } | null };
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

async function ledger(): Promise<{ payments: { tid: string; orderId: string; status: string; amount: number; balanceAmt: number; cancels: { orderId: string; amount: number }[] }[] }> {
  return (await fetch(`${pier.niceSimulatorUrl}/__ledger?clientId=${m.nice!.clientId}`)).json() as never;
}

async function fault(op: string, kind: 'timeout' | '5xx' | 'garbage', when: 'before' | 'after', count = 1) {
  const res = await fetch(`${pier.niceSimulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op, kind, when, count, clientId: m.nice!.clientId }) });
  expect(res.status).toBe(200);
}

/** NICE answers the next call of `op` with `resultCode`: unprocessed (`before`), or processed and recorded (`after`) */
async function codeFault(op: string, resultCode: string, when: 'before' | 'after') {
  const res = await fetch(`${pier.niceSimulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op, kind: 'code', resultCode, when, clientId: m.nice!.clientId }) });
  expect(res.status).toBe(200);
}

const onetime = (merchantUid: string, amount: number) =>
  pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount, card_number: card, expiry: '2030-12' } });
const attemptOf = (merchantUid: string) => pier.store.db.selectFrom('payments').select(['imp_uid', 'status', 'pg_state', 'merchant_uid_lock']).where('merchant_uid', '=', merchantUid).orderBy('imp_uid').execute();

beforeAll(async () => {
  pier = await startTestPier({ pg: 'nice_v2' });
  m = await pier.newMerchant();
});
afterAll(async () => {
  await fetch(`${pier.niceSimulatorUrl}/__control/holds/release`, { method: 'POST' }).catch(() => undefined);
  await pier.close();
});
beforeEach(async () => {
  await fetch(`${pier.niceSimulatorUrl}/__control/faults`, { method: 'DELETE' });
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

describe('V1 on a NICE API channel', () => {
  it('issues a billing key, charges it, refunds part of it and deletes the key', async () => {
    const customerUid = uid('cust');
    const issued = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: card, expiry: '2030-12', birth: '900101', pwd_2digit: '12' } });
    expect(issued.body).toMatchObject({ code: 0, response: { customer_uid: customerUid, card_code: '366', card_name: '신한카드', card_number: '936600******4242' } });

    const merchantUid = uid('again');
    const charged = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: customerUid, merchant_uid: merchantUid, amount: 14000, name: '정기결제' } });
    const p = charged.body.response;
    expect(charged.body.code).toBe(0);
    expect(p).toMatchObject({ status: 'paid', amount: 14000, pg_provider: 'nice_v2', pg_id: m.nice!.clientId, card_code: '366', card_name: '신한카드', card_number: '936600******4242', card_type: 0, customer_uid: customerUid });
    expect(p.receipt_url).toBe(`${pier.niceSimulatorUrl}/issue/IssueLoader.do?type=0&innerWin=Y&TID=${p.pg_tid}`);
    const atNice = (await ledger()).payments.find((x) => x.tid === p.pg_tid)!;
    expect(atNice).toMatchObject({ orderId: p.imp_uid, status: 'paid', amount: 14000 });

    const cancelled = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: p.imp_uid, amount: 4000, reason: '부분 환불' } });
    expect(cancelled.body.response).toMatchObject({ status: 'paid', cancel_amount: 4000, cancel_history: [{ amount: 4000, reason: '부분 환불' }] });
    const afterCancel = (await ledger()).payments.find((x) => x.tid === p.pg_tid)!;
    expect(afterCancel).toMatchObject({ status: 'partialCancelled', balanceAmt: 10000 });
    // a fresh cancel orderId per refund, naming Pier's refund
    expect(afterCancel.cancels).toEqual([expect.objectContaining({ orderId: expect.stringMatching(new RegExp(`^${p.imp_uid}-c[A-Za-z0-9]{20}$`)), amount: 4000 })]);
    expect(cancelled.body.response.cancel_history[0].pg_tid).not.toBe(p.pg_tid);

    const deleted = await pier.call('DELETE', `/subscribe/customers/${customerUid}`, { token: m.token });
    expect(deleted.body.code).toBe(0);
    const again = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: customerUid, merchant_uid: uid('after_delete'), amount: 1000, name: 'x' } });
    expect(again.body.code).not.toBe(0);
  });

  it('charges by key-in (onetime) and refunds it in full', async () => {
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('onetime'), amount: 3000, card_number: card, expiry: '2030-12', birth: '900101', name: '주문명' } });
    expect(res.body).toMatchObject({ code: 0, response: { status: 'paid', amount: 3000, pg_provider: 'nice_v2', card_name: '신한카드' } });
    const full = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: res.body.response.imp_uid, reason: '전액' } });
    expect(full.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 3000 });
  });

  it('a card NICE refuses at registration answers V1 code -1 without a payment; an issuer decline is a failed payment with NICE message', async () => {
    const luhnFail = card.slice(0, 15) + (card.endsWith('0') ? '1' : '0');
    const auth = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('bad_card'), amount: 3000, card_number: luhnFail, expiry: '2030-12' } });
    expect(auth.body.code).toBe(-1);
    const declined = await pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: uid('declined'), amount: 10954, card_number: card, expiry: '2030-12' },
    });
    expect(declined.body.response).toMatchObject({ status: 'failed', fail_reason: expect.stringContaining('[3095]카드사 거절(잔액부족)') });
  });

  it('a lost charge answer is in doubt; when NICE cannot be asked at once, reconciliation later records it as NICE did', async () => {
    const merchantUid = uid('lost');
    await fault('billing_pay', 'timeout', 'after'); // processed at NICE, answer held past the read timeout
    await fault('find', '5xx', 'before'); // and the immediate lookup fails
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 7000, card_number: card, expiry: '2030-12' } });
    expect(res.body.message).toMatch(/확인 중/);
    const impUid = (await pier.store.db.selectFrom('payments').select(['imp_uid', 'pg_state']).where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow());
    expect(impUid.pg_state).toBe('in_doubt');
    pier.clock.advance((GRACE + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).toEqual({ [impUid.imp_uid]: 'paid' });
    const v1 = (await pier.call('GET', `/payments/${impUid.imp_uid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'paid', amount: 7000, pg_provider: 'nice_v2' });
    expect((await ledger()).payments.find((x) => x.orderId === impUid.imp_uid)).toMatchObject({ tid: v1.pg_tid, status: 'paid' });
  });

  it('an in-doubt charge NICE has no record of is net-cancelled before Pier gives it up, so a late approval cannot stand; one NICE had made is recorded paid and refunded, holding its merchant_uid', async () => {
    const merchantUid = uid('late');
    await fault('billing_pay', 'timeout', 'after');
    await fault('find', '5xx', 'before');
    await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 8000, card_number: card, expiry: '2030-12' } });
    const { imp_uid: impUid } = await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();
    expect((await ledger()).payments.find((x) => x.orderId === impUid)).toMatchObject({ status: 'paid' });
    // NICE's lookup has not caught up with its approval yet (the approval lands after the lookup)
    const lagging = depsWith(pier.deps, () => ({ inquire: async () => ({ found: false }) }));
    pier.clock.advance((GRACE + 1) * 1000);
    expect(await reconcileInDoubt(lagging, { graceSeconds: GRACE })).toEqual({ [impUid]: 'cancelled' });
    expect((await ledger()).payments.find((x) => x.orderId === impUid)).toMatchObject({ status: 'cancelled', balanceAmt: 0 });
    // NICE charged and reversed it: recorded so, from the net-cancel's own signed answer (decision 0110)
    const reversed = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    const atNiceFirst = (await ledger()).payments.find((x) => x.orderId === impUid);
    expect(atNiceFirst?.tid).toEqual(expect.any(String));
    expect(reversed).toMatchObject({ status: 'cancelled', amount: 8000, cancel_amount: 8000, pg_tid: atNiceFirst?.tid, fail_reason: null });
    expect(reversed.cancel_history.map((c: { amount: number }) => c.amount)).toEqual([8000]);
    const events = await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute();
    expect(events.map((e) => e.status)).toEqual(['paid', 'cancelled']);
    // a merchant_uid paid once, refunded or not: the order was charged (and refunded), as V1 says of any cancelled payment
    const retry = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 8000, card_number: card, expiry: '2030-12' } });
    expect(retry.body).toMatchObject({ code: 1, message: '이미 결제가 이루어진 거래건입니다.', response: null });
    expect((await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', merchantUid).execute()).map((r) => r.imp_uid)).toEqual([impUid]);
  });

  it('an unknown attempt whose net-cancel NICE refuses with 9999 stays open, holding its merchant_uid; a later run, when net-cancel works, gives it up', async () => {
    const merchantUid = uid('netcancel_9999');
    await fault('billing_pay', '5xx', 'before'); // never processed at NICE, but Pier cannot know: in doubt
    expect((await onetime(merchantUid, 6000)).body.message).toMatch(/확인 중/);
    const [attempt] = await attemptOf(merchantUid);
    expect(attempt).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: merchantUid });
    const impUid = attempt!.imp_uid;

    await codeFault('netcancel', '9999', 'before'); // NICE's temporary error: it says nothing about the order
    pier.clock.advance((GRACE + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).toEqual({ [impUid]: 'unknown' });
    expect(await attemptOf(merchantUid)).toEqual([expect.objectContaining({ imp_uid: impUid, status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: merchantUid })]);
    // meanwhile the merchant cannot charge the order again
    const retried = await onetime(merchantUid, 6000);
    expect(retried.body.message).toBe(IN_PROGRESS_MESSAGE);
    expect((await ledger()).payments.filter((x) => x.orderId === impUid)).toEqual([]);

    // the next run asks again; NICE has nothing to reverse (U107): given up, the merchant_uid freed
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).toEqual({ [impUid]: 'failed' });
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'failed' });
    expect((await onetime(merchantUid, 6000)).body.response).toMatchObject({ status: 'paid', amount: 6000 });
  });

  it('a charge NICE approved and answered U506 (its DB insert failed) is in doubt, not a decline: the merchant_uid stays taken and reconciliation records it paid', async () => {
    const merchantUid = uid('u506');
    await codeFault('billing_pay', 'U506', 'after'); // approved and recorded at NICE, answered U506
    await fault('find', '5xx', 'before'); // and the lookup right after cannot answer
    const res = await onetime(merchantUid, 7000);
    expect(res.body.message).toMatch(/확인 중/);
    const [attempt] = await attemptOf(merchantUid);
    expect(attempt).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: merchantUid });
    const impUid = attempt!.imp_uid;
    expect((await ledger()).payments.filter((x) => x.orderId === impUid).map((x) => x.status)).toEqual(['paid']);

    // a second charge of the same merchant_uid is refused: the card is not charged twice
    expect((await onetime(merchantUid, 7000)).body.message).toBe(IN_PROGRESS_MESSAGE);
    expect(await attemptOf(merchantUid)).toHaveLength(1);

    pier.clock.advance((GRACE + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).toEqual({ [impUid]: 'paid' });
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'paid', amount: 7000, pg_provider: 'nice_v2' });
    expect((await ledger()).payments.filter((x) => x.orderId === impUid)).toEqual([expect.objectContaining({ tid: v1.pg_tid, status: 'paid', amount: 7000 })]);
  });

  it('a channel whose secretKey is not 32 characters (saved before the rule) fails a key-in cleanly: NICE was never called, the merchant_uid is free', async () => {
    const other = await pier.newMerchant();
    // the check at save refuses such a key now (channel-rules.ts); a row from before it is written directly
    await pier.store.db.updateTable('pg_channels').set({ merchant_key_sealed: pier.deps.vault.seal(other.nice!.secretKey.slice(0, 31)) }).where('merchant_id', '=', other.merchantId).where('provider', '=', 'nice_v2').execute();
    const token = (await pier.call('POST', '/users/getToken', { body: { imp_key: other.impKey, imp_secret: other.impSecret } })).body.response.access_token;
    const merchantUid = uid('short_key');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token, body: { merchant_uid: merchantUid, amount: 5000, card_number: card, expiry: '2030-12' } });
    expect(res.body.message ?? '').not.toMatch(/확인 중/);
    expect(res.body.response).toMatchObject({ status: 'failed', fail_reason: expect.stringContaining('32-character secretKey') });
    expect(await attemptOf(merchantUid)).toEqual([expect.objectContaining({ status: 'failed', pg_state: 'done', merchant_uid_lock: null })]);
    expect((await (await fetch(`${pier.niceSimulatorUrl}/__ledger?clientId=${other.nice!.clientId}`)).json()).payments).toEqual([]);
  });

  it('a refund NICE made and answered U506 (its DB update failed) stays reserved, never given back for a second refund; reconciliation records it', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('refund_u506'), amount: 10000, card_number: card, expiry: '2030-12' } });
    const impUid = paid.body.response.imp_uid;
    await codeFault('cancel', 'U506', 'after'); // refunded at NICE, answered U506
    const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 4000, reason: '부분' } });
    expect(res.body.message).toMatch(/확인 중/);
    // the merchant tries again: the 4,000 are still reserved, so only 6,000 can be asked for
    const again = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 10000 } });
    expect(again.body.code).not.toBe(0);
    expect((await ledger()).payments.find((x) => x.orderId === impUid)).toMatchObject({ balanceAmt: 6000 });
    pier.clock.advance((GRACE + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE }))).toEqual(['succeeded']);
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', cancel_amount: 4000 });
  });

  it('a refund NICE made and answered A299, whose reconciliation NICE answers "no such payment": stays reserved, never given back while NICE may hold it; a later pass records it (decision 0101)', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('refund_nodata'), amount: 10000, card_number: card, expiry: '2030-12' } });
    const impUid = paid.body.response.imp_uid;
    await codeFault('cancel', 'A299', 'after'); // refunded at NICE, answered "API delay"
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3000, reason: '부분' } })).body.message).toMatch(/확인 중/);
    pier.clock.advance((GRACE + 1) * 1000);
    // both lookups answer "no data" for a payment NICE approved: it says nothing of the refund
    await codeFault('find', 'U107', 'before');
    await codeFault('payment', 'U107', 'before');
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE, ignoreBackoff: true })).toEqual({});
    const refundable = async () => {
      const p = await pier.store.db.selectFrom('payments').select(['amount', 'cancel_amount', 'cancel_pending_amount']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
      return Number(p.amount) - Number(p.cancel_amount) - Number(p.cancel_pending_amount);
    };
    // what Pier would still refund is what NICE still holds: no second refund of the 3,000
    expect((await ledger()).payments.find((x) => x.orderId === impUid)).toMatchObject({ balanceAmt: 7000 });
    expect(await refundable()).toBe(7000);
    expect((await pier.store.db.selectFrom('payment_cancels').select('state').where('imp_uid', '=', impUid).execute()).map((r) => r.state)).toEqual(['in_doubt']);
    // NICE answers again, once the refund's backoff and grace have passed: the refund it made is recorded
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE }))).toEqual(['succeeded']);
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', cancel_amount: 3000 });
    expect(await refundable()).toBe(7000);
  });

  it('a refund whose answer was lost stays reserved, and reconciliation records it from NICE balance', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('refund_lost'), amount: 10000, card_number: card, expiry: '2030-12' } });
    const impUid = paid.body.response.imp_uid;
    await fault('cancel', 'timeout', 'after'); // NICE refunds, the answer is lost
    const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 2500, reason: '부분' } });
    expect(res.body.message).toMatch(/확인 중/);
    // a second refund cannot take the reserved amount
    const over = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 8000 } });
    expect(over.body.code).not.toBe(0);
    pier.clock.advance((GRACE + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE }))).toEqual(['succeeded']);
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'paid', cancel_amount: 2500 });
    expect((await ledger()).payments.find((x) => x.orderId === impUid)).toMatchObject({ status: 'partialCancelled', balanceAmt: 7500 });
  });
});
