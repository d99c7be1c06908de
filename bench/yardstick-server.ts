/**
 * The yardstick (issue #14): "a minimal record-call-record server (plain node:http, the same two
 * commits on the same store, one HTTP call to the simulator, no framework, no validation beyond
 * parsing)": the practical limit of Pier's design on this machine, so that Pier's CPU and
 * throughput are judged against it rather than against a bare HTTP server.
 *
 *   POST /subscribe/payments/again  {customer_uid, merchant_uid, amount, name?}
 *     1. record: read the billing key ⋈ channel and insert the attempt row          (commit 1)
 *     2. call:   one `payments_token` to the tPay simulator (Pier's own client and transformers)
 *     3. record: update the row to paid + insert its webhook event                  (commit 2)
 *     answers a V1 envelope with the paid payment.
 *
 * YS_TABLES=pier (the yardstick; docs/decisions/0021-yardstick-same-commits.md): the same two
 * commits Pier makes for `again`, on Pier's own schema (src/store/migrations, migrated with
 * migrateToLatest into a scratch file or database), with one merchant, one jtnet API channel and
 * a billing key per customer_uid seeded at start:
 *   commit 1 = insertAttemptFrom(billingKeyChoice, attemptRow) (src/core/payments/attempts.ts):
 *              the billing key ⋈ channel read by (merchant_id, customer_uid) and the full
 *              `payments` row of an `again` (ready, calling, merchant_uid_lock = merchant_uid, …);
 *   commit 2 = approveAttempt (src/core/payments/record-outcome.ts): the approval UPDATE … RETURNING *,
 *              the `webhook_events` row, the merchant's webhook targets read (settings ∪ live
 *              listeners; the bench merchant has none, so no `webhook_deliveries`).
 * Hand-written SQL, the cheapest way to make those commits: constants inlined, prepared once
 * (better-sqlite3) or named prepared statements (pg). On PostgreSQL each commit is one statement
 * (data-modifying CTEs, Pier's own texts); on SQLite each is one BEGIN IMMEDIATE transaction.
 * What it leaves out is Pier's own work: the framework, validation, auth, the vault (it charges
 * YS_CARD_TOKEN with YS_MID/YS_API_KEY instead of opening sealed columns), Kysely, logging.
 *
 * YS_TABLES=minimal (reported as context): two minimal tables of its own (no foreign keys, two
 * indexes), no channel read; what Pier's schema itself costs shows as the difference.
 *
 * The same store as Pier: better-sqlite3 with Pier's pragmas (src/store/db.ts), or PostgreSQL through
 * pg with Pier's default pool size (10).
 *
 * Env: YS_PORT, YS_DATABASE_URL (`sqlite:<file>` or `postgres://…`), YS_TABLES (`pier`, default, or
 * `minimal`), YS_CUSTOMER_UIDS (comma-separated; `pier` seeds a billing key for each), YS_TPAY_URL
 * (the simulator), YS_MID, YS_API_KEY, YS_CARD_TOKEN (a billing key the simulator issued; every
 * customer_uid uses it).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { TpayClient } from '../src/connectors/jtnet/client.js';
import { asTpayResponse, fromPaymentResponse, toPaymentsTokenRequest, type TpayPaymentResponse } from '../src/connectors/jtnet/transformers.js';
import { CONNECTOR_MODULES } from '../src/connectors/registry.js';
import type { ChannelCredentials, ChargeRequest, ChargeResult } from '../src/connectors/types.js';
import { newImpUid } from '../src/lib/ids.js';
import { Secret } from '../src/lib/secret.js';
import { migrateToLatest, openStore } from '../src/store/db.js';
import { newMessageId } from '../src/webhooks/payload.js';

interface Attempt {
  impUid: string;
  merchantUid: string;
  customerUid: string;
  amount: number;
  name: string | null;
  userAgent: string | null;
  now: number;
}
type Approved = Extract<ChargeResult, { outcome: 'approved' }>;
interface Approval {
  impUid: string;
  merchantUid: string;
  r: Approved;
  now: number;
  /** the request's id, as Pier writes it with the webhook event */
  requestId: string;
}
interface YardstickStore {
  /** `unknown`: no billing key for the customer_uid; `taken`: the merchant_uid is in flight or paid */
  recordAttempt(a: Attempt): Promise<'inserted' | 'taken' | 'unknown'>;
  recordApproval(a: Approval): Promise<void>;
  recordFailure(impUid: string, reason: string, now: number): Promise<void>;
}

