/**
 * The V1 lists on a merchant with 20,000 payments, written straight into the store (copies of one
 * real payment: paid, cancelled, failed and ready, a minute apart, over two weeks). V1 gives an
 * exact `total` and sorts by any of three times, so what a call reads grows with the merchant.
 * Before: `GET /payments/status/{status}` read every payment of the merchant's in the status (or
 * all of them) whatever `from`/`to` said, `GET /payments?imp_uid[]=` read the merchant's whole
 * history through a merchant index, and on SQLite all of it ran on the event loop every payment
 * waits on (200,000 payments: 105-250 ms per call, docs/performance.md "Twelfth round").
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPayments, listCustomerPayments, listPaymentsByStatus, type Sorting } from '../../src/core/payments/queries.js';
import { channelUsage } from '../../src/core/console/channels.js';
import { listSchedules } from '../../src/core/schedules/schedules.js';
import { insertCopies } from '../bulk-rows.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { planOf, statementsOf } from '../plans.js';

const COPIES = 20_000;

let p: TestPier;
let alice: TestMerchant;
let seed: { imp_uid: string; started_at: number };

interface Row {
  imp_uid: string;
  status: string;
  started_at: number;
  paid_at: number;
  cancelled_at: number;
  failed_at: number;
  updated_at: number;
}
let rows: Row[];

beforeAll(async () => {
  p = await startTestPier();
  alice = await p.newMerchant();
  const bob = await p.newMerchant();
  for (const m of [alice, bob]) {
    const r = await p.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: `seed_${m.merchantCode}`, amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213', customer_uid: 'cust_big', name: '대량' },
    });
    expect(r.body.response?.status).toBe('paid');
    if (m === alice) seed = r.body.response;
  }
  const db = p.store.db;
  const started = `(p.started_at - s.i * 60)`;
  const copied: Record<string, string> = {
    imp_uid: `'imp_bulk_' || (100000 + s.i)`,
    merchant_uid: `'bulk_' || (100000 + s.i)`,
    merchant_uid_lock: `'bulk_' || (100000 + s.i)`,
    status: `case s.i % 10 when 7 then 'cancelled' when 8 then 'failed' when 9 then 'ready' else 'paid' end`,
    started_at: started,
    // a payment's status time is after its start, by a different amount for each status, so that
    // the orders by started, by the status's time and by updated all differ
    paid_at: `case when s.i % 10 in (8, 9) then 0 else ${started} + (s.i % 13) * 600 end`,
    cancelled_at: `case s.i % 10 when 7 then ${started} + 86400 else 0 end`,
    failed_at: `case s.i % 10 when 8 then ${started} + 5 else 0 end`,
    updated_at: `${started} + (s.i % 7) * 3000`,
    customer_uid: `case when s.i % 2 = 0 then 'cust_big' else 'cust_other' end`,
  };
  await insertCopies(p.store, 'payments', { count: COPIES, where: `p.imp_uid = '${seed.imp_uid}'`, copied });
  if (p.store.dialect === 'postgres') await sql`analyze`.execute(db);
  rows = (await db
    .selectFrom('payments')
    .select(['imp_uid', 'status', 'started_at', 'paid_at', 'cancelled_at', 'failed_at', 'updated_at'])
    .where('merchant_id', '=', alice.merchantId)
    .execute()) as Row[];
  expect(rows).toHaveLength(COPIES + 1);
}, 120_000);

afterAll(async () => {
  await p?.close();
});

const STATUS_TIME = { ready: 'started_at', paid: 'paid_at', cancelled: 'cancelled_at', failed: 'failed_at' } as const;
const SORT_TIME = { started: 'started_at', paid: 'paid_at', updated: 'updated_at' } as const;

/** What the list must give, computed from every row of hers. */
function expected(status: string, from: number, to: number, sorting: Sorting, page: number, limit: number) {
  const time = (r: Row) => r[STATUS_TIME[r.status as keyof typeof STATUS_TIME]];
  const matches = rows.filter((r) => (status === 'all' || r.status === status) && time(r) >= from && time(r) <= to);
  const key = SORT_TIME[sorting.replace('-', '') as keyof typeof SORT_TIME];
  const sign = sorting.startsWith('-') ? -1 : 1;
  matches.sort((a, b) => sign * (a[key] - b[key] || (a.imp_uid < b.imp_uid ? -1 : a.imp_uid > b.imp_uid ? 1 : 0)));
  return { total: matches.length, ids: matches.slice((page - 1) * limit, page * limit).map((r) => r.imp_uid) };
}

