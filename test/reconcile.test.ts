/**
 * Reconciliation that always finishes (issue #10 items 1, 2, 4, 8), against the tPay simulator
 * over real HTTP and a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL):
 * refunds whose process died mid-call, a refund completing while reconciliation looks, rows the
 * PG cannot answer for that must not starve the rest, the database clock and the sandbox clock,
 * and what a merchant is told about a charge whose answer was lost.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ConnectorError, type InquiryResult } from '../src/connectors/types.js';
import { cancelPayment } from '../src/core/payments/cancel.js';
import { addChannel } from '../src/core/merchants/channels.js';
import { RECHECK_BACKOFF_SECONDS, reconcileInDoubt, reconcileInDoubtCancels, settleAttempt } from '../src/core/payments/reconcile.js';
import { advanceSandboxClock, resetSandboxClock } from '../src/core/sandbox/clock.js';
import { JTNET_TEST_MIDS } from '../src/core/sandbox/demo.js';
import { lockHolder } from '../src/core/payments/attempts.js';
import { webhookQueue } from '../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../src/jobs/runner.js';
import { depsWith, dieBeforeInsertInto, startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';

const GRACE = 32; // the harness's 2 s read timeout + 30 (reconcile.ts inFlightGraceSeconds)
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });
const slow = testCardNumber({ kftcCode: '381', lastFour: '0098' }); // approved, answer held past the read timeout

let pier: TestPier;
let m: TestMerchant;
let seq = 0;
const uid = (p: string) => `${p}_${++seq}`;

interface LedgerTx {
  moid: string;
  tid: string;
  amount: number;
  cancelledAmount: number;
  status: string;
  cancels: { amount: number }[];
}

async function ledgerTx(moid: string): Promise<LedgerTx | undefined> {
  const res = await fetch(`${pier.simulatorUrl}/__ledger`);
  const l = (await res.json()) as { approvals: LedgerTx[] };
  return l.approvals.find((a) => a.moid === moid);
}

async function fault(mode: 'http_500' | 'reset' | 'hold', op: string, times = 1) {
  const res = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode, op, times }) });
  expect(res.status).toBe(201);
}

async function paid(merchantUid: string, amount = 10_000): Promise<string> {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount, card_number: card, expiry: '2030-01' } });
  expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
  return res.body.response.imp_uid;
}

function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/**
 * Another merchant ("A") with a window channel at a MID the simulator does not know, and a paid
 * payment of this test's merchant to copy rows from: A's rows are inserted in doubt on that channel.
 */
async function otherMerchantOnAGhostChannel() {
  const a = await pier.newMerchant();
  const ghost = await addChannel(pier.deps, a.merchantId, { provider: 'jtnet', mid: 'ghostmid', merchantKey: 'x', cancelPassword: 'x', kind: 'window', sandbox: true, name: 'ghost' });
  const template = await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', await paid(uid('template'))).executeTakeFirstOrThrow();
  return { a, ghost, template };
}

/**
 * `count` vbank attempts in doubt on the ghost channel, copies of `template`: order ids
 * `imp_<digit><11 digits>`, merchant_uids `<prefix>_<i>` (each holding its lock), due at
 * `nextCheckAt(i)` (default 0: older than anything), never asked yet.
 */
function inDoubtOnGhost<T extends object>(template: T & { merchant_id: string }, ghost: { id: string }, count: number, o: { impDigit: number; prefix: string; merchantId?: string; nextCheckAt?: (i: number) => number }) {
  return Array.from({ length: count }, (_, i) => ({
    ...template,
    merchant_id: o.merchantId ?? template.merchant_id,
    imp_uid: `imp_${o.impDigit}${String(i).padStart(11, '0')}`,
    merchant_uid: `${o.prefix}_${i}`,
    merchant_uid_lock: `${o.prefix}_${i}`,
    channel_id: ghost.id,
    pg_id: 'ghostmid',
    pay_method: 'vbank',
    status: 'ready',
    pg_state: 'in_doubt',
    cancel_amount: 0,
    cancel_pending_amount: 0,
    pg_tid: null,
    next_check_at: o.nextCheckAt?.(i) ?? 0,
    check_count: 0,
  }));
}

/**
 * Pier's deps with one merchant's PG holding every inquiry on the order ids `held` (that merchant's
 * payments) until `release()`: how many are held now, the most held at once, and how many were
 * asked. By id, not by a prefix: another merchant's imp_uid, drawn at random, may share one.
 */