// ------------------------------------------------------------------ Pier's schema, Pier's commits

const MERCHANT_ID = 'mch_yardstick';
const CHANNEL_ID = 'ch_yardstick';
/** billingKeyChoice's `pg_channels.provider in (…)`: every PG this Pier has a connector for */
const PROVIDERS = CONNECTOR_MODULES.map((m) => `'${m.provider}'`).join(', ');

/** billingKeyChoice (src/core/billing-keys/billing-keys.ts): the key and its channel's columns (channelColumns) */
const SOURCE = `SELECT b.billing_key_sealed, c.id AS ch_id, c.merchant_id AS ch_merchant_id, c.provider AS ch_provider, c.mid AS ch_mid,
  c.kind AS ch_kind, c.name AS ch_name, c.sandbox AS ch_sandbox, c.is_default AS ch_is_default, c.merchant_key_sealed AS ch_merchant_key_sealed,
  c.cancel_password_sealed AS ch_cancel_password_sealed, c.created_at AS ch_created_at, c.base_url AS ch_base_url
  FROM billing_keys b JOIN pg_channels c ON c.id = b.channel_id
  WHERE b.merchant_id = $1 AND b.customer_uid = $2 AND c.provider IN (${PROVIDERS}) LIMIT 1`;

/** attemptRow's columns, in its order, and next_check_at (insertAttempt) */
const PAYMENT_COLUMNS = `imp_uid, merchant_id, merchant_uid, merchant_uid_lock, channel_id, pg_provider, pg_id, pay_method, channel,
  status, pg_state, amount, cancel_amount, cancel_pending_amount, tax_free, vat_amount, currency, name, buyer_name, buyer_email, buyer_tel,
  buyer_addr, buyer_postcode, custom_data, notice_url, user_agent, card_code, card_name, card_number, card_type, card_quota, apply_num,
  pg_tid, receipt_url, bank_code, bank_name, customer_uid, customer_uid_usage, fail_reason, cancel_reason, sandbox, started_at, paid_at,
  failed_at, cancelled_at, updated_at, next_check_at`;
/**
 * attemptRow's values for `again` (chargeWith: card, api, calling; no buyer, custom_data, notice_url
 * or tax-free amount in the bench's body), in PAYMENT_COLUMNS' order. $1 merchant_id, $2 customer_uid,
 * $3 imp_uid, $4 merchant_uid, $5 amount, $6 name, $7 user_agent, $8 now; the channel's columns
 * (throughChannel) as `ch` gives them; next_check_at from the database's clock (dbNow), as Pier's.
 */
const paymentValues = (ch: { id: string; provider: string; mid: string; sandbox: string }, dbNow: string) => `$3, $1, $4, $4, ${ch.id}, ${ch.provider}, ${ch.mid}, 'card', 'api',
  'ready', 'calling', $5, 0, 0, 0, NULL, 'KRW', $6, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, $7, NULL, NULL, NULL, NULL, 0, NULL,
  NULL, NULL, NULL, NULL, $2, 'payment', NULL, NULL, ${ch.sandbox}, $8, 0,
  0, 0, $8, ${dbNow}`;

/** approveAttempt's UPDATE: $1 imp_uid, $2 pg_tid, $3 apply_num, $4 card_code, $5 card_name, $6 card_number, $7 card_type, $8 card_quota, $9 receipt_url, $10 paid_at, $11 now */
const APPROVE = `UPDATE payments SET status = 'paid', pg_state = 'done', pg_tid = $2, apply_num = $3,
  card_code = coalesce($4, card_code), card_name = $5, card_number = $6, card_type = $7, card_quota = $8, bank_code = NULL, bank_name = NULL,
  receipt_url = $9, paid_at = $10, updated_at = $11
  WHERE imp_uid = $1 AND pg_state IN ('window', 'calling', 'in_doubt') RETURNING *`;
/** failAttempt's UPDATE: $1 imp_uid, $2 fail_reason, $3 now */
const FAIL = `UPDATE payments SET status = 'failed', pg_state = 'done', merchant_uid_lock = NULL, fail_reason = $2, pg_tid = NULL, failed_at = $3, updated_at = $3
  WHERE imp_uid = $1 AND pg_state IN ('calling', 'in_doubt')`;
