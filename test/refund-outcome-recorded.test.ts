/**
 * A refund the PG made is never dropped by Pier (decision 0102), against the tPay simulator over real
 * HTTP and a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL):
 *  - a refund through Pier whose request reached the PG only after reconciliation had asked about it
 *    and released it (the PG had none yet): the PG's confirmation is recorded after all;
 *  - a refund made at the PG itself (its console) while a refund through Pier was open: its amount
 *    cannot be told apart from the open one's, so it is measured once that one is settled.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cancelPayment, mirrorPgRefund } from '../src/core/payments/cancel.js';
import { reconcileInDoubtCancels } from '../src/core/payments/reconcile.js';
import { channelById } from '../src/core/merchants/channels.js';
import { JTNET_TEST_MIDS } from '../src/core/sandbox/demo.js';
import { depsWith, startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';

const GRACE = 32; // the harness's 2 s read timeout + 30 (reconcile.ts inFlightGraceSeconds)
const CONSOLE_REFUND = 'PG사에서 취소된 거래 (cancelled at the PG)';
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let pier: TestPier;
let m: TestMerchant;
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

interface LedgerTx {
  moid: string;
  mid: string;
  tid: string;
  cancelledAmount: number;
  cancels: { amount: number }[];
}

async function ledgerTx(moid: string): Promise<LedgerTx> {
  const l = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: LedgerTx[] };
  return l.approvals.find((a) => a.moid === moid)!;
}

async function paid(merchantUid: string): Promise<string> {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 10_000, card_number: card, expiry: '2030-01' } });
  expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
  return res.body.response.imp_uid;
}

function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

async function until(cond: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Pier's deps whose refunds reach tPay only once `arrive()` is called (a gateway in front of tPay holding the request). */
function refundsHeldOnTheWay() {
  const arrival = latch();
  const deps = depsWith(pier.deps, (real) => ({
    async refund(channel, req) {
      await arrival.opened;
      return real.refund(channel, req);
    },
  }));
  return { deps, arrive: arrival.open };
}

const refundRows = (impUid: string) => pier.store.db.selectFrom('payment_cancels').select(['state', 'amount']).where('imp_uid', '=', impUid).orderBy('id').execute();