function heldInquiries(held: { imp_uid: string }[]) {
  const ids = new Set(held.map((p) => p.imp_uid));
  const answered = latch();
  const count = { held: 0, mostHeld: 0, asked: 0 };
  const deps = depsWith(pier.deps, (real) => ({
    async inquire(channel, q) {
      if (!ids.has(q.moid)) return real.inquire(channel, q);
      count.asked++;
      count.mostHeld = Math.max(count.mostHeld, ++count.held);
      try {
        await answered.opened;
        return await real.inquire(channel, q);
      } finally {
        count.held--;
      }
    },
  }));
  return { deps, count, release: answered.open };
}

async function until(cond: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Pier's books equal the PG's: cancel_amount and cancel_history are the PG's refunds, nothing pending. */
async function expectBooksMatchPg(impUid: string) {
  const pg = (await ledgerTx(impUid))!;
  const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
  expect(v1.cancel_amount).toBe(pg.cancelledAmount);
  expect(v1.cancel_history.map((c: { amount: number }) => c.amount).sort()).toEqual(pg.cancels.map((c) => c.amount).sort());
  const row = await pier.store.db.selectFrom('payments').select(['cancel_pending_amount', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  expect(row).toEqual({ cancel_pending_amount: 0, pg_state: 'done' });
  const open = await pier.store.db.selectFrom('payment_cancels').select('state').where('imp_uid', '=', impUid).where('state', 'in', ['pending', 'in_doubt']).execute();
  expect(open).toEqual([]);
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());
beforeEach(async () => {
  await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'DELETE' });
  // earlier tests move the clock past the tokens' lifetime
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

describe('a refund whose process died while the PG was refunding (item 1)', () => {
  it('stays reserved while it may still be in flight, then is settled by inquiry and recorded as the PG did it', async () => {
    const impUid = await paid(uid('died_refunded'));
    // The process sends the refund and never records an answer (it died): the PG did refund.
    const dead = depsWith(pier.deps, (real) => ({
      async refund(channel, req) {
        await real.refund(channel, req);
        return new Promise(() => undefined);
      },
    }));
    void cancelPayment(dead, { merchantId: m.merchantId, impUid, amount: 1_000 });
    await until(async () => (await ledgerTx(impUid))?.cancelledAmount === 1_000, 'the PG to refund');
    const pending = await pier.store.db.selectFrom('payment_cancels').select('state').where('imp_uid', '=', impUid).execute();
    expect(pending).toEqual([{ state: 'pending' }]);

    // within the grace the refund may still be on its way: left alone
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE })).toEqual({});
    pier.clock.advance((GRACE + 1) * 1000);
    const outcome = await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    expect(Object.values(outcome)).toEqual(['succeeded']);
    await expectBooksMatchPg(impUid);

    // and the payment's other refunds are no longer blocked
    const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 2_000 } });
    expect(rest.body.response).toMatchObject({ status: 'paid', cancel_amount: 3_000 });
    await expectBooksMatchPg(impUid);
  });

  it('releases a refund the PG never received once its grace has passed', async () => {
    const impUid = await paid(uid('died_unsent'));
    const dead = depsWith(pier.deps, () => ({ refund: () => new Promise(() => undefined) }));
    void cancelPayment(dead, { merchantId: m.merchantId, impUid, amount: 4_000 });
    await until(async () => (await pier.store.db.selectFrom('payment_cancels').select('id').where('imp_uid', '=', impUid).execute()).length === 1, 'the reservation');
    pier.clock.advance((GRACE + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE }))).toEqual(['failed']);
    await expectBooksMatchPg(impUid);
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', cancel_amount: 0 });
  });

  it('never credits a refund that completes during the inquiry to another refund', async () => {
    const impUid = await paid(uid('race'));
    // refund A: the PG answers 500 without refunding (in doubt for Pier, not refunded at the PG)
    await fault('http_500', 'refunds');
    const a = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3_000 } });
    expect(a.status).toBe(502);
    pier.clock.advance((GRACE + 1) * 1000);

    // reconciliation reads Pier's refunds, then is slow to ask the PG...
    const asked = latch();
    const resume = latch();
    const slowInquiry = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        asked.open();
        await resume.opened;
        return real.inquire(channel, q);
      },
    }));
    const pass = reconcileInDoubtCancels(slowInquiry, { graceSeconds: GRACE });
    await asked.opened;
    // ...meanwhile refund B of the same amount completes at the PG and in Pier
    const b = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3_000 } });
    expect(b.body.response).toMatchObject({ cancel_amount: 3_000 });
    resume.open();
    // the PG now reports 3,000 refunded: that is B's, not A's
    expect(await pass).toEqual({});
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1.cancel_amount).toBe(3_000);

    // at its next check A is settled for what it is: not refunded
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE }))).toEqual(['failed']);
    await expectBooksMatchPg(impUid);
  });

  it('settles two open refunds of different amounts by what the PG refunded, whatever their order', async () => {
    const impUid = await paid(uid('combo'));
    await fault('http_500', 'refunds'); // 1,000: not refunded at the PG
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 1_000 } })).status).toBe(502);
    await fault('reset', 'refunds'); // 2,500: refunded, answer lost
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 2_500 } })).status).toBe(502);
    pier.clock.advance((GRACE + 1) * 1000);
    const outcome = await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE });
    expect(Object.values(outcome).sort()).toEqual(['failed', 'succeeded']);
    await expectBooksMatchPg(impUid);
  });

  it('leaves a refund whose answer was just lost to its own grace when another refund of the payment is settled: tPay may still make it', async () => {
    const impUid = await paid(uid('sibling'));
    // refund A: the PG answers 500 without refunding; its grace passes
    await fault('http_500', 'refunds');
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3_000 } })).status).toBe(502);
    pier.clock.advance((GRACE + 1) * 1000);
    // refund B: Pier's call ends without an answer (its deadline passed) while the request is still
    // on its way (a gateway in front of tPay holds it); tPay makes the refund only afterwards
    let reachTpay!: () => Promise<unknown>;
    const slowGateway = depsWith(pier.deps, (real) => ({
      async refund(channel, req) {
        reachTpay = () => real.refund(channel, req);
        throw new ConnectorError('timeout', 'tPay refunds: no answer in time (the call\'s deadline passed)', true, false);
      },
    }));
    await expect(cancelPayment(slowGateway, { merchantId: m.merchantId, impUid, amount: 2_000 })).rejects.toThrow('취소 결과를 확인 중입니다');
    const [a, b] = await pier.store.db.selectFrom('payment_cancels').select(['cancellation_id', 'state']).where('imp_uid', '=', impUid).orderBy('id').execute();
    expect([a!.state, b!.state]).toEqual(['in_doubt', 'in_doubt']);

    // A is due, B inside its grace: asking tPay now could not tell B's refund from none, so the payment waits
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE })).toEqual({});
    expect((await pier.store.db.selectFrom('payment_cancels').select('state').where('cancellation_id', '=', b!.cancellation_id).executeTakeFirstOrThrow()).state).toBe('in_doubt');
    await reachTpay();
    expect((await ledgerTx(impUid))!.cancelledAmount).toBe(2_000);

    // past B's grace and A's backoff both are settled as tPay made them: B refunded, A not
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE + 1) * 1000);
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds: GRACE })).toEqual({ [a!.cancellation_id]: 'failed', [b!.cancellation_id]: 'succeeded' });
    await expectBooksMatchPg(impUid);
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'paid', cancel_amount: 2_000 });
    // what is left to refund is what tPay holds: 8,000, not 10,000 (B refunded a second time)
    const over = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 8_001 } });
    expect(over.body.message).toContain('8000');
  });

  it('settles another merchant\'s in-doubt refund while one merchant\'s PG holds the inquiries of its 40 older refunds (decision 0065)', async () => {
    const { a, ghost, template } = await otherMerchantOnAGhostChannel();
    const payments = Array.from({ length: 40 }, (_, i) => ({
      ...template,
      merchant_id: a.merchantId,
      imp_uid: `imp_6${String(i).padStart(11, '0')}`,
      merchant_uid: `refunds_${i}`,
      merchant_uid_lock: `refunds_${i}`,
      channel_id: ghost.id,
      pg_id: 'ghostmid',
      cancel_amount: 0,
      cancel_pending_amount: 1_000,
    }));
    await pier.store.db.insertInto('payments').values(payments).execute();
    await pier.store.db
      .insertInto('payment_cancels')
      .values(payments.map((p, i) => ({ imp_uid: p.imp_uid, cancellation_id: `cncl_flood_${i}`, amount: 1_000, tax_free: 0, reason: null, state: 'in_doubt', pg_tid: null, fail_reason: null, refund_holder: null, refund_bank: null, refund_account: null, requested_at: 0, cancelled_at: 0, next_check_at: i, check_count: 0 })))
      .execute();

    // merchant B (m): a refund whose answer was lost, the PG never having refunded it
    const impUid = await paid(uid('refund_behind_flood'));
    await fault('http_500', 'refunds');
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 3_000 } })).status).toBe(502);
    pier.clock.advance((GRACE + 1) * 1000);

    const { deps: slowPgOfA, count: pgOfA, release } = heldInquiries(payments);
    const pass = reconcileInDoubtCancels(slowPgOfA, { graceSeconds: GRACE, concurrency: 8 });
    let outcome: Awaited<typeof pass>;
    try {
      const open = () => pier.store.db.selectFrom('payment_cancels').select('id').where('imp_uid', '=', impUid).where('state', 'in', ['pending', 'in_doubt']).execute();
      await expect.poll(async () => (await open()).length, { timeout: 10_000, interval: 10 }).toBe(0);
      await expect.poll(() => pgOfA.held, { timeout: 10_000, interval: 10 }).toBe(4); // A holds its share
      expect(pgOfA.asked).toBe(4);
    } finally {
      release();
      outcome = await pass;
    }
    expect(Object.values(outcome)).toEqual(['failed']); // A's PG refuses to answer: its refunds wait for their backoff
    await expectBooksMatchPg(impUid);
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', cancel_amount: 0 });
    expect(pgOfA.asked).toBe(40);
    const checked = await pier.store.db.selectFrom('payment_cancels').select(sql<number>`count(*)`.as('n')).where('cancellation_id', 'like', 'cncl_flood_%').where('state', '=', 'in_doubt').where('check_count', '=', 1).executeTakeFirstOrThrow();
    expect(Number(checked.n)).toBe(40);
    await pier.store.db.deleteFrom('payment_cancels').where('cancellation_id', 'like', 'cncl_flood_%').execute();
    await pier.store.db.deleteFrom('payments').where('channel_id', '=', ghost.id).execute();
  }, 120_000);
});