const EVENT_COLUMNS = 'id, merchant_id, imp_uid, merchant_uid, status, cancellation_id, cause, created_at, request_id';
const DELIVERY_COLUMNS = `id, event_id, merchant_id, url, listener_id, content_type, state, attempts, max_attempts,
  next_attempt_at, lease_owner, lease_until, last_status_code, last_error, created_at, updated_at, delivered_at, request_id`;
/** src/core/payments/events.ts LISTENER_TTL_SECONDS */
const liveListenerSince = () => Math.floor(Date.now() / 1000) - 60;
/** the approval's columns in APPROVE's order ($2…$10) */
const approvalValues = (r: Approved, now: number) => [r.pgTid, r.applyNum, r.cardCode, r.cardName, r.cardNumberMasked, r.cardType, r.cardQuota, r.receiptUrl, r.paidAt || now];

/** `$n` placeholders → better-sqlite3's positional `?`, and the order to pass the `$n` values in */
function positional(text: string): { text: string; order: number[] } {
  return { text: text.replace(/\$\d+/g, '?'), order: [...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]) - 1) };
}
function prepareSqlite(db: SQLite.Database, text: string) {
  const p = positional(text);
  const stmt = db.prepare(p.text);
  const args = (values: unknown[]) => p.order.map((i) => values[i]);
  return {
    get: (...values: unknown[]) => stmt.get(...args(values)) as Record<string, unknown> | undefined,
    all: (...values: unknown[]) => stmt.all(...args(values)) as Array<Record<string, unknown>>,
    run: (...values: unknown[]) => stmt.run(...args(values)),
  };
}

/** Pier's schema in a scratch store (migrateToLatest), with the bench merchant, its jtnet API channel and a billing key per customer_uid. */
async function preparePierSchema(databaseUrl: string, customerUids: string[], mid: string): Promise<void> {
  const store = openStore(databaseUrl);
  try {
    await migrateToLatest(store);
    const now = Math.floor(Date.now() / 1000);
    // sealed columns are never opened here: any text of a sealed value's shape and length does
    const sealed = (bytes: number) => `v1.t1.${randomBytes(12).toString('base64url')}.${randomBytes(16).toString('base64url')}.${randomBytes(bytes).toString('base64url')}`;
    await store.db.insertInto('merchants').values({ id: MERCHANT_ID, merchant_code: 'imp00000000', name: 'Yardstick', created_at: now }).execute();
    await store.db
      .insertInto('pg_channels')
      .values({
        id: CHANNEL_ID,
        merchant_id: MERCHANT_ID,
        provider: 'jtnet',
        mid,
        kind: 'api',
        name: 'JTNet(tPay키인결제) 테스트',
        sandbox: 1,
        is_default: 1,
        merchant_key_sealed: sealed(80),
        cancel_password_sealed: sealed(6),
        created_at: now,
        base_url: null,
      })
      .execute();
    const keys = customerUids.map((uid) => ({
      id: `bk_${randomBytes(10).toString('hex')}`,
      merchant_id: MERCHANT_ID,
      customer_uid: uid,
      channel_id: CHANNEL_ID,
      pg_provider: 'jtnet',
      pg_id: mid,
      sandbox: 1,
      billing_key_sealed: sealed(32),
      vault_key_id: 't1',
      card_code: '366',
      card_name: '신한카드',
      card_number: '936600******1234',
      card_type: 0,
      customer_id: null,
      customer_name: null,
      customer_tel: null,
      customer_email: null,
      customer_addr: null,
      customer_postcode: null,
      inserted: now,
      updated: now,
    }));
    if (keys.length > 0) await store.db.insertInto('billing_keys').values(keys).execute();
  } finally {
    await store.close();
  }
}