const DAY = 86_400;

describe('GET /payments/status/{status} on a large merchant', () => {
  const cases: Array<[status: string, days: [number, number] | null, sorting: Sorting, page: number, limit: number]> = [
    ['all', null, '-started', 1, 20],
    ['paid', null, '-started', 1, 20],
    ['paid', null, '-started', 90, 100],
    ['paid', [3, 4], '-paid', 2, 50],
    ['paid', [3, 4], 'paid', 1, 100],
    ['cancelled', [0, 15], '-started', 3, 100],
    ['failed', [5, 6], 'started', 1, 100],
    ['ready', [1, 2], '-started', 4, 20],
    ['all', [2, 3], '-updated', 5, 100],
    ['all', [0, 15], 'paid', 150, 100],
  ];
  it.each(cases)('%s, days %j before the seed, sorted %s, page %i of %i: the exact total and the page', async (status, days, sorting, page, limit) => {
    const to = days ? seed.started_at - days[0] * DAY : seed.started_at + 3 * DAY;
    const from = days ? seed.started_at - days[1] * DAY : to - 89 * DAY;
    const want = expected(status, from, to, sorting, page, limit);
    expect(want.ids.length).toBeGreaterThan(0);
    const r = await p.call('GET', `/payments/status/${status}?from=${from}&to=${to}&page=${page}&limit=${limit}&sorting=${sorting}`, { token: alice.token });
    expect(r.body.code).toBe(0);
    expect(r.body.response.total).toBe(want.total);
    expect(r.body.response.list.map((x: { imp_uid: string }) => x.imp_uid)).toEqual(want.ids);
    expect(r.body.response.list[0]).toMatchObject({ status: status === 'all' ? expect.any(String) : status, amount: 1000 });
  });

  it('gives payments by imp_uid only to their own merchant, in the order asked', async () => {
    const ids = [rows[5].imp_uid, seed.imp_uid, rows[400].imp_uid, rows[5].imp_uid];
    const r = await p.call('GET', `/payments?${ids.map((id) => `imp_uid[]=${id}`).join('&')}`, { token: alice.token });
    expect(r.status).toBe(200);
    // each once, at its first mention (decision 0094)
    expect(r.body.response.map((x: { imp_uid: string }) => x.imp_uid)).toEqual(ids.slice(0, 3));
    const bob = await p.newMerchant();
    const other = await p.call('GET', `/payments?imp_uid[]=${seed.imp_uid}`, { token: bob.token });
    expect(other.status).toBe(404);
    expect(other.body.response).toBeNull();
  });
});

