/**
 * The indexes background work finds its rows by hold those rows, not the history (migration 028,
 * decision 0088): `payment_schedules_due` the waiting schedules, `payments_in_window` the attempts
 * in a PG window (`payments_reconcile`, every payment, is gone: the attempts calling or in doubt
 * are read in `payments_reconcile_merchant`), no more `payment_cancels_reconcile` (the open
 * refunds are `payment_cancels_reconcile_merchant`'s), `window_confirms_due` the pending
 * acknowledgements, `checkout_sessions_unstarted_expiry` the sessions whose buyer never reached the
 * PG window; and `payments_deposit_check` (migration 029) the virtual accounts awaiting their
 * deposit. Executed schedules, settled payments and refunds, acknowledged results and started
 * sessions (nearly every row, and every row ever written but for the sessions) are in none, so
 * settling a row no longer rewrites an entry and the indexes do not grow with the history.
 * Every statement that looks for those rows still finds them through these indexes, on PostgreSQL
 * also in the generic plan a connection keeps for a named statement.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseAbandonedWindows } from '../src/core/checkout/sessions.js';
import { claimWindowConfirms } from '../src/core/checkout/window-confirms.js';
import { dueAttempts, dueRefunds } from '../src/core/payments/reconcile.js';
import { advanceSandboxClock, resetSandboxClock } from '../src/core/sandbox/clock.js';
import { claimDueSchedules, dueOfOthers } from '../src/core/schedules/run.js';
import { claimDepositChecks } from '../src/core/virtual-accounts/deposit-checks.js';
import { checkoutSessionPurgeQueue } from '../src/jobs/handlers/checkout-session-purge.js';
import { PierMetrics } from '../src/operations/metrics.js';
import type { PaymentsTable } from '../src/store/types.js';
import { startTestPier, testCardNumber, type TestPier } from './harness.js';
import { planOf, statementsOf, type RanStatement } from './plans.js';

let pier: TestPier;
let merchantId: string;
let now: number;

const INDEXES = [
  'payment_schedules_due',
  'payment_schedules_merchant_due',
  'payments_reconcile',
  'payments_in_window',
  'payments_reconcile_merchant',
  'payment_cancels_reconcile',
  'payment_cancels_reconcile_merchant',
  'window_confirms_due',
  'checkout_sessions_unstarted_expiry',
  'payments_deposit_check',
] as const;
const TABLES = ['payment_schedules', 'payments', 'payment_cancels', 'window_confirms', 'checkout_sessions'] as const;

/** Entries in each index (null: no such index): SQLite's dbstat cells (an index's interior cells are entries too), PostgreSQL's count after VACUUM. */
async function indexEntries(): Promise<Record<(typeof INDEXES)[number], number | null>> {
  let rows: { name: string; n: number }[];
  if (pier.store.dialect === 'sqlite') {
    rows = (await sql<{ name: string; n: number }>`SELECT name, sum(ncell) AS n FROM dbstat WHERE name IN (${sql.join([...INDEXES])}) GROUP BY name`.execute(pier.store.db)).rows;
  } else {
    // VACUUM counts every index's live entries exactly (its reltuples) and cannot run in a
    // transaction; it scans the indexes only when the table has dead rows, as each table has here
    // (every row was written open, then settled)
    for (const t of TABLES) await sql`VACUUM ${sql.table(t)}`.execute(pier.store.db);
    rows = (await sql<{ name: string; n: number }>`SELECT relname AS name, reltuples AS n FROM pg_class WHERE relname IN (${sql.join([...INDEXES])})`.execute(pier.store.db)).rows;
  }
  return Object.fromEntries(
    INDEXES.map((name) => {
      const row = rows.find((r) => r.name === name);
      return [name, row ? Number(row.n) : null];
    }),
  ) as Record<(typeof INDEXES)[number], number | null>;
}

/** Each statement `work` ran that `matches`, with its plan (PostgreSQL: the generic one, as a named statement is kept). */
async function plansOf(work: Parameters<typeof statementsOf>[1], matches: RegExp): Promise<{ q: RanStatement; plan: string }[]> {
  const ran = (await statementsOf(pier, work)).filter((q) => matches.test(q.sql));
  expect(ran.length, `no statement matching ${matches}`).toBeGreaterThan(0);
  const out = [];
  for (const q of ran) out.push({ q, plan: await planOf(pier, q.sql, q.parameters, { setup: q.session, generic: true }) });
  return out;
}

/**
 * The indexes of the waiting schedules: a count of the due ones reads either, both holding only
 * waiting schedules (PostgreSQL, before a new table's first VACUUM, costs them alike: decision 0088).
 */
