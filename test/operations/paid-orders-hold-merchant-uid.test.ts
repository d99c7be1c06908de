/**
 * Migration 022: an order paid by a payment that holds no merchant_uid lock, with no other payment
 * holding it, is what a Pier before decision 0073 left when the attempt holding the order beside a
 * late deposit (0071) or a late window approval whose refund the PG declined (0058) then failed or
 * was revoked. 0073 repairs such an order only at a next release of its merchant_uid, which may
 * never come; until then the next charge for that merchant_uid was accepted and paid a second time.
 *
 * The data is built as that Pier left it: raw rows in a database at migration 021, then the
 * upgrade (migrateToLatest), then a merchant's second charge through V1, on a real PG simulator.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/store/db.js';
import { MIGRATION_NAMES } from '../../src/store/migrations/index.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
const T = Date.UTC(2026, 10, 30, 3, 0, 0) / 1000;

interface RawPayment {
  imp_uid: string;
  merchant: TestMerchant;
  merchant_uid: string;
  /** the merchant_uid lock as the old Pier left it */
  held: boolean;
  status: 'paid' | 'failed' | 'cancelled' | 'ready';
  pg_state: 'done' | 'calling';
  pay_method: 'card' | 'vbank';
  paid_at: number;
}

/** A payments row written with raw SQL, every column the schema at migration 021 requires. */
async function rawPayment(p: RawPayment): Promise<void> {
  const amount = 5000;
  const cancelled = p.status === 'cancelled';
  await sql`insert into payments (
      imp_uid, merchant_id, merchant_uid, merchant_uid_lock, channel_id, pg_provider, pg_id, pay_method, channel,
      status, pg_state, amount, cancel_amount, cancel_pending_amount, tax_free, currency, card_quota, pg_tid,
      sandbox, started_at, paid_at, failed_at, cancelled_at, updated_at)
    values (
      ${p.imp_uid}, ${p.merchant.merchantId}, ${p.merchant_uid}, ${p.held ? p.merchant_uid : null}, ${null}, ${'jtnet'}, ${'tpay_test'}, ${p.pay_method}, ${'api'},
      ${p.status}, ${p.pg_state}, ${amount}, ${cancelled ? amount : 0}, ${0}, ${0}, ${'KRW'}, ${0}, ${`tid_${p.imp_uid}`},
      ${1}, ${p.paid_at === 0 ? T - 600 : p.paid_at - 60}, ${p.paid_at}, ${p.status === 'failed' ? T - 500 : 0}, ${cancelled ? p.paid_at + 10 : 0}, ${T - 100})`.execute(pier.store.db);
}

const charge = (merchant: TestMerchant, merchantUid: string) =>
  pier.call('POST', '/subscribe/payments/onetime', { token: merchant.token, body: { merchant_uid: merchantUid, amount: 5000, card_number: card, expiry: '2030-12' } });

async function rowsOf(merchant: TestMerchant, merchantUid: string) {
  return pier.store.db
    .selectFrom('payments')
    .select(['imp_uid', 'status', 'merchant_uid_lock'])
    .where('merchant_id', '=', merchant.merchantId)
    .where('merchant_uid', '=', merchantUid)
    .orderBy('imp_uid')
    .execute();
}

const notices: Array<{ message: string; detail: Record<string, unknown> }> = [];

