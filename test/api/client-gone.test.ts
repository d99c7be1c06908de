/**
 * Overload: a merchant's server that gives up on a charge while it waits for a database connection
 * (its HTTP client times out and closes the connection) must not have it recorded or charged
 * afterwards. Under overload those are the requests at the back of the pool's queue; before, Pier
 * charged every one of them, spending the capacity the waiting requests needed on answers no one
 * read, and a PostgreSQL Pier past its capacity answered fewer and fewer in time (the bench's open
 * loop at 1,000/s: 276 answered/s and 4,482 client timeouts, against 800/s in a closed loop).
 *
 * PostgreSQL: the wait is in its connection pool. SQLite: in SQLite's write lock, when another
 * process holds it (PIER_WORKERS, a `pier` command): the record waits off the event loop
 * (store/sqlite-write-lock.ts) and is tried again until the lock is free.
 */
import { once } from 'node:events';
import { request as httpRequest, type ClientRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { Deps } from '../../src/core/deps.js';
import type { StatementRunner } from '../../src/store/pg-prepared.js';
import { startTestPier, TEST_POOL_SIZE, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** Pier's app on a real port (the client's going is seen on its socket), with `deps` and a merchant's token. */
async function listening(deps: Deps) {
  const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
  const serverSockets: Socket[] = [];
  app.server.on('connection', (s: Socket) => serverSockets.push(s));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    app,
    baseUrl,
    /** the server's side of a client socket */
    serverSideOf: (client: ClientRequest) => serverSockets.find((s) => !s.destroyed && s.remotePort === client.socket?.localPort),
    async close() {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

/** POST as `m`, answered with V1's envelope. */
async function post(baseUrl: string, m: TestMerchant, path: string, body: unknown) {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as { code: number; response: { status?: string } | null };
}

/** A billing key, and a first payment that warms the app's token cache: the charges after it go straight to their first record. */
async function keyAndWarmCharge(baseUrl: string, m: TestMerchant) {
  const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });
  expect((await post(baseUrl, m, '/subscribe/customers/cust_gone', { card_number: card, expiry: '2030-12', birth: '820213', pwd_2digit: '00' })).code).toBe(0);
  expect((await post(baseUrl, m, '/subscribe/payments/again', { customer_uid: 'cust_gone', merchant_uid: 'gone_warm', amount: 1000 })).response?.status).toBe('paid');
}

/** A charge whose merchant's server will give up on it (destroy the request), sent now. */
function chargeToAbandon(baseUrl: string, m: TestMerchant): ClientRequest {
  const gone = httpRequest(`${baseUrl}/subscribe/payments/again`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' } });
  gone.on('error', () => undefined); // the abort
  gone.end(JSON.stringify({ customer_uid: 'cust_gone', merchant_uid: 'gone_left', amount: 2000 }));
  return gone;
}

/** Only the charge that stayed is recorded and charged, and Pier says why the other is not, with no warning. */
async function onlyTheStayedOneCharged(pier: TestPier) {
  const rows = await pier.store.db.selectFrom('payments').select(['merchant_uid', 'status']).where('merchant_uid', 'in', ['gone_left', 'gone_stayed']).orderBy('merchant_uid').execute();
  expect(rows).toEqual([{ merchant_uid: 'gone_stayed', status: 'paid' }]);
  const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ amount: number }> };
  expect(ledger.approvals.map((a) => a.amount).sort()).toEqual([1000, 3000]);
  expect(pier.logs()).toContain('client gone while the charge waited for the database: nothing recorded or charged');
  // and nothing worse: no error or warning from answering a client that is gone
  expect(pier.logs().split('\n').filter((l) => /"level":(40|50|60)/.test(l))).toEqual([]);
}

