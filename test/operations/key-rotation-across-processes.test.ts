/**
 * Decision 0127's inventory, checked on real processes: two Piers (`npm start`, as on two hosts)
 * on one database. An access token another process remembers stops working there within the
 * written bound (TOKEN_CACHE_MS, decision 0017) once its REST key is rotated elsewhere (the CLI's
 * `pier merchant rotate-key`: a store of this test), and the new key works on both at once.
 * SQLite by default, PostgreSQL with TEST_DATABASE_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Deps } from '../../src/core/deps.js';
import { TOKEN_CACHE_MS } from '../../src/core/merchants/auth.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET, rotateApiKey } from '../../src/core/merchants/merchants.js';
import { systemClock } from '../../src/lib/clock.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore, type Store } from '../../src/store/db.js';
import { childPier } from '../child-pier.js';
import { freshDatabase } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: Store;
let dataDir: string;
// one data folder: the sandbox vault key file is the key ring both must hold
const pierA = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));
const pierB = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));

async function api(base: string, method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-rotation-'));
  await pierA.start();
  await pierB.start();
  store = openStore(db.url);
}, 300_000);
afterAll(async () => {
  await pierA.kill('SIGTERM');
  await pierB.kill('SIGTERM');
  await store?.close();
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a REST key rotated outside the process that remembers its token', () => {
  it('stops working on both processes within TOKEN_CACHE_MS, and the new key works on both at once', async () => {
    const issued = await api(pierA.url(), 'POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET });
    expect(issued.body.code).toBe(0);
    const old = issued.body.response.access_token as string;
    // both processes read the token and remember it
    for (const base of [pierA.url(), pierB.url()]) expect((await api(base, 'GET', '/cards', old)).body).toMatchObject({ code: 0 });

    const merchant = await store.db.selectFrom('api_keys').select('merchant_id').where('imp_key', '=', DEMO_IMP_KEY).executeTakeFirstOrThrow();
    const rotated = await rotateApiKey({ store, clock: systemClock } as Deps, merchant.merchant_id);
    const rotatedAt = Date.now();

    // the old secret is refused at once (read from the database), the new one works on both
    for (const base of [pierA.url(), pierB.url()]) {
      expect((await api(base, 'POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).status).toBe(401);
      const fresh = await api(base, 'POST', '/users/getToken', null, { imp_key: rotated.impKey, imp_secret: rotated.impSecret });
      expect(fresh.body.code).toBe(0);
      expect((await api(base, 'GET', '/cards', fresh.body.response.access_token)).body).toMatchObject({ code: 0 });
    }

    // the old token: refused by each process within the bound, never later (a second of slack for the calls themselves)
    const refusedAfter: number[] = [];
    for (const base of [pierA.url(), pierB.url()]) {
      await vi.waitUntil(async () => (await api(base, 'GET', '/cards', old)).status === 401, { timeout: TOKEN_CACHE_MS + 3_000, interval: 100 });
      refusedAfter.push(Date.now() - rotatedAt);
    }
    for (const ms of refusedAfter) expect(ms).toBeLessThanOrEqual(TOKEN_CACHE_MS + 1_000);
    const refused = await api(pierB.url(), 'GET', '/cards', old);
    expect(refused).toMatchObject({ status: 401, body: { code: -1, response: null } });
  }, 60_000);
});