describe('what the lists run', () => {
  it("counts on the index of each status's own time, sorts keys and not rows, looks payments up by primary key; on SQLite, off the event loop", async () => {
    const merchantId = alice.merchantId;
    const to = seed.started_at - 3 * DAY;
    const ran = await statementsOf(p, async (store) => {
      const deps = { ...p.deps, store };
      await listPaymentsByStatus(deps, merchantId, 'paid', { from: to - DAY, to }, { page: 2, limit: 20 }, '-paid');
      await listPaymentsByStatus(deps, merchantId, 'paid', { from: to - 89 * DAY, to }, { page: 1, limit: 20 }, '-started');
      await listPaymentsByStatus(deps, merchantId, 'all', { from: to - DAY, to }, { page: 1, limit: 20 }, '-updated');
      await listCustomerPayments(deps, merchantId, 'cust_big', { page: 3, limit: 20 });
      await getPayments(deps, merchantId, rows.slice(0, 30).map((r) => r.imp_uid), []);
      await listSchedules(deps, merchantId, { from: 0, to: seed.started_at + DAY, page: 1, limit: 20 });
    });
    const onPayments = ran.filter((s) => /from "payments"/.test(s.sql));
    expect(onPayments.filter((s) => /count\(\*\)/.test(s.sql))).toHaveLength(4);
    // every count and every sort of a list: on SQLite, on the reader thread
    const lists = ran.filter((s) => /count\(\*\)|order by/.test(s.sql) && /from "(payments|payment_schedules)"/.test(s.sql));
    expect(lists.length).toBeGreaterThanOrEqual(10);
    for (const s of lists) expect(s.on, s.sql).toBe(p.store.dialect === 'sqlite' ? 'reader' : undefined);
    for (const s of onPayments) {
      const plan = await planOf(p, s.sql, s.parameters);
      const what = `${s.sql}\n${plan}`;
      const byStatusTime = /case status/.test(s.sql);
      if (p.store.dialect === 'sqlite') {
        expect(plan, what).not.toMatch(/SCAN payments\b/);
        // bounded by the merchant alone, a search reads her whole history
        expect(plan, what).not.toMatch(/\(merchant_id=\?\)$/m);
        // the range of each status's time; the sort by updated_at alone reads the rows it sorts
        const covering = /order by "updated_at"/.test(s.sql) ? '' : 'COVERING ';
        if (byStatusTime) expect(plan, what).toContain(`USING ${covering}INDEX payments_merchant_status_time (merchant_id=? AND status=? AND <expr>>? AND <expr><?)`);
        if (/order by case status/.test(s.sql)) expect(plan, what).not.toMatch(/TEMP B-TREE/);
        if (/"imp_uid" in/.test(s.sql)) expect(plan, what).toMatch(/USING INDEX sqlite_autoindex_payments_1 \(imp_uid=\?\)/);
      } else if (s.parameters.includes(to - DAY) || /"imp_uid" in/.test(s.sql)) {
        // PostgreSQL weighs the plans by its statistics: reading the table is its right choice for
        // 89 days of a table that is mostly hers, not for a day of them or for 30 ids
        expect(plan, what).not.toMatch(/Seq Scan on payments\b/);
        if (byStatusTime) expect(plan, what).toMatch(/payments_merchant_status_time/);
      }
    }
  });

  it("reads the metrics gauges and a channel's usage, which count whole tables, on SQLite's reader thread", async () => {
    const channel = (await p.store.db.selectFrom('payments').select('channel_id').where('imp_uid', '=', seed.imp_uid).executeTakeFirstOrThrow()).channel_id!;
    let text = '';
    let usage: Awaited<ReturnType<typeof channelUsage>> | null = null;
    const ran = await statementsOf(p, async (store) => {
      text = await p.deps.metrics!.scrape(store, { pier: p.clock });
      usage = await channelUsage({ ...p.deps, store }, alice.merchantId, channel);
    });
    const paid = rows.filter((r) => r.status === 'paid').length;
    expect(text).toMatch(new RegExp(`pier_payments\\{[^}]*status="paid"[^}]*\\} ${paid + 1}\\b`)); // and bob's seed
    expect(usage).toMatchObject({ payments: COPIES + 1, openPayments: paid });
    const counts = ran.filter((s) => /count\(\*\)/.test(s.sql));
    // the gauges' counts and the channel's usage: since decision 0088 each table's open rows are
    // counted in one statement, 8 in all (10 before)
    expect(counts.length).toBeGreaterThanOrEqual(8);
    for (const s of counts) expect(s.on, s.sql).toBe(p.store.dialect === 'sqlite' ? 'reader' : undefined);
  });

  it('on SQLite, the reader answers while a write holds the main connection', async () => {
    if (p.store.dialect !== 'sqlite') {
      expect(p.store.readerDb).toBe(p.store.db);
      return;
    }
    // the main connection inside a transaction: a statement that needed it would wait for the COMMIT
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const tx = p.store.db.transaction().execute(async (trx) => {
      await trx.updateTable('payments').set({ updated_at: sql`updated_at` }).where('imp_uid', '=', seed.imp_uid).execute();
      entered();
      await held;
    });
    await inside;
    const failed = await p.store.readerDb
      .selectFrom('payments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('merchant_id', '=', alice.merchantId)
      .where('status', '=', 'failed')
      .executeTakeFirstOrThrow();
    expect(Number(failed.n)).toBe(COPIES / 10);
    release();
    await tx;
  });
});