describe.runIf(onPostgres)('a charge whose client left while it waited for a database connection', () => {
  let pier: TestPier;
  let m: TestMerchant;
  let server: Awaited<ReturnType<typeof listening>>;
  /** the statements sent straight to the pool (a charge's first record among them), as they start */
  const started: Array<{ text: string; values: ReadonlyArray<unknown>; done: Promise<unknown> }> = [];

  beforeAll(async () => {
    pier = await startTestPier();
    m = await pier.newMerchant();
    const runStatement = pier.store.runStatement!;
    const watched: StatementRunner = <R>(text: string, values: ReadonlyArray<unknown>, opening?: () => void) => {
      const done = runStatement<R>(text, values, opening);
      started.push({ text, values, done: done.catch((err: unknown) => err) });
      return done;
    };
    server = await listening({ ...pier.deps, store: { ...pier.store, runStatement: watched } });
  });
  afterAll(async () => {
    await server?.close();
    await pier?.close();
  });

  it('is neither recorded nor charged; the requests still waiting are charged as before', async () => {
    await keyAndWarmCharge(server.baseUrl, m);

    // every pooled connection busy, as under overload
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    const holders: Array<Promise<void>> = [];
    const held: Array<Promise<void>> = [];
    for (let i = 0; i < TEST_POOL_SIZE; i++) {
      let entered!: () => void;
      held.push(new Promise<void>((r) => (entered = r)));
      holders.push(
        pier.store.db.connection().execute(async () => {
          entered();
          await busy;
        }),
      );
    }
    await Promise.all(held);

    // the merchant's server sends a charge, then gives up on it while it queues for a connection
    const startedBefore = started.length;
    const gone = chargeToAbandon(server.baseUrl, m);
    // and a second one that waits
    const waiting = post(server.baseUrl, m, '/subscribe/payments/again', { customer_uid: 'cust_gone', merchant_uid: 'gone_stayed', amount: 3000 });
    await expect.poll(() => started.length - startedBefore, { interval: 5, timeout: 10_000 }).toBe(2);
    const charge = (merchantUid: string) => started.slice(startedBefore).find((s) => s.values.includes(merchantUid))!;
    const [left, stayed] = [charge('gone_left'), charge('gone_stayed')];
    expect(left.text).toContain('INSERT INTO payments');
    expect(stayed.text).toBe(left.text);

    const serverSide = server.serverSideOf(gone)!;
    expect(serverSide).toBeDefined();
    const closed = once(serverSide, 'close');
    gone.destroy();
    await closed; // Pier has seen the client go

    release();
    await Promise.all(holders);
    expect(await left.done).toMatchObject({ name: 'ClientGoneError' });
    expect((await waiting).response?.status).toBe('paid');
    expect(await stayed.done).toMatchObject({ rows: [expect.objectContaining({ inserted: true })] });
    await onlyTheStayedOneCharged(pier);
  });
});

describe.runIf(!onPostgres)("a charge whose client left while it waited for SQLite's write lock, held by another process", () => {
  let pier: TestPier;
  let m: TestMerchant;
  let server: Awaited<ReturnType<typeof listening>>;

  beforeAll(async () => {
    pier = await startTestPier();
    m = await pier.newMerchant();
    server = await listening(pier.deps);
  });
  afterAll(async () => {
    await server?.close();
    await pier?.close();
  });

  it('is neither recorded nor charged once the lock is free; a charge still waiting is charged as before', async () => {
    await keyAndWarmCharge(server.baseUrl, m);

    // another process's connection holds the write lock
    const other = new Database(pier.sqliteFile!);
    other.prepare('BEGIN IMMEDIATE').run();
    try {
      const writeLock = pier.store.writeLock!;
      const busyBefore = writeLock.busyAttempts;
      const gone = chargeToAbandon(server.baseUrl, m);
      // its first record has found the lock taken and waits
      await expect.poll(() => writeLock.busyAttempts - busyBefore, { interval: 2, timeout: 4_000 }).toBeGreaterThan(0);
      const waiting = post(server.baseUrl, m, '/subscribe/payments/again', { customer_uid: 'cust_gone', merchant_uid: 'gone_stayed', amount: 3000 });

      const serverSide = server.serverSideOf(gone)!;
      expect(serverSide).toBeDefined();
      const closed = once(serverSide, 'close');
      gone.destroy();
      await closed; // Pier has seen the client go

      other.prepare('COMMIT').run();
      expect((await waiting).response?.status).toBe('paid');
    } finally {
      if (other.inTransaction) other.prepare('ROLLBACK').run();
      other.close();
    }
    const leftCharge = () => pier.store.db.selectFrom('payments').select('status').where('merchant_uid', '=', 'gone_left').executeTakeFirst();
    // the charge that lost its client ends one way or the other: refused (logged) or recorded
    await expect.poll(async () => pier.logs().includes('client gone while the charge waited for the database') || (await leftCharge()) !== undefined, { interval: 5, timeout: 5_000 }).toBe(true);
    await onlyTheStayedOneCharged(pier);
  });
});
