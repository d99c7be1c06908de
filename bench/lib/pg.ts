/**
 * PostgreSQL for the benchmark: a fresh database per run (created, then dropped), and the raw
 * commit-rate ceiling: pgbench with a script doing Pier's writes for one payment (INSERT the
 * attempt, UPDATE it to paid, each its own commit) on a copy of the payments table, or, without
 * pgbench, the same statements from bench/commit-rate.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ROOT } from './proc.js';

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `pier_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function serverInfo(url: string): Promise<Record<string, string | number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const out: Record<string, string | number> = {};
  for (const k of ['server_version', 'synchronous_commit', 'fsync', 'wal_sync_method', 'max_connections', 'shared_buffers']) {
    out[k] = (await c.query(`SHOW ${k}`)).rows[0][k];
  }
  out.connections_in_use = Number((await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = $1', ['client backend'])).rows[0].n);
  await c.end();
  return out;
}

/** Statements of one payment, as pgbench writes them (`:n` is pgbench's variable). */
export const INSERT_SQL = `WITH s AS (SELECT nextval('bench_payments_seq') AS n)
INSERT INTO bench_payments (imp_uid, merchant_id, merchant_uid, merchant_uid_lock, channel_id, pg_provider, pg_id, pay_method, channel,
  status, pg_state, amount, cancel_amount, cancel_pending_amount, tax_free, vat_amount, currency, name, buyer_name, buyer_email, buyer_tel,
  buyer_addr, buyer_postcode, custom_data, notice_url, user_agent, card_quota, customer_uid, customer_uid_usage, sandbox,
  started_at, paid_at, failed_at, cancelled_at, updated_at)
SELECT 'imp_' || n, 'mch_bench', 'order_' || n, 'order_' || n, 'ch_bench', 'jtnet', 'tpaytest1m', 'card', 'api',
  'ready', 'calling', 1000, 0, 0, 0, NULL, 'KRW', 'bench again', NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, 'autocannon', 0, 'bench_c_1', 'payment', 1,
  1764467000, 0, 0, 0, 1764467000 FROM s RETURNING substr(imp_uid, 5) AS n`;
export const UPDATE_SQL = `UPDATE bench_payments SET status = 'paid', pg_state = 'done', pg_tid = 'tpaytest1m01', apply_num = '30962255',
  card_code = '366', card_name = '신한', card_number = '936600******1234', card_type = 0, card_quota = 0, receipt_url = NULL,
  paid_at = 1764467000, updated_at = 1764467000
WHERE imp_uid = 'imp_' || :n AND pg_state IN ('calling', 'in_doubt')`;

/** A copy of Pier's payments table (columns, unique constraint and indexes; no foreign keys). */
export async function prepareCommitTable(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('DROP TABLE IF EXISTS bench_payments');
  await c.query('CREATE TABLE bench_payments (LIKE payments INCLUDING ALL)');
  await c.query('DROP SEQUENCE IF EXISTS bench_payments_seq');
  await c.query('CREATE SEQUENCE bench_payments_seq');
  await c.end();
}

export interface CommitRate {
  tool: 'pgbench' | 'script';
  clients: number;
  seconds: number;
  perSec: number;
  latencyMsAvg: number | null;
  command: string;
}

/** pgbench on the PATH (BENCH_NO_PGBENCH=1 pretends it is not, to exercise the fallback). */
export function hasPgbench(): boolean {
  if (process.env.BENCH_NO_PGBENCH === '1') return false;
  return spawnSync('sh', ['-c', 'command -v pgbench'], { stdio: 'ignore' }).status === 0;
}

/** Payments/s of raw commits: pgbench when installed, else bench/commit-rate.ts. */
export async function commitRate(
  url: string,
  clients: number,
  seconds: number,
  workDir: string,
  onProgress: (line: string) => void,
): Promise<CommitRate> {
  await prepareCommitTable(url);
  if (hasPgbench()) {
    const script = join(workDir, 'payment.pgbench.sql');
    writeFileSync(script, `${INSERT_SQL.replace(/\n/g, ' ')} \\gset\n${UPDATE_SQL.replace(/\n/g, ' ')};\n`);
    // pgbench's -T runs from its start, its clients' connections included: on a busy machine 64
    // connections took over a second, and a smoke run's 1 s measured nothing ("0 transactions")
    const pgbenchSeconds = Math.max(seconds, 3);
    const args = ['-n', '-M', 'prepared', '-c', String(clients), '-j', '2', '-T', String(pgbenchSeconds), '-P', '1', '-f', script, url];
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const last = d.toString().trim().split('\n').pop();
        if (last?.startsWith('progress:')) onProgress(last);
      });
      p.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`pgbench exited ${code}: ${stderr.slice(-2000)}`))));
    });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1] ?? /tps = ([\d.]+)/.exec(out)?.[1]);
    const lat = /latency average = ([\d.]+) ms/.exec(out)?.[1];
    if (!Number.isFinite(tps)) throw new Error(`cannot read pgbench output:\n${out}`);
    return { tool: 'pgbench', clients, seconds: pgbenchSeconds, perSec: tps, latencyMsAvg: lat ? Number(lat) : null, command: `pgbench ${args.slice(0, -1).join(' ')} <db>` };
  }
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/commit-rate.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, CONCURRENCY: String(clients), DURATION_SEC: String(seconds) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('message', (m: { done: number }) => onProgress(`${m.done} payments`));
    p.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`commit-rate.ts exited ${code}: ${stderr.slice(-2000)}`))));
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { payments: number; seconds: number; perSec: number };
  return { tool: 'script', clients, seconds: r.seconds, perSec: r.perSec, latencyMsAvg: null, command: 'tsx bench/commit-rate.ts' };
}