/** A refund made in the PG's own console: tPay's refund API called with the merchant's own credentials. */
async function refundAtPgConsole(impUid: string, amount: number) {
  const tx = await ledgerTx(impUid);
  const account = JTNET_TEST_MIDS.find((t) => t.mid === tx.mid)!;
  const form = new URLSearchParams({ mid: tx.mid, api_key: account.merchantKey, tid: tx.tid, cancel_pw: account.cancelPassword, cancel_amt: String(amount), cancel_msg: 'refunded at the console', partial_cancel: '1' });
  const res = await fetch(`${pier.simulatorUrl}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  expect(((await res.json()) as { result_cd: string }).result_cd).toBe('2001');
}

/** What the PG-notice path does with a notice of that refund (pg-notices.ts applyPgPaymentState): read the payment back from the PG, mirror its refunds. */
async function pgNoticeOfRefund(impUid: string) {
  const p = await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  const channel = (await channelById(pier.deps, p.channel_id!))!;
  const found = await channel.connector.inquire(channel.credentials, { moid: impUid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 });
  if (!found.found) throw new Error(`the PG has no ${impUid}`);
  expect(found.cancelledAmount).toBeGreaterThan(0);
  await mirrorPgRefund(pier.deps, impUid, found.cancelledAmount, CONSOLE_REFUND);
}

/** Pier's books equal the PG's: cancel_amount and cancel_history are the PG's refunds, nothing open. */
async function expectBooksMatchPg(impUid: string) {
  const pg = await ledgerTx(impUid);
  const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
  expect(v1.cancel_amount).toBe(pg.cancelledAmount);
  expect(v1.cancel_history.map((c: { amount: number }) => c.amount).sort()).toEqual(pg.cancels.map((c) => c.amount).sort());
  const row = await pier.store.db.selectFrom('payments').select(['cancel_pending_amount']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  expect(Number(row.cancel_pending_amount)).toBe(0);
  const open = await pier.store.db.selectFrom('payment_cancels').select('state').where('imp_uid', '=', impUid).where('state', 'in', ['pending', 'in_doubt']).execute();
  expect(open).toEqual([]);
  return v1;
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());
beforeEach(async () => {
  // earlier tests move the clock past the tokens' lifetime
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

describe('a refund the PG confirms after reconciliation released it', () => {
  it('is recorded as refunded, and the merchant is answered with the refund in the payment', async () => {
    const impUid = await paid(uid('late_answer'));
    const gateway = refundsHeldOnTheWay();
    const cancelling = cancelPayment(gateway.deps, { merchantId: m.merchantId, impUid, amount: 4_000, reason: 'late' });
    await until(async () => (await refundRows(impUid)).length === 1, 'the reservation');
    // the request is still on its way past its grace: reconciliation asks tPay, which has no refund yet
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    expect(await refundRows(impUid)).toEqual([{ state: 'failed', amount: 4_000 }]);
    // then the request reaches tPay, which refunds and says so
    gateway.arrive();
    const { payment } = await cancelling;
    expect(payment).toMatchObject({ status: 'paid', cancel_amount: 4_000 });
    expect(payment.cancel_history.map((c: { amount: number }) => c.amount)).toEqual([4_000]);
    expect((await ledgerTx(impUid)).cancelledAmount).toBe(4_000);
    // the measure left in case the process died before recording it finds nothing more, and goes
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    await expectBooksMatchPg(impUid);
    // the 4,000 is not refundable again at Pier
    const over = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 7_000 } });
    expect(over.body.code).toBe(1);
    expect(over.body.message).toContain('6000');
  });
});

describe('a refund the PG confirms after reconciliation released it and another refund took its balance', () => {
  it('answers that the result is being confirmed, and reconciliation records what the PG refunded once no refund is open', async () => {
    const impUid = await paid(uid('late_taken'));
    const first = refundsHeldOnTheWay();
    const late = cancelPayment(first.deps, { merchantId: m.merchantId, impUid, amount: 4_000, reason: 'late' });
    await until(async () => (await refundRows(impUid)).length === 1, 'the first reservation');
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    expect(await refundRows(impUid)).toEqual([{ state: 'failed', amount: 4_000 }]);
    // the released 4,000 is taken by a refund of the whole payment, itself on its way
    const second = refundsHeldOnTheWay();
    const whole = cancelPayment(second.deps, { merchantId: m.merchantId, impUid, reason: 'whole' });
    await until(async () => (await refundRows(impUid)).length === 2, 'the second reservation');
    first.arrive();
    await expect(late).rejects.toMatchObject({ kind: 'pg_unavailable', message: expect.stringContaining('취소 결과를 확인 중입니다') });
    expect((await ledgerTx(impUid)).cancelledAmount).toBe(4_000);
    // the whole refund reaches tPay, which has 6,000 left: refused
    second.arrive();
    await expect(whole).rejects.toThrow('취소에 실패하였습니다');
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    const v1 = await expectBooksMatchPg(impUid);
    expect(v1).toMatchObject({ status: 'paid', cancel_amount: 4_000 });
  });
});

describe('a refund made at the PG console while a refund through Pier is open', () => {
  it('is recorded once the open refund is declined (the console took the balance it asked for)', async () => {
    const impUid = await paid(uid('console_declined'));
    const gateway = refundsHeldOnTheWay();
    const cancelling = cancelPayment(gateway.deps, { merchantId: m.merchantId, impUid, reason: 'whole' });
    await until(async () => (await refundRows(impUid)).length === 1, 'the reservation');
    // meanwhile 3,000 is refunded at the PG console and the PG says so
    await refundAtPgConsole(impUid, 3_000);
    await pgNoticeOfRefund(impUid);
    // the whole refund then reaches tPay, which refuses it: only 7,000 is left there
    gateway.arrive();
    await expect(cancelling).rejects.toThrow('취소에 실패하였습니다');
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    const v1 = await expectBooksMatchPg(impUid);
    expect(v1).toMatchObject({ status: 'paid', cancel_amount: 3_000, cancel_history: [{ amount: 3_000, reason: CONSOLE_REFUND }] });
  });

  it('is recorded once the open refund succeeds, besides it', async () => {
    const impUid = await paid(uid('console_besides'));
    const gateway = refundsHeldOnTheWay();
    const cancelling = cancelPayment(gateway.deps, { merchantId: m.merchantId, impUid, amount: 5_000, reason: 'part' });
    await until(async () => (await refundRows(impUid)).length === 1, 'the reservation');
    await refundAtPgConsole(impUid, 3_000);
    await pgNoticeOfRefund(impUid);
    gateway.arrive();
    expect((await cancelling).payment).toMatchObject({ status: 'paid', cancel_amount: 5_000 });
    pier.clock.advance((GRACE + 1) * 1000);
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    const v1 = await expectBooksMatchPg(impUid);
    expect(v1.cancel_amount).toBe(8_000);
    // the rest is still refundable through Pier, and the PG agrees
    const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid } });
    expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10_000 });
    await expectBooksMatchPg(impUid);
  });
});
