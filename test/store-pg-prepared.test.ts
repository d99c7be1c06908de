import pg from 'pg';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/db.js';
import { CUSTOM_PLAN } from '../src/store/pg-prepared.js';
import { freshDatabase } from './harness.js';

/** The names of the statements the server has prepared on the connections of `datname`, from pg_prepared_statements of each. */
const preparedOnServer = async (store: ReturnType<typeof openStore>) =>
  (await sql<{ name: string }>`SELECT name FROM pg_prepared_statements`.execute(store.db)).rows.map((r) => r.name);

/**
 * A store on a fresh database with one connection (every call runs where the statement was
 * prepared; a call that kept the connection would make the next one wait forever), a table
 * `t (id, a)` holding (1, 'one'), and an admin client to change it as another process would.
 */
async function withOneConnection(fn: (store: ReturnType<typeof openStore>, admin: pg.Client) => Promise<void>): Promise<void> {
  const db = await freshDatabase();
  const store = openStore(db.url, { poolSize: 1 });
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query('CREATE TABLE t (id int primary key, a text)');
    await admin.query(`INSERT INTO t VALUES (1, 'one')`);
    await fn(store, admin);
  } finally {
    await admin.end();
    await store.close();
    await db.drop();
  }
}

describe.runIf(process.env.TEST_DATABASE_URL)('PostgreSQL named statements (src/store/pg-prepared.ts)', () => {
  it('prepares a statement on its second use, and a migration under a cached `select *` does not fail the next call', async () => {
    await withOneConnection(async (store, admin) => {
      const read = () => store.db.selectFrom('t' as never).selectAll().where('id' as never, '=', 1 as never).executeTakeFirst() as Promise<Record<string, unknown>>;
      expect(await read()).toEqual({ id: 1, a: 'one' });
      expect((await preparedOnServer(store)).filter((n) => n.startsWith('pier_'))).toEqual([]);
      expect(await read()).toEqual({ id: 1, a: 'one' });
      expect((await preparedOnServer(store)).filter((n) => n.startsWith('pier_'))).toHaveLength(1);

      // another process migrates: the cached plan's row type no longer matches (0A000 on the server)
      await admin.query(`ALTER TABLE t ADD COLUMN b text DEFAULT 'new'`);
      expect(await read()).toEqual({ id: 1, a: 'one', b: 'new' });

      // the same inside a transaction: that transaction fails (PostgreSQL aborts it), the next call works
      await admin.query(`ALTER TABLE t ADD COLUMN c int DEFAULT 3`);
      await expect(store.db.transaction().execute(async (trx) => trx.selectFrom('t' as never).selectAll().where('id' as never, '=', 1 as never).execute())).rejects.toMatchObject({ code: '0A000' });
      expect(await read()).toEqual({ id: 1, a: 'one', b: 'new', c: 3 });
    });
  });

  it('never names a text marked CUSTOM_PLAN: PostgreSQL plans it with its values at every run', async () => {
    await withOneConnection(async (store) => {
      const read = () => store.db.selectFrom('t' as never).modifyFront(sql.raw(CUSTOM_PLAN)).selectAll().where('id' as never, 'in', [1, 2] as never).execute();
      for (let i = 0; i < 3; i++) expect(await read()).toEqual([{ id: 1, a: 'one' }]);
      expect((await preparedOnServer(store)).filter((n) => n.startsWith('pier_'))).toEqual([]);
    });
  });

  it('runStatement (the payment statements, outside Kysely): the same naming and 0A000 recovery, the connection back in the pool', async () => {
    await withOneConnection(async (store, admin) => {
      const read = async () => (await store.runStatement!<Record<string, unknown>>('SELECT * FROM t WHERE id = $1', [1])).rows;
      expect(await read()).toEqual([{ id: 1, a: 'one' }]);
      expect(await read()).toEqual([{ id: 1, a: 'one' }]);
      expect((await preparedOnServer(store)).filter((n) => n.startsWith('pier_'))).toHaveLength(1);
      await admin.query(`ALTER TABLE t ADD COLUMN b text DEFAULT 'new'`);
      expect(await read()).toEqual([{ id: 1, a: 'one', b: 'new' }]);
      // a failing statement gives its connection back too
      await expect(store.runStatement!('SELECT * FROM no_such_table WHERE id = $1', [1])).rejects.toMatchObject({ code: '42P01' });
      expect(await read()).toEqual([{ id: 1, a: 'one', b: 'new' }]);
    });
  });

  it('names at most maxNamed texts per process; the rest stay unnamed and still run', async () => {
    const db = await freshDatabase();
    const store = openStore(db.url, { poolSize: 1 });
    try {
      for (let i = 0; i < 600; i++) {
        const q = sql<{ v: number }>`SELECT ${i}::int + ${String(i)}::int AS v, ${sql.lit(i)} AS shape`;
        expect((await q.execute(store.db)).rows[0]!.v).toBe(2 * i);
        expect((await q.execute(store.db)).rows[0]!.v).toBe(2 * i);
      }
      expect((await preparedOnServer(store)).filter((n) => n.startsWith('pier_'))).toHaveLength(500);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
