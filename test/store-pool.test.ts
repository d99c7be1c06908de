import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openStore, STALLED_ANSWER_MARGIN_MS, type Store } from '../src/store/db.js';
import { freshDatabase } from './harness.js';
import { faultyProxy } from './tcp-proxy.js';

/** What `query` came to, or 'still waiting' once `ms` passed: a guard, so a hang fails the test at once rather than at its timeout. */
function outcome(query: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<string>((r) => (timer = setTimeout(() => r('still waiting'), ms)));
  return Promise.race([query.then(() => 'answered', (err: Error) => `failed: ${err.message}`), guard]).finally(() => clearTimeout(timer));
}

const selectOne = (db: Store['db']) => db.selectNoFrom((eb) => eb.lit(1).as('one')).executeTakeFirstOrThrow();

describe('a PostgreSQL server that accepts connections and never answers', () => {
  it('fails each statement once its connect deadline passes, on the main pool and on the claims\' pool, without the address', async () => {
    // frozen from the start: it never reaches a server, so this runs without PostgreSQL too
    const hole = await faultyProxy('postgres://pier@127.0.0.1:9/pier');
    hole.freeze();
    const store = openStore(hole.url, { connectTimeoutMs: 300 });
    try {
      for (const db of [store.db, store.indexOnlyDb!]) {
        const result = await outcome(selectOne(db), 20_000);
        expect(result).toMatch(/^failed: .*timeout/i);
        expect(result).not.toContain('127.0.0.1');
      }
      expect(hole.held()).toBe(2);
    } finally {
      await hole.close();
      await store.close();
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('the PostgreSQL pool', () => {
  it('survives the server killing its idle connections, and reconnects for the next query', async () => {
    const db = await freshDatabase();
    const lost: string[] = [];
    const store = openStore(db.url, { onConnectionLost: (err) => lost.push(err.message) });
    try {
      const one = async () => (await store.db.selectNoFrom((eb) => eb.lit(1).as('one')).executeTakeFirstOrThrow()).one;
      expect(await one()).toBe(1);
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      const name = new URL(db.url).pathname.slice(1);
      const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await admin.end();
      expect(killed.rowCount).toBeGreaterThan(0);
      await expect.poll(() => lost.length, { timeout: 15_000 }).toBeGreaterThan(0);
      expect(lost[0]).toMatch(/terminating connection/);
      expect(await one()).toBe(1);
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it('fails a statement that waited its deadline for a busy pool, and serves the next once a connection is free', async () => {
    const db = await freshDatabase();
    const store = openStore(db.url, { poolSize: 1, connectTimeoutMs: 300 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      // a statement that holds the pool's only connection (a lock wait, a slow query)
      const holder = store.db.connection().execute(async (c) => {
        await selectOne(c);
        await held;
      });
      try {
        expect(await outcome(selectOne(store.db), 20_000)).toMatch(/^failed: timeout exceeded when trying to connect/);
      } finally {
        release();
        await holder;
      }
      expect(await outcome(selectOne(store.db), 20_000)).toBe('answered');
    } finally {
      await store.close();
      await db.drop();
    }
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('a PostgreSQL statement’s deadline', () => {
  /** a fresh database with one row `t (id = 1)`, an admin session on it, and a store with a 300 ms statement deadline */
  async function withLockedRow(work: (o: { store: Store; admin: pg.Client; lost: string[] }) => Promise<void>) {
    const db = await freshDatabase();
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query('CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO t (id) VALUES (1)');
    const lost: string[] = [];
    const store = openStore(db.url, { statementTimeoutMs: 300, onConnectionLost: (err) => lost.push(err.message) });
    try {
      await work({ store, admin, lost });
    } finally {
      await admin.end();
      await store.close();
      await db.drop();
    }
  }

  it('cancels a statement that waits for a row another session holds, and the connection serves the next', async () => {
    await withLockedRow(async ({ store, admin }) => {
      // an operator's session (or a frozen process) holding the row
      await admin.query('BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE');
      const bump = () => sql`UPDATE t SET n = n + 1 WHERE id = 1`.execute(store.db);
      expect(await outcome(bump(), 20_000)).toBe('failed: canceling statement due to statement timeout');
      await admin.query('ROLLBACK');
      expect(await outcome(bump(), 20_000)).toBe('answered');
      expect((await admin.query('SELECT n FROM t')).rows).toEqual([{ n: 1 }]);
    });
  });

  it('ends a transaction left idle while holding a row, so others get the row, and the holder’s transaction fails (the process lives on)', async () => {
    await withLockedRow(async ({ store, admin, lost }) => {
      let resume!: () => void;
      const paused = new Promise<void>((r) => (resume = r));
      let locked!: () => void;
      const holding = new Promise<void>((r) => (locked = r));
      const holder = store.db.transaction().execute(async (trx) => {
        await sql`UPDATE t SET n = n + 10 WHERE id = 1`.execute(trx);
        locked();
        // a process that stopped mid-transaction (SIGSTOP, a debugger, a stuck await)
        await paused;
        await sql`UPDATE t SET n = n + 100 WHERE id = 1`.execute(trx);
      });
      const held = outcome(holder, 20_000);
      await holding;
      // the other session waits for the row, and gets it once the server ends the idle transaction
      expect(await outcome(admin.query('UPDATE t SET n = n + 1 WHERE id = 1'), 20_000)).toBe('answered');
      resume();
      expect(await held).toMatch(/^failed: /);
      expect((await admin.query('SELECT n FROM t')).rows).toEqual([{ n: 1 }]);
      // the server ended the session while the transaction held it between two statements: an error
      // pg-pool does not listen for then (unheard, it would end the process), reported instead
      expect(lost).toEqual(['terminating connection due to idle-in-transaction timeout']);
      // the pool gave up the ended session: the next statement runs on a live one
      expect(await outcome(selectOne(store.db), 20_000)).toBe('answered');
    });
  });

  it('gives up on an open connection that stops answering (a half-open path), closes it, and serves the next statement on a new one', async () => {
    const db = await freshDatabase();
    const proxy = await faultyProxy(db.url);
    const store = openStore(proxy.url, { poolSize: 3, statementTimeoutMs: 300 });
    try {
      // three connections open and idle in the pool, then the path to the server stalls
      let release!: () => void;
      const open = new Promise<void>((r) => (release = r));
      let entered = 0;
      const holders = Array.from({ length: 3 }, () =>
        store.db.connection().execute(async (c) => {
          await selectOne(c);
          if (++entered === 3) release();
          await open;
        }),
      );
      await Promise.all(holders);
      proxy.stall();
      // one through Kysely's connections, one through the pool's own query (runStatement), and one
      // as a charge's first record sends it (runStatement with a check once a connection is held)
      const viaPool = () => store.runStatement!('SELECT $1::int AS one', [1]);
      const viaCharge = () => store.runStatement!('SELECT $1::int AS one', [1], () => undefined);
      const stalled = await Promise.all([outcome(selectOne(store.db), 30_000), outcome(viaPool(), 30_000), outcome(viaCharge(), 30_000)]);
      expect(stalled).toEqual(['failed: Query read timeout', 'failed: Query read timeout', 'failed: Query read timeout']);
      // the stalled connections were closed, not given back: every statement runs on a new one
      const after = await Promise.all([outcome(selectOne(store.db), 20_000), outcome(viaPool(), 20_000), outcome(viaCharge(), 20_000)]);
      expect(after).toEqual(['answered', 'answered', 'answered']);
    } finally {
      await proxy.close();
      await store.close();
      await db.drop();
    }
  }, 60_000 + 2 * STALLED_ANSWER_MARGIN_MS);
});
