/**
 * SQLite's WAL is checkpointed by a worker thread with its own connection (decision 0022), not by
 * the COMMIT of whichever request pushed the WAL past 1,000 pages on the event loop. Real files.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SAFETY_NET_PAGES, startCheckpointer } from '../src/store/checkpointer.js';
import { openStore, sql, type Store } from '../src/store/db.js';

const ROOT = resolve(import.meta.dirname, '..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pier-ckpt-'));
  dirs.push(dir);
  return join(dir, 'pier.sqlite');
}

function open(file: string): Store {
  const store = openStore(`sqlite:${file}`);
  stores.push(store);
  return store;
}

/** Waits until the thread has run a whole pass that started after now, and it left every WAL frame in the database file. */
async function checkpointed(store: Store): Promise<{ walFrames: number }> {
  const ck = store.checkpointer!;
  const before = ck.stats().passes;
  // the pass running at `before` may have started before the last write; the one after it did not
  await vi.waitFor(
    () => {
      const s = ck.stats();
      expect(s.passes).toBeGreaterThanOrEqual(before + 2);
      expect(s.checkpointedFrames).toBe(s.walFrames);
    },
    { timeout: 10_000, interval: 10 },
  );
  return { walFrames: ck.stats().walFrames };
}

describe('the WAL checkpointer thread', () => {
  it('copies the WAL into the database file off the main connection, and the WAL restarts instead of growing', async () => {
    const file = tempFile();
    const store = open(file);
    // the main connection checkpoints by itself only past the safety net, which this test stays far below
    const [{ wal_autocheckpoint }] = (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows;
    expect(wal_autocheckpoint).toBe(SAFETY_NET_PAGES);
    await sql`create table t (id integer primary key, payload text not null)`.execute(store.db);
    await sql`create index t_payload on t (payload)`.execute(store.db);
    await checkpointed(store);

    let rows = 0;
    let framesWritten = 0;
    let largestWal = 0;
    for (let batch = 0; batch < 8; batch++) {
      // 150 commits of one ~600-byte row each: a few hundred WAL frames per batch
      for (let i = 0; i < 150; i++) {
        rows++;
        await sql`insert into t (id, payload) values (${rows}, ${`row ${rows} `.padEnd(600, 'x')})`.execute(store.db);
      }
      const { walFrames } = await checkpointed(store);
      framesWritten += walFrames;
      largestWal = Math.max(largestWal, walFrames);
    }
    // far more frames than SQLite's default auto-checkpoint (1,000 pages) and than any one WAL held:
    // the WAL restarted from its beginning after the thread's checkpoints, so its file never grew
    // past one batch
    expect(framesWritten).toBeGreaterThan(1000);
    expect(framesWritten).toBeGreaterThan(5 * largestWal);
    const pageSize = Number((await sql<{ page_size: number }>`pragma page_size`.execute(store.db)).rows[0].page_size);
    expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(32 + (largestWal + 1) * (24 + pageSize));
    // the database file by itself (a copy without the WAL) holds every row: the thread copied them
    const copy = `${file}.copy`;
    copyFileSync(file, copy);
    const alone = new SQLite(copy, { readonly: true });
    try {
      expect(alone.prepare('select count(*) as n, max(id) as top from t').get()).toEqual({ n: rows, top: rows });
    } finally {
      alone.close();
    }
    expect(store.checkpointer!.stats().errors).toBe(0);
  });

  it('runs one per store on a shared file (several processes): both write, neither fails', async () => {
    const file = tempFile();
    const a = open(file);
    await sql`create table t (id integer primary key, who text not null)`.execute(a.db);
    const b = open(file);
    await Promise.all(
      [a, b].map(async (s, k) => {
        for (let i = 0; i < 200; i++) await sql`insert into t (who) values (${k === 0 ? 'a' : 'b'})`.execute(s.db);
      }),
    );
    await checkpointed(a);
    await checkpointed(b);
    const counts = await sql<{ who: string; n: number }>`select who, count(*) as n from t group by who order by who`.execute(b.db);
    expect(counts.rows).toEqual([
      { who: 'a', n: 200 },
      { who: 'b', n: 200 },
    ]);
    expect(a.checkpointer!.stats().errors + b.checkpointer!.stats().errors).toBe(0);
  });

  it('stops with store.close(); an in-memory database has none', async () => {
    const store = openStore(`sqlite:${tempFile()}`);
    const ck = store.checkpointer!;
    await vi.waitFor(() => expect(ck.stats().passes).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
    expect(ck.running).toBe(true);
    await store.close();
    expect(ck.running).toBe(false);

    const memory = openStore('sqlite::memory:');
    expect(memory.checkpointer).toBeUndefined();
    await memory.close();
  });

  it('reports a thread that cannot open its file, and that it ended', async () => {
    const errors: string[] = [];
    let ended = false;
    const ck = startCheckpointer(join(tmpdir(), 'pier-no-such-dir', 'missing.sqlite'), { onError: (e) => errors.push(e.message), onExit: () => (ended = true) });
    await vi.waitFor(() => expect(ended).toBe(true), { timeout: 10_000, interval: 10 });
    expect(ck.running).toBe(false);
    expect(errors.join(' ')).toMatch(/unable to open|does not exist|SQLITE_CANTOPEN/i);
  });

  it('leaves an intact database when the process is killed (SIGKILL) while it writes and checkpoints', async () => {
    const file = tempFile();
    const child = spawn(process.execPath, ['--import', TSX_LOADER, join(ROOT, 'test/store-checkpoint-writer.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: `sqlite:${file}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    let committed = 0;
    try {
      // kill it once its checkpointer has copied the WAL into the file several times, mid-stream
      await new Promise<void>((done, fail) => {
        const lines = createInterface({ input: child.stdout! });
        lines.on('line', (line) => {
          const r = JSON.parse(line) as { committed: number; copyingPasses: number };
          committed = r.committed;
          if (r.copyingPasses >= 5 && r.committed >= 2000) {
            child.kill('SIGKILL');
            done();
          }
        });
        child.once('exit', (code, signal) => fail(new Error(`the writer exited first (${signal ?? code})`)));
      });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // the next process recovers from the WAL: the file is intact and holds every commit it acknowledged, in order
    const db = new SQLite(file);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const { n, top } = db.prepare('select count(*) as n, max(id) as top from w').get() as { n: number; top: number };
      expect(top).toBeGreaterThanOrEqual(committed);
      expect(n).toBe(top);
    } finally {
      db.close();
    }
  });
});
