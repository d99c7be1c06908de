/**
 * How the job claims find their rows (issue #14, docs/performance.md "Eighth round"), read from the
 * databases' own plans:
 * - a lease that ran out is found by an index condition on `lease_until`: the database clock
 *   (dbNow) is STABLE on PostgreSQL, so the walk stops at the first lease still running instead of
 *   reading every leased row, live or dead;
 * - the webhook worker's claim of URL deliveries walks `webhook_deliveries_due` in order, also when
 *   PostgreSQL's statistics are older than the queue: `webhook_deliveries_listener` is partial
 *   (listener rows only), and the claim's connection allows no bitmap scan, so no plan reads and
 *   sorts every pending delivery;
 * - every job claim, and the events of the claimed deliveries, are read through indexes, also by a
 *   generic plan made while the tables were empty (at install; store/index-only.ts).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimWindowConfirms, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { recordPaymentEvent } from '../../src/core/payments/events.js';
import { claimDueSchedules } from '../../src/core/schedules/run.js';
import { claimDepositChecks } from '../../src/core/virtual-accounts/deposit-checks.js';
import { dbNow } from '../../src/store/db-clock.js';
import type { Store } from '../../src/store/db.js';
import { claimDeliveries, claimForReceivers, recordAttempts } from '../../src/webhooks/deliveries.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { planOf, statementsOf } from '../plans.js';

let pier: TestPier;
let shop: TestMerchant;

beforeAll(async () => {
  pier = await startTestPier();
  shop = await pier.newMerchant();
});
afterAll(() => pier?.close());

describe("the job claims' connections", () => {
  it('start with sequential and bitmap scans off (PostgreSQL); every other statement plans as usual', async () => {
    const settings = sql<{ seq: string; bitmap: string }>`SELECT current_setting('enable_seqscan') AS seq, current_setting('enable_bitmapscan') AS bitmap`;
    if (pier.store.dialect === 'sqlite') {
      expect(pier.store.indexOnlyDb).toBeUndefined();
      return;
    }
    expect((await settings.execute(pier.store.indexOnlyDb!)).rows).toEqual([{ seq: 'off', bitmap: 'off' }]);
    expect((await settings.execute(pier.store.db)).rows).toEqual([{ seq: 'on', bitmap: 'on' }]);
  });
});

describe('a walk for leases that ran out', () => {
  it('bounds lease_until by the database clock in the index condition', async () => {
    const q = sql`SELECT id FROM payment_schedules WHERE state = 'running' AND lease_until <= ${dbNow(pier.store)} ORDER BY lease_until`.compile(pier.store.db);
    // an empty table would be read whole; the question is whether the index can take the bound
    const plan = await planOf(pier, q.sql, q.parameters, { setup: ['SET LOCAL enable_seqscan = off', 'SET LOCAL enable_bitmapscan = off'] });
    if (pier.store.dialect === 'sqlite') expect(plan).toContain('USING INDEX payment_schedules_lease (state=? AND lease_until<?)');
    else expect(plan).toMatch(/Index Cond: .*\(lease_until <= /);
  });
});

describe("the webhook worker's claim", () => {
  it('walks webhook_deliveries_due, not the listener index, in a burst the database has no statistics of yet', async () => {
    const url = 'http://127.0.0.1:9/plans';
    // a burst into a table the database has no statistics of yet: 3,000 deliveries due at once (a
    // month's first schedules, say), a third of them already sent
    await pier.store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3000; i++) {
        await recordPaymentEvent(trx, { clock: pier.clock }, { merchantId: shop.merchantId, impUid: `imps_plan${i}`, merchantUid: `plan_${i}`, status: 'paid', noticeUrl: url, cause: 'charge' });
      }
    });
    const now = Math.floor(pier.clock.now() / 1000);
    const sent = await claimDeliveries(pier.store, { now, owner: 'plans', leaseSeconds: 60, limit: 1000, listenerId: null });
    await recordAttempts(pier.store, sent.map((d) => ({ d, result: { ok: true, statusCode: 200, error: null, durationMs: 1, excerpt: null }, startedAt: now })), { owner: 'plans', now });
    const ran = await statementsOf(pier, (store) => claimForReceivers({ ...pier.deps, store }, { now, owner: 'plans', leaseSeconds: 60, limit: 32, receivers: { cap: 32, inFlight: new Map() } }));
    // planned with the settings of the connection it ran on (store/index-only.ts)
    const at = ran.findIndex((q) => /UPDATE webhook_deliveries/.test(q.sql));
    const plan = await planOf(pier, ran[at]!.sql, ran[at]!.parameters, { setup: ran[at]!.session });
    expect(plan).toContain('webhook_deliveries_due');
    expect(plan).not.toContain('webhook_deliveries_listener');
    // PostgreSQL: no bitmap scan, which would read every due row (and every dead version of one)
    // and sort them to take the oldest few
    expect(plan).not.toMatch(/Bitmap/);
  });

});

/**
 * A connection keeps the generic plan of a named statement until autovacuum analyses its tables;
 * one made at install, on empty tables, read the whole table: the schedule claim updated its rows
 * after a scan of every schedule, the webhook claim joined a scan of every event. Every job claim
 * is planned here on a database of its own as at install, generically, and must read through
 * indexes only (SQLite: a `SCAN t` without an index is a full scan).
 */
