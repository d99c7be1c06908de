/**
 * PIER_DATABASE_POOL_SIZE: the most PostgreSQL connections one Pier process opens for its
 * statements (its job claims have INDEX_ONLY_POOL_SIZE of their own). An operator sizes it against
 * the server's max_connections: N workers × (pool + 3) + 2. Pier runs as a real process behind a
 * proxy that counts the connections it carries at once; a burst of charges past the pool queues
 * for a connection and is answered, and never opens more.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { INDEX_ONLY_POOL_SIZE } from '../../src/store/index-only.js';
import { childPier, freePort } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';
import { faultyProxy, type FaultyProxy } from '../tcp-proxy.js';

const POOL_SIZE = 2;
const BURST = 40;

describe.runIf(process.env.TEST_DATABASE_URL)('PIER_DATABASE_POOL_SIZE', () => {
  let simulator: FastifyInstance;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let proxy: FaultyProxy;
  let dataDir: string;
  let port: number;
  let simulatorUrl: string;
  const pier = childPier(() => ({ databaseUrl: proxy.url, dataDir, port, simulatorUrl, env: { PIER_DATABASE_POOL_SIZE: String(POOL_SIZE) } }));
  const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });

  async function api(method: string, path: string, token: string | null, body?: unknown) {
    const res = await fetch(`${pier.url()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    return JSON.parse(await res.text());
  }

  beforeAll(async () => {
    simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
    simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
    db = await freshDatabase();
    proxy = await faultyProxy(db.url);
    dataDir = mkdtempSync(join(tmpdir(), 'pier-pool-size-'));
    port = await freePort();
    await pier.start();
  }, 600_000);
  afterAll(async () => {
    await pier.kill('SIGKILL');
    await proxy?.close();
    await simulator?.close();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(`a burst of ${BURST} charges is answered over at most ${POOL_SIZE} connections for statements`, async () => {
    const token = (await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).response.access_token as string;
    // the start's own connections (migrations, the primary's) are closed by now or counted below
    proxy.takePeak();
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        api('POST', '/subscribe/payments/onetime', token, { merchant_uid: `pool_${i}`, amount: 1_000 + i, card_number: card, expiry: '2030-01', birth: '123456' }),
      ),
    );
    for (const [i, a] of answers.entries()) expect(a).toMatchObject({ code: 0, response: { merchant_uid: `pool_${i}`, amount: 1_000 + i, status: 'paid' } });
    const peak = proxy.takePeak();
    // the job claims may hold their own connections meanwhile; requests never get more than the pool
    expect(peak).toBeGreaterThanOrEqual(POOL_SIZE);
    expect(peak).toBeLessThanOrEqual(POOL_SIZE + INDEX_ONLY_POOL_SIZE);
  });
});