beforeAll(async () => {
  pier = await startTestPier({ migratedUpTo: '021-ended-row-purge' });
  m = await pier.newMerchant();
  other = await pier.newMerchant();

  // A: a deposit recorded paid beside a card charge in flight; the charge was then declined and
  // freed the order. Another merchant's payment holds the same merchant_uid (another order).
  await rawPayment({ imp_uid: 'imp_100000000001', merchant: m, merchant_uid: 'order_a', held: false, status: 'paid', pg_state: 'done', pay_method: 'vbank', paid_at: T - 300 });
  await rawPayment({ imp_uid: 'imp_100000000002', merchant: m, merchant_uid: 'order_a', held: false, status: 'failed', pg_state: 'done', pay_method: 'card', paid_at: 0 });
  await rawPayment({ imp_uid: 'imp_100000000003', merchant: other, merchant_uid: 'order_a', held: true, status: 'paid', pg_state: 'done', pay_method: 'card', paid_at: T - 200 });
  // B: paid twice, neither holding: a late approval (paid later, lower imp_uid) and a deposit paid first
  await rawPayment({ imp_uid: 'imp_100000000011', merchant: m, merchant_uid: 'order_b', held: false, status: 'paid', pg_state: 'done', pay_method: 'card', paid_at: T - 200 });
  await rawPayment({ imp_uid: 'imp_100000000012', merchant: m, merchant_uid: 'order_b', held: false, status: 'paid', pg_state: 'done', pay_method: 'vbank', paid_at: T - 400 });
  // C: a deposit paid beside a charge still in flight: the charge holds the order (its release hands it over, 0073)
  await rawPayment({ imp_uid: 'imp_100000000021', merchant: m, merchant_uid: 'order_c', held: false, status: 'paid', pg_state: 'done', pay_method: 'vbank', paid_at: T - 300 });
  await rawPayment({ imp_uid: 'imp_100000000022', merchant: m, merchant_uid: 'order_c', held: true, status: 'ready', pg_state: 'calling', pay_method: 'card', paid_at: 0 });
  // D: a late approval refunded in full: the order is not paid and stays free
  await rawPayment({ imp_uid: 'imp_100000000031', merchant: m, merchant_uid: 'order_d', held: false, status: 'cancelled', pg_state: 'done', pay_method: 'card', paid_at: T - 300 });

  const applied = await migrateToLatest(pier.store, { onNotice: (message, detail) => notices.push({ message, detail }) });
  expect(applied).toEqual(MIGRATION_NAMES.slice(MIGRATION_NAMES.indexOf('021-ended-row-purge') + 1));
});
afterAll(async () => {
  await pier?.close();
});

describe('migration 022: a paid order that no payment held', () => {
  it('is held by its paid payment after the upgrade: a second charge for its merchant_uid is refused, not paid again', async () => {
    const again = await charge(m, 'order_a');
    expect(again.body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제'), response: null });
    expect(await rowsOf(m, 'order_a')).toEqual([
      { imp_uid: 'imp_100000000001', status: 'paid', merchant_uid_lock: 'order_a' },
      { imp_uid: 'imp_100000000002', status: 'failed', merchant_uid_lock: null },
    ]);
    // the other merchant's order of the same merchant_uid is its own
    expect(await rowsOf(other, 'order_a')).toEqual([{ imp_uid: 'imp_100000000003', status: 'paid', merchant_uid_lock: 'order_a' }]);
  });

  it('paid twice before the upgrade: the payment paid first holds it, the other stays paid as it is and is reported', async () => {
    expect((await charge(m, 'order_b')).body).toMatchObject({ code: 1, message: expect.stringContaining('이미 결제') });
    expect(await rowsOf(m, 'order_b')).toEqual([
      { imp_uid: 'imp_100000000011', status: 'paid', merchant_uid_lock: null },
      { imp_uid: 'imp_100000000012', status: 'paid', merchant_uid_lock: 'order_b' },
    ]);
    expect(notices).toEqual([
      { message: expect.stringContaining('now hold their merchant_uid'), detail: { orders: 2 } },
      {
        message: expect.stringContaining('paid more than once'),
        detail: { orders: [{ merchant_id: m.merchantId, merchant_uid: 'order_b', kept: 'imp_100000000012', also_paid: ['imp_100000000011'] }], payments_listed_at_most: 1000 },
      },
    ]);
  });

  it('leaves an order held by an attempt in flight, and a refunded order, as they were', async () => {
    expect(await rowsOf(m, 'order_c')).toEqual([
      { imp_uid: 'imp_100000000021', status: 'paid', merchant_uid_lock: null },
      { imp_uid: 'imp_100000000022', status: 'ready', merchant_uid_lock: 'order_c' },
    ]);
    expect(await rowsOf(m, 'order_d')).toEqual([{ imp_uid: 'imp_100000000031', status: 'cancelled', merchant_uid_lock: null }]);
    // nothing paid it: the buyer may pay it
    const paid = await charge(m, 'order_d');
    expect(paid.body).toMatchObject({ code: 0, response: { merchant_uid: 'order_d', status: 'paid', amount: 5000 } });
  });
});