describe('reconciliation cannot be starved (item 2)', () => {
  it('settles one in-doubt charge behind 1,000 rows the PG cannot answer for, in one pass, and then leaves those rows to their backoff', async () => {
    // 1,000 abandoned attempts on a channel the PG refuses to answer for (trans_search refused)
    const ghost = await addChannel(pier.deps, m.merchantId, { provider: 'jtnet', mid: 'ghostmid', merchantKey: 'x', cancelPassword: 'x', kind: 'window', sandbox: true, name: 'ghost' });
    const template = await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', await paid(uid('template'))).executeTakeFirstOrThrow();
    const rows = inDoubtOnGhost(template, ghost, 1_000, { impDigit: 9, prefix: 'stuck' });
    for (let i = 0; i < rows.length; i += 100) await pier.store.db.insertInto('payments').values(rows.slice(i, i + 100)).execute();

    // a real charge whose answer and immediate inquiry were both lost
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('behind'), amount: 5_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    pier.clock.advance((GRACE + 1) * 1000);

    const outcome = await reconcileInDoubt(pier.deps, { graceSeconds: GRACE, limit: 100 });
    expect(outcome[impUid]).toBe('paid');
    expect(Object.keys(outcome)).toHaveLength(1_001);
    expect(Object.values(outcome).filter((o) => o === 'unknown')).toHaveLength(1_000);
    const pg = (await ledgerTx(impUid))!;
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', amount: pg.amount, pg_tid: pg.tid });

    // each stuck row moved itself back by its first step: the next pass has nothing to do (a long
    // grace here, so that however long the first pass took in real time, rows still at
    // next_check_at 0 would show up and rows moved back would not)
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: 3600 })).toEqual({});
    const counts = await pier.store.db.selectFrom('payments').select(sql<number>`count(*)`.as('n')).where('channel_id', '=', ghost.id).where('check_count', '=', 1).executeTakeFirstOrThrow();
    expect(Number(counts.n)).toBe(1_000);
    // and comes back after it (1 min), then after 5 min
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE) * 1000);
    expect(Object.keys(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))).toHaveLength(1_000);
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).toEqual({});
    await pier.store.db.deleteFrom('payments').where('channel_id', '=', ghost.id).execute();
  }, 600_000); // 3,000 inquiries over real HTTP: minutes on a loaded CI machine

  it('settles another merchant\'s in-doubt charge while one merchant\'s PG holds the inquiries of its 200 older rows, and still asks every one of them (decision 0065)', async () => {
    // merchant A: 200 attempts in doubt since long before B's charge (a flood of abandoned windows,
    // or a PG that went down), and its PG now answers each inquiry only at its timeout
    const { a, ghost, template } = await otherMerchantOnAGhostChannel();
    // all of them due ahead of B's charge
    const rows = inDoubtOnGhost(template, ghost, 200, { impDigit: 7, prefix: 'flood', merchantId: a.merchantId, nextCheckAt: (i) => i });
    for (let i = 0; i < rows.length; i += 100) await pier.store.db.insertInto('payments').values(rows.slice(i, i + 100)).execute();

    // merchant B (m): a real charge whose answer and immediate inquiry were both lost
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('behind_flood'), amount: 5_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    pier.clock.advance((GRACE + 1) * 1000);

    const { deps: slowPgOfA, count: pgOfA, release } = heldInquiries(rows);
    const pass = reconcileInDoubt(slowPgOfA, { graceSeconds: GRACE, limit: 100, concurrency: 8 });
    let outcome: Awaited<typeof pass>;
    try {
      // B is asked and settled while every inquiry of A is still waiting for its PG
      const settled = async () => (await pier.store.db.selectFrom('payments').select('pg_state').where('imp_uid', '=', impUid).executeTakeFirstOrThrow()).pg_state;
      await expect.poll(settled, { timeout: 10_000, interval: 10 }).toBe('done');
      const pg = (await ledgerTx(impUid))!;
      expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', amount: 5_000, pg_tid: pg.tid });
      // A holds its share of the pass, half of its 8 inquiries at once, and no more
      await expect.poll(() => pgOfA.held, { timeout: 10_000, interval: 10 }).toBe(4); // A holds its share
      expect(pgOfA.asked).toBe(4);
    } finally {
      release();
      outcome = await pass; // even when the wait failed: the pass never outlives the test
    }
    expect(outcome[impUid]).toBe('paid');
    // every row of A was still asked once in this pass (its PG refuses: each waits for its backoff)
    expect(pgOfA.asked).toBe(200);
    expect(pgOfA.mostHeld).toBe(4);
    expect(Object.keys(outcome).filter((k) => rows.some((r) => r.imp_uid === k))).toHaveLength(200);
    const checked = await pier.store.db.selectFrom('payments').select(sql<number>`count(*)`.as('n')).where('merchant_id', '=', a.merchantId).where('pg_state', '=', 'in_doubt').where('check_count', '=', 1).executeTakeFirstOrThrow();
    expect(Number(checked.n)).toBe(200);
    await pier.store.db.deleteFrom('payments').where('channel_id', '=', ghost.id).execute();
  }, 120_000);

  it('reaches another merchant\'s charge that falls due while a pass waits on one merchant\'s held inquiries (decision 0065)', async () => {
    const { a, ghost, template } = await otherMerchantOnAGhostChannel();
    const rows = inDoubtOnGhost(template, ghost, 20, { impDigit: 5, prefix: 'late', merchantId: a.merchantId });
    await pier.store.db.insertInto('payments').values(rows).execute();
    // B's charge goes in doubt now: within its grace when the pass starts
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('due_mid_pass'), amount: 4_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;

    const { deps: slowPgOfA, count: pgOfA, release } = heldInquiries(rows);
    const pass = reconcileInDoubt(slowPgOfA, { graceSeconds: GRACE });
    let outcome: Awaited<typeof pass>;
    try {
      await expect.poll(() => pgOfA.held, { timeout: 10_000, interval: 10 }).toBe(4); // A holds its share
      expect(await pier.store.db.selectFrom('payments').select('pg_state').where('imp_uid', '=', impUid).executeTakeFirstOrThrow()).toEqual({ pg_state: 'in_doubt' });
      pier.clock.advance((GRACE + 1) * 1000); // B falls due while A's inquiries wait
      const settled = async () => (await pier.store.db.selectFrom('payments').select('pg_state').where('imp_uid', '=', impUid).executeTakeFirstOrThrow()).pg_state === 'done';
      // the pass looks for other merchants' rows at most a second after its last read
      await expect.poll(settled, { timeout: 10_000, interval: 20 }).toBe(true);
      expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ status: 'paid', amount: 4_000 });
      expect(pgOfA.asked).toBe(4);
    } finally {
      release();
      outcome = await pass;
    }
    expect(outcome[impUid]).toBe('paid');
    expect(pgOfA.asked).toBe(20);
    await pier.store.db.deleteFrom('payments').where('channel_id', '=', ghost.id).execute();
  }, 120_000);

  it('records a window attempt the PG reports as a virtual account awaiting its deposit as issued, never retries it, and releases its merchant_uid once overdue', async () => {
    const merchantUid = uid('vbank_abandoned');
    const window = await pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', m.merchantId).where('kind', '=', 'window').executeTakeFirstOrThrow();
    const template = await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', await paid(uid('template'))).executeTakeFirstOrThrow();
    const impUid = 'imp_800000000001';
    await pier.store.db
      .insertInto('payments')
      .values({ ...template, imp_uid: impUid, merchant_uid: merchantUid, merchant_uid_lock: merchantUid, channel_id: window.id, pg_id: window.mid, pay_method: 'vbank', status: 'ready', pg_state: 'in_doubt', amount: 33_000, cancel_amount: 0, cancel_pending_amount: 0, pg_tid: null, next_check_at: 0, check_count: 0 })
      .execute();
    const dueAt = Math.floor(pier.clock.now() / 1000) + 86_400;
    // what the simulator's trans_search answers for such an account (mapped by transformers.ts; see jtnet-window.test.ts)
    let inquiries = 0;
    const awaiting: InquiryResult = { found: true, state: 'awaiting_deposit', pgTid: 'tpaytest0m_vbank_1', amount: 33_000, cancelledAmount: 0, applyNum: null, paidAt: 0, cardQuota: 0, receiptUrl: null, cardCode: null, cardName: null, cardNumberMasked: null, cardType: null, vbank: { code: '004', name: 'KB국민은행', num: '00412345678901', holder: null, dueAt } };
    const deps = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        if (q.moid !== impUid) return real.inquire(channel, q);
        inquiries++;
        return awaiting;
      },
    }));
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(deps, { graceSeconds: GRACE }))[impUid]).toBe('awaiting_deposit');
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'ready', vbank_num: '00412345678901', vbank_code: '004', vbank_name: 'KB국민은행', vbank_date: dueAt });
    // issued accounts are out of reconciliation for good
    pier.clock.advance(2 * 86_400_000);
    expect(await reconcileInDoubt(deps, { graceSeconds: GRACE })).not.toHaveProperty(impUid);
    expect(inquiries).toBe(1);
    // past its due date, and the PG holding no deposit (asked once more), the merchant_uid is free again
    expect(await lockHolder(deps, m.merchantId, merchantUid)).toBeUndefined();
    expect(inquiries).toBe(2);
  });
});

