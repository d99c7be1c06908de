/**
 * PIER_WORKERS=2 (issue #14 item 4): one Pier, two HTTP worker processes on one port, as real
 * child processes against a tPay simulator this test runs (so it outlives any worker). Money is
 * checked against the simulator's ledger: a merchant_uid raced across the workers is paid once,
 * schedules falling due at once run once, and a worker killed with SIGKILL mid-payment is
 * restarted with nothing lost or doubled after reconciliation. SQLite by default, PostgreSQL with
 * TEST_DATABASE_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE } from '../../src/core/payments/charge.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore, type Store } from '../../src/store/db.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: Store;
let dataDir: string;
const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl, workers: 2 }));
const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });

/**
 * A V1 call, each on a connection of its own: the primary deals connections to the workers in
 * turn, so concurrent calls are spread over both (kept-alive connections would stay with one).
 */
async function api(method: string, path: string, token: string | null, body?: unknown) {
  const dispatcher = new Agent({ pipelining: 0 });
  try {
    const res = await fetch(`${pier.url()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    return { status: res.status, body: (await res.json()) as any };
  } finally {
    await dispatcher.destroy();
  }
}

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

/** GET over a connection of its own (fetch reuses kept-alive ones, which stay with one worker). */
function onNewConnection(url: string): Promise<string> {
  return new Promise((done, fail) => {
    get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => done(text));
    }).on('error', fail);
  });
}

const token = async () => (await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
const charge = (t: string, merchantUid: string, amount = 1_000) =>
  api('POST', '/subscribe/payments/onetime', t, { merchant_uid: merchantUid, amount, card_number: card, expiry: '2030-01', birth: '123456' });

/** Waits for a condition another process brings about (no event to wait on), up to `ms`. */
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100)); // polling another process's progress
  }
}

/** The PG's approvals of Pier's payments for `merchantUids` (the simulator's moid is Pier's imp_uid). */
async function approvalsAtPg(merchantUids: string[]) {
  const rows = await store.db.selectFrom('payments').select(['imp_uid', 'merchant_uid']).where('merchant_uid', 'in', merchantUids).execute();
  const byImp = new Map(rows.map((r) => [r.imp_uid, r.merchant_uid]));
  const ledger = await sim('/__ledger');
  return (ledger.approvals as any[]).filter((a) => byImp.has(a.moid)).map((a) => ({ ...a, merchant_uid: byImp.get(a.moid)! }));
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-workers-'));
  await pier.start();
  store = openStore(db.url);
}, 600_000);
afterAll(async () => {
  await pier.kill('SIGTERM');
  await store?.close();
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('PIER_WORKERS=2', () => {
  it('runs two worker processes on one port, and concurrent payments are each recorded once; one merchant_uid raced across them is paid once', async () => {
    expect(await pier.workerPids()).toHaveLength(2);
    const t = await token();
    const raced = Array.from({ length: 12 }, () => charge(t, 'race_one', 5_000));
    const distinct = Array.from({ length: 16 }, (_, i) => charge(t, `many_${i}`, 1_000 + i));
    const [racedRes, distinctRes] = await Promise.all([Promise.all(raced), Promise.all(distinct)]);

    const winners = racedRes.filter((r) => r.body.code === 0);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.body.response).toMatchObject({ merchant_uid: 'race_one', status: 'paid', amount: 5_000 });
    for (const loser of racedRes.filter((r) => r.body.code !== 0)) expect([ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE]).toContain(loser.body.message);
    expect(distinctRes.map((r) => [r.body.code, r.body.response?.status, r.body.response?.amount])).toEqual(distinctRes.map((_, i) => [0, 'paid', 1_000 + i]));

    const uids = ['race_one', ...distinctRes.map((_, i) => `many_${i}`)];
    const atPg = await approvalsAtPg(uids);
    expect(atPg.map((a) => a.merchant_uid).sort()).toEqual([...uids].sort());
    const paid = await store.db.selectFrom('payments').select(['merchant_uid', 'pg_tid', 'imp_uid']).where('merchant_uid', 'in', uids).where('status', '=', 'paid').execute();
    expect(paid).toHaveLength(uids.length);
    for (const p of paid) expect(atPg.find((a) => a.moid === p.imp_uid)?.tid).toBe(p.pg_tid);
  }, 300_000);

  it("answers /metrics with every worker's counters whichever worker takes the scrape, and the database gauges once", async () => {
    /** a series in a scrape: its lines whose labels hold every one of `labels`, summed */
    const sumOf = (text: string, series: string, labels: string[]) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${series}{`) && labels.every((label) => l.includes(label)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    /** the answered getToken calls in a scrape */
    const tokensIn = (text: string) => sumOf(text, 'pier_http_request_duration_seconds_count', ['route="/users/getToken"', 'status_code="200"']);
    const scrape = () => onNewConnection(`${pier.url()}/metrics`);
    const before = tokensIn(await scrape());
    // an odd number, each on a connection of its own: the two workers cannot have taken equal shares
    for (let i = 0; i < 7; i++) await token();
    const scrapes: string[] = [];
    // connections are dealt to the workers in turn: four scrapes land on both
    for (let i = 0; i < 4; i++) scrapes.push(await scrape());
    expect(scrapes.map(tokensIn)).toEqual([before + 7, before + 7, before + 7, before + 7]);

    const paid = await store.db.selectFrom('payments').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'paid').executeTakeFirstOrThrow();
    for (const text of scrapes) {
      // the database gauges appear once, read from the database, not summed over the workers
      expect(text.match(/^# TYPE pier_payments gauge$/gm)).toHaveLength(1);
      expect(text.match(/^# TYPE pier_http_request_duration_seconds histogram$/gm)).toHaveLength(1);
      expect(sumOf(text, 'pier_payments', ['status="paid"'])).toBe(Number(paid.n));
      expect(text).toMatch(/^pier_metrics_cluster_errors_total 0$/m);
    }
  }, 120_000);

  it('runs schedules that fall due at the same moment exactly once between the two workers', async () => {
    const t = await token();
    const key = await api('POST', '/subscribe/customers/workers_c', t, { card_number: card, expiry: '2030-12' });
    expect(key.body.code).toBe(0);
    const now = (await api('GET', '/pier/sandbox/clock', t)).body.response.now as number;
    const schedules = Array.from({ length: 40 }, (_, i) => ({ merchant_uid: `due_${i}`, schedule_at: now + 3600, amount: 2_000 + i, name: '정기결제' }));
    const scheduled = await api('POST', '/subscribe/payments/schedule', t, { customer_uid: 'workers_c', schedules });
    expect(scheduled.body.code).toBe(0);

    // all 40 fall due at once for both workers
    expect((await api('POST', '/pier/sandbox/clock/advance', t, { by: '2h' })).body.code).toBe(0);
    const uids = schedules.map((s) => s.merchant_uid);
    await until('every schedule executed', async () => {
      const open = await store.db.selectFrom('payment_schedules').select('id').where('merchant_uid', 'in', uids).where('state', '!=', 'executed').execute();
      return open.length === 0;
    });

    const rows = await store.db.selectFrom('payment_schedules').select(['merchant_uid', 'imp_uid', 'attempts', 'fail_reason']).where('merchant_uid', 'in', uids).execute();
    expect(rows.map((r) => [r.merchant_uid, r.attempts, r.fail_reason]).sort()).toEqual(uids.map((u) => [u, 1, null]).sort());
    const payments = await store.db.selectFrom('payments').select(['merchant_uid', 'imp_uid', 'status', 'amount']).where('merchant_uid', 'in', uids).execute();
    expect(payments.map((p) => [p.merchant_uid, p.status]).sort()).toEqual(uids.map((u) => [u, 'paid']).sort());
    expect(new Set(payments.map((p) => p.imp_uid))).toEqual(new Set(rows.map((r) => r.imp_uid)));
    const atPg = await approvalsAtPg(uids);
    expect(atPg.map((a) => [a.merchant_uid, a.amount]).sort()).toEqual(schedules.map((s) => [s.merchant_uid, s.amount]).sort());
  }, 300_000);

  it('restarts a worker killed with SIGKILL mid-payment; after reconciliation nothing is lost or doubled', async () => {
    const t = await token();
    const [victim, survivor] = await pier.workerPids();
    // the PG takes the charges but holds its answers, so half of them are in the victim's hands when it dies
    await sim('/__control/faults', { mode: 'hold', op: 'payments', times: 10 });
    const uids = Array.from({ length: 10 }, (_, i) => `kill_${i}`);
    // a charge answered before the PG holds all ten never reached it: say why instead of waiting out the deadline
    const early: unknown[] = [];
    const inFlight = uids.map((u) =>
      charge(t, u, 3_000).then(
        (r) => (early.push(r.body), r),
        () => null,
      ),
    );
    await until('the PG holding every answer', async () => {
      if (early.length > 0) throw new Error(`a charge was answered before the PG held it: ${JSON.stringify(early[0])}`);
      return (await sim('/__control/holds')).held === uids.length;
    });
    early.length = 0;

    const killedAt = Date.now() / 1000;
    process.kill(victim!, 'SIGKILL');
    await sim('/__control/holds/release', {});
    const answered = await Promise.all(inFlight);
    // the survivor's buyers got their answers; the victim's connections were cut
    const answeredPaid = answered.filter((r) => r?.body.code === 0).map((r) => r!.body.response.merchant_uid as string);
    expect(answeredPaid.length).toBeGreaterThan(0);
    expect(answeredPaid.length).toBeLessThan(uids.length);

    // the primary forks a replacement, and it serves: some /metrics answer comes from a process started after the kill
    const pids = await until('a replacement worker', async () => {
      const now = await pier.workerPids();
      return now.length === 2 && !now.includes(victim!) && now.includes(survivor!) ? now : null;
    });
    expect(pids).toHaveLength(2);
    // /health's uptime is the answering process's own (/metrics sums every worker's now)
    await until('the replacement worker answering', async () => {
      const health = JSON.parse(await onNewConnection(`${pier.url()}/health`)) as { uptime_seconds: number };
      return health.uptime_seconds <= Date.now() / 1000 - killedAt;
    });

    const cli = await pier.reconcile();
    expect(cli.code, cli.stderr).toBe(0);
    // a merchant retrying what it never got an answer for is told it is paid, not charged again
    for (const u of uids.filter((x) => !answeredPaid.includes(x))) {
      const again = await charge(await token(), u, 3_000);
      expect(again.body.message).toBe(ALREADY_PAID_MESSAGE);
    }
    const payments = await store.db.selectFrom('payments').select(['merchant_uid', 'imp_uid', 'status', 'pg_state', 'pg_tid']).where('merchant_uid', 'in', uids).execute();
    expect(payments.map((p) => [p.merchant_uid, p.status, p.pg_state]).sort()).toEqual(uids.map((u) => [u, 'paid', 'done']).sort());
    const atPg = await approvalsAtPg(uids);
    expect(atPg.map((a) => a.merchant_uid).sort()).toEqual([...uids].sort());
    for (const p of payments) expect(atPg.find((a) => a.moid === p.imp_uid)?.tid).toBe(p.pg_tid);
  }, 300_000);

  it('drains every worker on SIGTERM and exits 0, leaving no worker behind', async () => {
    const workers = await pier.workerPids();
    expect(workers).toHaveLength(2);
    expect(await pier.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(workers.filter(alive)).toEqual([]);
  }, 120_000);
});
