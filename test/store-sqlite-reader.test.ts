/**
 * SQLite's reader thread (Store.readerDb, decision 0035): the V1 lists' statements run there, on a
 * read-only connection of its own, off the event loop. Real files; the thread is really killed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { migrateToLatest, openStore, sql, type Store } from '../src/store/db.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function openFile(onReaderError?: (err: Error) => void, statementTimeoutMs?: number): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'pier-reader-'));
  dirs.push(dir);
  const store = openStore(`sqlite:${join(dir, 'pier.sqlite')}`, { onReaderError, statementTimeoutMs });
  stores.push(store);
  await migrateToLatest(store);
  return store;
}

it('reads what the main connection committed, and nothing it has not', async () => {
  const store = await openFile();
  expect(store.readerDb).not.toBe(store.db);
  await store.db.insertInto('merchants').values({ id: 'm1', merchant_code: 'imp00000001', name: '가맹점', created_at: 1 } as never).execute();
  const seen = await store.readerDb.selectFrom('merchants').select('id').execute();
  expect(seen).toEqual([{ id: 'm1' }]);
  // a transaction not yet committed on the main connection is invisible to the reader
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const tx = store.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('merchants').where('id', '=', 'm1').execute();
    entered();
    await held;
  });
  await inside;
  expect(await store.readerDb.selectFrom('merchants').select('id').execute()).toEqual([{ id: 'm1' }]);
  release();
  await tx;
  expect(await store.readerDb.selectFrom('merchants').select('id').execute()).toEqual([]);
});

it('refuses writes and transactions, and a bad statement or parameter fails alone', async () => {
  const store = await openFile();
  await expect(store.readerDb.deleteFrom('merchants').execute()).rejects.toThrow(/returns? rows only|readonly|read-only/i);
  await expect(store.readerDb.transaction().execute(async () => undefined)).rejects.toThrow(/single reads, not transactions/);
  await expect(sql`select x from nowhere`.execute(store.readerDb)).rejects.toMatchObject({ message: expect.stringMatching(/no such table/), code: 'SQLITE_ERROR' });
  // a parameter no message can carry fails its read, before the thread sees it
  await expect(sql`select ${{ f() {} } as unknown as number} as n`.execute(store.readerDb)).rejects.toThrow(/could not be cloned/);
  expect((await sql<{ n: number }>`select 41 + 1 as n`.execute(store.readerDb)).rows).toEqual([{ n: 42 }]);
});

it('a thread that dies fails the read it was running, says so, and the next read starts another', async () => {
  const errors: Error[] = [];
  const store = await openFile((err) => errors.push(err));
  expect((await sql<{ n: number }>`select 1 as n`.execute(store.readerDb)).rows).toEqual([{ n: 1 }]);
  // more rows than the thread's heap holds (2,000 strings of 200 kB): the worker runs out of memory and ends
  const huge = sql`with recursive s(i) as (select 1 union all select i + 1 from s where i < 2000) select i, hex(randomblob(100000)) as pad from s`.execute(store.readerDb);
  await expect(huge).rejects.toThrow(/reader thread stopped while a read was running/);
  expect(errors.map((e) => e.message).join('\n')).toMatch(/memory/i);
  expect((await sql<{ n: number }>`select 2 as n`.execute(store.readerDb)).rows).toEqual([{ n: 2 }]);
});

it("a read past the statement deadline fails alone: the reads queued behind it are answered by a new thread, timed from that thread's start", async () => {
  const errors: Error[] = [];
  let stalls = 0;
  // 1 s: well short of the long read below. And the busy machine a deadline fires on: once the
  // reads behind the late one have gone to a new thread, the event loop gets no turn for 1.5 s (past
  // their deadline) while that thread starts and answers them. Their deadlines run from the thread's
  // start; before, they ran from the move, fired first and failed them.
  const store = await openFile((err) => {
    errors.push(err);
    if (/queued read\(s\) moved/.test(err.message) && stalls++ === 0) {
      setImmediate(() => {
        const until = Date.now() + 1500;
        while (Date.now() < until);
      });
    }
  }, 1000);
  const n = async (v: number) => (await sql<{ n: number }>`select ${v} as n`.execute(store.readerDb)).rows[0].n;
  expect(await n(1)).toBe(1);
  // a read of 30 million generated rows: 3-6 s of SQLite here, which cannot be interrupted from outside
  const long = sql`with recursive s(i) as (select 1 union all select i + 1 from s where i < 30000000) select count(*) as c from s`.execute(store.readerDb);
  const queued = [n(2), n(3)]; // sent after it, to the same thread
  await expect(long).rejects.toMatchObject({ code: 'READ_DEADLINE', message: 'the read ran past its deadline of 1000 ms' });
  expect(await Promise.all(queued)).toEqual([2, 3]);
  expect(stalls).toBe(1);
  expect(await n(4)).toBe(4);
  expect(errors.map((e) => e.message)).toEqual(['a read ran past its deadline of 1000 ms; its thread is left to finish it and end, 2 queued read(s) moved to a new thread']);
  // without a deadline (0) the same read is answered
  const patient = await openFile(undefined, 0);
  expect((await sql<{ c: number }>`with recursive s(i) as (select 1 union all select i + 1 from s where i < 2000000) select count(*) as c from s`.execute(patient.readerDb)).rows).toEqual([{ c: 2000000 }]);
});

it('a closed store refuses reads', async () => {
  const store = await openFile();
  await sql`select 1`.execute(store.readerDb);
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  await expect(sql`select 1`.execute(store.readerDb)).rejects.toThrow();
});