describe('the pass budget', () => {
  it('stops starting rows once its budget has run out on the injected clock, and the next pass takes the rows left', async () => {
    // 12 rows of one merchant due at once, on a channel the PG refuses to answer for
    const { a, ghost, template } = await otherMerchantOnAGhostChannel();
    const rows = inDoubtOnGhost(template, ghost, 12, { impDigit: 4, prefix: 'budget', merchantId: a.merchantId });
    await pier.store.db.insertInto('payments').values(rows).execute();
    const ours = new Set(rows.map((r) => r.imp_uid));
    // every inquiry takes the PG a second of the manual clock, and no real time
    const asked: string[] = [];
    const oneSecondEach = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        asked.push(q.moid);
        pier.clock.advance(1_000);
        return real.inquire(channel, q);
      },
    }));
    const checkedOnce = async () => Number((await pier.store.db.selectFrom('payments').select(sql<number>`count(*)`.as('n')).where('channel_id', '=', ghost.id).where('check_count', '=', 1).executeTakeFirstOrThrow()).n);

    // one at a time, 5 s of budget: the rows started at 0, 1, 2, 3 and 4 s, none at 5 s
    const first = await reconcileInDoubt(oneSecondEach, { graceSeconds: GRACE, concurrency: 1, budgetMs: 5_000 });
    expect(asked).toHaveLength(5);
    const askedOfOurs = asked.filter((id) => ours.has(id));
    expect(Object.keys(first).filter((id) => ours.has(id))).toEqual(askedOfOurs);
    // the rows not started were not taken: no check counted, no backoff
    expect(await checkedOnce()).toBe(askedOfOurs.length);

    // the next pass, with the default budget, takes every row left
    asked.length = 0;
    const second = await reconcileInDoubt(oneSecondEach, { graceSeconds: GRACE, concurrency: 1 });
    expect(Object.keys(second).filter((id) => ours.has(id))).toHaveLength(rows.length - askedOfOurs.length);
    expect(await checkedOnce()).toBe(rows.length);
    await pier.store.db.deleteFrom('payments').where('channel_id', '=', ghost.id).execute();
  });
});