const WAITING_SCHEDULES = /payment_schedules_(merchant_)?due\b/;

/** The indexes of the attempts calling or in doubt and of the open refunds (migration 023). */
const OPEN_ATTEMPTS = /payments_reconcile_merchant\b/;
const OPEN_REFUNDS = /payment_cancels_reconcile_merchant\b/;

/** A read of `table` that is not a walk of one of its indexes (SQLite names an alias when the statement gives one). */
const scanOf = (...names: string[]) => new RegExp(`Seq Scan on (${names.join('|')})\\b|\\bSCAN (${names.join('|')})\\b(?! USING)`);

beforeAll(async () => {
  pier = await startTestPier();
  const m = await pier.newMerchant();
  merchantId = m.merchantId;
  now = Math.floor(pier.clock.now() / 1000);
  // a payment made through Pier, copied below as the history and the open attempts
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'template', amount: 1_000, card_number: testCardNumber({ kftcCode: '361', lastFour: '4444' }), expiry: '2030-01' } });
  expect(res.body.response?.status).toBe('paid');
  const template = (await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', res.body.response.imp_uid).executeTakeFirstOrThrow()) as PaymentsTable;
  expect(template.pg_state).toBe('done');
  const { db } = pier.store;
  const chunks = async <T>(rows: T[], write: (chunk: T[]) => Promise<unknown>) => {
    for (let at = 0; at < rows.length; at += 200) await write(rows.slice(at, at + 200));
  };

  // payments: 400 settled (and the template), 10 in a PG window, 20 calling, 30 in doubt
  const payments = [
    ...Array.from({ length: 400 }, () => ({ status: 'paid', pg_state: 'done' })),
    ...Array.from({ length: 10 }, () => ({ status: 'ready', pg_state: 'window' })),
    ...Array.from({ length: 20 }, () => ({ status: 'ready', pg_state: 'calling' })),
    ...Array.from({ length: 30 }, () => ({ status: 'ready', pg_state: 'in_doubt' })),
  ].map((p, i) => ({ ...template, ...p, imp_uid: `imp_ori${String(i).padStart(5, '0')}`, merchant_uid: `ori_${i}`, merchant_uid_lock: p.pg_state === 'window' ? null : `ori_${i}`, pg_tid: null, next_check_at: now - 3_600 + i, check_count: 0 }));
  // each row written open and then settled, as Pier writes them
  await chunks(payments, (c) => db.insertInto('payments').values(c.map((p) => ({ ...p, status: 'ready', pg_state: p.pg_state === 'done' ? 'calling' : p.pg_state }))).execute());
  await db.updateTable('payments').set({ status: 'paid', pg_state: 'done' }).where('imp_uid', 'in', payments.filter((p) => p.pg_state === 'done').map((p) => p.imp_uid)).execute();

  // virtual accounts: 15 awaiting their deposit (10 of them due a check), 25 paid, whose checks
  // their deposits cleared (recordVbankDeposit)
  const accounts = Array.from({ length: 40 }, (_, i) => ({
    ...template,
    imp_uid: `imp_dep${String(i).padStart(5, '0')}`,
    merchant_uid: `dep_${i}`,
    merchant_uid_lock: `dep_${i}`,
    pay_method: 'vbank',
    status: 'ready',
    pg_state: 'done',
    paid_at: 0,
    deposit_check_at: i < 10 ? now - 600 + i : now + 3_600 + i,
  }));
  await chunks(accounts, (c) => db.insertInto('payments').values(c).execute());
  await db.updateTable('payments').set({ status: 'paid', paid_at: now, deposit_check_at: null }).where('imp_uid', 'in', accounts.slice(15).map((a) => a.imp_uid)).execute();

  // refunds of the settled payments: 300 succeeded or failed, 15 pending, 25 in doubt
  const refunds = [...Array.from({ length: 300 }, (_, i) => (i % 3 ? 'succeeded' : 'failed')), ...Array.from({ length: 15 }, () => 'pending'), ...Array.from({ length: 25 }, () => 'in_doubt')].map((state, i) => ({
    imp_uid: payments[i]!.imp_uid,
    cancellation_id: `cncl_ori${String(i).padStart(5, '0')}`,
    merchant_id: merchantId,
    amount: 100,
    tax_free: 0,
    reason: null,
    state,
    pg_tid: null,
    fail_reason: null,
    refund_holder: null,
    refund_bank: null,
    refund_account: null,
    requested_at: now - 3_600,
    cancelled_at: state === 'succeeded' ? now - 3_600 : 0,
    next_check_at: now - 3_600 + i,
    check_count: 0,
  }));
  await chunks(refunds, (c) => db.insertInto('payment_cancels').values(c.map((r) => ({ ...r, state: 'pending' }))).execute());
  for (const state of ['succeeded', 'failed', 'in_doubt']) {
    await db.updateTable('payment_cancels').set({ state }).where('cancellation_id', 'in', refunds.filter((r) => r.state === state).map((r) => r.cancellation_id)).execute();
  }

  // schedules: 250 executed and 50 revoked, 40 waiting (30 due), 10 running under a live lease
  const schedules = [
    ...Array.from({ length: 250 }, () => ({ state: 'executed', dueAt: now - 86_400 })),
    ...Array.from({ length: 50 }, () => ({ state: 'revoked', dueAt: now + 86_400 })),
    ...Array.from({ length: 30 }, () => ({ state: 'scheduled', dueAt: now - 60 })),
    ...Array.from({ length: 10 }, () => ({ state: 'scheduled', dueAt: now + 86_400 })),
    ...Array.from({ length: 10 }, () => ({ state: 'running', dueAt: now - 60 })),
  ].map((s, i) => ({
    id: `sch_ori${String(i).padStart(5, '0')}`,
    merchant_id: merchantId,
    customer_uid: 'cust',
    merchant_uid: `sch_${i}`,
    customer_id: null,
    pg_provider: 'jtnet',
    pg_id: 'x',
    state: s.state,
    schedule_at: s.dueAt,
    due_at: s.dueAt + i,
    attempts: 0,
    lease_owner: s.state === 'running' ? 'alive' : null,
    lease_until: s.state === 'running' ? 4_000_000_000 : 0,
    imp_uid: null,
    amount: 1_000,
    tax_free: 0,
    vat_amount: null,
    currency: 'KRW',
    ...{ name: null, buyer_name: null, buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null, custom_data: null, notice_url: null },
    ...{ card_quota: 0, promotion_id: null, options: null, fail_reason: null, created_at: 0, updated_at: 0, executed_at: 0, revoked_at: 0 },
  }));
  await chunks(schedules, (c) => db.insertInto('payment_schedules').values(c.map((r) => ({ ...r, state: 'scheduled', lease_owner: null, lease_until: 0 }))).execute());
  for (const state of ['executed', 'revoked', 'running']) {
    const rows = schedules.filter((r) => r.state === state);
    await db.updateTable('payment_schedules').set({ state, lease_owner: rows[0]!.lease_owner, lease_until: rows[0]!.lease_until }).where('id', 'in', rows.map((r) => r.id)).execute();
  }

  // window acknowledgements: 200 done, 20 failed, 20 pending (due)
  const confirms = [...Array.from({ length: 200 }, () => 'done'), ...Array.from({ length: 20 }, () => 'failed'), ...Array.from({ length: 20 }, () => 'pending')].map((state, i) => ({
    id: `wc_ori${String(i).padStart(5, '0')}`,
    imp_uid: payments[i]!.imp_uid,
    channel_id: template.channel_id!,
    pg_tid: `tid_${i}`,
    state,
    attempts: state === 'pending' ? 0 : 1,
    due_at: now - 60 + i,
    lease_owner: null,
    lease_until: 0,
    last_error: null,
    created_at: now - 3_600,
    updated_at: now - 3_600,
  }));
  await chunks(confirms, (c) => db.insertInto('window_confirms').values(c.map((r) => ({ ...r, state: 'pending' }))).execute());
  for (const state of ['done', 'failed']) {
    await db.updateTable('window_confirms').set({ state }).where('id', 'in', confirms.filter((r) => r.state === state).map((r) => r.id)).execute();
  }

  // checkout sessions: 200 whose buyer reached the PG window, 20 that never did
  const sessions = Array.from({ length: 220 }, (_, i) => ({
    id: `cs_ori${String(i).padStart(5, '0')}`,
    merchant_id: merchantId,
    channel_id: template.channel_id!,
    merchant_uid: `ori_${i}`,
    imp_uid: i < 200 ? payments[i]!.imp_uid : null,
    pay_method: 'card',
    amount: 1_000,
    mode: 'overlay',
    origin: 'https://shop.example',
    params: '{}',
    user_agent: null,
    state: i < 200 ? 'started' : 'open',
    result: null,
    created_at: now - 1_800,
    updated_at: now - 1_800,
    expires_at: now + i,
  }));
  await chunks(sessions, (c) => db.insertInto('checkout_sessions').values(c.map((r) => ({ ...r, imp_uid: null, state: 'open' }))).execute());
  for (const r of sessions.filter((r) => r.imp_uid !== null)) await db.updateTable('checkout_sessions').set({ imp_uid: r.imp_uid, state: r.state }).where('id', '=', r.id).execute();
});
afterAll(() => pier?.close());