function sqlitePierStore(file: string): YardstickStore {
  const db = new SQLite(file);
  // Pier's pragmas (src/store/db.ts)
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const source = prepareSqlite(db, SOURCE);
  // SQLite's insertAttemptFrom: the source row read, then the attempt inserted through its channel, in one transaction
  const insert = prepareSqlite(
    db,
    `INSERT INTO payments (${PAYMENT_COLUMNS})
     VALUES (${paymentValues({ id: '$9', provider: '$10', mid: '$11', sandbox: '$12' }, "CAST(strftime('%s', 'now') AS INTEGER)")}) ON CONFLICT DO NOTHING RETURNING imp_uid`,
  );
  const approve = prepareSqlite(db, APPROVE);
  const event = prepareSqlite(db, `INSERT INTO webhook_events (${EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, 'paid', NULL, $5, $6, $7)`);
  const targets = prepareSqlite(
    db,
    `SELECT NULL AS listener_id, url, content_type FROM webhook_settings WHERE merchant_id = $1
     UNION ALL SELECT id AS listener_id, forward_to AS url, NULL AS content_type FROM webhook_listeners WHERE merchant_id = $1 AND closed_at = 0 AND last_seen_at >= $2`,
  );
  const delivery = prepareSqlite(db, `INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, 10, 0, NULL, 0, NULL, NULL, $7, $7, 0, $8)`);
  const fail = prepareSqlite(db, FAIL);

  const attempt = db.transaction((a: Attempt): 'inserted' | 'taken' | 'unknown' => {
    const found = source.get(MERCHANT_ID, a.customerUid);
    if (!found) return 'unknown';
    const ins = insert.get(MERCHANT_ID, a.customerUid, a.impUid, a.merchantUid, a.amount, a.name, a.userAgent, a.now, found.ch_id, found.ch_provider, found.ch_mid, found.ch_sandbox);
    return ins ? 'inserted' : 'taken';
  });
  const approval = db.transaction((a: Approval) => {
    const changed = approve.get(a.impUid, ...approvalValues(a.r, a.now), a.now);
    if (!changed) return;
    // recordPaymentEventNow: the event, the merchant's targets, a delivery per target
    const eventId = newMessageId();
    const cause = changed.customer_uid_usage === 'payment.scheduled' ? 'schedule' : changed.channel === 'api' ? 'charge' : 'window';
    event.run(eventId, changed.merchant_id, a.impUid, changed.merchant_uid, cause, a.now, a.requestId);
    const rows = targets.all(changed.merchant_id, liveListenerSince());
    const settings = rows.find((t) => t.listener_id === null);
    const notice = typeof changed.notice_url === 'string' ? [...new Set(changed.notice_url.split(/\s+/).filter(Boolean))] : [];
    const urls = notice.length > 0 ? notice : settings?.url ? [settings.url as string] : [];
    const to = [...urls.map((url) => ({ url, listener: null as unknown })), ...rows.filter((t) => t.listener_id !== null).map((t) => ({ url: t.url, listener: t.listener_id }))];
    for (const t of to) delivery.run(`whd_${randomBytes(10).toString('hex')}`, eventId, changed.merchant_id, t.url, t.listener, settings?.content_type ?? 'json', a.now, a.requestId);
  });
  return {
    recordAttempt: async (a) => attempt.immediate(a),
    recordApproval: async (a) => approval.immediate(a),
    recordFailure: async (impUid, reason, now) => void fail.run(impUid, reason.slice(0, 500), now),
  };
}

