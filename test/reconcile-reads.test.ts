/**
 * Reconciliation's fair read (decision 0076): due attempts in turns (every merchant's oldest by
 * next_check_at then imp_uid, then every merchant's second, …, the merchants a pass leaves out
 * left out), read at a cost bounded by what the read returns. Numbering every due row took 0.1-1 s
 * at 100,000 in doubt, on SQLite on the event loop. Checked against the order worked out here from
 * the rows themselves, and from the databases' own plans: each merchant's rows are walked in
 * `payments_reconcile_merchant`, never all due rows numbered.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/core/merchants/merchants.js';
import { dueAttempts, dueRefunds } from '../src/core/payments/reconcile.js';
import type { PaymentsTable } from '../src/store/types.js';
import { startTestPier, testCardNumber, type TestPier } from './harness.js';
import { planOf, statementsOf } from './plans.js';

let pier: TestPier;
type Row = { imp_uid: string; merchant_id: string; next_check_at: number; pg_state: string };
const seeded: Row[] = [];
const merchants: Record<'flood' | 'five' | 'left' | 'notDue', string> & { ones: string[] } = { flood: '', five: '', left: '', notDue: '', ones: [] };

/** A number sequence that repeats its values (ties in next_check_at) and is the same every run. */
const spread = (i: number) => 1_000 + ((i * 37) % 61);

beforeAll(async () => {
  pier = await startTestPier();
  const m = await pier.newMerchant();
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'template', amount: 1_000, card_number: testCardNumber({ kftcCode: '361', lastFour: '4444' }), expiry: '2030-01' } });
  expect(res.body.response?.status).toBe('paid');
  const template = (await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', res.body.response.imp_uid).executeTakeFirstOrThrow()) as PaymentsTable;
  const merchant = async (name: string) => (await createMerchant(pier.deps, { name })).merchantId;
  merchants.flood = await merchant('flood');
  merchants.five = await merchant('five');
  merchants.left = await merchant('left out');
  merchants.notDue = await merchant('not due');
  for (let i = 0; i < 12; i++) merchants.ones.push(await merchant(`one ${i}`));
  let n = 0;
  const rows: Row[] = [];
  const add = (merchant_id: string, count: number, o: { pg_state?: string; nextCheckAt?: (i: number) => number } = {}) => {
    for (let i = 0; i < count; i++) rows.push({ imp_uid: `imp_t${String(++n).padStart(8, '0')}`, merchant_id, next_check_at: o.nextCheckAt?.(i) ?? spread(n), pg_state: o.pg_state ?? (n % 2 ? 'in_doubt' : 'calling') });
  };
  add(merchants.flood, 300);
  add(merchants.five, 5, { nextCheckAt: () => 1_020 }); // all tied: taken by imp_uid
  add(merchants.left, 20);
  add(merchants.notDue, 3, { nextCheckAt: () => 4_000_000_000 }); // in doubt, its grace not over
  for (const one of merchants.ones) add(one, 1);
  // settled rows, of the flood's merchant and others: never read
  add(merchants.flood, 2_000, { pg_state: template.pg_state });
  add(merchants.five, 500, { pg_state: template.pg_state });
  for (let at = 0; at < rows.length; at += 500) {
    const chunk = rows.slice(at, at + 500).map((r) => ({ ...template, ...r, merchant_uid: r.imp_uid, merchant_uid_lock: r.imp_uid, pg_tid: null, check_count: 0 }));
    await pier.store.db.insertInto('payments').values(chunk).execute();
  }
  seeded.push(...rows);
  // a refund of each of them, due with it: open with the open attempts, succeeded with the paid
  // ones; those of the merchants with one row written without their merchant, as a process of the
  // version before migration 023 writes them during an upgrade
  for (let at = 0; at < rows.length; at += 500) {
    const chunk = rows.slice(at, at + 500).map((r) => ({
      imp_uid: r.imp_uid,
      cancellation_id: r.imp_uid.replace('imp_', 'cncl_'),
      merchant_id: merchants.ones.includes(r.merchant_id) ? null : r.merchant_id,
      amount: 100,
      tax_free: 0,
      reason: null,
      state: r.pg_state === 'in_doubt' ? 'in_doubt' : r.pg_state === 'calling' ? 'pending' : 'succeeded',
      pg_tid: null,
      fail_reason: null,
      refund_holder: null,
      refund_bank: null,
      refund_account: null,
      requested_at: 0,
      cancelled_at: 0,
      next_check_at: r.next_check_at,
      check_count: 0,
    }));
    await pier.store.db.insertInto('payment_cancels').values(chunk).execute();
  }
});
afterAll(() => pier?.close());

