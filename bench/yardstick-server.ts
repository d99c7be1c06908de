/**
 * The yardstick (issue #14): the least a record-call-record payment server can do on this machine,
 * so that Pier's CPU and throughput are judged against the design's own practical limit rather than
 * against a bare HTTP server. Plain `node:http`, no framework, no validation beyond parsing:
 *
 *   POST /subscribe/payments/again  {customer_uid, merchant_uid, amount}
 *     1. record: INSERT the attempt row                                   (commit 1)
 *     2. call:   one `payments_token` to the tPay simulator (Pier's own client and transformers)
 *     3. record: UPDATE the row to paid + INSERT the webhook event         (commit 2)
 *     answers a V1 envelope with the paid payment.
 *
 * The same store as Pier: better-sqlite3 with Pier's pragmas (src/store/db.ts), or PostgreSQL through
 * pg with Pier's default pool size (10). Its own two tables in a scratch file or database; on
 * PostgreSQL each commit is a single round trip (the second one a data-modifying CTE).
 *
 * Env: YS_PORT, YS_DATABASE_URL (`sqlite:<file>` or `postgres://…`), YS_TPAY_URL (the simulator),
 * YS_MID, YS_API_KEY, YS_CARD_TOKEN (a billing key the simulator issued; every customer_uid uses it).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { TpayClient } from '../src/connectors/jtnet/client.js';
import { asTpayResponse, fromPaymentResponse, toPaymentsTokenRequest, type TpayPaymentResponse } from '../src/connectors/jtnet/transformers.js';
import type { ChannelCredentials, ChargeRequest } from '../src/connectors/types.js';
import { Secret } from '../src/lib/secret.js';

interface Attempt {
  impUid: string;
  merchantUid: string;
  customerUid: string;
  amount: number;
  now: number;
}
interface Approval {
  impUid: string;
  pgTid: string;
  applyNum: string;
  cardName: string | null;
  cardNumber: string | null;
  paidAt: number;
  now: number;
  /** the webhook event's body, written in the same commit */
  event: string;
}
interface YardstickStore {
  /** false when the merchant_uid exists already (a merchant_uid is paid once) */
  recordAttempt(a: Attempt): Promise<boolean>;
  recordApproval(a: Approval): Promise<void>;
  recordFailure(impUid: string, reason: string, now: number): Promise<void>;
}

const COLUMNS = `imp_uid TEXT PRIMARY KEY, merchant_uid TEXT NOT NULL UNIQUE, customer_uid TEXT, amount BIGINT NOT NULL,
  status TEXT NOT NULL, pg_tid TEXT, apply_num TEXT, card_name TEXT, card_number TEXT, paid_at BIGINT, failed_at BIGINT,
  fail_reason TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL`;
const INSERT_ATTEMPT = `INSERT INTO yardstick_payments (imp_uid, merchant_uid, customer_uid, amount, status, created_at, updated_at)
  VALUES ($1, $2, $3, $4, 'ready', $5, $5) ON CONFLICT (merchant_uid) DO NOTHING`;
const MARK_PAID = `UPDATE yardstick_payments SET status = 'paid', pg_tid = $2, apply_num = $3, card_name = $4, card_number = $5,
  paid_at = $6, updated_at = $7 WHERE imp_uid = $1 AND status = 'ready'`;
const INSERT_EVENT = `INSERT INTO yardstick_webhook_events (imp_uid, status, payload, created_at)`;
const MARK_FAILED = `UPDATE yardstick_payments SET status = 'failed', fail_reason = $2, failed_at = $3, updated_at = $3 WHERE imp_uid = $1`;

/**
 * A statement written with `$n` placeholders (as for pg), prepared for better-sqlite3 with plain `?`;
 * the values are given in `$n` order, as to pg.
 */
function prepareSqlite(db: SQLite.Database, text: string) {
  const order = [...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]) - 1);
  const stmt = db.prepare(text.replace(/\$\d+/g, '?'));
  return (...values: unknown[]) => stmt.run(...order.map((i) => values[i]));
}

