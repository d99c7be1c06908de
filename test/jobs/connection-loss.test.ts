/**
 * Background work when PostgreSQL ends Pier's sessions (decision 0128): a restart or failover, a
 * DBA's `pg_terminate_backend` of every application connection, `idle_session_timeout`. Every Pier
 * session of the test database is ended as another session would end it, with the job runner
 * running (scheduled charges through the tPay simulator over real HTTP, their webhooks to a real
 * receiver): again and again while work is due, and once while a charge waits on the PG (the
 * schedule's connections idle between its two records). Each due schedule must be charged once,
 * each webhook delivered, no lease left held, the process never ended by an unheard connection
 * error, and new work done afterwards by the same runner, with no restart.
 *
 * The first describe is PostgreSQL only: SQLite has no sessions a server or an operator can end
 * (its one connection is in the process). The last runs on both: a scheduled run whose step and
 * the write that hands the schedule back both fail (PostgreSQL: the sessions waiting for another
 * session's row locks ended; SQLite: another connection's write lock held past Pier's lock wait, the
 * fault of test/money-path-db-faults.test.ts) is run again by its worker, not left to its lease.
 */
import { connect, createServer, type Server } from 'node:net';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { checkReadiness } from '../../src/operations/readiness.js';
import { DEFAULT_SCHEDULE_POLICY } from '../../src/core/schedules/run.js';
import { reconcileGraceSeconds } from '../../src/core/payments/reconcile.js';
import { openStore } from '../../src/store/db.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startReceiver } from '../webhooks/receiver.js';
import { simulatorControl } from '../sim-control.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
/** SQLite: how long Pier waits for another connection's write lock (real time; the fault ends by Pier's own deadline) */
const SQLITE_LOCK_WAIT_MS = 300;

let pier: TestPier;
let m: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let runner: JobRunner;
let webhooks: ReturnType<typeof webhookQueue>;
/** the test's own session: it ends every other session of the test database, which are Pier's */
let dba: pg.Client;
/** errors no listener heard, which end a Pier process (Node's default for an 'error' event nobody listens to) */
const unheard: Error[] = [];
const noteUnheard = (err: Error) => unheard.push(err);
/** the unheard errors since `from` (each test counts its own) */
const unheardSince = (from: number) => unheard.slice(from).map((e) => e.message);
const now = () => Math.floor(pier.clock.now() / 1000);

