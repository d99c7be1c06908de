/**
 * Preload for a Pier process started by the bench to count database round trips and commits per
 * payment (issue #14, aim 2), by the method of test/api/round-trips.test.ts. Nothing in src/ changes:
 *
 *   node --import ./bench/lib/count-queries.mjs bin/start.js
 *
 * What counts as a round trip:
 *  - PostgreSQL: every pg `Client.query` (a network round trip; BEGIN and COMMIT included).
 *  - SQLite: no network; the cost of a trip is one hand-off through Kysely's asynchronous driver. So
 *    statements on Pier's own file that run one after another without yielding (a synchronous
 *    better-sqlite3 transaction, whose BEGIN and COMMIT are statements too) are one trip, and every
 *    statement issued on its own is one trip each.
 * A commit is a COMMIT, or a write outside an explicit transaction (autocommit).
 *
 * GET http://127.0.0.1:$COUNT_PORT/ answers the totals so far and the trips since the last GET, so
 * the bench can take the difference around one request.
 *
 * Env: COUNT_PORT (required), COUNT_SQLITE_FILE (Pier's database file, on SQLite).
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(`${process.cwd()}/package.json`);
const totals = { roundTrips: 0, commits: 0 };
/** the statements of each trip since the last GET, joined with ' + ' */
let recent = [];
const oneLine = (q) => String(q).replace(/\s+/g, ' ').trim();
const isWrite = (q) => /^(insert|update|delete)\b/i.test(q) || (/^with\b/i.test(q) && /\b(insert into|update \S+ set|delete from)\b/i.test(q));

function newTrip(sql) {
  totals.roundTrips++;
  if (recent.length < 200) recent.push(sql.slice(0, 160));
}

const pg = require('pg');
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  const sql = oneLine(typeof q === 'string' ? q : q?.text);
  newTrip(sql);
  if (/^begin\b/i.test(sql)) this.__countInTx = true;
  else if (/^(commit|rollback)\b/i.test(sql) && !/^rollback to/i.test(sql)) {
    this.__countInTx = false;
    if (/^commit/i.test(sql)) totals.commits++;
  } else if (isWrite(sql) && !this.__countInTx) totals.commits++;
  return pgQuery.call(this, q, ...rest);
};

const sqliteFile = process.env.COUNT_SQLITE_FILE;
if (sqliteFile) {
  const Database = require('better-sqlite3');
  const probe = new Database(':memory:');
  const Statement = probe.prepare('select 1').constructor.prototype;
  probe.close();
  let yielded = true;
  for (const method of ['run', 'all', 'get', 'iterate']) {
    const orig = Statement[method];
    Statement[method] = function (...args) {
      if (this.database?.name === sqliteFile) {
        const sql = oneLine(this.source);
        if (yielded) {
          newTrip(sql);
          yielded = false;
          queueMicrotask(() => (yielded = true));
        } else if (recent.length > 0) recent[recent.length - 1] += ` + ${sql.slice(0, 80)}`;
        // BEGIN IMMEDIATE is not `readonly` (it takes the write lock), and it commits nothing
        if (/^commit\b/i.test(sql) || (!this.readonly && !this.database.inTransaction && !/^begin\b/i.test(sql))) totals.commits++;
      }
      return orig.apply(this, args);
    };
  }
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
