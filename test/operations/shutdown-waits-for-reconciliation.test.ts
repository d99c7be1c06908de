/**
 * A stop while reconciliation's pass waits for the PG (decision 0113): Pier's own process (startPier,
 * its 30 s reconciliation interval fired by the test), a tPay simulator over real HTTP that holds
 * the inquiry's answer until the stop has begun, a real database (SQLite, or PostgreSQL with
 * TEST_DATABASE_URL).
 *
 * Before, the stop cleared the interval but did not wait for the pass under way: it closed the
 * connectors and the store under it, and the PG's answer (here "paid") was never recorded: the row
 * stayed in doubt, its check spent, "store closed" / pool errors logged, until a later pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { startPier } from '../../src/main.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore } from '../../src/store/db.js';
import { freshDatabase, testCardNumber } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-stop-reconcile-'));
});
afterAll(async () => {
  vi.useRealTimers();
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

describe('a stop while reconciliation asks the PG about an attempt in doubt', () => {
  it('waits for the pass under way: the PG\'s answer is recorded, nothing fails on a closed store', async () => {
    // only the interval is faked: the test fires the reconciliation's 30 s tick; every other timer is real
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    // the start banner is not this test's
    const banner = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const pier = await startPier(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        PIER_DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        LOG_LEVEL: 'silent',
        PIER_SIMULATOR: 'false',
        PIER_JTNET_URL: simulatorUrl,
        PIER_SHUTDOWN_GRACE_MS: '0',
      }),
    ).finally(() => banner.mockRestore());
    let stopped = false;
    const failures: unknown[][] = [];
    try {
      for (const level of ['error', 'warn'] as const) {
        const original = pier.deps.logger[level].bind(pier.deps.logger);
        vi.spyOn(pier.deps.logger, level).mockImplementation(((...args: unknown[]) => {
          failures.push([level, ...args]);
          return (original as (...a: unknown[]) => void)(...args);
        }) as never);
      }
      const api = async (path: string, token: string | null, body: unknown) => {
        const res = await fetch(`${pier.address}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) }, body: JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as any };
      };
      const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;

      // charges the PG approved whose answers were lost, and so were the inquiries right after
      // them: in doubt. One more than a pass checks of one merchant at once (perMerchant, 4)
      const ROWS = 5;
      await sim('/__control/faults', { mode: 'reset', op: 'payments', times: ROWS });
      await sim('/__control/faults', { mode: 'http_500', op: 'trans_search', times: ROWS });
      const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });
      const inDoubt: string[] = [];
      for (let i = 0; i < ROWS; i++) {
        const charged = await api('/subscribe/payments/onetime', token, { merchant_uid: `stop_mid_reconcile_${i}`, amount: 7_000, card_number: card, expiry: '2030-01', birth: '123456' });
        expect(charged.status).toBe(502);
        inDoubt.push(/imp_uid: (imp_\d{12})/.exec(charged.body.message)![1]!);
      }
      // their grace (the PG's whole operation + 30 s) has passed: due at the next pass, in this order
      for (const [i, impUid] of inDoubt.entries()) await pier.deps.store.db.updateTable('payments').set({ next_check_at: i }).where('imp_uid', '=', impUid).execute();
      expect((await pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', 'in', inDoubt).execute()).map((r) => [r.status, r.pg_state])).toEqual(inDoubt.map(() => ['ready', 'in_doubt']));

      // the pass asks the PG about the first four, which holds its answers; the fifth waits for a place
      // (what the charges logged is not the pass's)
      failures.length = 0;
      await sim('/__control/faults', { mode: 'hold', op: 'trans_search', times: ROWS - 1 });
      vi.advanceTimersByTime(30_000);
      await vi.waitUntil(async () => (await sim('/__control/holds')).held === ROWS - 1, { timeout: 20_000, interval: 50 }); // the PG holds the inquiries

      // SIGTERM's stop begins (the port closes), then the PG answers
      const stop = pier.stop().finally(() => (stopped = true));
      // Pier refuses new connections
      await vi.waitUntil(
        () =>
          fetch(`${pier.address}/health`).then(
            () => false,
            (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
          ),
        { timeout: 20_000, interval: 50 },
      );
      await sim('/__control/holds/release', {});
      await stop;

      // the PG's answers were recorded before the store closed; the row not started was left as it
      // was (not taken for a check that could not be made: its check is not spent) for the next Pier
      const store = openStore(db.url);
      try {
        const after = await store.db.selectFrom('payments').select(['imp_uid', 'status', 'pg_state', 'amount', 'check_count']).where('imp_uid', 'in', inDoubt).execute();
        const byUid = new Map(after.map((r) => [r.imp_uid, [r.status, r.pg_state, Number(r.amount), Number(r.check_count)]]));
        expect(inDoubt.map((u) => byUid.get(u))).toEqual([...inDoubt.slice(0, ROWS - 1).map(() => ['paid', 'done', 7_000, 1]), ['ready', 'in_doubt', 7_000, 0]]);
      } finally {
        await store.close();
      }
      expect(failures).toEqual([]);
    } finally {
      vi.useRealTimers();
      if (!stopped) await pier.stop().catch(() => undefined);
    }
  }, 120_000);
});
