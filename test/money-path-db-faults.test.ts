/**
 * The database failing in the middle of a money path, end to end: the PG has answered (the tPay
 * simulator over real HTTP holds its answer until the fault is in place), and recording that answer
 * fails. On SQLite another connection holds the write lock (BEGIN IMMEDIATE) past Pier's lock wait;
 * on PostgreSQL another session holds the payment's row and Pier's connection, waiting for it, is
 * ended by pg_terminate_backend. The merchant must get V1's "being confirmed" envelope (502, code 1),
 * never a 500 or the database's words; the open attempt or refund is settled by asking the PG, once;
 * the merchant_uid is never charged twice and the refund's amount never refunded twice.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { reconcileGraceSeconds, reconcileInDoubt, reconcileInDoubtCancels } from '../src/core/payments/reconcile.js';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE } from '../src/core/payments/charge.js';
import { DATABASE_WORDS, lockOut } from './db-lockout.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';
import { simulatorControl } from './sim-control.js';

/** SQLite: how long Pier waits for another connection's write lock (real time; the fault ends by Pier's own deadline) */
const SQLITE_LOCK_WAIT_MS = 300;
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let pier: TestPier;
let m: TestMerchant;
let graceSeconds: number;

const control = (path: string, body?: unknown) => simulatorControl(pier.simulatorUrl, path, body);

async function ledger(): Promise<{ approvals: { moid: string; amount: number; cancelledAmount: number }[] }> {
  return (await fetch(`${pier.simulatorUrl}/__ledger`)).json() as never;
}

/** Runs `request` with the PG's answer held, then fails the database write that records it. */
async function withRecordFailing<T>(op: 'payments_token' | 'refunds', request: () => Promise<T>, impUidOf: () => Promise<string>): Promise<T> {
  await control('faults', { mode: 'hold', op });
  const pending = request();
  await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
  const lock = await lockOut(pier, await impUidOf());
  try {
    await control('holds/release', {});
    await lock.fail();
    return await pending;
  } finally {
    await lock.release();
  }
}

function expectNoDatabaseWords(body: unknown) {
  expect(JSON.stringify(body)).not.toMatch(DATABASE_WORDS);
  const infoLines = pier.logs().split('\n').filter((l) => l.includes('"level":30'));
  expect(infoLines.filter((l) => DATABASE_WORDS.test(l))).toEqual([]);
}

beforeAll(async () => {
  pier = await startTestPier({ sqliteLockWaitMs: SQLITE_LOCK_WAIT_MS, simulatorSlowMs: 60_000, readTimeoutMs: 10_000 });
  m = await pier.newMerchant();
  graceSeconds = reconcileGraceSeconds(pier.deps.connectors);
  const key = await pier.call('POST', '/subscribe/customers/dbf_c', { token: m.token, body: { card_number: card, expiry: '2030-12' } });
  expect(key.body.code).toBe(0);
});
afterAll(() => pier?.close());
beforeEach(async () => {
  // earlier tests move the clock past the token's lifetime
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

describe('POST /subscribe/payments/again whose approval cannot be recorded', () => {
  it('answers "being confirmed" with the imp_uid; the attempt keeps its merchant_uid and reconciliation records it paid once, with one webhook', async () => {
    const again = () => pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'dbf_c', merchant_uid: 'dbf_1', amount: 5_100, name: 'db fault' } });
    const impUid = async () => (await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', 'dbf_1').executeTakeFirstOrThrow()).imp_uid;
    const res = await withRecordFailing('payments_token', again, impUid);
    const id = await impUid();
    expect({ status: res.status, code: res.body.code, response: res.body.response }).toEqual({ status: 502, code: 1, response: null });
    expect(res.body.message).toContain('결과를 확인 중입니다');
    expect(res.body.message).toContain(id);
    expectNoDatabaseWords(res.body);
    // the PG charged once; nothing half-written: the attempt is open, holding the merchant_uid, no event yet
    expect((await ledger()).approvals.filter((a) => a.moid === id).map((a) => a.amount)).toEqual([5_100]);
    const open = await pier.store.db.selectFrom('payments').select(['status', 'merchant_uid_lock']).where('imp_uid', '=', id).executeTakeFirstOrThrow();
    expect(open).toEqual({ status: 'ready', merchant_uid_lock: 'dbf_1' });
    expect(await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', id).execute()).toEqual([]);

    // a retry of the merchant_uid is refused, not charged again
    const retry = await again();
    expect({ status: retry.status, code: retry.body.code, message: retry.body.message }).toEqual({ status: 200, code: 1, message: IN_PROGRESS_MESSAGE });

    pier.clock.advance((graceSeconds + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({ [id]: 'paid' });
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({});
    const paid = (await pier.call('GET', `/payments/${id}`, { token: m.token })).body.response;
    expect(paid).toMatchObject({ status: 'paid', amount: 5_100, merchant_uid: 'dbf_1' });
    expect(await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', id).execute()).toEqual([{ status: 'paid' }]);
    const after = await again();
    expect({ code: after.body.code, message: after.body.message }).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE });
    expect((await ledger()).approvals.filter((a) => a.amount === 5_100)).toHaveLength(1);
  });
});

describe('POST /payments/cancel whose refund cannot be recorded', () => {
  it('answers "being confirmed"; the refund stays reserved, and reconciliation records it refunded, never released for a second refund', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'dbf_r1', amount: 10_000, card_number: card, expiry: '2030-01' } });
    expect(paid.body.response?.status, JSON.stringify(paid.body)).toBe('paid');
    const id: string = paid.body.response.imp_uid;
    const cancel = (amount?: number) => pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: id, ...(amount ? { amount } : {}) } });
    const res = await withRecordFailing('refunds', () => cancel(4_000), async () => id);
    expect({ status: res.status, code: res.body.code, response: res.body.response }).toEqual({ status: 502, code: 1, response: null });
    expect(res.body.message).toContain('취소 결과를 확인 중입니다');
    expectNoDatabaseWords(res.body);
    expect((await ledger()).approvals.find((a) => a.moid === id)?.cancelledAmount).toBe(4_000);
    const row = async () => pier.store.db.selectFrom('payments').select(['cancel_amount', 'cancel_pending_amount', 'status']).where('imp_uid', '=', id).executeTakeFirstOrThrow();
    expect(await row()).toEqual({ cancel_amount: 0, cancel_pending_amount: 4_000, status: 'paid' });

    // the reserved 4,000 cannot be refunded again meanwhile
    const over = await cancel(7_000);
    expect(over.body.code).toBe(1);
    expect(over.body.message).toContain('6000');

    pier.clock.advance((graceSeconds + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds }))).toEqual(['succeeded']);
    expect(await row()).toEqual({ cancel_amount: 4_000, cancel_pending_amount: 0, status: 'paid' });
    const rest = await cancel();
    expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10_000 });
    expect((await ledger()).approvals.find((a) => a.moid === id)?.cancelledAmount).toBe(10_000);
  });
});
