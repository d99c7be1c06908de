/**
 * Several processes on one SQLite file (PIER_WORKERS, `pier` commands next to a server): a
 * transaction that reads and then writes must not fail, or act on a stale read, because another
 * process wrote in between. Another process is played by a second connection to the same file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrateToLatest, openStore } from '../src/store/db.js';

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
});
