/**
 * Two sandbox Piers started at the same moment on one fresh database (real child processes, `npm
 * start`): a service manager starting a new process while the old one still runs, two hosts'
 * Piers on one PostgreSQL, a `docker compose up` of two replicas. Migrations already took turns
 * (Kysely's lock, BEGIN IMMEDIATE on SQLite); the demo merchant did not: both read "no merchant",
 * both inserted i'mport's demo key, and the second start died on the unique index with
 * "pier: cannot start: merchant code or REST API key already exists" (decision 0104).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY } from '../../src/core/merchants/merchants.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore } from '../../src/store/db.js';
import { envWithoutPier, freePort, PIER_BANNER, startChild, type Child } from '../child-process.js';
import { freshDatabase } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** the race is lost by whichever start reads "no merchant" before the other's insert: each round is a new chance */
const ROUNDS = 3;

let simulator: FastifyInstance;
let simulatorUrl: string;
const started: Child[] = [];

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  for (const c of started) if (c.running()) c.process.kill('SIGKILL');
  await Promise.all(started.map((c) => c.exited));
  await simulator?.close();
});

async function startSandboxPier(databaseUrl: string, dataDir: string): Promise<Child> {
  const port = await freePort();
  const child = startChild('Pier', [join(ROOT, 'bin', 'start.js')], {
    cwd: ROOT,
    env: {
      ...envWithoutPier(),
      DATABASE_URL: databaseUrl,
      PIER_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      PIER_PUBLIC_URL: `http://127.0.0.1:${port}`,
      PIER_SIMULATOR: 'false',
      PIER_JTNET_URL: simulatorUrl,
      LOG_LEVEL: 'warn',
      PIER_WORKERS: '1',
    },
  });
  started.push(child);
  return child;
}

describe('two sandbox Piers starting at once on one fresh database', () => {
  it('both start; one demo merchant with its channels once, and its console password printed by one of them only', async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const db = await freshDatabase();
      const dataDir = mkdtempSync(join(tmpdir(), 'pier-racing-starts-'));
      try {
        const piers = await Promise.all([startSandboxPier(db.url, dataDir), startSandboxPier(db.url, dataDir)]);
        const banners = await Promise.allSettled(piers.map((p) => p.waitFor(PIER_BANNER)));
        for (const b of banners) if (b.status === 'rejected') throw new Error(`round ${round}: ${(b.reason as Error).message}`);
        // the banner's last line (the console user) follows once the demo user is looked up
        const consoleLines = await Promise.all(piers.map(async (p) => (await p.waitFor(/console\s+demo@pier\.local[^\n]*\n/))[0]));
        expect(consoleLines.filter((l) => /password \S{12,}\s+\(shown once: save it\)/.test(l))).toHaveLength(1);
        for (const p of piers) expect(p.stdout()).toContain(`imp_key      ${DEMO_IMP_KEY}`);

        // (how they exit is not this test's: test/operations/stop-during-start.test.ts)
        for (const p of piers) p.process.kill('SIGTERM');
        await Promise.all(piers.map((p) => p.exited));
        const store = openStore(db.url);
        try {
          const keys = await store.db.selectFrom('api_keys').select(['merchant_id', 'imp_key']).execute();
          expect(keys).toHaveLength(1);
          expect(keys[0].imp_key).toBe(DEMO_IMP_KEY);
          const merchants = await store.db.selectFrom('merchants').select('id').execute();
          expect(merchants.map((m) => m.id)).toEqual([keys[0].merchant_id]);
          const jtnetMids = (await store.db.selectFrom('pg_channels').select('mid').where('provider', '=', 'jtnet').execute()).map((c) => c.mid).sort();
          expect(jtnetMids).toEqual(JTNET_TEST_MIDS.map((t) => t.mid).sort());
          expect(await store.db.selectFrom('console_users').select('email').execute()).toEqual([{ email: 'demo@pier.local' }]);
        } finally {
          await store.close();
        }
      } finally {
        await db.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }, 300_000);
});