function sqliteStore(file: string): YardstickStore {
  const db = new SQLite(file);
  // Pier's pragmas (src/store/db.ts)
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS yardstick_payments (${COLUMNS});
    CREATE TABLE IF NOT EXISTS yardstick_webhook_events (id INTEGER PRIMARY KEY AUTOINCREMENT, imp_uid TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)`);
  const insert = prepareSqlite(db, INSERT_ATTEMPT);
  const paid = prepareSqlite(db, MARK_PAID);
  const event = prepareSqlite(db, `${INSERT_EVENT} VALUES ($1, 'paid', $2, $3)`);
  const failed = prepareSqlite(db, MARK_FAILED);
  const approve = db.transaction((a: Approval) => {
    if (paid(a.impUid, a.pgTid, a.applyNum, a.cardName, a.cardNumber, a.paidAt, a.now).changes === 1) event(a.impUid, a.event, a.now);
  });
  return {
    recordAttempt: async (a) => insert(a.impUid, a.merchantUid, a.customerUid, a.amount, a.now).changes === 1,
    recordApproval: async (a) => approve(a),
    recordFailure: async (impUid, reason, now) => void failed(impUid, reason, now),
  };
}

async function postgresStore(url: string): Promise<YardstickStore> {
  pg.types.setTypeParser(20, (v) => Number(v));
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  await pool.query(`CREATE TABLE IF NOT EXISTS yardstick_payments (${COLUMNS})`);
  await pool.query('CREATE TABLE IF NOT EXISTS yardstick_webhook_events (id BIGSERIAL PRIMARY KEY, imp_uid TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)');
  // one round trip and one commit: the update and the event it causes, or neither
  const approve = `WITH u AS (${MARK_PAID} RETURNING imp_uid) ${INSERT_EVENT} SELECT imp_uid, 'paid', $8, $7 FROM u`;
  return {
    recordAttempt: async (a) => (await pool.query({ name: 'ys_attempt', text: INSERT_ATTEMPT, values: [a.impUid, a.merchantUid, a.customerUid, a.amount, a.now] })).rowCount === 1,
    recordApproval: async (a) => void (await pool.query({ name: 'ys_paid', text: approve, values: [a.impUid, a.pgTid, a.applyNum, a.cardName, a.cardNumber, a.paidAt, a.now, a.event] })),
    recordFailure: async (impUid, reason, now) => void (await pool.query({ name: 'ys_failed', text: MARK_FAILED, values: [impUid, reason, now] })),
  };
}

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const databaseUrl = env('YS_DATABASE_URL');
const store = databaseUrl.startsWith('sqlite:') ? sqliteStore(databaseUrl.slice('sqlite:'.length)) : await postgresStore(databaseUrl);
const tpay = new TpayClient({ baseUrl: env('YS_TPAY_URL'), connectTimeoutMs: 5_000, readTimeoutMs: 30_000 });
const channel: ChannelCredentials = { mid: env('YS_MID'), merchantKey: new Secret(env('YS_API_KEY')), cancelPassword: new Secret('') };
const cardToken = env('YS_CARD_TOKEN');

function answer(res: ServerResponse, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function again(raw: string, res: ServerResponse) {
  const input = JSON.parse(raw) as { customer_uid: string; merchant_uid: string; amount: number; name?: string };
  const now = Math.floor(Date.now() / 1000);
  const impUid = `imps_${randomBytes(6).toString('hex')}`;
  if (!(await store.recordAttempt({ impUid, merchantUid: input.merchant_uid, customerUid: input.customer_uid, amount: input.amount, now }))) {
    return answer(res, { code: 1, message: '이미 결제가 완료된 merchant_uid입니다.', response: null });
  }
  const req: ChargeRequest = { moid: impUid, amount: input.amount, goodsName: input.name ?? 'yardstick', cardQuota: 0, buyer: {}, mallUserId: input.customer_uid };
  let result;
  try {
    result = fromPaymentResponse(asTpayResponse<TpayPaymentResponse>(await tpay.post('payments_token', toPaymentsTokenRequest(channel, cardToken, req))), req, channel.mid, now);
  } catch (err) {
    await store.recordFailure(impUid, (err as Error).message, now);
    return answer(res, { code: -1, message: (err as Error).message, response: null });
  }
  if (result.outcome !== 'approved') {
    await store.recordFailure(impUid, result.message, now);
    return answer(res, { code: 1, message: result.message, response: null });
  }
  const payment = {
    imp_uid: impUid,
    merchant_uid: input.merchant_uid,
    customer_uid: input.customer_uid,
    amount: input.amount,
    currency: 'KRW',
    status: 'paid',
    pg_provider: 'jtnet',
    pg_tid: result.pgTid,
    apply_num: result.applyNum,
    card_name: result.cardName,
    card_number: result.cardNumberMasked,
    paid_at: result.paidAt,
    cancel_history: [],
  };
  const event = JSON.stringify({ imp_uid: impUid, merchant_uid: input.merchant_uid, status: 'paid' });
  await store.recordApproval({ impUid, pgTid: result.pgTid, applyNum: result.applyNum, cardName: result.cardName, cardNumber: result.cardNumberMasked, paidAt: result.paidAt, now, event });
  answer(res, { code: 0, message: null, response: payment });
}

function handle(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/subscribe/payments/again') {
      res.writeHead(404).end();
      return;
    }
    again(Buffer.concat(chunks).toString('utf8'), res).catch((err: Error) => {
      if (!res.headersSent) answer(res, { code: -1, message: err.message, response: null });
    });
  });
}

const server = createServer(handle);
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.YS_PORT ?? 0), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