async function postgresPierStore(url: string): Promise<YardstickStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  // insertAttemptFrom on PostgreSQL: one statement, which commits by itself
  const attempt = `WITH src AS (${SOURCE}), ins AS (
      INSERT INTO payments (${PAYMENT_COLUMNS})
      SELECT ${paymentValues({ id: 'src.ch_id', provider: 'src.ch_provider', mid: 'src.ch_mid', sandbox: 'src.ch_sandbox' }, 'CAST(floor(extract(epoch from clock_timestamp())) AS BIGINT)')} FROM src
      ON CONFLICT DO NOTHING RETURNING imp_uid
    ) SELECT src.*, EXISTS (SELECT 1 FROM ins) AS inserted FROM src`;
  // approveAttempt on PostgreSQL: the update, its event and its deliveries (paymentEventCtes) in one statement.
  // $12 event id, $13 request_id, $14 live listeners' last_seen_at bound
  const approve = `WITH changed AS (${APPROVE}), ev AS (
      INSERT INTO webhook_events (${EVENT_COLUMNS})
      SELECT $12, merchant_id, imp_uid, merchant_uid, 'paid', NULL,
        CASE WHEN changed.customer_uid_usage = 'payment.scheduled' THEN 'schedule' WHEN changed.channel = 'api' THEN 'charge' ELSE 'window' END, $11, $13 FROM changed
      RETURNING id, merchant_id
    ), dl AS (
      INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS})
      SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), ev.id, ev.merchant_id, t.url, t.listener_id, coalesce(s.content_type, 'json'),
        'pending', 0, 10, 0, NULL, 0, NULL, NULL, $11, $11, 0, $13
      FROM ev
      CROSS JOIN changed
      LEFT JOIN webhook_settings s ON s.merchant_id = ev.merchant_id
      CROSS JOIN LATERAL (
        SELECT DISTINCT u AS url, NULL::varchar AS listener_id FROM regexp_split_to_table(coalesce(changed.notice_url, ''), '\\s+') u WHERE u <> ''
        UNION ALL
        SELECT s.url, NULL FROM (SELECT 1) one WHERE coalesce(s.url, '') <> '' AND coalesce(changed.notice_url, '') !~ '\\S'
        UNION ALL
        SELECT l.forward_to, l.id FROM webhook_listeners l
        WHERE l.merchant_id = ev.merchant_id AND l.closed_at = 0 AND l.last_seen_at >= $14
      ) t
    ) SELECT * FROM changed`;
  return {
    recordAttempt: async (a) => {
      const { rows } = await pool.query({ name: 'ys_pier_attempt', text: attempt, values: [MERCHANT_ID, a.customerUid, a.impUid, a.merchantUid, a.amount, a.name, a.userAgent, a.now] });
      return !rows[0] ? 'unknown' : rows[0].inserted ? 'inserted' : 'taken';
    },
    recordApproval: async (a) =>
      void (await pool.query({ name: 'ys_pier_approve', text: approve, values: [a.impUid, ...approvalValues(a.r, a.now), a.now, newMessageId(), a.requestId, liveListenerSince()] })),
    recordFailure: async (impUid, reason, now) => void (await pool.query({ name: 'ys_pier_fail', text: FAIL, values: [impUid, reason.slice(0, 500), now] })),
  };
}

// ------------------------------------------------------------------ minimal tables (context)

const COLUMNS = `imp_uid TEXT PRIMARY KEY, merchant_uid TEXT NOT NULL UNIQUE, customer_uid TEXT, amount BIGINT NOT NULL,
  status TEXT NOT NULL, pg_tid TEXT, apply_num TEXT, card_name TEXT, card_number TEXT, paid_at BIGINT, failed_at BIGINT,
  fail_reason TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL`;
const INSERT_ATTEMPT = `INSERT INTO yardstick_payments (imp_uid, merchant_uid, customer_uid, amount, status, created_at, updated_at)
  VALUES ($1, $2, $3, $4, 'ready', $5, $5) ON CONFLICT (merchant_uid) DO NOTHING`;
const MARK_PAID = `UPDATE yardstick_payments SET status = 'paid', pg_tid = $2, apply_num = $3, card_name = $4, card_number = $5,
  paid_at = $6, updated_at = $7 WHERE imp_uid = $1 AND status = 'ready'`;
const INSERT_EVENT = `INSERT INTO yardstick_webhook_events (imp_uid, status, payload, created_at)`;
const MARK_FAILED = `UPDATE yardstick_payments SET status = 'failed', fail_reason = $2, failed_at = $3, updated_at = $3 WHERE imp_uid = $1`;
const minimalEvent = (a: Approval) => JSON.stringify({ imp_uid: a.impUid, merchant_uid: a.merchantUid, status: 'paid' });

function sqliteMinimalStore(file: string): YardstickStore {
  const db = new SQLite(file);
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
    const r = a.r;
    if (paid.run(a.impUid, r.pgTid, r.applyNum, r.cardName, r.cardNumberMasked, r.paidAt, a.now).changes === 1) event.run(a.impUid, minimalEvent(a), a.now);
  });
  return {
    recordAttempt: async (a) => (insert.run(a.impUid, a.merchantUid, a.customerUid, a.amount, a.now).changes === 1 ? 'inserted' : 'taken'),
    recordApproval: async (a) => approve(a),
    recordFailure: async (impUid, reason, now) => void failed.run(impUid, reason, now),
  };
}

