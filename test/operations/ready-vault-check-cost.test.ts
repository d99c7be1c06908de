/**
 * GET /ready is public (no token, no rate limit: load balancers probe it), so what one call costs is
 * what any anonymous caller can make the database do, as often as it likes. Its vault check opens
 * one billing key per vault key id: it must find them through an index, not by reading every
 * billing key the installation ever stored (on SQLite that read ran on the event loop every
 * payment waits on, past /ready's own 2-second deadline, which cannot fire meanwhile).
 */
import { randomBytes } from 'node:crypto';
import { CompiledQuery, sql, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { Store } from '../../src/store/db.js';
import { Vault } from '../../src/vault/vault.js';
import { startTestPier, type TestPier } from '../harness.js';

/** billing keys of the installation: enough that reading them all is plain in a plan and in rows read */
const BILLING_KEYS = 20_000;

let pier: TestPier;
let merchantId: string;
// the test Pier's key, and one rotated in: a single billing key sealed with it, among 20,000 that are not
const rotated = `t2:${randomBytes(32).toString('base64')}`;

beforeAll(async () => {
  pier = await startTestPier();
  merchantId = (await pier.newMerchant()).merchantId;
  const box = pier.deps.vault.seal('billing key at the PG');
  const { db } = pier.store;
  await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${sql.lit(BILLING_KEYS)})
    INSERT INTO billing_keys (id, merchant_id, customer_uid, channel_id, pg_provider, pg_id, sandbox, billing_key_sealed, vault_key_id, inserted, updated)
    SELECT 'bk_' || i, ${merchantId}, 'customer_' || i, 'ch', 'jtnet', 'mid', 1, ${box}, ${Vault.keyIdOf(box)}, 0, 0 FROM n`.execute(db);
  const newer = Vault.fromSpec(`${rotated},${pier.vaultSpec}`).seal('billing key sealed after the rotation');
  await db
    .insertInto('billing_keys')
    .values({ id: 'bk_rotated', merchant_id: merchantId, customer_uid: 'customer_rotated', channel_id: 'ch', pg_provider: 'jtnet', pg_id: 'mid', sandbox: 1, billing_key_sealed: newer, vault_key_id: 't2', inserted: 0, updated: 0 } as never)
    .execute();
  // what autovacuum would have done by the time an installation has this many billing keys
  if (pier.store.dialect === 'postgres') await db.executeQuery(CompiledQuery.raw('ANALYZE billing_keys'));
}, 120_000);
afterAll(() => pier?.close());

/** Every statement run through the store's `db`, compiled as sent. */
function recordingStore(store: Store): { store: Store; statements: CompiledQuery[] } {
  const statements: CompiledQuery[] = [];
  const recorder: KyselyPlugin = {
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      statements.push(store.db.getExecutor().compileQuery(node, queryId));
      return node;
    },
    async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return result;
    },
  };
  return { store: { ...store, db: store.db.withPlugin(recorder) }, statements };
}

/**
 * The billing_keys rows a statement reads. PostgreSQL: rows its plan's scans of billing_keys
 * returned or filtered out (EXPLAIN ANALYZE). SQLite (no row counts): every billing key when its
 * plan SCANs the table (a full walk), else none.
 */
async function billingKeyRowsRead(store: Store, q: CompiledQuery): Promise<number> {
  if (store.dialect === 'sqlite') {
    const { rows } = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
    return rows.some((r) => /^SCAN billing_keys\b/.test(r.detail)) ? BILLING_KEYS + 1 : 0;
  }
  const { rows } = await store.db.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(CompiledQuery.raw(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.sql}`, [...q.parameters]));
  const walk = (n: PlanNode): number =>
    (n['Relation Name'] === 'billing_keys' ? (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'] : 0) + (n.Plans ?? []).reduce((sum, c) => sum + walk(c), 0);
  return walk(rows[0]['QUERY PLAN'][0].Plan);
}
type PlanNode = { 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number; 'Rows Removed by Filter'?: number; Plans?: PlanNode[] };

async function ready(store: Store, vaultSpec: string) {
  const app = await buildApp({ ...pier.deps, store, vault: Vault.fromSpec(vaultSpec) }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
  try {
    return await app.inject({ method: 'GET', url: '/ready' });
  } finally {
    await app.close();
  }
}

describe('GET /ready with many billing keys', () => {
  it('opens a billing key of every vault key id without reading the billing keys', async () => {
    const { store, statements } = recordingStore(pier.store);
    const res = await ready(store, `${pier.vaultSpec},${rotated}`);
    expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', vault: 'ok', 'pg:jtnet': 'ok' } });

    const ofBillingKeys = statements.filter((q) => /\bbilling_keys\b/.test(q.sql));
    expect(ofBillingKeys.length).toBeGreaterThan(0);
    let read = 0;
    for (const q of ofBillingKeys) read += await billingKeyRowsRead(pier.store, q);
    // one billing key per key id (2), and the look past the last one: not 20,001
    expect(read).toBeLessThanOrEqual(5);
  });

  it('still fails its vault check when the one billing key of a rotated-in key does not open', async () => {
    const res = await ready(pier.store, pier.vaultSpec); // t2 left out of the ring
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ failed: ['vault'], checks: { vault: 'keys do not open sealed data' } });
  });
});