const PIER_SESSIONS = `FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;

/** Ends every Pier session (as `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = … AND pid <> pg_backend_pid()`); how many. */
async function endPierSessions(): Promise<number> {
  const r = await dba.query(`SELECT count(pg_terminate_backend(pid)) AS n ${PIER_SESSIONS}`);
  return Number(r.rows[0].n);
}
const pierSessions = async () => Number((await dba.query(`SELECT count(*) AS n ${PIER_SESSIONS}`)).rows[0].n);

/**
 * A proxy in front of PostgreSQL whose first `sessions` connections are ended as they begin: the
 * server's startup answer is held until its ReadyForQuery, the session (its pid from BackendKeyData)
 * is ended by `terminate`, and the answer and the FATAL that follows are passed on in one packet,
 * as they arrive when the server ends a session right after opening it (a loop of
 * pg_terminate_backend while Pier reconnects, a shutdown). Later connections are carried as they are.
 */
async function sessionsEndedAsTheyBegin(target: string, sessions: number, terminate: (pid: number) => Promise<void>): Promise<{ url: string; server: Server }> {
  const to = new URL(target);
  let left = sessions;
  const server = createServer((client) => {
    const upstream = connect(Number(to.port || 5432), to.hostname);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    if (left-- <= 0) {
      upstream.pipe(client);
      return;
    }
    let held = Buffer.alloc(0);
    let ending = false;
    upstream.on('data', (chunk: Buffer) => {
      held = Buffer.concat([held, chunk]);
      if (ending) return;
      const startup = messagesOf(held);
      const ready = startup.some((m) => m.type === 'Z');
      const key = startup.find((m) => m.type === 'K');
      if (ready && key) {
        ending = true;
        void terminate(key.body.readInt32BE(0));
      }
    });
    // the server closes the session after its FATAL: everything it said goes on at once
    upstream.on('close', () => client.end(held));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url: url.toString(), server };
}

/** PostgreSQL's backend messages in `buf` (type byte, then an int32 length that counts itself) */
function messagesOf(buf: Buffer): { type: string; body: Buffer }[] {
  const out: { type: string; body: Buffer }[] = [];
  for (let at = 0; at + 5 <= buf.length; ) {
    const length = buf.readInt32BE(at + 1);
    if (at + 1 + length > buf.length) break;
    out.push({ type: String.fromCharCode(buf[at]), body: buf.subarray(at + 5, at + 1 + length) });
    at += 1 + length;
  }
  return out;
}

const control = (path: string, body?: unknown) => simulatorControl(pier.simulatorUrl, path, body);

async function approvalsOf(impUids: string[]): Promise<string[]> {
  const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string }> };
  return ledger.approvals.map((a) => a.moid).filter((moid) => impUids.includes(moid));
}

/** the imp_uid of each webhook the receiver got */
function receivedImpUids(): string[] {
  return receiver.requests.map((r) => {
    try {
      return JSON.parse(r.body).imp_uid as string;
    } catch {
      return new URLSearchParams(r.body).get('imp_uid') ?? r.body;
    }
  });
}

async function scheduleDue(merchantUids: string[]): Promise<void> {
  // (a test moves the clock past the token's lifetime)
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
  const res = await pier.call('POST', '/subscribe/payments/schedule', {
    token: m.token,
    body: { customer_uid: 'conn_loss_c', schedules: merchantUids.map((merchant_uid, i) => ({ merchant_uid, schedule_at: now() + 60, amount: 1_000 + i, name: 'connection loss', notice_url: receiver.url })) },
  });
  expect(res.body.code).toBe(0);
  pier.clock.advance(61_000);
}

/** What the schedules and their payments came to: state, lease, payments by status, PG approvals. */
async function outcomeOf(merchantUids: string[]) {
  const schedules = await pier.store.db.selectFrom('payment_schedules').select(['merchant_uid', 'state', 'lease_owner', 'imp_uid']).where('merchant_uid', 'in', merchantUids).orderBy('merchant_uid').execute();
  const payments = await pier.store.db.selectFrom('payments').select(['merchant_uid', 'status', 'imp_uid']).where('merchant_uid', 'in', merchantUids).orderBy('merchant_uid').execute();
  return { schedules, payments };
}

const allExecuted = async (merchantUids: string[]) => (await outcomeOf(merchantUids)).schedules.every((s) => s.state === 'executed');
const allDelivered = async () => (await pier.store.db.selectFrom('webhook_deliveries').select('state').execute()).every((d) => d.state === 'delivered');

beforeAll(async () => {
  process.on('uncaughtExceptionMonitor', noteUnheard);
  // SQLite: a write waits this long for another connection's lock before it fails (the last test's fault)
  pier = await startTestPier({ sqliteLockWaitMs: SQLITE_LOCK_WAIT_MS });
  m = await pier.newMerchant();
  receiver = await startReceiver();
  const key = await pier.call('POST', '/subscribe/customers/conn_loss_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '7171' }), expiry: '2030-12' } });
  expect(key.body.code).toBe(0);
  if (onPostgres) {
    dba = new pg.Client({ connectionString: pier.databaseUrl });
    await dba.connect();
  }
  webhooks = webhookQueue(pier.deps, { clock: pier.clock });
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps, { concurrency: 4, refillAt: 1 }), webhooks], logger: pier.deps.logger, idleMs: 20 });
  runner.start();
});
afterAll(async () => {
  await runner?.stop(0);
  await webhooks?.close();
  await dba?.end();
  await receiver?.stop();
  await pier?.close();
  process.off('uncaughtExceptionMonitor', noteUnheard);
});

describe.skipIf(!onPostgres)('every Pier PostgreSQL session ended while background work is due', () => {
  it('again and again: the process keeps running, each schedule is charged once and its webhook delivered, no lease stays held, and the same runner does new work afterwards', async () => {
    const seen = unheard.length;
    const uids = Array.from({ length: 12 }, (_, i) => `conn_loss_${String(i).padStart(2, '0')}`);
    await scheduleDue(uids);
    // each time Pier has a session again (a claim, a record, a new connection just opened), it is ended
    let ended = 0;
    const ROUNDS = 40;
    for (let round = 0; round < ROUNDS; round++) {
      await vi.waitUntil(async () => (await pierSessions()) > 0, { timeout: 10_000, interval: 2 });
      ended += await endPierSessions();
    }
    // (a round may find the sessions it saw already gone: ended by the previous round's FATAL)
    expect(ended).toBeGreaterThanOrEqual(ROUNDS / 2);
    // a session ended as it began sent its FATAL with its ReadyForQuery: before, pg emitted it to a
    // connection pg-pool had just handed out with no listener, and Node ended the process
    expect(unheardSince(seen)).toEqual([]);

    // a run whose rerun failed too, or a webhook record the loss failed, leaves its row to its
    // lease (the worker may have been cut anywhere), and an attempt in doubt waits for its grace:
    // time passes (the database's clock moves with the test's)
    const leftLeased = await pier.store.db.selectFrom('payment_schedules').select('merchant_uid').where('state', '=', 'running').execute();
    pier.clock.advance(3_600_000);
    await vi.waitUntil(() => allExecuted(uids), { timeout: 30_000, interval: 20 });
    await vi.waitUntil(allDelivered, { timeout: 30_000, interval: 20 });

    const { schedules, payments } = await outcomeOf(uids);
    expect(schedules.map((s) => [s.merchant_uid, s.state, s.lease_owner])).toEqual(uids.map((u) => [u, 'executed', null]));
    // one paid payment per schedule, and the PG charged each once. A first record whose commit
    // failed is recorded as a refused attempt, never sent to the PG; when the hand-back failed too,
    // it stays beside the paid one (decision 0128, "left alone"): failed, and never approved
    const paid = payments.filter((p) => p.status === 'paid');
    expect(paid.map((p) => p.merchant_uid)).toEqual(uids);
    expect(payments.filter((p) => p.status !== 'paid').map((p) => p.status)).toEqual(payments.filter((p) => p.status !== 'paid').map(() => 'failed'));
    const impUids = paid.map((p) => p.imp_uid);
    expect((await approvalsOf(payments.map((p) => p.imp_uid))).sort()).toEqual([...impUids].sort());
    expect(schedules.map((s) => s.imp_uid)).toEqual(impUids);
    // every paid webhook reached the receiver; one sent twice only where recording its first
    // attempt failed (at least once, decision 0023): counted from the runner's own log lines
    const received = receivedImpUids();
    expect([...new Set(received)].sort()).toEqual([...impUids].sort());
    const failedRecords = pier.logs().split('\n').filter((l) => l.includes('"queue":"webhooks"') && l.includes('job failed')).length;
    expect(received.length - impUids.length).toBeLessThanOrEqual(failedRecords === 0 ? 0 : 64 * failedRecords);
    expect(await pier.store.db.selectFrom('webhook_deliveries').select('id').where('lease_owner', 'is not', null).execute()).toEqual([]);
    // (what the lease had to recover is for the report, not the assertion)
    console.info(`sessions ended: ${ended}; schedules still running when the rounds ended: ${leftLeased.length}; webhook records failed: ${failedRecords}`);

    // the same runner, the same pool: a new schedule is charged and its webhook delivered
    const before = receiver.requests.length;
    await scheduleDue(['conn_loss_after']);
    await vi.waitUntil(() => allExecuted(['conn_loss_after']), { timeout: 10_000, interval: 20 });
    await vi.waitUntil(() => receiver.requests.length > before, { timeout: 10_000, interval: 20 });
    const after = await outcomeOf(['conn_loss_after']);
    expect(after.payments.map((p) => p.status)).toEqual(['paid']);
    expect(await approvalsOf([after.payments[0].imp_uid])).toEqual([after.payments[0].imp_uid]);
    expect(unheardSince(seen)).toEqual([]);
  }, 120_000);

  it('while a scheduled charge waits on the PG: its second record opens a new connection, the schedule is executed with its one approval, its lease released and its webhook delivered once, without waiting for any lease', async () => {
    const seen = unheard.length;
    const before = receiver.requests.length;
    await control('faults', { mode: 'hold', op: 'payments_token' });
    await scheduleDue(['conn_loss_held']);
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
    // the schedule is between its records: the attempt committed, the PG holding its answer, Pier's
    // connections idle in its pools (the claim's, the record's); all of them are ended
    expect(await pierSessions()).toBeGreaterThan(0);
    expect(await endPierSessions()).toBeGreaterThan(0);
    await vi.waitUntil(async () => (await pierSessions()) === 0, { timeout: 10_000, interval: 10 });
    await control('holds/release', {});
    // no clock advance: nothing waits for a lease
    await vi.waitUntil(() => allExecuted(['conn_loss_held']), { timeout: 10_000, interval: 20 });
    await vi.waitUntil(() => receiver.requests.length > before, { timeout: 10_000, interval: 20 });
    const { schedules, payments } = await outcomeOf(['conn_loss_held']);
    expect(schedules.map((s) => [s.state, s.lease_owner])).toEqual([['executed', null]]);
    expect(payments.map((p) => p.status)).toEqual(['paid']);
    expect(await approvalsOf([payments[0].imp_uid])).toEqual([payments[0].imp_uid]);
    await vi.waitUntil(allDelivered, { timeout: 10_000, interval: 20 });
    expect(receivedImpUids().slice(before)).toEqual([payments[0].imp_uid]);
    expect(unheardSince(seen)).toEqual([]);
  }, 60_000);

  it('a pool whose every connection was ended at once: a request is answered promptly (its answer, or V1\'s envelope on a connection whose end was still on its way), the next one by a new connection, and readiness comes back by itself', async () => {
    const seen = unheard.length;
    const getToken = () => pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
    // connections in both pools, idle
    expect((await getToken()).body.code).toBe(0);
    expect(await endPierSessions()).toBeGreaterThan(0);
    const started = performance.now();
    const first = await getToken();
    // the one statement sent on a connection whose FATAL had not arrived yet fails: V1's internal
    // error, never a hang, a 500 without the envelope or the database's words
    if (first.body.code !== 0) expect({ status: first.status, code: first.body.code, response: first.body.response }).toEqual({ status: 500, code: -1, response: null });
    expect(JSON.stringify(first.body)).not.toMatch(/terminat|administrator|57P01|postgres/i);
    const ready = await pier.call('GET', '/ready');
    expect([200, 503]).toContain(ready.status);
    // well within the connect timeout (10 s) and /ready's deadline (2 s): nothing waited on a dead connection
    expect(performance.now() - started).toBeLessThan(5_000);
    // the pool has let the ended connections go and opens new ones: every request is served
    const token = await getToken();
    expect({ status: token.status, code: token.body.code }).toEqual({ status: 200, code: 0 });
    const paid = await pier.call('GET', '/payments/find/conn_loss_held', { token: token.body.response.access_token });
    expect({ status: paid.status, code: paid.body.code, payment: paid.body.response?.status }).toEqual({ status: 200, code: 0, payment: 'paid' });
    // a fresh run of /ready's checks (GET /ready reuses a run for READY_REUSE_MS of real time)
    expect(await checkReadiness(pier.deps)).toMatchObject({ ready: true, failed: [] });
    expect(unheardSince(seen)).toEqual([]);
  });
  it('a session the server ends as it begins (its FATAL in the packet of its ReadyForQuery): no error goes unheard, the statement fails as any on a lost connection, and the next one runs on a new connection', async () => {
    const seen = unheard.length;
    const proxy = await sessionsEndedAsTheyBegin(pier.databaseUrl, 1, async (pid) => {
      await dba.query('SELECT pg_terminate_backend($1)', [pid]);
    });
    const store = openStore(proxy.url, { poolSize: 2 });
    try {
      // a Kysely statement: its connection is lent out (connect()), as every statement of a transaction's is
      const merchant = () => store.db.selectFrom('merchants').select('id').where('id', '=', m.merchantId).execute();
      const first = await merchant().then(
        (rows) => ({ rows }),
        (err: Error) => ({ failed: err.message }),
      );
      // before, pg emitted the FATAL to a connection pg-pool had handed out with no listener left:
      // Node's uncaught exception, which ends a Pier process
      expect(unheardSince(seen)).toEqual([]);
      expect(first).toEqual({ failed: expect.stringMatching(/connection lost|not queryable|terminat/i) });
      // the pool opened a new connection (the proxy carries it as it is)
      expect(await merchant()).toEqual([{ id: m.merchantId }]);
    } finally {
      await store.close();
      await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    }
    expect(unheardSince(seen)).toEqual([]);
  });
});

describe('a scheduled run whose step and the write that hands the schedule back both fail (PostgreSQL: its sessions ended; SQLite: another connection\'s lock past the wait)', () => {
  it('is run again from its row by its worker once the database answers, not left for its whole lease: it is looked at again after the in-doubt wait and charged once', async () => {
    const uid = 'conn_loss_twice';
    await control('faults', { mode: 'hold', op: 'payments_token' });
    await scheduleDue([uid]);
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
    const impUid = (await pier.store.db.selectFrom('payment_schedules').select('imp_uid').where('merchant_uid', '=', uid).executeTakeFirstOrThrow()).imp_uid!;
    expect(impUid).toMatch(/^imp_/);
    // (this test's lines only: the rounds above left runs to their leases too)
    const logFrom = pier.logs().length;
    const ranAgainOrLeftToLease = () =>
      pier
        .logs()
        .slice(logFrom)
        .split('\n')
        .some((l) => (l.includes(uid) && l.includes('running it again')) || (l.includes('"queue":"schedules"') && l.includes('job failed')));
    // the database keeps Pier from recording the PG's answer and from handing the schedule back:
    // SQLite, another connection's write lock (each write fails after Pier's lock wait); PostgreSQL,
    // another session holds the payment's and the schedule's rows, and each Pier session that
    // waits for them is ended, as a failover or an operator would
    let release: () => Promise<void>;
    let endWaiters: () => Promise<void> = async () => {};
    if (pier.sqliteFile) {
      const other = new SQLite(pier.sqliteFile);
      other.exec('BEGIN IMMEDIATE');
      release = async () => {
        other.exec('COMMIT');
        other.close();
      };
    } else {
      const other = new pg.Client({ connectionString: pier.databaseUrl });
      await other.connect();
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM payments WHERE imp_uid = $1 FOR UPDATE', [impUid]);
      await other.query('SELECT 1 FROM payment_schedules WHERE merchant_uid = $1 FOR UPDATE', [uid]);
      endWaiters = async () => {
        await dba.query(`SELECT pg_terminate_backend(pid) ${PIER_SESSIONS} AND wait_event_type = 'Lock'`);
      };
      release = async () => {
        await other.query('COMMIT');
        await other.end();
      };
    }
    try {
      await control('holds/release', {});
      // the approval's record fails (the attempt stays open, in doubt: 0119), then the schedule's
      // hand-back after judging it open fails too, and the run throws
      await vi.waitUntil(
        async () => {
          await endWaiters();
          return ranAgainOrLeftToLease();
        },
        { timeout: 20_000, interval: 20 },
      );
    } finally {
      await release!();
    }
    // run again from its row: the attempt judged open, to be looked at again after the in-doubt
    // wait. Before, the run ended there (`job failed`), the row left to its lease (300 s), and the
    // time below did not bring it back
    const concluded = () => {
      const lines = pier.logs().slice(logFrom).split('\n');
      return lines.some((l) => l.includes(`"merchant_uid":"${uid}","imp_uid":"${impUid}","outcome":"waiting"`)) || lines.some((l) => l.includes('"queue":"schedules"') && l.includes('job failed'));
    };
    await vi.waitUntil(concluded, { timeout: 10_000, interval: 20 });
    pier.clock.advance((DEFAULT_SCHEDULE_POLICY.inDoubtWaitSeconds + reconcileGraceSeconds(pier.deps.connectors) + 5) * 1000);
    expect(DEFAULT_SCHEDULE_POLICY.inDoubtWaitSeconds + reconcileGraceSeconds(pier.deps.connectors) + 5).toBeLessThan(DEFAULT_SCHEDULE_POLICY.leaseSeconds);
    await vi.waitUntil(async () => (await outcomeOf([uid])).schedules.every((x) => x.state === 'executed'), { timeout: 10_000, interval: 20 });
    const { schedules, payments } = await outcomeOf([uid]);
    expect(schedules.map((x) => [x.state, x.lease_owner, x.imp_uid])).toEqual([['executed', null, impUid]]);
    expect(payments.filter((p) => p.status === 'paid').map((p) => p.imp_uid)).toEqual([impUid]);
    expect(await approvalsOf([impUid])).toEqual([impUid]);
  }, 60_000);
});
