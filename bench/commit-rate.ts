/**
 * The raw commit rate without pgbench: `CONCURRENCY` clients, each looping for `DURATION_SEC`
 * over what Pier writes for one payment, with no HTTP: an INSERT of the attempt row (committed),
 * then the UPDATE that records the approval (committed). Run in its own process by bench/run.ts
 * when `pgbench` is not installed; prints one JSON line {payments, seconds, perSec}.
 *
 * Env: DATABASE_URL (a database holding bench_payments, see lib/pg.ts), CONCURRENCY, DURATION_SEC.
 */
import pg from 'pg';
import { INSERT_SQL, UPDATE_SQL } from './lib/pg.js';

const url = process.env.DATABASE_URL!;
const concurrency = Number(process.env.CONCURRENCY ?? 64);
const durationSec = Number(process.env.DURATION_SEC ?? 10);

const pool = new pg.Pool({ connectionString: url, max: concurrency });
// open every connection before the clock starts, as pgbench does
const clients = await Promise.all(Array.from({ length: concurrency }, () => pool.connect()));
let payments = 0;
const started = performance.now();
const until = started + durationSec * 1000;
const ticker = setInterval(() => process.send?.({ type: 'progress', done: payments }), 1000);
await Promise.all(
  clients.map(async (c) => {
    while (performance.now() < until) {
      const r = await c.query({ name: 'ins', text: INSERT_SQL.replace(/:n\b/g, '$1').replace(/ RETURNING.*$/s, ' RETURNING imp_uid'), values: [] });
      const impUid = r.rows[0].imp_uid as string;
      await c.query({ name: 'upd', text: UPDATE_SQL.replace("'imp_' || :n", '$1'), values: [impUid] });
      payments++;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
clearInterval(ticker);
for (const c of clients) c.release();
await pool.end();
process.stdout.write(`${JSON.stringify({ payments, seconds, perSec: payments / seconds })}\n`);