describe('the job claims, planned while the tables were empty', () => {
  let fresh: TestPier;
  let now: number;
  const fullScan = /Seq Scan|SCAN webhook_\w+\b(?! USING)|SCAN payment_\w+\b(?! USING)|SCAN window_\w+\b(?! USING)/;

  beforeAll(async () => {
    fresh = await startTestPier();
    const m = await fresh.newMerchant();
    // one delivery due, so the webhook claim's batch is prepared too
    await recordPaymentEvent(fresh.store.db, { clock: fresh.clock }, { merchantId: m.merchantId, impUid: 'imps_fresh', merchantUid: 'fresh_1', status: 'paid', noticeUrl: 'http://127.0.0.1:9/fresh', cause: 'charge' });
    now = Math.floor(fresh.clock.now() / 1000);
  });
  afterAll(() => fresh?.close());

  /** The generic plans of a claim's statement (the UPDATE) and of what follows it, each with its connection's settings. */
  async function plansOf(claim: (store: Store) => Promise<unknown>): Promise<string[]> {
    const ran = await statementsOf(fresh, claim);
    const at = ran.findIndex((q) => /^(with .*)?update /is.test(q.sql));
    expect(at).toBeGreaterThanOrEqual(0);
    const plans = [];
    for (const [i, q] of ran.entries()) {
      if (i >= at) plans.push(await planOf(fresh, q.sql, q.parameters, { setup: q.session, generic: true }));
    }
    return plans;
  }

  it("the webhook worker's claim reads the deliveries and their events through indexes", async () => {
    const plans = await plansOf((store) => claimForReceivers({ ...fresh.deps, store }, { now, owner: 'plans', leaseSeconds: 60, limit: 32, receivers: { cap: 32, inFlight: new Map() } }));
    // PostgreSQL joins the events in the claim; SQLite reads them after it
    const eventReads = plans.filter((p) => /webhook_events/.test(p));
    expect(eventReads.length).toBeGreaterThan(0);
    for (const plan of eventReads) {
      if (fresh.store.dialect === 'sqlite') expect(plan).toMatch(/SEARCH \S*webhook_events USING INDEX sqlite_autoindex_webhook_events_1 \(id=\?\)/);
      else expect(plan).toMatch(/Index Scan using webhook_events_pkey on webhook_events/);
    }
    for (const plan of plans) expect(plan).not.toMatch(fullScan);
  });

  it('the schedule claim reads payment_schedules through indexes', async () => {
    const plans = await plansOf((store) => claimDueSchedules(store, { now, owner: 'plans', leaseSeconds: 60, limit: 8 }));
    for (const plan of plans) expect(plan).not.toMatch(fullScan);
  });

  it.each([
    ['every merchant', false],
    ['leaving out a merchant at its share (decision 0107)', true],
  ])('the window acknowledgement claim, %s, reads window_confirms and the channels through indexes', async (_what, leaveOut) => {
    // a row due, so the read of the claimed rows' merchants runs too; and a merchant left out
    const m = await fresh.newMerchant();
    const shop = await fresh.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).executeTakeFirstOrThrow();
    await enqueueWindowConfirm(fresh.deps, `imp_plans_${leaveOut}`, shop.id, 'tid_plans');
    const other = await fresh.newMerchant();
    const ran = await statementsOf(fresh, (store) => claimWindowConfirms({ ...fresh.deps, store }, { owner: 'plans', limit: 8, skipMerchants: leaveOut ? [other.merchantId] : [] }));
    expect(ran.filter((q) => /pg_channels/.test(q.sql))).toHaveLength(leaveOut ? 2 : 1);
    for (const q of ran) {
      const plan = await planOf(fresh, q.sql, q.parameters, { setup: q.session, generic: true });
      expect(plan).not.toMatch(fullScan);
      expect(plan).not.toMatch(/\bSCAN pg_channels\b(?! USING)/);
    }
    await fresh.store.db.updateTable('window_confirms').set({ state: 'done' }).where('imp_uid', '=', `imp_plans_${leaveOut}`).execute();
  });

  it.each([
    ['every merchant', [] as string[]],
    ['leaving out a merchant at its share (decision 0093)', ['mch_at_its_share']],
  ])('the deposit check claim, %s, walks payments_deposit_check and updates the payments it picked by imp_uid', async (_what, leftOut) => {
    const plans = await plansOf((store) => claimDepositChecks({ ...fresh.deps, store }, 8, leftOut));
    expect(plans).toHaveLength(1);
    const [plan] = plans as [string];
    if (fresh.store.dialect === 'sqlite') {
      expect(plan).toMatch(/SEARCH payments USING INDEX sqlite_autoindex_payments_1 \(imp_uid=\?\)/);
      expect(plan).toMatch(/SEARCH payments USING INDEX payments_deposit_check \(deposit_check_at/);
    } else {
      expect(plan).toMatch(/Index Scan using payments_deposit_check on payments/);
      expect(plan).toMatch(/Index Scan using payments_pkey on payments .*\n\s*Index Cond: \(\(imp_uid\)::text = ANY /);
    }
    expect(plan).not.toMatch(fullScan);
    expect(plan).not.toMatch(/\bSCAN payments\b(?! USING)/);
  });

  it("recording a batch of attempts finds each delivery by its primary key, not among every delivery being sent", async () => {
    // a batch of 17 records, as the worker writes them under load
    const m = await fresh.newMerchant();
    for (let i = 0; i < 17; i++) {
      await recordPaymentEvent(fresh.store.db, { clock: fresh.clock }, { merchantId: m.merchantId, impUid: `imps_rec${i}`, merchantUid: `rec_${i}`, status: 'paid', noticeUrl: 'http://127.0.0.1:9/rec', cause: 'charge' });
    }
    const leased = await claimDeliveries(fresh.store, { now, owner: 'recorder', leaseSeconds: 60, limit: 17, listenerId: null });
    expect(leased).toHaveLength(17);
    const done = leased.map((d) => ({ d, result: { ok: true, statusCode: 200, error: null, durationMs: 1, excerpt: null }, startedAt: now }));
    const ran = await statementsOf(fresh, (store) => recordAttempts(store, done, { owner: 'recorder', now }));
    const moves = ran.filter((q) => /update webhook_deliveries/i.test(q.sql));
    expect(moves).toHaveLength(1);
    const plan = await planOf(fresh, moves[0]!.sql, moves[0]!.parameters, { setup: moves[0]!.session, generic: true });
    if (fresh.store.dialect === 'sqlite') expect(plan).toMatch(/SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 \(id=\?\)/);
    else expect(plan).toMatch(/Index Scan using webhook_deliveries_pkey on webhook_deliveries .*\n\s*Index Cond: \(\(id\)::text = ANY /);
    // PostgreSQL's generic plan made on empty tables walked webhook_deliveries_lease (every row
    // being sent, all workers' leases) with the ids as a join filter
    expect(plan).not.toContain('webhook_deliveries_lease');
    expect(plan).not.toMatch(fullScan);
  });

  it("a listener's claim reads webhook_deliveries through indexes", async () => {
    const plans = await plansOf((store) => claimDeliveries(store, { now, owner: 'plans', leaseSeconds: 60, limit: 8, listenerId: 'lst_plans' }));
    for (const plan of plans) expect(plan).not.toMatch(fullScan);
  });
});
