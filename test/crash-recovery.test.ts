/**
 * The done-criterion of issue #10: Pier killed (SIGKILL, a real child process) with a charge and a
 * refund in flight ends, after a restart and `pier reconcile --grace-seconds 0`, with its records
 * equal to the PG's ledger and nothing left pending. Runs on SQLite, and on PostgreSQL with
 * TEST_DATABASE_URL. The tPay simulator runs in this test process, so it outlives Pier.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { openStore, type Store } from '../src/store/db.js';
import { childPier } from './child-pier.js';
import { freshDatabase, testCardNumber } from './harness.js';


let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));
const pierUrl = () => pier.url();
const startPierProcess = () => pier.start();
const killPier = (signal: NodeJS.Signals) => pier.kill(signal);
const reconcileCli = () => pier.reconcile();

async function api(method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${pierUrl()}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-crash-'));
});
afterAll(async () => {
  await killPier('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('kill -9 with a charge and a refund in flight', () => {
  it('ends, after a restart and `pier reconcile --grace-seconds 0`, with Pier equal to the PG and nothing pending', async () => {
    await startPierProcess();
    const token = (await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });
    const paid = await api('POST', '/subscribe/payments/onetime', token, { merchant_uid: 'crash_refund', amount: 10_000, card_number: card, expiry: '2030-01', birth: '123456' });
    expect(paid.body.response.status).toBe('paid');
    const refundedImpUid: string = paid.body.response.imp_uid;

    // Freeze the PG: the next refund and the next charge are done at the PG, their answers held.
    await sim('/__control/faults', { mode: 'hold', op: 'refunds' });
    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    const refund = api('POST', '/payments/cancel', token, { imp_uid: refundedImpUid, amount: 1_000 }).catch(() => null);
    const charge = api('POST', '/subscribe/payments/onetime', token, { merchant_uid: 'crash_charge', amount: 7_000, card_number: card, expiry: '2030-01', birth: '123456' }).catch(() => null);
    for (let i = 0; (await sim('/__control/holds')).held < 2; i++) {
      if (i > 600) throw new Error('the PG never held both answers');
      await new Promise((r) => setTimeout(r, 50)); // another process's progress: poll it
    }
    const pgBefore = await sim('/__ledger');
    expect(pgBefore.approvals.find((a: any) => a.moid === refundedImpUid).cancelledAmount).toBe(1_000);
    const chargedAtPg = pgBefore.approvals.filter((a: any) => a.amount === 7_000);
    expect(chargedAtPg).toHaveLength(1);

    await killPier('SIGKILL');
    await Promise.all([refund, charge]);
    await sim('/__control/holds/release', {}); // the PG resumes

    // Restart: Pier comes back with the refund pending and the charge open (its server loop would
    // wait the full grace; the operator settles them now).
    await startPierProcess();
    const store: Store = openStore(db.url);
    try {
      const before = await store.db.selectFrom('payment_cancels').select('state').execute();
      expect(before).toEqual([{ state: 'pending' }]);
      const cli = await reconcileCli();
      expect(cli.code, cli.stderr).toBe(0);

      const token2 = (await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
      const pg = await sim('/__ledger');
      // every payment Pier has: equal to the PG's record of it
      const payments = await store.db.selectFrom('payments').select(['imp_uid', 'pg_state', 'status', 'cancel_pending_amount']).execute();
      expect(payments).toHaveLength(2);
      for (const p of payments) {
        expect(p.pg_state).toBe('done');
        expect(Number(p.cancel_pending_amount)).toBe(0);
        const atPg = pg.approvals.find((a: any) => a.moid === p.imp_uid);
        const v1 = (await api('GET', `/payments/${p.imp_uid}`, token2)).body.response;
        expect(v1.status).toBe('paid');
        expect(v1.amount).toBe(atPg.amount);
        expect(v1.pg_tid).toBe(atPg.tid);
        expect(v1.cancel_amount).toBe(atPg.cancelledAmount);
        expect(v1.cancel_history.map((c: any) => c.amount)).toEqual(atPg.cancels.map((c: any) => c.amount));
      }
      expect(await store.db.selectFrom('payment_cancels').select('state').where('state', 'in', ['pending', 'in_doubt']).execute()).toEqual([]);
      // and the refund balance is usable again
      const rest = await api('POST', '/payments/cancel', token2, { imp_uid: refundedImpUid, amount: 2_000 });
      expect(rest.body.response).toMatchObject({ cancel_amount: 3_000 });
    } finally {
      await store.close();
      await killPier('SIGTERM');
    }
  }, 600_000); // two Pier starts and a CLI run in child processes
});