describe('time (item 4)', () => {
  it('a sandbox clock moved 30 days does not make an in-flight refund or charge look stale', async () => {
    const sandbox = await startTestPier({ sandboxClock: true });
    try {
      const sm = await sandbox.newMerchant();
      const res = await sandbox.call('POST', '/subscribe/payments/onetime', { token: sm.token, body: { merchant_uid: 'sb_1', amount: 10_000, card_number: card, expiry: '2030-01' } });
      const impUid = res.body.response.imp_uid;
      const inFlight = depsWith(sandbox.deps, () => ({ refund: () => new Promise(() => undefined) }));
      void cancelPayment(inFlight, { merchantId: sm.merchantId, impUid, amount: 1_000 });
      await until(async () => (await sandbox.store.db.selectFrom('payment_cancels').select('id').where('imp_uid', '=', impUid).execute()).length === 1, 'the reservation');
      // a charge in flight too (recorded as calling, its PG call not answered yet)
      await sandbox.store.db.updateTable('payments').set({ pg_state: 'calling' }).where('imp_uid', '=', impUid).execute();

      await advanceSandboxClock(sandbox.store, 30 * 86_400_000, sandbox.deps.clock);
      expect(await reconcileInDoubtCancels(sandbox.deps, { graceSeconds: GRACE })).toEqual({});
      expect(await reconcileInDoubt(sandbox.deps, { graceSeconds: GRACE })).toEqual({});
      await resetSandboxClock(sandbox.store, sandbox.deps.clock);
    } finally {
      await sandbox.close();
    }
  });
});

