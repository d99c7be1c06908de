/**
 * A rollout on PostgreSQL, with real processes: a newer Pier migrates (its migration lock taken,
 * held in the middle of its last migration) while a Pier of this version starts on the same
 * database with migrations of its own still to run. This version read the recorded migrations
 * before the newer one committed, so it did not know the newer's names yet, waited for the
 * migration lock, and Kysely then found a recorded migration it was not given: "corrupted
 * migrations", and the older Pier did not start (docs/operations.md, "Upgrading", says it does).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { MIGRATION_NAMES, PierMigrations } from '../../src/store/migrations/index.js';
import { openStore, type Store } from '../../src/store/db.js';
import { childPier } from '../child-pier.js';
import { startChild } from '../child-process.js';
import { freshDatabase } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const ON_POSTGRES = Boolean(process.env.TEST_DATABASE_URL);

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));

/** Polls another process's progress. */
async function until(what: string, ok: () => Promise<boolean> | boolean, tries = 600): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    if (i >= tries) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  if (!ON_POSTGRES) return;
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-migration-race-'));
});
afterAll(async () => {
  if (!ON_POSTGRES) return;
  await pier.kill('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe.skipIf(!ON_POSTGRES)('a Pier starting while a newer Pier migrates PostgreSQL', () => {
  it('waits for the newer migration, then starts on the database as the newer Pier left it', async () => {
    // the database as a Pier from two versions ago left it: this version has migrations to run too
    const store: Store = openStore(db.url);
    try {
      const older = MIGRATION_NAMES.slice(0, -2);
      const all = await new PierMigrations(store.dialect).getMigrations();
      const { error } = await new Migrator({ db: store.db, provider: { getMigrations: async () => Object.fromEntries(older.map((n) => [n, all[n]])) } }).migrateToLatest();
      expect(error).toBeUndefined();

      const inside = join(dataDir, 'newer-inside');
      const release = join(dataDir, 'newer-release');
      const newer = startChild('the newer Pier', ['--import', TSX_LOADER, join(ROOT, 'test/operations/newer-pier-migrator.ts')], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: db.url, INSIDE_FILE: inside, RELEASE_FILE: release },
      });
      await until('the newer Pier is in the middle of its migration', () => {
        if (!newer.running()) throw new Error(`the newer Pier exited first: ${newer.stderr()}`);
        return existsSync(inside);
      });

      // this version starts; it waits for the migration lock the newer Pier holds
      const started = pier.start().then(
        () => null,
        (err: Error) => err,
      );
      await until('this version waits for the migration lock', async () => {
        const { rows } = await sql<{ n: string }>`select count(*) as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`.execute(store.db);
        return Number(rows[0]!.n) > 0;
      });
      writeFileSync(release, 'go');
      expect((await newer.ended).code, newer.stderr()).toBe(0);
      expect(JSON.parse(newer.stdout()).applied).toEqual([...MIGRATION_NAMES.slice(-2), '999-newer']);

      expect(await started).toBeNull();
      const health = await fetch(`${pier.url()}/health`);
      expect(health.status).toBe(200);
      const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db);
      expect(recorded.rows.map((r) => r.name)).toEqual([...MIGRATION_NAMES, '999-newer']);
      expect(await pier.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await store.close();
    }
  }, 300_000);
});