async function postgresMinimalStore(url: string): Promise<YardstickStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  await pool.query(`CREATE TABLE IF NOT EXISTS yardstick_payments (${COLUMNS})`);
  await pool.query('CREATE TABLE IF NOT EXISTS yardstick_webhook_events (id BIGSERIAL PRIMARY KEY, imp_uid TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL)');
  // one round trip and one commit: the update and the event it causes, or neither
  const approve = `WITH u AS (${MARK_PAID} RETURNING imp_uid) ${INSERT_EVENT} SELECT imp_uid, 'paid', $8, $7 FROM u`;
  return {
    recordAttempt: async (a) =>
      (await pool.query({ name: 'ys_attempt', text: INSERT_ATTEMPT, values: [a.impUid, a.merchantUid, a.customerUid, a.amount, a.now] })).rowCount === 1 ? 'inserted' : 'taken',
    recordApproval: async (a) => {
      const r = a.r;
      await pool.query({ name: 'ys_paid', text: approve, values: [a.impUid, r.pgTid, r.applyNum, r.cardName, r.cardNumberMasked, r.paidAt, a.now, minimalEvent(a)] });
    },
    recordFailure: async (impUid, reason, now) => void (await pool.query({ name: 'ys_failed', text: MARK_FAILED, values: [impUid, reason, now] })),
  };
}

// ------------------------------------------------------------------ the server

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const databaseUrl = env('YS_DATABASE_URL');
const tables = process.env.YS_TABLES ?? 'pier';
if (tables !== 'pier' && tables !== 'minimal') throw new Error(`YS_TABLES: pier or minimal, not ${tables}`);
const onSqlite = databaseUrl.startsWith('sqlite:');
let store: YardstickStore;
if (tables === 'pier') {
  await preparePierSchema(databaseUrl, (process.env.YS_CUSTOMER_UIDS ?? '').split(',').filter(Boolean), env('YS_MID'));
  store = onSqlite ? sqlitePierStore(databaseUrl.slice('sqlite:'.length)) : await postgresPierStore(databaseUrl);
} else {
  pg.types.setTypeParser(20, (v) => Number(v));
  store = onSqlite ? sqliteMinimalStore(databaseUrl.slice('sqlite:'.length)) : await postgresMinimalStore(databaseUrl);
}
const tpay = new TpayClient({ baseUrl: env('YS_TPAY_URL'), connectTimeoutMs: 5_000, readTimeoutMs: 30_000 });
const channel: ChannelCredentials = { mid: env('YS_MID'), merchantKey: new Secret(env('YS_API_KEY')), cancelPassword: new Secret('') };
const cardToken = env('YS_CARD_TOKEN');

function answer(res: ServerResponse, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function again(raw: string, req: IncomingMessage, res: ServerResponse) {
  const input = JSON.parse(raw) as { customer_uid: string; merchant_uid: string; amount: number; name?: string };
  const now = Math.floor(Date.now() / 1000);
  const impUid = newImpUid();
  const recorded = await store.recordAttempt({
    impUid,
    merchantUid: input.merchant_uid,
    customerUid: input.customer_uid,
    amount: input.amount,
    name: input.name ?? null,
    userAgent: req.headers['user-agent']?.slice(0, 256) ?? null,
    now,
  });
  if (recorded === 'unknown') return answer(res, { code: -1, message: '등록되지 않은 구매자입니다.', response: null });
  if (recorded === 'taken') return answer(res, { code: 1, message: '이미 결제가 완료된 merchant_uid입니다.', response: null });
  const charge: ChargeRequest = { moid: impUid, amount: input.amount, goodsName: input.name ?? input.merchant_uid, cardQuota: 0, buyer: {}, mallUserId: input.customer_uid };
  let result: ChargeResult;
  try {
    result = fromPaymentResponse(asTpayResponse<TpayPaymentResponse>(await tpay.post('payments_token', toPaymentsTokenRequest(channel, cardToken, charge))), charge, channel.mid, now);
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
  await store.recordApproval({ impUid, merchantUid: input.merchant_uid, r: result, now, requestId: randomUUID() });
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
    again(Buffer.concat(chunks).toString('utf8'), req, res).catch((err: Error) => {
      if (!res.headersSent) answer(res, { code: -1, message: err.message, response: null });
    });
  });
}

const server = createServer(handle);
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.YS_PORT ?? 0), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