describe('webhook retries and the sandbox clock (item 4)', () => {
  it('a retry falls due on the sandbox clock, and a reset moves pending retries back with it', async () => {
    const sandbox = await startTestPier({ sandboxClock: true });
    const queue = webhookQueue(sandbox.deps, { timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
    try {
      await advanceSandboxClock(sandbox.store, 30 * 86_400_000, sandbox.deps.clock);
      const sm = await sandbox.newMerchant();
      const res = await sandbox.call('POST', '/subscribe/payments/onetime', { token: sm.token, body: { merchant_uid: 'wh_1', amount: 1_000, card_number: card, expiry: '2030-01', notice_url: 'http://127.0.0.1:9/hook' } });
      expect(res.body.response.status).toBe('paid');
      await new JobRunner({ queues: [queue], logger: sandbox.deps.logger }).drain(); // the receiver is down: a retry is scheduled
      const nextAttempt = async () => Number((await sandbox.store.db.selectFrom('webhook_deliveries').select('next_attempt_at').where('state', '=', 'pending').executeTakeFirstOrThrow()).next_attempt_at);
      const sandboxNow = Math.floor(sandbox.deps.clock.now() / 1000);
      expect((await nextAttempt()) - sandboxNow).toBeGreaterThan(0);
      expect((await nextAttempt()) - sandboxNow).toBeLessThan(60); // ~30 s ahead on the sandbox clock, not 30 days behind it
      await resetSandboxClock(sandbox.store, sandbox.deps.clock);
      const realNow = Math.floor(sandbox.clock.now() / 1000);
      expect((await nextAttempt()) - realNow).toBeGreaterThan(0);
      expect((await nextAttempt()) - realNow).toBeLessThan(60); // still ~30 s ahead, not stranded a month away
    } finally {
      await queue.close();
      await sandbox.close();
    }
  });
});

describe('a charge whose PG answer is lost (item 8)', () => {
  it('answers V1\'s error envelope saying the result is being confirmed, and the paid webhook follows reconciliation', async () => {
    await fault('http_500', 'trans_search');
    const merchantUid = uid('lost_paid');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: merchantUid, amount: 7_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ code: 1, response: null });
    expect(res.body.message).toContain('결제 결과를 확인 중입니다');
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    expect((await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response).toMatchObject({ merchant_uid: merchantUid, status: 'ready' });
    const events = () => pier.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', '=', impUid).execute();
    expect(await events()).toEqual([]);
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('paid');
    expect(await events()).toEqual([{ status: 'paid', cause: 'charge' }]);
  });

  it('sends the failed webhook when reconciliation finds the PG has no such charge', async () => {
    await fault('http_500', 'payments'); // 500 without processing: in doubt for Pier, nothing at the PG
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('lost_failed'), amount: 7_000, card_number: card, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('failed');
    const events = await pier.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('imp_uid', '=', impUid).execute();
    expect(events).toEqual([{ status: 'failed', cause: 'reconciled' }]);
  });

  it('records a partial refund the PG made while the charge was in doubt as a refund (cancel_history, `cancelled` webhook), once, however many settle it at once', async () => {
    await fault('http_500', 'trans_search');
    // 8,000 of it tax-free: the PG's refund, whose parts it does not say, is recorded taxable first
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('pg_refunded'), amount: 10_000, tax_free: 8_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;

    // meanwhile someone refunds 4,000 at the PG itself (its console; NICE's net-cancel does the same)
    const tx = (await ledgerTx(impUid)) as LedgerTx & { mid: string };
    const account = JTNET_TEST_MIDS.find((t) => t.mid === tx.mid)!;
    const form = new URLSearchParams({ mid: tx.mid, api_key: account.merchantKey, tid: tx.tid, cancel_pw: account.cancelPassword, cancel_amt: '4000', cancel_msg: 'refunded at the PG', partial_cancel: '1' });
    const refund = await fetch(`${pier.simulatorUrl}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    expect(((await refund.json()) as { result_cd: string }).result_cd).toBe('2001');

    // two reconcilers (the 30 s pass and `pier reconcile`) settle it at the same moment: both have
    // the PG's answer before either records anything
    pier.clock.advance((GRACE + 1) * 1000);
    let asked = 0;
    const both = latch();
    const together = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        const r = await real.inquire(channel, q);
        if (++asked === 2) both.open();
        await both.opened;
        return r;
      },
    }));
    const settled = await Promise.all([settleAttempt(together, impUid, { giveUpIfUnknown: true }), settleAttempt(together, impUid, { giveUpIfUnknown: true })]);
    expect(settled).toEqual(['paid', 'paid']);
    await expectBooksMatchPg(impUid);
    const v1 = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(v1).toMatchObject({ status: 'paid', cancel_amount: 4000, cancel_history: [{ amount: 4000, reason: 'PG사에서 취소된 거래 (refunded at the PG)' }] });
    const events = await pier.store.db.selectFrom('webhook_events').select(['status', 'cancellation_id']).where('imp_uid', '=', impUid).orderBy('created_at').orderBy('id').execute();
    expect(events).toEqual([{ status: 'paid', cancellation_id: null }, { status: 'cancelled', cancellation_id: v1.cancel_history[0].cancellation_id }]);
    // settled again later (a pass that had read the row before): nothing more
    expect(await settleAttempt(pier.deps, impUid, { giveUpIfUnknown: true })).toBe('unknown');

    // the merchant refunds the rest through Pier: the history still adds up to what the PG refunded
    const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid } });
    expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10_000 });
    await expectBooksMatchPg(impUid);
    // 2,000 taxable (all of it) + 2,000 tax-free at the PG, then the 6,000 tax-free left (decision 0055)
    const parts = await pier.store.db.selectFrom('payment_cancels').select(['amount', 'tax_free']).where('imp_uid', '=', impUid).where('state', '=', 'succeeded').orderBy('id').execute();
    expect(parts.map((r) => [Number(r.amount), Number(r.tax_free)])).toEqual([[4000, 2000], [6000, 6000]]);
  });

  it('records the approval and the PG\'s refund of it together: a crash before the refund is written leaves the charge in doubt, and the next pass records both', async () => {
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('crash_before_refund'), amount: 10_000, card_number: slow, expiry: '2030-01' } });
    expect(res.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    const tx = (await ledgerTx(impUid)) as LedgerTx & { mid: string };
    const account = JTNET_TEST_MIDS.find((t) => t.mid === tx.mid)!;
    const form = new URLSearchParams({ mid: tx.mid, api_key: account.merchantKey, tid: tx.tid, cancel_pw: account.cancelPassword, cancel_amt: '10000', cancel_msg: 'refunded at the PG', partial_cancel: '0' });
    const refund = await fetch(`${pier.simulatorUrl}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    expect(((await refund.json()) as { result_cd: string }).result_cd).toBe('2001');

    // the process dies once the approval is written, before the refund is: the refund's write fails
    const revive = await dieBeforeInsertInto(pier.store, 'payment_cancels');
    pier.clock.advance((GRACE + 1) * 1000);
    try {
      await expect(settleAttempt(pier.deps, impUid, { giveUpIfUnknown: true })).rejects.toThrow(/died before writing payment_cancels/);
    } finally {
      await revive();
    }
    // a paid payment whose refund nobody records is what a crash must never leave
    const row = await pier.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'ready', pg_state: 'in_doubt' });
    expect(await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute()).toEqual([]);

    // the next pass settles it, approval and refund
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('cancelled');
    await expectBooksMatchPg(impUid);
    const events = await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).orderBy('created_at').orderBy('id').execute();
    expect(events).toEqual([{ status: 'paid' }, { status: 'cancelled' }]);
  });

  it('never records a charge as paid when the PG reports another amount', async () => {
    await fault('http_500', 'trans_search');
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('mismatch'), amount: 6_000, card_number: slow, expiry: '2030-01' } });
    const impUid = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    const tampered = depsWith(pier.deps, (real) => ({
      async inquire(channel, q) {
        const r = await real.inquire(channel, q);
        return r.found ? { ...r, amount: 60_000 } : r;
      },
    }));
    expect(await settleAttempt(tampered, impUid, { giveUpIfUnknown: true })).toBe('amount_mismatch');
    const row = await pier.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'ready', pg_state: 'in_doubt' });
  });
});
