/**
 * A PostgreSQL that stops answering: connections are accepted and nothing comes back (a frozen
 * server, a half-open network path). Pier runs as a real process behind a proxy the test freezes.
 * Every request is answered with V1's internal error once the connect deadline passes, a charge
 * that could not be recorded never reaches the PG, and once the database answers again Pier serves
 * as before with no restart: the same merchant_uid is then paid once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { childPier, freePort } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

/** A TCP proxy to `target` that can freeze: it then cuts every open connection and holds new ones unanswered. */
function freezableProxy(target: URL) {
  const open = new Set<Socket>();
  let frozen = false;
  let held = 0;
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    if (frozen) {
      held++;
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  return {
    async listen(): Promise<number> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as { port: number }).port;
    },
    freeze() {
      frozen = true;
      for (const s of open) s.destroy();
    },
    thaw() {
      frozen = false;
      for (const s of open) s.destroy();
    },
    held: () => held,
    close: () => {
      for (const s of open) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const CONNECT_DEADLINE_MS = 1000;

describe.runIf(process.env.TEST_DATABASE_URL)('PostgreSQL stops answering under a running Pier', () => {
  let simulator: FastifyInstance;
  let simulatorUrl: string;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let proxy: ReturnType<typeof freezableProxy>;
  let databaseUrl: string;
  let dataDir: string;
  let port: number;
  const pier = childPier(() => ({ databaseUrl, dataDir, port, simulatorUrl, env: { PIER_DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_DEADLINE_MS) } }));
  const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });

  async function api(method: string, path: string, token: string | null, body?: unknown) {
    const res = await fetch(`${pier.url()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    return { status: res.status, text: await res.text() };
  }
  const token = async () => JSON.parse((await api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).text).response.access_token as string;
  const charge = (t: string, merchantUid: string) => api('POST', '/subscribe/payments/onetime', t, { merchant_uid: merchantUid, amount: 1_000, card_number: card, expiry: '2030-01', birth: '123456' });
  const approvalsAtPg = async () => ((await (await fetch(`${simulatorUrl}/__ledger`)).json()) as { approvals: unknown[] }).approvals.length;

  beforeAll(async () => {
    simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
    simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
    db = await freshDatabase();
    proxy = freezableProxy(new URL(db.url));
    const u = new URL(db.url);
    u.host = `127.0.0.1:${await proxy.listen()}`;
    databaseUrl = u.toString();
    dataDir = mkdtempSync(join(tmpdir(), 'pier-db-deadline-'));
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

  it('answers every request with V1’s internal error after the deadline, charges nothing it could not record, and recovers when the database answers again', async () => {
    const t = await token();
    const first = JSON.parse((await charge(t, 'before_freeze')).text);
    expect(first).toMatchObject({ code: 0, response: { merchant_uid: 'before_freeze', status: 'paid' } });
    const approvedBefore = await approvalsAtPg();

    proxy.freeze();
    const [read, pay, sign] = await Promise.all([
      api('GET', `/payments/${first.response.imp_uid}`, t),
      charge(t, 'during_freeze'),
      api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }),
    ]);
    for (const res of [read, pay, sign]) {
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text)).toMatchObject({ code: -1, message: expect.stringMatching(/^서버 내부 오류가 발생했습니다/), response: null });
      // neither the database's address nor the driver's words
      expect(res.text).not.toMatch(/127\.0\.0\.1|timeout|postgres/i);
    }
    expect(proxy.held()).toBeGreaterThan(0);
    // the charge failed before its attempt was recorded: the PG was never asked
    expect(await approvalsAtPg()).toBe(approvedBefore);

    proxy.thaw();
    const again = JSON.parse((await charge(t, 'during_freeze')).text);
    expect(again).toMatchObject({ code: 0, response: { merchant_uid: 'during_freeze', status: 'paid', amount: 1_000 } });
    expect(await approvalsAtPg()).toBe(approvedBefore + 1);
    const read2 = JSON.parse((await api('GET', `/payments/${first.response.imp_uid}`, t)).text);
    expect(read2).toMatchObject({ code: 0, response: { merchant_uid: 'before_freeze', status: 'paid' } });
  }, 300_000);
});
