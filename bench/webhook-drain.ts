/**
 * Only the "webhooks from a full queue" measurement, for working on delivery:
 *
 *   npx tsx bench/webhook-drain.ts [--count 2000] [--store sqlite|postgres|both] [--runs 1] [--workers N] [--cpu-prof-dir DIR]
 *
 * PostgreSQL: a scratch database on BENCH_DATABASE_URL / TEST_DATABASE_URL's server, dropped after.
 * Pier's jtnet URL points nowhere: no payment is made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase } from './lib/pg.js';
import { stopAll } from './lib/proc.js';
import { webhookDrain } from './lib/webhook-drain.js';

const argv = process.argv.slice(2);
const value = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
const count = Number(value('--count') ?? 2000);
const which = value('--store') ?? 'both';
const runs = Number(value('--runs') ?? 1);
const profDir = value('--cpu-prof-dir');
const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : undefined;
const env = value('--workers') ? { PIER_WORKERS: value('--workers')! } : undefined;
const adminUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const work = mkdtempSync(join(tmpdir(), 'pier-whdrain-'));
const tag = Date.now().toString(36).slice(-5);
try {
  for (let r = 0; r < runs; r++) {
    if (which === 'sqlite' || which === 'both') {
      const dir = join(work, `sqlite${r}`);
      const res = await webhookDrain({ store: 'SQLite', databaseUrl: `sqlite:${join(dir, 'pier.sqlite')}`, dataDir: dir, jtnetUrl: 'http://127.0.0.1:9', count, timeoutSec: 300, tag: `${tag}s${r}`, progress: () => {}, nodeArgs, env });
      console.log(JSON.stringify(res));
    }
    if (which === 'postgres' || which === 'both') {
      const db = await createDatabase(adminUrl);
      try {
        const res = await webhookDrain({ store: 'PostgreSQL', databaseUrl: db.url, dataDir: join(work, `pg${r}`), jtnetUrl: 'http://127.0.0.1:9', count, timeoutSec: 300, tag: `${tag}p${r}`, progress: () => {}, nodeArgs, env });
        console.log(JSON.stringify(res));
      } finally {
        await db.drop();
      }
    }
  }
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
