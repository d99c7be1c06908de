/**
 * Several processes on one SQLite file (PIER_WORKERS, `pier` commands next to a server): a
 * transaction that reads and then writes must not fail, or act on a stale read, because another
 * process wrote in between. Another process is played by a second connection to the same file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { migrateToLatest, openStore, sql, type Store } from '../src/store/db.js';

describe('a SQLite file shared by several processes', () => {
  it("takes the write lock when a transaction begins, so another process's write cannot slip between its read and its write", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pier-sqlite-'));
    const file = join(dir, 'pier.sqlite');
    const store = openStore(`sqlite:${file}`);
    const other = new SQLite(file);
    other.pragma('busy_timeout = 50');
    try {
      await migrateToLatest(store);
      let otherWrite: string | null = null;
      const offset = await store.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1).executeTakeFirstOrThrow();
        // the other process tries to change the row this transaction has just read
        try {
          other.prepare('UPDATE sandbox_settings SET clock_offset_ms = 999 WHERE id = 1').run();
          otherWrite = 'committed';
        } catch (err) {
          otherWrite = (err as { code?: string }).code ?? 'error';
        }
        const next = Number(row.clock_offset_ms) + 1000;
        await trx.updateTable('sandbox_settings').set({ clock_offset_ms: next }).where('id', '=', 1).execute();
        return next;
      });
      // the other process waited for the lock (and gave up after its busy timeout) instead of writing in between
      expect(otherWrite).toBe('SQLITE_BUSY');
      expect(offset).toBe(1000);
      const row = await store.db.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1).executeTakeFirstOrThrow();
      expect(Number(row.clock_offset_ms)).toBe(1000);
      // once it committed, the other process writes as usual
      other.prepare('UPDATE sandbox_settings SET clock_offset_ms = 2000 WHERE id = 1').run();
      expect(Number((await store.db.selectFrom('sandbox_settings').select('clock_offset_ms').executeTakeFirstOrThrow()).clock_offset_ms)).toBe(2000);
    } finally {
      other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Another process holding the write lock is played by a second connection on this thread: it can
  // only commit from a callback of this event loop, so a transaction that waited by sleeping (SQLite's
  // busy handler, as before) would hold the thread until its busy timeout and fail with SQLITE_BUSY.
  describe('waiting for the write lock another process holds', () => {
    const setup = async (opts: { sqliteLockWaitMs?: number; sqliteLockClock?: () => number } = {}) => {
      const dir = mkdtempSync(join(tmpdir(), 'pier-sqlite-'));
      const file = join(dir, 'pier.sqlite');
      const store = openStore(`sqlite:${file}`, opts);
      await migrateToLatest(store);
      const other = new SQLite(file);
      const offset = async () => Number((await store.db.selectFrom('sandbox_settings').select('clock_offset_ms').executeTakeFirstOrThrow()).clock_offset_ms);
      const close = async () => {
        other.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      };
      return { store, other, offset, close };
    };
    /** the other process takes the write lock; returns its commit, to be run from a later callback */
    const holdLock = (other: SQLite.Database) => {
      other.prepare('BEGIN IMMEDIATE').run();
      other.prepare('UPDATE sandbox_settings SET clock_offset_ms = 5000 WHERE id = 1').run();
      return () => other.prepare('COMMIT').run();
    };
    /**
     * Once Pier's statement has found the lock taken, a timer of this event loop fires while it
     * waits, and the other process commits from there.
     */
    const commitFromATimer = async (store: Store, commitOther: () => void) => {
      await new Promise((resolve) => setImmediate(resolve));
      expect(store.writeLock!.busyAttempts).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 1));
      commitOther();
    };

    it('a Kysely transaction waits without holding the event loop, then reads what the other process committed', async () => {
      const { store, other, offset, close } = await setup();
      try {
        const commitOther = holdLock(other);
        const tx = store.db.transaction().execute(async (trx) => {
          const row = await trx.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1).executeTakeFirstOrThrow();
          await trx.updateTable('sandbox_settings').set({ clock_offset_ms: Number(row.clock_offset_ms) + 1 }).where('id', '=', 1).execute();
        });
        await commitFromATimer(store, commitOther);
        await tx;
        expect(await offset()).toBe(5001);
      } finally {
        await close();
      }
    });

    it('syncTransaction waits the same way, and its unit runs after the other commit', async () => {
      const { store, other, offset, close } = await setup();
      try {
        const commitOther = holdLock(other);
        const tx = store.syncTransaction!((run) => {
          const [row] = run(store.db.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1));
          run(store.db.updateTable('sandbox_settings').set({ clock_offset_ms: Number(row.clock_offset_ms) + 2 }).where('id', '=', 1));
          return Number(row.clock_offset_ms);
        });
        await commitFromATimer(store, commitOther);
        expect(await tx).toBe(5000);
        expect(await offset()).toBe(5002);
        // a unit that throws rolls back and gives the lock up
        await expect(store.syncTransaction!((run) => {
          run(store.db.updateTable('sandbox_settings').set({ clock_offset_ms: 1 }).where('id', '=', 1));
          throw new Error('changed my mind');
        })).rejects.toThrow('changed my mind');
        expect(await offset()).toBe(5002);
        other.prepare('UPDATE sandbox_settings SET clock_offset_ms = 7 WHERE id = 1').run();
        expect(await offset()).toBe(7);
      } finally {
        await close();
      }
    });

    it('a write outside a transaction (a job claim) waits the same way, in a transaction of its own; reads do not wait', async () => {
      const { store, other, offset, close } = await setup();
      try {
        const commitOther = holdLock(other);
        // WAL: a read never waits for the write lock (it sees the last commit)
        expect(await offset()).toBe(0);
        const claimed = store.db.updateTable('sandbox_settings').set({ clock_offset_ms: sql<number>`clock_offset_ms + 3` }).where('id', '=', 1).returning('clock_offset_ms').executeTakeFirstOrThrow();
        await commitFromATimer(store, commitOther);
        expect(Number((await claimed).clock_offset_ms)).toBe(5003);
        // a write that fails leaves no transaction open behind it
        await expect(sql`update sandbox_settings set clock_offset_ms = null where id = 1`.execute(store.db)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_NOTNULL' });
        other.prepare('UPDATE sandbox_settings SET clock_offset_ms = 11 WHERE id = 1').run();
        expect(await offset()).toBe(11);
      } finally {
        await close();
      }
    });

    it('gives up with SQLITE_BUSY after the wait, having served the event loop meanwhile, and works once the lock is free', async () => {
      // the wait is judged by a clock that only a timer of this event loop moves: the statement can
      // reach the end of its wait only by letting that timer run while it waits (a wait that held
      // the thread would never see the clock move), whatever the machine's load
      let clock = 0;
      const { store, other, offset, close } = await setup({ sqliteLockWaitMs: 30, sqliteLockClock: () => clock });
      try {
        const commitOther = holdLock(other);
        let settled = false;
        const failing = store.db
          .transaction()
          .execute(async (trx) => trx.updateTable('sandbox_settings').set({ clock_offset_ms: 1 }).execute())
          .catch((err: { code?: string }) => err)
          .finally(() => (settled = true));
        await new Promise((resolve) => setImmediate(resolve));
        const attempts = store.writeLock!.busyAttempts;
        expect(attempts).toBeGreaterThan(0);
        // 1 ms short of its wait: still trying, from later callbacks of the event loop
        setTimeout(() => (clock = 29), 1);
        await vi.waitUntil(() => clock === 29 && store.writeLock!.busyAttempts >= attempts + 2, { timeout: 10_000, interval: 1 });
        expect(settled).toBe(false);
        setTimeout(() => (clock = 30), 1);
        const failed = await failing;
        expect((failed as { code?: string }).code).toBe('SQLITE_BUSY');
        commitOther();
        await store.db.transaction().execute(async (trx) => trx.updateTable('sandbox_settings').set({ clock_offset_ms: 9 }).execute());
        expect(await offset()).toBe(9);
      } finally {
        await close();
      }
    });
  });
});
