/**
 * A newer Pier migrating, as a process of its own (test/operations/migration-race.test.ts): this
 * version's migrations and one more, `999-newer`, which adds a column, then writes INSIDE_FILE and
 * waits for RELEASE_FILE to exist before it ends. The test so holds the newer Pier in the middle
 * of its migration (its migration lock taken, nothing committed) while an older Pier starts.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Migrator, type Kysely } from 'kysely';
import { openStore } from '../../src/store/db.js';
import { PierMigrations } from '../../src/store/migrations/index.js';

const env = process.env;
const store = openStore(env.DATABASE_URL!);
const maintenance = store.maintenance?.() ?? store.db;
const ours = new PierMigrations(store.dialect);
const migrator = new Migrator({
  db: maintenance,
  provider: {
    getMigrations: async () => ({
      ...(await ours.getMigrations()),
      '999-newer': {
        async up(db: Kysely<any>) {
          await db.schema.alterTable('payments').addColumn('col_newer', 'varchar(20)').execute();
          writeFileSync(env.INSIDE_FILE!, 'inside');
          // another process's signal: poll for it
          while (!existsSync(env.RELEASE_FILE!)) await new Promise((r) => setTimeout(r, 20));
        },
      },
    }),
  },
});
const { error, results } = await migrator.migrateToLatest();
process.stdout.write(`${JSON.stringify({ error: error ? String(error) : null, applied: results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) })}\n`);
if (maintenance !== store.db) await maintenance.destroy();
await store.close();
process.exit(error ? 1 : 0);
