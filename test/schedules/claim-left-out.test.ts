/**
 * A schedule claim that leaves merchants out (decisions 0051, 0070: those at their cap, or with
 * less room than a batch) reads the other merchants' due schedules at a cost that does not grow
 * with the left-out merchants' own (decision 0076). The claim's `due_at` walk with
 * `merchant_id NOT IN …` read past every due schedule of a merchant left out: 6 → 32 ms a claim on
 * PostgreSQL with 100,000 of them. Checked by the rows claimed and by the databases' own plans.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { claimDueSchedules } from '../../src/core/schedules/run.js';
import { startTestPier, type TestPier } from '../harness.js';
import { planOf, statementsOf } from '../plans.js';

let pier: TestPier;
let flood: string;
let other: string;
let third: string;
const NOW = 1_000_000;

/** `count` schedules of `merchant` in `state` (waiting unless said), due at `dueAt(i)`; a running one leased by a dead owner until `leaseUntil`. */
function scheduleRows(merchant: string, tag: string, count: number, dueAt: (i: number) => number, state = 'scheduled', leaseUntil = 0) {
  return Array.from({ length: count }, (_, i) => ({
    id: `sch_${tag}_${String(i).padStart(5, '0')}`,
    merchant_id: merchant,
    customer_uid: 'cust',
    merchant_uid: `${tag}_${i}`,
    pg_provider: 'jtnet',
    pg_id: 'x',
    state,
    schedule_at: dueAt(i),
    due_at: dueAt(i),
    amount: 1_000,
    tax_free: 0,
    currency: 'KRW',
    card_quota: 0,
    created_at: 0,
    updated_at: 0,
    ...{ customer_id: null, attempts: 0, lease_owner: state === 'running' ? 'dead' : null, lease_until: leaseUntil, imp_uid: null, vat_amount: null, name: null, custom_data: null, notice_url: null, promotion_id: null, options: null, fail_reason: null, executed_at: 0, revoked_at: 0 },
    ...{ buyer_name: null, buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null },
  }));
}

/** `count` waiting schedules of `merchant`, due at `dueAt(i)`. */
async function schedules(merchant: string, tag: string, count: number, dueAt: (i: number) => number) {
  const rows = scheduleRows(merchant, tag, count, dueAt);
  for (let at = 0; at < rows.length; at += 500) await pier.store.db.insertInto('payment_schedules').values(rows.slice(at, at + 500)).execute();
}

