/**
 * Experiment-only preload for a Pier process (never used by `npm run bench` itself), used to check
 * the findings in docs/performance.md without editing src/:
 *
 *   node --import ./bench/experiments/preload.mjs --import tsx src/main.ts
 *
 *   X_COUNT=<file>     count pg queries by SQL text; written to <file> on SIGTERM (PostgreSQL)
 *   X_SQLTIME=<file>   time every better-sqlite3 run/all/get by SQL text; written on SIGTERM (SQLite)
 *   X_STMT_CACHE=1     cache better-sqlite3 statements (what src/store/db.ts now does)
 *   X_POOL=<n>         PostgreSQL pool size instead of 10
 *   X_BACKLOG=<n>      listen backlog for every server in the process (Node's default is 511)
 */

import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
if (process.env.X_STMT_CACHE === '1') {
  const Database = require('better-sqlite3');
  const orig = Database.prototype.prepare;
  Database.prototype.prepare = function (sql) {
    const cache = (this.__cache ??= new Map());
    let s = cache.get(sql);
    if (!s || s.busy) { s = orig.call(this, sql); cache.set(sql, s); }
    return s;
  };
}
if (process.env.X_POOL) {
  const pg = require('pg');
  const Orig = pg.Pool;
  pg.Pool = class extends Orig { constructor(o) { super({ ...o, max: Number(process.env.X_POOL) }); } };
}
if (process.env.X_COUNT) {
  const pg = require('pg');
  const counts = new Map();
  const orig = pg.Client.prototype.query;
  pg.Client.prototype.query = function (q, ...rest) {
    const text = typeof q === 'string' ? q : q?.text;
    const key = String(text).replace(/\s+/g, ' ').slice(0, 90);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return orig.call(this, q, ...rest);
  };
  process.on('SIGTERM', () => {
    const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    require('fs').writeFileSync(process.env.X_COUNT, rows.map(([k, v]) => `${v}\t${k}`).join('\n'));
  });
}
if (process.env.X_BACKLOG) {
  const net = require('net');
  const orig = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    if (args[0] && typeof args[0] === 'object') args[0] = { ...args[0], backlog: Number(process.env.X_BACKLOG) };
    return orig.apply(this, args);
  };
}
if (process.env.X_SQLTIME) {
  const Database = require('better-sqlite3');
  const Statement = Database.prototype.prepare.call(new Database(':memory:'), 'select 1').constructor;
  const stats = new Map();
  for (const m of ['run', 'all', 'get']) {
    const orig = Statement.prototype[m];
    Statement.prototype[m] = function (...a) {
      const t = process.hrtime.bigint();
      try { return orig.apply(this, a); } finally {
        const k = this.source.replace(/\s+/g, ' ').slice(0, 80);
        const s = stats.get(k) ?? { n: 0, ns: 0n }; s.n++; s.ns += process.hrtime.bigint() - t; stats.set(k, s);
      }
    };
  }
  process.on('SIGTERM', () => {
    const rows = [...stats.entries()].sort((a, b) => Number(b[1].ns - a[1].ns));
    require('fs').writeFileSync(process.env.X_SQLTIME, rows.map(([k, v]) => `${v.n}\t${(Number(v.ns) / 1e6).toFixed(0)} ms\t${(Number(v.ns) / 1e3 / v.n).toFixed(1)} us\t${k}`).join('\n'));
  });
}
if (process.env.X_PGFIELDS) {
  // per process: pg's RowDescription handling (Result.addFields) and row parsing, by statement text
  const Result = require('pg/lib/result.js');
  const pg = require('pg');
  const stats = new Map();
  let current = '';
  const origQuery = pg.Client.prototype.query;
  pg.Client.prototype.query = function (q, ...rest) {
    current = String(typeof q === 'string' ? q : q?.text).replace(/\s+/g, ' ').slice(0, 70);
    const s = stats.get(current) ?? { q: 0, fields: 0, rows: 0, addNs: 0n, rowNs: 0n };
    s.q++; stats.set(current, s);
    return origQuery.call(this, q, ...rest);
  };
  const origAdd = Result.prototype.addFields;
  Result.prototype.addFields = function (f) {
    const t = process.hrtime.bigint();
    try { return origAdd.call(this, f); } finally { const s = stats.get(current); if (s) { s.fields += f.length; s.addNs += process.hrtime.bigint() - t; } }
  };
  const origRow = Result.prototype.parseRow;
  Result.prototype.parseRow = function (r) {
    const t = process.hrtime.bigint();
    try { return origRow.call(this, r); } finally { const s = stats.get(current); if (s) { s.rows++; s.rowNs += process.hrtime.bigint() - t; } }
  };
  const write = () => {
    const rows = [...stats.entries()].sort((a, b) => b[1].q - a[1].q);
    require('fs').writeFileSync(`${process.env.X_PGFIELDS}/${process.pid}.txt`, `${process.argv.join(' ')}\n` + rows.map(([k, v]) => `${v.q}\tfields/q ${(v.fields / v.q).toFixed(1)}\tadd ${(Number(v.addNs) / 1e3 / v.q).toFixed(1)}us/q\trow ${(Number(v.rowNs) / 1e3 / Math.max(1, v.rows)).toFixed(1)}us/row\t${k}`).join('\n'));
  };
  process.on('SIGTERM', () => { write(); process.exit(0); });
  process.on('exit', write);
}
