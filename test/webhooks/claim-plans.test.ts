/**
 * How the job claims find their rows (issue #14, docs/performance.md "Eighth round"), read from the
 * databases' own plans:
 * - a lease that ran out is found by an index condition on `lease_until`: the database clock
 *   (dbNow) is STABLE on PostgreSQL, so the walk stops at the first lease still running instead of
 *   reading every leased row, live or dead;
 * - the webhook worker's claim of URL deliveries walks `webhook_deliveries_due` in order, also when
 *   PostgreSQL's statistics are older than the queue: `webhook_deliveries_listener` is partial
 *   (listener rows only), and the claim's transaction allows no bitmap scan, so no plan reads and
 *   sorts every pending delivery.
 */
import pg from 'pg';
import SQLite from 'better-sqlite3';
import { sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentEvent } from '../../src/core/payments/events.js';
import { dbNow } from '../../src/store/db-clock.js';
import type { Store } from '../../src/store/db.js';
import { claimDeliveries, recordAttempts } from '../../src/webhooks/deliveries.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let shop: TestMerchant;

beforeAll(async () => {
  pier = await startTestPier();
  shop = await pier.newMerchant();
});
afterAll(() => pier?.close());

/** The plan of `text` with `parameters`, one line per node; `setup` runs first in the same session. */
async function planOf(text: string, parameters: readonly unknown[], setup: string[] = []): Promise<string> {
  if (pier.store.dialect === 'sqlite') {
    const db = new SQLite(pier.databaseUrl.slice('sqlite:'.length), { readonly: true });
    try {
      return (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...(parameters as unknown[])) as { detail: string }[]).map((r) => r.detail).join('\n');
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: pier.databaseUrl });
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const s of setup) await c.query(s);
    const r = await c.query({ text: `EXPLAIN ${text}`, values: parameters as unknown[] });
    return r.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
}

/**
 * The statements `work` ran through `store.db`, in order, compiled as the store ran them (a
 * transaction's own BEGIN and COMMIT are not statements of Kysely's and do not appear).
 */
async function statementsOf(work: (store: Store) => Promise<unknown>): Promise<Array<{ sql: string; parameters: readonly unknown[] }>> {
  const nodes = new Map<unknown, RootOperationNode>();
  const ran: RootOperationNode[] = [];
  const capture: KyselyPlugin = {
    // a statement's subqueries are transformed too: only the node of a query that ran is kept
    transformQuery: (a) => {
      nodes.set(a.queryId, a.node);
      return a.node;
    },
    transformResult: async (a) => {
      ran.push(nodes.get(a.queryId)!);
      return a.result;
    },
  };
  await work({ ...pier.store, db: pier.store.db.withPlugin(capture) });
  return ran.map((node) => pier.store.db.getExecutor().compileQuery(node, { queryId: 'plan' } as never));
}

describe('a walk for leases that ran out', () => {
  it('bounds lease_until by the database clock in the index condition', async () => {
    const q = sql`SELECT id FROM payment_schedules WHERE state = 'running' AND lease_until <= ${dbNow(pier.store)} ORDER BY lease_until`.compile(pier.store.db);
    // an empty table would be read whole; the question is whether the index can take the bound
    const plan = await planOf(q.sql, q.parameters, ['SET LOCAL enable_seqscan = off', 'SET LOCAL enable_bitmapscan = off']);
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
    const ran = await statementsOf((store) => claimDeliveries(store, { now, owner: 'plans', leaseSeconds: 60, limit: 32, listenerId: null, receivers: { cap: 32, inFlight: new Map() } }));
    // the claim is the last statement; what ran before it in its transaction (PostgreSQL's planner
    // settings) runs first here too
    const claim = ran.at(-1)!;
    expect(claim.sql).toMatch(/UPDATE webhook_deliveries/);
    const plan = await planOf(claim.sql, claim.parameters, ran.slice(0, -1).map((q) => q.sql));
    expect(plan).toContain('webhook_deliveries_due');
    expect(plan).not.toContain('webhook_deliveries_listener');
    // PostgreSQL: no bitmap scan, which would read every due row (and every dead version of one)
    // and sort them to take the oldest few
    expect(plan).not.toMatch(/Bitmap/);
  });
});
