/**
 * Pier's schema across versions and interruptions (docs/operations.md, "Upgrading"): a Pier of the
 * previous version that starts again on a database a newer Pier has migrated (a process restarted
 * mid-rollout, a rollback), and the `pier` CLI of that version beside it; a migration that stops
 * half-way (a full disk, a crash) and the start after it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Migrator, sql, type KyselyPlugin } from 'kysely';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startPier } from '../../src/main.js';
import { migrateToLatest, openStore } from '../../src/store/db.js';
import { PierMigrations } from '../../src/store/migrations/index.js';
import { freshDatabase } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const env = () => ({ PORT: '0', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0' });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-schema-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** What a newer Pier's migration leaves: a column this version does not know, and its name recorded. */
async function migrateAsANewerPier(name: string) {
  const store = openStore(db.url);
  try {
    await migrateToLatest(store);
    await store.db.schema.alterTable('payments').addColumn(`col_${name.replace(/\W/g, '_')}`, 'varchar(20)').execute();
    await sql`insert into kysely_migration (name, timestamp) values (${name}, ${new Date().toISOString()})`.execute(store.db);
  } finally {
    await store.close();
  }
}

describe('a Pier of the previous version on a database a newer Pier migrated', () => {
  it('starts, answers /ready 200 and signs merchants in; its CLI works too', async () => {
    await migrateAsANewerPier('099-from-a-newer-pier');

    const pier = await startPier(loadConfig(env()));
    try {
      const ready = await request(`${pier.address}/ready`);
      expect(ready.statusCode).toBe(200);
      expect(((await ready.body.json()) as { checks: Record<string, string> }).checks.migrations).toBe('ok');
      const token = await request(`${pier.address}/users/getToken`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ imp_key: 'imp_apikey', imp_secret: 'ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f' }),
      });
      expect(((await token.body.json()) as { code: number }).code).toBe(0);
    } finally {
      await pier.stop();
    }

    const cliEnv: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) cliEnv[k] = v;
    const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), 'migrate'], { cwd: ROOT, env: { ...cliEnv, ...env(), PIER_SIMULATOR: 'false' }, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/up to date; no migrations applied/);
    expect(cli.stdout).toContain('099-from-a-newer-pier');
  });
});

describe('a migration that stops half-way', () => {
  it('leaves nothing of itself: the next start applies it whole (the disk fills at its second statement)', async () => {
    const own = await freshDatabase();
    const store = openStore(own.url);
    try {
      await new Migrator({ db: store.db, provider: new PierMigrations(store.dialect) }).migrateTo('010-receipts');
      // 011-operations adds a column to webhook_events, then one to webhook_deliveries: the disk is full at the second
      const diskFull: KyselyPlugin = {
        transformQuery(args) {
          if (args.node.kind === 'AlterTableNode' && (args.node as { table: { table: { identifier: { name: string } } } }).table.table.identifier.name === 'webhook_deliveries') {
            throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
          }
          return args.node;
        },
        async transformResult(args) {
          return args.result;
        },
      };
      const maintenance = store.maintenance;
      const failing = { ...store, db: store.db.withPlugin(diskFull), maintenance: maintenance && (() => maintenance().withPlugin(diskFull)) };
      await expect(migrateToLatest(failing)).rejects.toThrow(/disk is full/);
    } finally {
      await store.close();
    }

    // space is freed; Pier starts again on the same file
    const again = openStore(own.url);
    try {
      expect(await migrateToLatest(again)).toContain('011-operations');
      const columns = async (table: string) => (await again.db.introspection.getTables()).find((t) => t.name === table)!.columns.map((c) => c.name);
      expect(await columns('webhook_events')).toContain('request_id');
      expect(await columns('webhook_deliveries')).toContain('request_id');
    } finally {
      await again.close();
      await own.drop();
    }
  });
});

describe('a start on an up-to-date SQLite file', () => {
  it('takes no write lock: it starts while another process holds one', async () => {
    const own = await freshDatabase();
    if (!own.sqliteFile) return own.drop(); // SQLite only
    const first = openStore(own.url);
    await migrateToLatest(first);
    await first.close();
    const { default: SQLite } = await import('better-sqlite3');
    const other = new SQLite(own.sqliteFile);
    other.prepare('BEGIN IMMEDIATE').run(); // a server mid-write
    const store = openStore(own.url, { sqliteLockWaitMs: 30 });
    try {
      expect(await migrateToLatest(store)).toEqual([]);
    } finally {
      other.prepare('ROLLBACK').run();
      other.close();
      await store.close();
      await own.drop();
    }
  });
});