describe('the indexes of the rows background work looks for', () => {
  it('hold the open rows, not the history', async () => {
    expect(await indexEntries()).toEqual({
      payment_schedules_due: 40,
      payment_schedules_merchant_due: 40,
      payments_reconcile: null,
      payments_in_window: 10,
      // calling or in doubt
      payments_reconcile_merchant: 50,
      payment_cancels_reconcile: null,
      payment_cancels_reconcile_merchant: 40,
      window_confirms_due: 20,
      checkout_sessions_unstarted_expiry: 20,
      // accounts awaiting their deposit (migration 029)
      payments_deposit_check: 15,
    });
  });

  it("serve the schedule claim's walk of due schedules, its first look when it leaves merchants out, and the /metrics gauge", async () => {
    const claim = await plansOf((store) => claimDueSchedules(store, { now, owner: 'plans', leaseSeconds: 60, limit: 8 }), /update "?payment_schedules/i);
    await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('lease_owner', '=', 'plans').execute();
    const head = await plansOf((store) => dueOfOthers(store, now, ['someone else'], 4), /^select/i);
    const gauge = await plansOf((store) => new PierMetrics({ processMetrics: false }).scrape(store, { pier: pier.clock }), /from "?payment_schedules/i);
    for (const { q, plan } of [...claim, ...head.slice(0, 1)]) {
      expect(plan, `${q.sql}\n${plan}`).toContain('payment_schedules_due');
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payment_schedules'));
    }
    for (const { q, plan } of gauge) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(WAITING_SCHEDULES);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payment_schedules'));
    }
  });

  it('serve the /metrics gauges of attempts and refunds not settled, which count what they did before', async () => {
    const text = await new PierMetrics({ processMetrics: false }).scrape(pier.store, { pier: pier.clock });
    expect(text).toMatch(/^pier_payments_in_doubt\{pg="jtnet"\} 30$/m);
    expect(text).toMatch(/^pier_reconciliation_backlog\{kind="payment"\} 50$/m);
    expect(text).toMatch(/^pier_reconciliation_backlog\{kind="refund"\} 25$/m);
    expect(text).toMatch(/^pier_refunds_pending\{state="pending"\} 15$/m);
    expect(text).toMatch(/^pier_refunds_pending\{state="in_doubt"\} 25$/m);
    const gauges = await plansOf((store) => new PierMetrics({ processMetrics: false }).scrape(store, { pier: pier.clock }), /where .*"?(pg_state|state)"? /i);
    const of = (table: string) => gauges.filter((g) => new RegExp(`from "?${table}"? `, 'i').test(g.q.sql));
    expect(of('payments').length).toBeGreaterThan(0);
    expect(of('payment_cancels').length).toBeGreaterThan(0);
    for (const { q, plan } of of('payments')) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(OPEN_ATTEMPTS);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payments', 'p'));
    }
    for (const { q, plan } of of('payment_cancels')) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(OPEN_REFUNDS);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payment_cancels', 'c'));
    }
  });

  it("serve the sweep of abandoned PG windows and `pier reconcile`'s reads of every open attempt and refund", async () => {
    const sweep = await plansOf((store) => releaseAbandonedWindows({ ...pier.deps, store }, { olderThanSeconds: 10 * 365 * 86_400 }), /update "?payments/i);
    const attempts = await plansOf((store) => dueAttempts({ ...pier.deps, store }, { graceSeconds: 60, ignoreBackoff: true }, { excluded: [], after: null, limit: 100 }), /from "?payments/i);
    const refunds = await plansOf((store) => dueRefunds({ ...pier.deps, store }, { graceSeconds: 60, ignoreBackoff: true }, { excluded: [], after: null, limit: 100 }), /from "?payment_cancels/i);
    for (const { q, plan } of sweep) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(/payments_in_window\b/);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payments'));
    }
    for (const { q, plan } of attempts) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(OPEN_ATTEMPTS);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payments', 'p'));
    }
    for (const { q, plan } of refunds) {
      expect(plan, `${q.sql}\n${plan}`).toMatch(OPEN_REFUNDS);
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payment_cancels', 'c', 'payments', 'p'));
    }
  });

  it("serve the claim of window acknowledgements and the sandbox clock's reset", async () => {
    const claim = await plansOf((store) => claimWindowConfirms({ ...pier.deps, store }, { owner: 'plans', limit: 8, leaseSeconds: 60 }), /update "?window_confirms/i);
    await advanceSandboxClock(pier.store, 3_600_000);
    const reset = await plansOf((store) => resetSandboxClock(store), /update "?window_confirms/i);
    for (const { q, plan } of [...claim, ...reset]) {
      expect(plan, `${q.sql}\n${plan}`).toContain('window_confirms_due');
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('window_confirms'));
    }
  });

  it("serve the claim of deposit checks, which leases the earliest due ones", async () => {
    const claimed: string[] = [];
    const claim = await plansOf(async (store) => claimed.push(...(await claimDepositChecks({ ...pier.deps, store }, 8)).map((c) => c.impUid)), /update "?payments/i);
    expect(claimed.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `imp_dep${String(i).padStart(5, '0')}`));
    for (const { q, plan } of claim) {
      expect(plan, `${q.sql}\n${plan}`).toContain('payments_deposit_check');
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('payments'));
    }
  });

  it("serve the purge's look for sessions that never reached the PG window", async () => {
    const look = await plansOf((store) => checkoutSessionPurgeQueue({ ...pier.deps, store }, { unstartedRetentionSeconds: -86_400 }).claim('plans', 1), /"?imp_uid"? is null/i);
    for (const { q, plan } of look) {
      expect(plan, `${q.sql}\n${plan}`).toContain('checkout_sessions_unstarted_expiry');
      expect(plan, `${q.sql}\n${plan}`).not.toMatch(scanOf('checkout_sessions'));
    }
  });
});

