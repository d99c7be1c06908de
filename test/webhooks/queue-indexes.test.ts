/**
 * The webhook queue's claim indexes hold the queue, not the history (migration 027, decision 0083):
 * `webhook_deliveries_due` only deliveries waiting for an attempt, `webhook_deliveries_lease` only
 * deliveries being sent. Delivered and given-up rows (every delivery ever made) are in neither, so
 * a delivery's record no longer rewrites their entries and the indexes do not grow with history.
 * Every statement that reads the queue still finds it through them.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentEvent } from '../../src/core/payments/events.js';
import { PierMetrics } from '../../src/operations/metrics.js';
import { claimDeliveries, claimForReceivers, recordAttempts } from '../../src/webhooks/deliveries.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { planOf, statementsOf } from '../plans.js';

let pier: TestPier;
let shop: TestMerchant;
let now: number;
const url = 'http://127.0.0.1:9/queue-indexes';

/** Entries in each of the queue's indexes: SQLite's dbstat cells (an index's interior cells are entries too), PostgreSQL's count after VACUUM. */
async function indexEntries(): Promise<{ due: number; lease: number }> {
  if (pier.store.dialect === 'sqlite') {
    const rows = await sql<{ name: string; n: number }>`SELECT name, sum(ncell) AS n FROM dbstat
      WHERE name IN ('webhook_deliveries_due', 'webhook_deliveries_lease') GROUP BY name`.execute(pier.store.db);
    const of = (name: string) => Number(rows.rows.find((r) => r.name === name)?.n ?? 0);
    return { due: of('webhook_deliveries_due'), lease: of('webhook_deliveries_lease') };
  }
  // VACUUM counts every index's live entries exactly (its reltuples) and cannot run in a transaction
  await sql`VACUUM webhook_deliveries`.execute(pier.store.db);
  const rows = await sql<{ relname: string; n: number }>`SELECT relname, reltuples AS n FROM pg_class
    WHERE relname IN ('webhook_deliveries_due', 'webhook_deliveries_lease')`.execute(pier.store.db);
  const of = (name: string) => Number(rows.rows.find((r) => r.relname === name)?.n);
  return { due: of('webhook_deliveries_due'), lease: of('webhook_deliveries_lease') };
}

async function scrape(): Promise<string> {
  const res = await pier.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

beforeAll(async () => {
  pier = await startTestPier();
  shop = await pier.newMerchant();
  now = Math.floor(pier.clock.now() / 1000);
  // 300 deliveries: 200 delivered (history), 40 being sent, 60 waiting
  await pier.store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < 300; i++) {
      await recordPaymentEvent(trx, { clock: pier.clock }, { merchantId: shop.merchantId, impUid: `imps_qi${i}`, merchantUid: `qi_${i}`, status: 'paid', noticeUrl: url, cause: 'charge' });
    }
  });
  const sent = await claimDeliveries(pier.store, { now, owner: 'history', leaseSeconds: 60, limit: 200, listenerId: null });
  expect(sent).toHaveLength(200);
  await recordAttempts(pier.store, sent.map((d) => ({ d, result: { ok: true, statusCode: 200, error: null, durationMs: 1, excerpt: null }, startedAt: now })), { owner: 'history', now });
  expect(await claimDeliveries(pier.store, { now, owner: 'sending', leaseSeconds: 600, limit: 40, listenerId: null })).toHaveLength(40);
});
afterAll(() => pier?.close());

describe("the webhook queue's claim indexes", () => {
  it('hold the deliveries waiting and being sent, not the delivered ones', async () => {
    const states = await pier.store.db.selectFrom('webhook_deliveries').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state').orderBy('state').execute();
    expect(states.map((r) => [r.state, Number(r.n)])).toEqual([
      ['delivered', 200],
      ['pending', 60],
      ['sending', 40],
    ]);
    expect(await indexEntries()).toEqual({ due: 60, lease: 40 });
  });

  it('serve the claim: its walks of waiting deliveries and of leases that ran out take them', async () => {
    const ran = await statementsOf(pier, (store) => claimForReceivers({ ...pier.deps, store }, { now, owner: 'plans', leaseSeconds: 60, limit: 8, receivers: { cap: 32, inFlight: new Map() } }));
    const claim = ran.find((q) => /UPDATE webhook_deliveries/.test(q.sql))!;
    const plan = await planOf(pier, claim.sql, claim.parameters, { setup: claim.session, generic: true });
    expect(plan).toContain('webhook_deliveries_due');
    expect(plan).toContain('webhook_deliveries_lease');
    expect(plan).not.toMatch(/Seq Scan|SCAN webhook_deliveries\b(?! USING)/);
  });

  it("serve /metrics' queue gauges, which count what they did before", async () => {
    const text = await scrape();
    // the claim above leased 8 more of the 60 waiting
    expect(text).toMatch(/^pier_webhook_queue_depth\{state="pending"\} 52$/m);
    expect(text).toMatch(/^pier_webhook_queue_depth\{state="sending"\} 48$/m);
    const ran = await statementsOf(pier, (store) => new PierMetrics({ processMetrics: false }).scrape(store, { pier: pier.clock }));
    const gauges = ran.filter((q) => /from "?webhook_deliveries"?/i.test(q.sql));
    expect(gauges.length).toBeGreaterThanOrEqual(2);
    for (const q of gauges) {
      const plan = await planOf(pier, q.sql, q.parameters, { setup: q.session });
      expect(plan).toMatch(/webhook_deliveries_(due|lease)/);
      expect(plan).not.toMatch(/Seq Scan|SCAN webhook_deliveries\b(?! USING)/);
    }
  });
});