/** The rows a read must return, worked out from the rows seeded. */
function expected(excluded: string[], limit: number) {
  const dueBy = Math.floor(Date.now() / 1000);
  const byMerchant = new Map<string, Row[]>();
  for (const r of seeded) {
    if (!['calling', 'in_doubt'].includes(r.pg_state) || r.next_check_at > dueBy || excluded.includes(r.merchant_id)) continue;
    byMerchant.set(r.merchant_id, [...(byMerchant.get(r.merchant_id) ?? []), r]);
  }
  const turns: (Row & { turn: number })[] = [];
  for (const rows of byMerchant.values()) {
    rows.sort((a, b) => a.next_check_at - b.next_check_at || (a.imp_uid < b.imp_uid ? -1 : 1));
    rows.forEach((r, i) => turns.push({ ...r, turn: i }));
  }
  turns.sort((a, b) => a.turn - b.turn || a.next_check_at - b.next_check_at || (a.imp_uid < b.imp_uid ? -1 : 1));
  return turns.slice(0, limit).map((r) => ({ imp_uid: r.imp_uid, merchant_id: r.merchant_id }));
}

const read = (excluded: string[], limit: number) =>
  dueAttempts(pier.deps, { graceSeconds: 0 }, { excluded, after: null, limit }).then((rows) => rows.map((r) => ({ imp_uid: r.imp_uid, merchant_id: r.merchant_id })));

describe("reconciliation's fair read of due attempts", () => {
  it.each([1, 7, 16, 100, 400])('takes every merchant\'s oldest, then every merchant\'s second, … (limit %i)', async (limit) => {
    const got = await read([], limit);
    expect(got).toEqual(expected([], limit));
    expect(got).toHaveLength(Math.min(limit, 300 + 5 + 20 + 12));
  });

  it('leaves out the merchants it is given, and reads the others as if they were alone', async () => {
    const got = await read([merchants.left, merchants.flood], 100);
    expect(got).toEqual(expected([merchants.left, merchants.flood], 100));
    expect(got).toHaveLength(5 + 12);
    expect(got.slice(0, 12).every((r) => merchants.ones.includes(r.merchant_id) || r.merchant_id === merchants.five)).toBe(true);
    expect(await read([merchants.left], 40)).toEqual(expected([merchants.left], 40));
  });

  it('reads nothing when no merchant it may take has a due row', async () => {
    expect(await read([merchants.flood, merchants.five, merchants.left, ...merchants.ones], 100)).toEqual([]);
  });
});

describe("reconciliation's fair read of due refunds", () => {
  // a refund's cancellation_id orders as its payment's imp_uid: the refunds come as their payments
  const refunds = (excluded: string[], limit: number) =>
    dueRefunds(pier.deps, { graceSeconds: 0 }, { excluded, after: null, limit }).then((rows) => rows.map((r) => ({ imp_uid: r.imp_uid, merchant_id: r.merchant_id, cancellation_id: r.cancellation_id })));
  const asRefunds = (rows: { imp_uid: string; merchant_id: string }[]) => rows.map((r) => ({ ...r, cancellation_id: r.imp_uid.replace('imp_', 'cncl_') }));

  it.each([1, 16, 100, 400])('takes every merchant\'s oldest, then every merchant\'s second, …, by their payment\'s merchant (limit %i)', async (limit) => {
    expect(await refunds([], limit)).toEqual(asRefunds(expected([], limit)));
  });

  it('leaves out the merchants it is given', async () => {
    const got = await refunds([merchants.left, merchants.flood], 100);
    expect(got).toEqual(asRefunds(expected([merchants.left, merchants.flood], 100)));
    expect(got).toHaveLength(5 + 12);
  });

  it('gives the refunds written without their merchant (by the version before) their payment\'s', async () => {
    const owners = await pier.store.db.selectFrom('payment_cancels').select(['cancellation_id', 'merchant_id']).where('merchant_id', 'in', merchants.ones).execute();
    expect(owners).toHaveLength(12);
    for (const o of owners) expect(seeded.find((r) => r.imp_uid === o.cancellation_id.replace('cncl_', 'imp_'))?.merchant_id).toBe(o.merchant_id);
  });
});

