import { createServer, type Socket } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/db.js';
import { freshDatabase } from './harness.js';

/** A server that accepts TCP connections and never answers: a frozen database, or a half-open path to one. */
async function blackHole(): Promise<{ url: string; accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://pier@127.0.0.1:${port}/pier`,
    accepted: () => accepted,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** What `query` came to, or 'still waiting' once `ms` passed: a guard, so a hang fails the test at once rather than at its timeout. */
function outcome(query: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<string>((r) => (timer = setTimeout(() => r('still waiting'), ms)));
  return Promise.race([query.then(() => 'answered', (err: Error) => `failed: ${err.message}`), guard]).finally(() => clearTimeout(timer));
}

const selectOne = (db: Store['db']) => db.selectNoFrom((eb) => eb.lit(1).as('one')).executeTakeFirstOrThrow();

describe('a PostgreSQL server that accepts connections and never answers', () => {
  it('fails each statement once its connect deadline passes, on the main pool and on the claims\' pool, without the address', async () => {
    const hole = await blackHole();
    const store = openStore(hole.url, { connectTimeoutMs: 300 });
    try {
      for (const db of [store.db, store.indexOnlyDb!]) {
        const result = await outcome(selectOne(db), 20_000);
        expect(result).toMatch(/^failed: .*timeout/i);
        expect(result).not.toContain('127.0.0.1');
      }
      expect(hole.accepted()).toBe(2);
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
    const store = openStore(db.url, { onIdleError: (err) => lost.push(err.message) });
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
