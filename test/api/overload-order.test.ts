/**
 * Overload on PostgreSQL: the order in which waiting statements get a database connection
 * (decision 0038). pg-pool serves its queue in arrival order; past Pier's capacity that made a
 * charge already made at the PG wait for its second record behind every new charge that arrived
 * during its PG call, and served new charges oldest first, when their clients (merchants' servers
 * with a timeout) were the likeliest to give up before the answer. In the bench's open loop at
 * 2,500/s that halved what Pier answered in time (491/s against 775/s at 1,400/s), the rest spent
 * on charges no one read.
 *
 * One pooled connection, held by the test while charges queue for it, so the order in which the
 * queued statements finish is the order in which they were served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type PierApp } from '../../src/api/app.js';
import type { Deps } from '../../src/core/deps.js';
import type { StatementRunner } from '../../src/store/pg-prepared.js';
import { STANDING_QUEUE_MS } from '../../src/store/connection-queue.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

describe.runIf(onPostgres)('charges waiting for a database connection past capacity', () => {
  let pier: TestPier;
  let m: TestMerchant;
  let app: PierApp;
  let queueNow = 0;
  /** the statements sent straight to the pool (charges' first and second records), as they start and finish */
  const started: Array<{ text: string; values: ReadonlyArray<unknown> }> = [];
  const finished: Array<ReadonlyArray<unknown>> = [];

  beforeAll(async () => {
    // the PG's answer to the first charge is held until the test releases it: Pier must not give up on it first
    pier = await startTestPier({ poolSize: 1, queueClock: () => queueNow, readTimeoutMs: 60_000, simulatorSlowMs: 120_000 });
    m = await pier.newMerchant();
    const runStatement = pier.store.runStatement!;
    const watched: StatementRunner = <R>(text: string, values: ReadonlyArray<unknown>, opening?: () => void) => {
      started.push({ text, values });
      const done = runStatement<R>(text, values, opening);
      void done.then(() => finished.push(values), () => finished.push(values));
      return done;
    };
    const deps: Deps = { ...pier.deps, store: { ...pier.store, runStatement: watched } };
    app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
    const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });
    expect((await charge('/subscribe/customers/cust_queue', { card_number: card, expiry: '2030-12', birth: '820213', pwd_2digit: '00' })).code).toBe(0);
    // this app's token cache is warm: the charges below go straight to their first record
    expect((await charge('/subscribe/payments/again', { customer_uid: 'cust_queue', merchant_uid: 'queue_warm', amount: 1000 })).response?.status).toBe('paid');
  });
  afterAll(async () => {
    await app?.close();
    await pier?.close();
  });

  async function charge(path: string, body: unknown) {
    const res = await app.inject({ method: 'POST', url: path, headers: { authorization: `Bearer ${m.token}` }, payload: body as Record<string, unknown> });
    return res.json<{ code: number; response: { status?: string; merchant_uid?: string; imp_uid?: string } | null }>();
  }

  /**
   * A charge made at the PG whose second record queues behind three new charges' first records,
   * the pool's one connection held meanwhile; `standing`: the new charges have waited the standing
   * queue's time when it is given back. The order the queued records finish in.
   */
  async function queueBehind(prefix: string, standing: boolean): Promise<string[]> {
    const sim = pier.simulatorUrl;
    const post = (path: string, body: unknown) => fetch(`${sim}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/__control/faults', { mode: 'hold', op: 'payments_token' })).status).toBe(201);
    const made = charge('/subscribe/payments/again', { customer_uid: 'cust_queue', merchant_uid: `${prefix}_made`, amount: 2000 });
    await expect.poll(async () => ((await (await fetch(`${sim}/__control/holds`)).json()) as { held: number }).held, { interval: 5, timeout: 10_000 }).toBe(1);

    // the pool's one connection busy, as every connection is under overload
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const held = new Promise<void>((r) => (entered = r));
    const holder = pier.store.db.connection().execute(async () => {
      entered();
      await busy;
    });
    await held;

    let finishedBefore: number;
    let news: Array<ReturnType<typeof charge>>;
    try {
      const startedBefore = started.length;
      news = ['a', 'b', 'c'].map((n, i) => charge('/subscribe/payments/again', { customer_uid: 'cust_queue', merchant_uid: `${prefix}_new_${n}`, amount: 3000 + i }));
      await expect.poll(() => started.length - startedBefore, { interval: 5, timeout: 10_000 }).toBe(3);
      // the PG answers the first charge: its second record queues behind the three
      expect((await post('/__control/holds/release', {})).status).toBe(200);
      await expect.poll(() => started.length - startedBefore, { interval: 5, timeout: 10_000 }).toBe(4);
      expect(started[startedBefore + 3].text).not.toContain('INSERT INTO payments');
      // what an operator sees meanwhile (this process's metrics: /metrics would also read the
      // database's gauges, through the connection the test holds)
      const metrics = await pier.deps.metrics!.registry.getSingleMetricAsString('pier_database_connection_waits');
      expect(metrics).toMatch(/^pier_database_connection_waits\{line="under_way"\} 1$/m);
      expect(metrics).toMatch(/^pier_database_connection_waits\{line="new"\} 3$/m);

      finishedBefore = finished.length;
      if (standing) queueNow += STANDING_QUEUE_MS;
    } finally {
      release();
      await holder;
    }
    const answers = await Promise.all([made, ...news]);
    expect(answers.map((a) => [a.code, a.response?.merchant_uid, a.response?.status])).toEqual(
      [`${prefix}_made`, `${prefix}_new_a`, `${prefix}_new_b`, `${prefix}_new_c`].map((uid) => [0, uid, 'paid']),
    );
    // the first record carries the merchant_uid, the second names the payment by imp_uid; a new
    // charge's own second record (work under way too) may come before the next new charge starts
    const madeImpUid = answers[0].response?.imp_uid;
    const label = (values: ReadonlyArray<unknown>) =>
      values.includes(madeImpUid) && !values.includes(`${prefix}_made`) ? 'made' : ['a', 'b', 'c'].find((n) => values.includes(`${prefix}_new_${n}`));
    return finished
      .slice(finishedBefore)
      .map(label)
      .filter((l): l is string => l !== undefined)
      .map((l) => (l === 'made' ? l : `new_${l}`));
  }

  it('a charge made at the PG is recorded before new charges start, and new ones start in arrival order', async () => {
    // pg-pool's own queue finished new_a, new_b, new_c and then the charge made
    expect(await queueBehind('fifo', false)).toEqual(['made', 'new_a', 'new_b', 'new_c']);
  });

  it('once new charges have waited the standing queue\'s time, the newest starts first', async () => {
    expect(await queueBehind('lifo', true)).toEqual(['made', 'new_c', 'new_b', 'new_a']);
  });
});
