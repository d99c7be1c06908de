/**
 * GET /ready is public (no token, no rate limit: load balancers probe it). Each check run asks the
 * database a dozen statements on the connections payments use, and asks the PG's host (tPay) over
 * the agent its payments use. Run once per request, an anonymous caller decided how often Pier
 * called its PG, and how many of its database connections answered probes instead of payments.
 * Every caller within a second of a run now shares that run's answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { READY_REUSE_MS } from '../../src/operations/routes.js';
import type { Store } from '../../src/store/db.js';
import { startTestPier, type TestPier } from '../harness.js';

let pier: TestPier;
/** stands in for tPay's host: any HTTP answer is "reachable"; counts what reaches it */
let pgHost: Server;
let pgRequests = 0;
let connectors: ReturnType<typeof createConnectorRegistry>;

beforeAll(async () => {
  pier = await startTestPier();
  await pier.newMerchant();
  pgHost = createServer((req, res) => {
    pgRequests++;
    res.writeHead(404).end();
  });
  await new Promise<void>((done) => pgHost.listen(0, '127.0.0.1', done));
  connectors = createConnectorRegistry({ jtnet: { baseUrl: `http://127.0.0.1:${(pgHost.address() as AddressInfo).port}`, connectTimeoutMs: 1000, readTimeoutMs: 1000 } });
});
afterAll(async () => {
  await connectors?.close();
  if (pgHost?.listening) await new Promise((done) => pgHost.close(done));
  await pier?.close();
});

/** The store, counting the statements run through its `db`. */
function countingStore(store: Store): { store: Store; count: () => number } {
  let n = 0;
  const counter: KyselyPlugin = {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      n++;
      return node;
    },
    async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return result;
    },
  };
  return { store: { ...store, db: store.db.withPlugin(counter) }, count: () => n };
}

describe('GET /ready called by anyone, as often as they like', () => {
  it('runs its checks once for every caller within a second, and again after it', async () => {
    const { store, count } = countingStore(pier.store);
    let nowMs = 10_000;
    const app: PierApp = await buildApp({ ...pier.deps, store, connectors }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080', operationsClock: () => nowMs });
    try {
      const ready = () => app.inject({ method: 'GET', url: '/ready', remoteAddress: '203.0.113.9' });
      const first = await ready();
      expect(first.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', vault: 'ok', 'pg:jtnet': 'ok' } });
      const statementsOfOneRun = count();
      expect(statementsOfOneRun).toBeGreaterThan(0);
      expect(pgRequests).toBe(1);

      // 40 at once and 40 one after another, within the second (the clock does not move)
      const flood = [...(await Promise.all(Array.from({ length: 40 }, ready)))];
      for (let i = 0; i < 40; i++) flood.push(await ready());
      for (const res of flood) expect(res.json()).toEqual(first.json());
      expect(pgRequests).toBe(1);
      expect(count()).toBe(statementsOfOneRun);

      // a second later the checks run again, and see what changed: the PG's host is gone
      await new Promise((done) => pgHost.close(done));
      nowMs += READY_REUSE_MS;
      const later = await ready();
      expect(later.statusCode).toBe(503);
      expect(later.json()).toMatchObject({ failed: ['pg:jtnet'], checks: { 'pg:jtnet': 'unreachable', database: 'ok' } });
      expect(count()).toBe(2 * statementsOfOneRun);
    } finally {
      await app.close();
    }
  });
});