describe("the fair read's plan", () => {
  /** Every access to `payments` in `plan`: a walk of payments_reconcile_merchant, or a row found by its key. */
  function expectWalksOnly(plan: string, table: 'payments' | 'payment_cancels' = 'payments') {
    const index = `${table}_reconcile_merchant`;
    expect(plan).toContain(index);
    if (pier.store.dialect === 'sqlite') {
      const accesses = plan.split('\n').filter((l) => new RegExp(`^(SCAN|SEARCH) (p|r|${table})\\b`).test(l));
      // the first merchant: the index read in its order up to its first row (ORDER BY merchant_id LIMIT 1)
      const first: string[] = accesses.filter((l) => l === `SCAN p USING INDEX ${index}`);
      expect(first.length, plan).toBeLessThanOrEqual(1);
      expect(accesses.length).toBeGreaterThan(first.length);
      const byKey = table === 'payments' ? 'sqlite_autoindex_payments_1 \\(imp_uid=\\?\\)' : 'sqlite_autoindex_payment_cancels_1 \\(cancellation_id=\\?\\)';
      for (const l of accesses.filter((x) => !first.includes(x))) expect(l, plan).toMatch(new RegExp(`USING (COVERING )?INDEX (${index} \\(merchant_id[=>]\\?|${byKey})`));
    } else {
      expect(plan).not.toMatch(/Seq Scan|Bitmap/);
      for (const l of plan.split('\n').filter((x) => new RegExp(` on ${table}\\b`).test(x))) expect(l).toMatch(new RegExp(`Index (Only )?Scan using ${index} on ${table}`));
    }
  }

  it('walks each merchant in payments_reconcile_merchant: no numbering of every due row, also in a generic plan and with statistics', async () => {
    for (const excluded of [[], [merchants.left]]) {
      // one statement, again with a larger share while a merchant may have more of the turns asked
      const ran = await statementsOf(pier, (store) => dueAttempts({ ...pier.deps, store }, { graceSeconds: 0 }, { excluded, after: null, limit: 100 }));
      // 15 (14) merchants with due rows: a share of 7 (8), doubled while the flood's and the left-out
      // merchant's rows reach it and fewer than 100 come back: 7, 14, 28, 56, 100 (8, 16, 32, 64, 100)
      expect(ran).toHaveLength(5);
      for (const q of ran) {
        expectWalksOnly(await planOf(pier, q.sql, q.parameters));
        if (pier.store.dialect === 'postgres') expectWalksOnly(await planOf(pier, q.sql, q.parameters, { generic: true }));
      }
    }
    // the refunds' read, and its look for refunds written without their merchant
    const refundReads = await statementsOf(pier, (store) => dueRefunds({ ...pier.deps, store }, { graceSeconds: 0 }, { excluded: [merchants.left], after: null, limit: 100 }));
    const [unowned, ...walks] = refundReads;
    expect(unowned!.sql).toMatch(/merchant_id IS NULL/);
    const unownedPlan = await planOf(pier, unowned!.sql, unowned!.parameters);
    if (pier.store.dialect === 'sqlite') expect(unownedPlan).toMatch(/^SCAN payment_cancels USING (COVERING )?INDEX payment_cancels_without_merchant$/);
    else expect(unownedPlan).toMatch(/Index (Only )?Scan using payment_cancels_without_merchant on payment_cancels/);
    expect(walks.length).toBeGreaterThan(0);
    for (const q of walks) {
      expectWalksOnly(await planOf(pier, q.sql, q.parameters), 'payment_cancels');
      if (pier.store.dialect === 'postgres') expectWalksOnly(await planOf(pier, q.sql, q.parameters, { generic: true }), 'payment_cancels');
    }
    await sql`analyze`.execute(pier.store.db);
    const [q] = await statementsOf(pier, (store) => dueAttempts({ ...pier.deps, store }, { graceSeconds: 0 }, { excluded: [], after: null, limit: 100 }));
    expectWalksOnly(await planOf(pier, q!.sql, q!.parameters));
    // statistics in which every open refund has its merchant: PostgreSQL read the whole table to find none without
    const [withStats] = await statementsOf(pier, (store) => dueRefunds({ ...pier.deps, store }, { graceSeconds: 0 }, { excluded: [], after: null, limit: 100 }));
    expect(await planOf(pier, withStats!.sql, withStats!.parameters)).toMatch(/payment_cancels_without_merchant/);
  });
});