describe("a process of the previous version (during a rolling upgrade), which binds the states", () => {
  // its statements' predicates as it wrote them (the times bound instead of the database's clock)
  const previous: { text: string; params: () => unknown[]; index: RegExp; sqliteScans?: true }[] = [
    { text: 'select "id", "due_at" from "payment_schedules" where ("state" = ? and "due_at" <= ?) order by "due_at" limit ?', params: () => ['scheduled', now, 8], index: /payment_schedules_due/ },
    { text: 'select count(*) as "n", min(due_at) as "oldest" from "payment_schedules" where "state" = ? and "due_at" <= ?', params: () => ['scheduled', now], index: WAITING_SCHEDULES },
    { text: 'select "id" from "window_confirms" where ("state" = ? and "due_at" <= ? and "lease_until" <= ?) order by "due_at" limit ?', params: () => ['pending', now, now, 8], index: /window_confirms_due/ },
    { text: 'update "window_confirms" set "due_at" = 0 where "state" = ?', params: () => ['pending'], index: /window_confirms_due/ },
    { text: 'update "payments" set "pg_state" = ?, "next_check_at" = 0 where "pg_state" = ? and "updated_at" <= ?', params: () => ['in_doubt', 'window', 0], index: /payments_in_window\b/ },
    { text: 'select "pg_provider", count(*) as "n" from "payments" where "pg_state" = ? group by "pg_provider"', params: () => ['in_doubt'], index: OPEN_ATTEMPTS, sqliteScans: true },
    { text: 'select count(*) as "n", min(updated_at) as "oldest" from "payments" where "pg_state" in (?, ?)', params: () => ['calling', 'in_doubt'], index: OPEN_ATTEMPTS, sqliteScans: true },
    { text: 'select "state", count(*) as "n" from "payment_cancels" where "state" in (?, ?) group by "state"', params: () => ['pending', 'in_doubt'], index: OPEN_REFUNDS, sqliteScans: true },
    { text: 'select count(*) as "n", min(requested_at) as "oldest" from "payment_cancels" where "state" = ?', params: () => ['in_doubt'], index: OPEN_REFUNDS, sqliteScans: true },
  ];

  it("takes the partial indexes in PostgreSQL's custom plans, and in SQLite where the index's predicate is the state compared with =", async () => {
    const postgres = pier.store.dialect === 'postgres';
    for (const { text, params, index, sqliteScans } of previous) {
      let n = 0;
      const plan = await planOf(pier, postgres ? text.replace(/\?/g, () => `$${++n}`) : text, params());
      if (postgres || !sqliteScans) {
        expect(plan, `${text}\n${plan}`).toMatch(index);
        expect(plan, `${text}\n${plan}`).not.toMatch(/Seq Scan|\bSCAN (payment_schedules|window_confirms|payments|payment_cancels)\b(?! USING)/);
      } else {
        // a bound `IN (?, ?)`, or `pg_state = ?` against `pg_state IN (…)`, is not the index's
        // predicate as written: SQLite reads the table until the process runs the new version
        expect(plan, `${text}\n${plan}`).toMatch(/\bSCAN (payments|payment_cancels)\b(?! USING)/);
      }
    }
  });
});