/** a use of payment_schedules_lease not bounded by lease_until (PostgreSQL: its Index Cond on the next line) */
const leaseWalkOfAnythingElse = /payment_schedules_lease(?! \(state=\? AND lease_until<\?\))(?! on \S+ \S+ .*\n\s+Index Cond: \(\(\(state\)::text = 'running'::text\) AND \(lease_until <= )/;

const claim = (skipMerchants: string[], limit = 4) => claimDueSchedules(pier.store, { now: NOW, owner: 'left-out', leaseSeconds: 60, limit, skipMerchants });
const release = () => pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('lease_owner', '=', 'left-out').execute();

beforeAll(async () => {
  pier = await startTestPier();
  flood = (await createMerchant(pier.deps, { name: 'flood' })).merchantId;
  other = (await createMerchant(pier.deps, { name: 'other' })).merchantId;
  third = (await createMerchant(pier.deps, { name: 'third' })).merchantId;
  // the merchant left out: 1,000 due, older than anyone's, and 200 not due yet
  await schedules(flood, 'flood', 1_000, (i) => 1_000 + i);
  await schedules(flood, 'later', 200, (i) => NOW + 1 + i);
  // two others, due after every one of the flood's
  await schedules(other, 'other', 3, (i) => 500_000 + i);
  await schedules(third, 'third', 2, (i) => 400_000 + i);
  await schedules(third, 'thirdlater', 2, (i) => NOW + 10 + i);
});
afterAll(() => pier?.close());

describe('a schedule claim that leaves a merchant out', () => {
  it("takes the other merchants' oldest due schedules behind the left-out merchant's 1,000", async () => {
    const got = await claim([flood]);
    expect(got.map((s) => s.id).sort()).toEqual(['sch_other_00000', 'sch_third_00000', 'sch_third_00001', 'sch_other_00001'].sort());
    expect(got.every((s) => s.state === 'running' && s.lease_owner === 'left-out')).toBe(true);
    await release();
    expect((await claim([flood], 8)).map((s) => s.id).sort()).toEqual(['sch_other_00000', 'sch_other_00001', 'sch_other_00002', 'sch_third_00000', 'sch_third_00001']);
    await release();
    expect((await claim([flood, third], 8)).map((s) => s.id).sort()).toEqual(['sch_other_00000', 'sch_other_00001', 'sch_other_00002']);
    await release();
    expect(await claim([flood, third, other], 8)).toEqual([]);
  });

  it('takes the oldest due when nobody is left out, as before', async () => {
    const got = await claim([], 4);
    expect(got.map((s) => s.id)).toEqual(['sch_flood_00000', 'sch_flood_00001', 'sch_flood_00002', 'sch_flood_00003']);
    await release();
  });

  it("reads the others' schedules merchant by merchant and claims them by id: no walk past the left-out merchant's due schedules", async () => {
    for (const analysed of [false, true]) {
      if (analysed) await sql`analyze`.execute(pier.store.db);
      const ran = await statementsOf(pier, (store) => claimDueSchedules(store, { now: NOW, owner: 'plans', leaseSeconds: 60, limit: 4, skipMerchants: [flood] }));
      await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('lease_owner', '=', 'plans').execute();
      const plans = [];
      for (const q of ran) plans.push({ sql: q.sql, plan: await planOf(pier, q.sql, q.parameters, { setup: q.session, generic: pier.store.dialect === 'postgres' }) });
      const walk = plans.find((p) => /with recursive merchants/i.test(p.sql));
      const update = plans.find((p) => /update "?payment_schedules/i.test(p.sql));
      expect(walk, plans.map((p) => p.sql).join('\n')).toBeDefined();
      expect(update).toBeDefined();
      if (pier.store.dialect === 'sqlite') {
        expect(walk!.plan).toMatch(/SEARCH s USING (COVERING )?INDEX payment_schedules_merchant_due \(merchant_id=\? AND due_at<\?\)/);
        expect(walk!.plan).toMatch(/SEARCH s USING (COVERING )?INDEX payment_schedules_merchant_due \(merchant_id>\?\)/);
        // the waiting schedules claimed by their ids, not found in the due_at walk
        expect(update!.plan, update!.sql).not.toMatch(/payment_schedules_due \(state=\? AND due_at<\?\)/);
        expect(update!.plan).toMatch(/USING INDEX sqlite_autoindex_payment_schedules_1 \(id=\?\)/);
      } else {
        // also without statistics (a table autovacuum has not analysed yet, a generic plan a
        // connection keeps through a burst): before migration 024 PostgreSQL walked every waiting
        // schedule in payment_schedules_lease (state, …), estimating one row (decision 0077)
        expect(walk!.plan, walk!.plan).toMatch(/Index Only Scan using payment_schedules_merchant_due on payment_schedules s_1/);
        expect(walk!.plan, walk!.plan).toMatch(/Index Scan using payment_schedules_merchant_due on payment_schedules s\s.*\n\s+Index Cond: \(\(\(merchant_id\)::text = \(m\.merchant_id\)::text\) AND \(due_at <= /);
        expect(walk!.plan).not.toMatch(/Seq Scan|Bitmap|payment_schedules_due|payment_schedules_lease/);
        // the waiting schedules claimed by their ids, not found in the due_at walk
        expect(update!.plan, update!.plan).toMatch(/Index Scan using payment_schedules_pkey on payment_schedules \S+ .*\n\s+Index Cond: \(\(id\)::text = ANY \(\(ARRAY/);
        expect(update!.plan, update!.plan).not.toMatch(/Index Cond: .*due_at <=/);
      }
      // the first look, among the oldest due of all merchants, stops at its window
      const head = plans.find((p) => /limit/i.test(p.sql) && !/recursive|update/i.test(p.sql));
      expect(head).toBeDefined();
      if (pier.store.dialect === 'sqlite') expect(head!.plan).toMatch(/SEARCH payment_schedules USING INDEX payment_schedules_due \(state=\? AND due_at<\?\)/);
      // (partial on waiting schedules since migration 028, its state no longer an Index Cond)
      else expect(head!.plan, head!.plan).toMatch(/^Limit .*\n\s+->  Index Scan using payment_schedules_due on payment_schedules .*\n\s+Index Cond: (.* AND )?\(due_at <= /);
      // a lease that ran out is the only walk of payment_schedules_lease, bounded by lease_until
      for (const p of plans) expect(p.plan, p.plan).not.toMatch(leaseWalkOfAnythingElse);
    }
  });

  it("with nobody left out, the claim walks the due schedules in payment_schedules_due, also without statistics", async () => {
    // a fresh table of its own: the one above has been analysed
    const fresh = await startTestPier();
    try {
      const m = (await createMerchant(fresh.deps, { name: 'fresh' })).merchantId;
      const rows = (tag: string, count: number, dueAt: (i: number) => number, state?: string, leaseUntil?: number) => scheduleRows(m, tag, count, dueAt, state, leaseUntil);
      // the first of a burst: due now, and the month's others waiting; two leases that ran out
      const all = [...rows('due', 1_000, (i) => NOW - 1_000 + i), ...rows('wait', 200, (i) => NOW + 1 + i), ...rows('dead', 2, (i) => NOW - 2_000 + i, 'running', 1)];
      for (let at = 0; at < all.length; at += 500) await fresh.store.db.insertInto('payment_schedules').values(all.slice(at, at + 500)).execute();
      let got: { id: string }[] = [];
      const ran = await statementsOf(fresh, async (store) => (got = await claimDueSchedules(store, { now: NOW, owner: 'plans', leaseSeconds: 60, limit: 4 })));
      expect(ran).toHaveLength(1);
      // the oldest due, the leases that ran out among them
      expect(got.map((s) => s.id).sort()).toEqual(['sch_dead_00000', 'sch_dead_00001', 'sch_due_00000', 'sch_due_00001']);
      const plan = await planOf(fresh, ran[0]!.sql, ran[0]!.parameters, { setup: ran[0]!.session, generic: fresh.store.dialect === 'postgres' });
      if (fresh.store.dialect === 'sqlite') {
        expect(plan, plan).toMatch(/SEARCH payment_schedules USING INDEX payment_schedules_due \(state=\? AND due_at<\?\)/);
        expect(plan, plan).toMatch(/SEARCH payment_schedules USING INDEX payment_schedules_lease \(state=\? AND lease_until<\?\)/);
      } else {
        // before migration 024: every waiting schedule read in payment_schedules_lease (state =
        // 'scheduled', lease_until 0 for all of them), then sorted by due_at
        // the state a literal since migration 028 (payment_schedules_due is partial on it)
        expect(plan, plan).toMatch(/Index Scan using payment_schedules_due on payment_schedules \S+ .*\n\s+Index Cond: \(\(\(state\)::text = 'scheduled'::text\) AND \(due_at <= \$\d+\)\)/);
        expect(plan, plan).toMatch(/Index Scan using payment_schedules_lease on payment_schedules \S+ .*\n\s+Index Cond: \(\(\(state\)::text = 'running'::text\) AND \(lease_until <= /);
        expect(plan).not.toMatch(/Seq Scan|Bitmap/);
      }
      expect(plan, plan).not.toMatch(leaseWalkOfAnythingElse);
    } finally {
      await fresh.close();
    }
  });

  it("with nobody left out, SQLite walks each of the claim's two conditions on its own, as PostgreSQL does", async () => {
    const ran = await statementsOf(pier, (store) => claimDueSchedules(store, { now: NOW, owner: 'plans', leaseSeconds: 60, limit: 4 }));
    await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('lease_owner', '=', 'plans').execute();
    expect(ran).toHaveLength(1);
    const plan = await planOf(pier, ran[0]!.sql, ran[0]!.parameters, { setup: ran[0]!.session, generic: pier.store.dialect === 'postgres' });
    if (pier.store.dialect === 'sqlite') {
      // one `a OR b` was a MULTI-INDEX OR whose rows, every due schedule, were sorted for the LIMIT
      expect(plan, plan).not.toMatch(/MULTI-INDEX OR/);
      expect(plan).toMatch(/SEARCH payment_schedules USING INDEX payment_schedules_due \(state=\? AND due_at<\?\)/);
      // the rows picked are updated by id
      expect(plan.split('\n')[0]).toMatch(/SEARCH payment_schedules USING INDEX sqlite_autoindex_payment_schedules_1 \(id=\?\)/);
    } else {
      expect(plan).not.toMatch(/Seq Scan/);
    }
  });
});
