import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { Migrator, sql } from 'kysely';
import { buildApp, type PierApp } from '../src/api/app.js';
import { createConnectorRegistry, type ConnectorRegistry } from '../src/connectors/registry.js';
import { instrumentConnectors } from '../src/connectors/instrumented.js';
import { PierMetrics } from '../src/operations/metrics.js';
import { addChannel } from '../src/core/merchants/channels.js';
import type { Deps } from '../src/core/deps.js';
import type { CheckoutRateLimits } from '../src/core/checkout/rate-limits.js';
import type { RateLimitRule } from '../src/core/merchants/rate-limit.js';
import type { Connector } from '../src/connectors/types.js';
import { createMerchant, type CreatedMerchant } from '../src/core/merchants/merchants.js';
import { JTNET_TEST_MIDS } from '../src/core/sandbox/demo.js';
import { ManualClock } from '../src/lib/clock.js';
import { shiftDbClockForTests } from '../src/store/db-clock.js';
import { SandboxClock } from '../src/core/sandbox/clock.js';
import { createLogger } from '../src/lib/logger.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { createNicepaySimulator, type NicepaySimulator } from '../src/simulators/nicepay/index.js';
import { migrateToLatest, openStore, type Store } from '../src/store/db.js';
import { PierMigrations } from '../src/store/migrations/index.js';
import { Vault } from '../src/vault/vault.js';
import { simulatorTools } from '../src/simulators/registry.js';
import { onFreshPort } from './child-process.js';
import { registerSandboxNotifyUrls } from '../src/core/sandbox/notify-urls.js';

/**
 * A fresh database for one test file: a SQLite file in a temp folder, or, when TEST_DATABASE_URL
 * is set, a new PostgreSQL database created for this file and dropped afterwards.
 */
