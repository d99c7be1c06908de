/**
 * Preload for a Pier process started by the bench to count database round trips and commits per
 * payment (issue #14, aim 2), the way test/api/round-trips.test.ts counts them: at the driver, every
 * pg `Client.query` on PostgreSQL, every better-sqlite3 statement run on Pier's own SQLite file
 * (begin and commit included). Nothing in src/ changes:
 *
 *   node --import ./bench/lib/count-queries.mjs --import tsx src/main.ts
 *
 * A commit is an explicit COMMIT (better-sqlite3's `db.transaction()` issues its own, seen here),
 * or a write issued outside a transaction (autocommit). GET http://127.0.0.1:$COUNT_PORT/ answers the totals so far
 * and the statements since the last GET, so the bench can take the difference around one request.
 *
 * Env: COUNT_PORT (required), COUNT_SQLITE_FILE (Pier's database file, on SQLite).
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(`${process.cwd()}/package.json`);
const totals = { statements: 0, commits: 0 };
let recent = [];
const WRITE = /^\s*(insert|update|delete|with\b[\s\S]*\b(insert|update|delete)\b)/i;

/** Counts one statement; `tx` is the connection's transaction state, updated here. */
function note(text, tx) {
  const sql = String(text).replace(/\s+/g, ' ').trim();
  totals.statements++;
  if (recent.length < 200) recent.push(sql.slice(0, 160));
  if (/^(begin|start transaction)/i.test(sql)) tx.open = true;
  else if (/^(commit|end)\b/i.test(sql)) {
    tx.open = false;
    totals.commits++;
  } else if (/^rollback\b/i.test(sql) && !/^rollback to/i.test(sql)) tx.open = false;
  else if (!tx.open && WRITE.test(sql)) totals.commits++;
}

const pg = require('pg');
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  this.__countTx ??= { open: false };
  note(typeof q === 'string' ? q : q?.text, this.__countTx);
  return pgQuery.call(this, q, ...rest);
};

const sqliteFile = process.env.COUNT_SQLITE_FILE;
if (sqliteFile) {
  const Database = require('better-sqlite3');
  const probe = new Database(':memory:');
  const Statement = probe.prepare('select 1').constructor.prototype;
  probe.close();
  const sqliteTx = { open: false };
  const ours = (db) => db?.name === sqliteFile;
  for (const method of ['run', 'all', 'get', 'iterate']) {
    const orig = Statement[method];
    Statement[method] = function (...args) {
      if (ours(this.database)) note(this.source, sqliteTx);
      return orig.apply(this, args);
    };
  }
  const exec = Database.prototype.exec;
  Database.prototype.exec = function (sql) {
    if (ours(this)) note(sql, sqliteTx);
    return exec.call(this, sql);
  };
  // db.transaction(fn) needs nothing of its own: better-sqlite3 runs its BEGIN / COMMIT as
  // prepared statements of the same database (lib/methods/transaction.js), counted above
}

const port = Number(process.env.COUNT_PORT);
if (!port) throw new Error('count-queries.mjs: COUNT_PORT is required');
const server = createServer((req, res) => {
  const body = JSON.stringify({ ...totals, recent });
  recent = [];
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
});
server.listen(port, '127.0.0.1');
server.unref();
