/**
 * A real Pier process (child-pier.ts) on a fresh PostgreSQL database that it reaches through a TCP
 * proxy the test controls (tcp-proxy.ts: freeze, stall, count connections), charging through a
 * tPay simulator of its own: for tests of what Pier does with its database connections.
 *
 * @example
 *   const rig = pierBehindProxy('pool-size', { PIER_DATABASE_POOL_SIZE: '2' });
 *   beforeAll(rig.start, 600_000); afterAll(rig.stop);
 *   const t = await rig.token(); await rig.api('GET', '/payments/imp_1', t); rig.proxy().freeze();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fetch } from 'undici';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { childPier } from './child-pier.js';
import { freshDatabase } from './harness.js';
import { faultyProxy, type FaultyProxy } from './tcp-proxy.js';

export function pierBehindProxy(name: string, env: Record<string, string>) {
  let simulator: FastifyInstance | undefined;
  let simulatorUrl = '';
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let proxy: FaultyProxy | undefined;
  let dataDir = '';
  const pier = childPier(() => ({ databaseUrl: proxy!.url, dataDir, simulatorUrl, env }));

  /** A V1 call with the JSON body given; the answer's status and text. */
  async function api(method: string, path: string, token: string | null, body?: unknown) {
    const res = await fetch(`${pier.url()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    return { status: res.status, text: await res.text() };
  }

  return {
    pier,
    api,
    proxy: () => proxy!,
    simulatorUrl: () => simulatorUrl,
    /** the demo merchant's access token */
    token: async () => JSON.parse((await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).text).response.access_token as string,
    async start() {
      simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
      simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
      db = await freshDatabase();
      proxy = await faultyProxy(db.url);
      dataDir = mkdtempSync(join(tmpdir(), `pier-${name}-`));
      await pier.start();
    },
    async stop() {
      await pier.kill('SIGKILL');
      await proxy?.close();
      await simulator?.close();
      await db?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