export async function freshDatabase(opts: { sqliteDir?: string } = {}): Promise<{ url: string; sqliteFile: string | null; drop(): Promise<void> }> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) {
    const dir = mkdtempSync(join(opts.sqliteDir ?? tmpdir(), 'pier-test-'));
    const file = join(dir, 'pier.sqlite');
    return { url: `sqlite:${file}`, sqliteFile: file, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `pier_t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    sqliteFile: null,
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestMerchant extends CreatedMerchant {
  token: string;
}

export interface TestPier {
  app: PierApp;
  deps: Deps;
  store: Store;
  clock: ManualClock;
  simulatorUrl: string;
  simulator: ReturnType<typeof createTpaySimulator>;
  /** the PG of new merchants' default API channel (`opts.pg`) */
  pg: TestPg;
  /** the NICE simulator (started when `opts.pg` is `nice_v2`), reached over real HTTP as NICE's sandbox */
  niceSimulator: NicepaySimulator | null;
  niceSimulatorUrl: string | null;
  /** Pier's address when started with `listen: true` */
  pierUrl: string | null;
  /** everything Pier logged, as text */
  logs(): string;
  sqliteFile: string | null;
  /** the test database's URL, for more Pier instances (stores) on the same database */
  databaseUrl: string;
  /** the vault key spec (`id:base64key`), for more Pier instances that must open the same billing keys */
  vaultSpec: string;
  /**
   * a merchant with the JTNET test channels and a live access token; with `pg: 'nice_v2'` also a
   * NICE sandbox API channel of its own (fresh key pair, enrolled at the simulator on first use)
   * that is its default, so V1 calls without `pg` go to NICE; `{ pg: 'jtnet' }` gives one merchant only the
   * JTNET channels on such a Pier (a merchant from before its move to NICE)
   */
  newMerchant(opts?: { pg?: TestPg }): Promise<TestMerchant & { nice: { clientId: string; secretKey: string } | null }>;
  /** in-process request with the V1 envelope parsed */
  call(method: string, url: string, opts?: { token?: string | null; body?: unknown; form?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** PGs a test Pier can put behind a merchant's default API channel. */
export type TestPg = 'jtnet' | 'nice_v2';

/** Checkout allowances no test meets by accident: every in-process request comes from 127.0.0.1. */
export const NO_CHECKOUT_LIMITS: CheckoutRateLimits = {
  sessionsPerIp: { limit: 1_000_000, windowSeconds: 60 },
  windowsPerIp: { limit: 1_000_000, windowSeconds: 60 },
};

/** Posts to the PG notify route no test meets by accident: every in-process request and the simulators' notices come from 127.0.0.1. */
export const NO_PG_NOTICE_LIMIT: RateLimitRule = { limit: 1_000_000, windowSeconds: 60 };

/** The PostgreSQL pool of a test Pier's store (its connections, all of which a test may hold). */
export const TEST_POOL_SIZE = 20;

/**
 * Pier in-process (app.inject) against a fresh database, with a real tPay simulator on a loopback
 * port reached over real HTTP, and a manual clock shared by both.
 */
export async function startTestPier(
  opts: {
    readTimeoutMs?: number;
    /** both PGs' connect timeout (default 1000 ms) */
    connectTimeoutMs?: number;
    simulatorSlowMs?: number;
    jtnetUrl?: string;
    /** deps.clock = the DB-backed sandbox clock over the manual clock (`pier sandbox clock`); `clock` stays the manual base */
    sandboxClock?: boolean;
    /**
     * also listen on a loopback port (publicUrl = that address), so the simulator can post to Pier
     * (virtual-account deposit notices); `pierUrl` is then set
     */
    listen?: boolean;
    /** the simulator net-cancels window approvals not acknowledged (resultConfirm) after this long */
    simulatorNetCancelMs?: number;
    /** the PG of new merchants' default API channel (default jtnet); `nice_v2` starts the NICE simulator too */
    pg?: TestPg;
    /** PostgreSQL: the pool's size (default TEST_POOL_SIZE) and the clock its queue judges waits by (ConnectionQueue) */
    poolSize?: number;
    queueClock?: () => number;
    /** PostgreSQL: statement_timeout of Pier's connections (default DATABASE_STATEMENT_TIMEOUT_MS) */
    statementTimeoutMs?: number;
    /** SQLite: how long a statement waits for another connection's write lock before SQLITE_BUSY (default 5,000 ms) */
    sqliteLockWaitMs?: number;
    /** what one address may ask of the payment window (default: no practical limit, as every test request comes from 127.0.0.1) */
    checkoutRateLimits?: CheckoutRateLimits;
    /**
     * the database migrated only up to this migration, as an older Pier left it; the test builds
     * that Pier's data and runs the rest itself (migrateToLatest)
     */
    migratedUpTo?: string;
    /** SQLite: the folder the database's file is made in (default the OS's temp folder): a small filesystem a test fills */
    sqliteDir?: string;
    /** SQLite: what the WAL checkpointer thread reports (a failed pass, the thread gone) */
    onCheckpointError?: (err: Error) => void;
    /** SQLite: a checkpoint pass succeeded after that many failed in a row */
    onCheckpointRecovered?: (failedPasses: number) => void;
  } = {},
): Promise<TestPier> {
  const db = await freshDatabase({ sqliteDir: opts.sqliteDir });
  const store = openStore(db.url, { poolSize: opts.poolSize ?? TEST_POOL_SIZE, queueClock: opts.queueClock, statementTimeoutMs: opts.statementTimeoutMs, sqliteLockWaitMs: opts.sqliteLockWaitMs, onCheckpointError: opts.onCheckpointError, onCheckpointRecovered: opts.onCheckpointRecovered });
  if (opts.migratedUpTo) {
    const { error } = await new Migrator({ db: store.db, provider: new PierMigrations(store.dialect) }).migrateTo(opts.migratedUpTo);
    if (error) throw error;
  } else {
    await migrateToLatest(store);
  }
  const clock = new TestClock(Date.UTC(2026, 10, 30, 3, 0, 0));
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const logger = createLogger('info', sink);
  const simulator = createTpaySimulator({ dbFile: ':memory:', clock, logger: { level: 'info', stream: sink }, slowResponseMs: opts.simulatorSlowMs ?? 5_000, netCancelUnconfirmedMs: opts.simulatorNetCancelMs ?? 0 });
  const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  const pgUnderTest: TestPg = opts.pg ?? 'jtnet';
  const niceSimulator = pgUnderTest === 'nice_v2' ? createNicepaySimulator({ dbFile: ':memory:', clock, slowResponseMs: opts.simulatorSlowMs ?? 5_000 }) : null;
  const niceSimulatorUrl = niceSimulator ? await niceSimulator.listen({ host: '127.0.0.1', port: 0 }) : null;
  const pgTimeouts = { connectTimeoutMs: opts.connectTimeoutMs ?? 1000, readTimeoutMs: opts.readTimeoutMs ?? 2000 };
  const vaultSpec = `t1:${randomBytes(32).toString('base64')}`;
  const pierClock = opts.sandboxClock ? new SandboxClock(store, clock) : clock;
  const metrics = new PierMetrics({ processMetrics: false, connectionWaits: store.connectionWaits });
  const deps: Deps = {
    store,
    vault: Vault.fromSpec(vaultSpec),
    clock: pierClock,
    logger,
    mode: 'sandbox',
    metrics,
    checkoutRateLimits: opts.checkoutRateLimits ?? NO_CHECKOUT_LIMITS,
    connectors: instrumentConnectors(
      createConnectorRegistry(
        {
          jtnet: { baseUrl: opts.jtnetUrl ?? simulatorUrl, ...pgTimeouts },
          ...(niceSimulatorUrl ? { nice_v2: { sandboxUrl: niceSimulatorUrl, ...pgTimeouts } } : {}),
        },
        { clock: pierClock },
      ),
      { metrics, logger },
    ),
  };
  const serve = async (publicUrl: string) => {
    const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl, simulatorTools: simulatorTools(deps.connectors), pgNoticeRateLimit: NO_PG_NOTICE_LIMIT });
    await app.ready();
    return app;
  };
  // listening, Pier's public URL is its address, which its pages name before it binds it: on a port
  // another process takes meanwhile, it is made again on a new one (child-process.ts)
  const { app, publicUrl } = opts.listen
    ? await onFreshPort(async (port) => {
        const publicUrl = `http://127.0.0.1:${port}`;
        const app = await serve(publicUrl);
        await app.listen({ host: '127.0.0.1', port }).catch(async (err: unknown) => {
          await app.close();
          throw err;
        });
        return { app, publicUrl };
      })
    : { app: await serve('http://localhost:8080'), publicUrl: 'http://localhost:8080' };

  const call: TestPier['call'] = async (method, url, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let payload: string | undefined;
    if (o.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = o.form;
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    }
    const res = await app.inject({ method: method as 'GET', url, headers, payload });
    let body: unknown = res.body;
    try {
      body = JSON.parse(res.body);
    } catch {
      /* not JSON: the test will say so */
    }
    return { status: res.statusCode, body };
  };

  return {
    app,
    deps,
    store,
    clock,
    simulator,
    simulatorUrl,
    pg: pgUnderTest,
    niceSimulator,
    niceSimulatorUrl,
    pierUrl: opts.listen ? publicUrl : null,
    sqliteFile: db.sqliteFile,
    databaseUrl: db.url,
    vaultSpec,
    logs: () => logText,
    async newMerchant(o = {}) {
      const m = await createMerchant(deps, { name: `Test ${randomBytes(3).toString('hex')}` });
      for (const t of JTNET_TEST_MIDS) {
        await addChannel(deps, m.merchantId, { provider: 'jtnet', mid: t.mid, merchantKey: t.merchantKey, cancelPassword: t.cancelPassword, kind: t.kind, sandbox: true, name: t.name });
      }
      // tPay's deposit notices go where the MID's settings say, as Pier's sandbox registers them at
      // its start (decision 0086); the first merchant's channels keep them, the others are found by MID
      if (opts.listen) for (const t of JTNET_TEST_MIDS) await registerSandboxNotifyUrls(deps, simulatorTools(deps.connectors), publicUrl, { provider: 'jtnet', mid: t.mid });
      const nice = (o.pg ?? pgUnderTest) === 'nice_v2' ? { clientId: `S2_${randomBytes(16).toString('hex')}`, secretKey: randomBytes(16).toString('hex') } : null;
      if (nice) {
        await addChannel(deps, m.merchantId, { provider: 'nice_v2', mid: nice.clientId, merchantKey: nice.secretKey, cancelPassword: '', kind: 'api', sandbox: true, isDefault: true, name: 'NICE sandbox' });
      }
      const res = await call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
      if (res.body?.code !== 0) throw new Error(`getToken failed: ${JSON.stringify(res.body)}`);
      return { ...m, token: res.body.response.access_token, nice };
    },
    call,
    async close() {
      await app.close();
      await simulator.close();
      await niceSimulator?.close();
      await store.close();
      await db.drop();
    },
  };
}

/** A V1 call through app.inject with a merchant's token: the HTTP status, the parsed body and the `x-pier-detail` header. */
export async function v1Call(pier: TestPier, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: any; detail: string | undefined }> {
  const res = await pier.app.inject({
    method: method as 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  const detail = res.headers['x-pier-detail'];
  return { status: res.statusCode, body: JSON.parse(res.body), detail: typeof detail === 'string' ? detail : undefined };
}

/** Pier's deps with some connector methods replaced (the rest talk to the simulators as usual). */
export function depsWith(deps: Deps, override: (real: Connector) => Partial<Connector>): Deps {
  // a request's registry (loggingTo, src/api/request-deps.ts) keeps the override too, so an app
  // built on these deps answers with the replaced methods
  const overridden = (real: ConnectorRegistry): ConnectorRegistry => ({
    ...real,
    get(provider: string) {
      const c = real.get(provider);
      return c && { ...c, ...override(c) };
    },
    loggingTo: (logger) => overridden(real.loggingTo?.(logger) ?? real),
  });
  return { ...deps, connectors: overridden(deps.connectors) };
}

/**
 * The tests' manual clock. Moving it moves the database clock Pier judges staleness by (leases,
 * reconciliation grace and backoff: src/store/db-clock.ts) by the same amount, as real time would.
 */
/**
 * A process dying just before it writes a row of `table`: every insert into it fails (a trigger)
 * until the answered function is called. What was committed before stays; the transaction that
 * would have written the row is rolled back, as a crash before its commit would leave it.
 */
export async function dieBeforeInsertInto(store: Store, table: 'payment_cancels' | 'payments' | 'webhook_events'): Promise<() => Promise<void>> {
  const { db } = store;
  const name = sql.id(`die_before_${table}`);
  const message = sql.lit(`the process died before writing ${table}`);
  if (store.dialect === 'sqlite') {
    await sql`CREATE TRIGGER ${name} BEFORE INSERT ON ${sql.table(table)} BEGIN SELECT RAISE(ABORT, ${message}); END`.execute(db);
    return async () => void (await sql`DROP TRIGGER ${name}`.execute(db));
  }
  await sql`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS ${sql.lit(`BEGIN RAISE EXCEPTION '${`the process died before writing ${table}`}'; END`)}`.execute(db);
  await sql`CREATE TRIGGER ${name} BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION ${name}()`.execute(db);
  return async () => {
    await sql`DROP TRIGGER ${name} ON ${sql.table(table)}`.execute(db);
    await sql`DROP FUNCTION ${name}()`.execute(db);
  };
}

export class TestClock extends ManualClock {
  override advance(ms: number): void {
    super.advance(ms);
    shiftDbClockForTests(ms);
  }
  override set(ms: number): void {
    shiftDbClockForTests(ms - this.now());
    super.set(ms);
  }
}

/** Card numbers of the simulator's deterministic test-card scheme (docs/simulator.md). */
export { testCardNumber } from '../src/simulators/jtnet/index.js';
