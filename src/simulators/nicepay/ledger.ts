/**
 * The NICEPAY simulator's own books, in its own SQLite database (never Pier's): key pairs, window
 * authentications, payments with their cancels, billing keys, used order ids, access tokens, webhook
 * URLs and webhook deliveries. Card numbers are kept masked only; card passwords, birth dates and
 * CVCs are never stored. Each payment is one JSON document plus the columns it is found by.
 */
import Database from 'better-sqlite3';
import type { Behaviour } from '../shared/test-cards.js';
import { midOf, newBid, newTid, type WindowMethod } from './protocol.js';

export type NiceStatus = 'paid' | 'ready' | 'failed' | 'cancelled' | 'partialCancelled';

export interface SimCard {
  cardCode: string;
  cardName: string;
  cardNum: string;
  cardQuota: number;
  isInterestFree: boolean;
  cardType: 'credit' | 'check';
  canPartCancel: boolean;
  acquCardCode: string;
  acquCardName: string;
}

export interface SimVbank {
  vbankCode: string;
  vbankName: string;
  vbankNumber: string;
  /** deadline, ms since the epoch; null = issued without one (answered `vbankExpDate: null`, spec §2.3 [E2]) */
  vbankExpAt: number | null;
  vbankHolder: string;
}

export interface SimCancel {
  tid: string;
  /** the merchant's orderId of this cancel request (not the payment's) */
  orderId: string;
  amount: number;
  cancelledAt: number;
  reason: string;
  netCancel: boolean;
  /** the tax-free part of this cancel (`taxFreeAmt`; 0 when none was sent). Absent in books written before it was kept. */
  taxFreeAmt?: number;
}

/** What a payment is, apart from its state: copied from the window authentication or the REST request. */
export interface SimPaymentDetails {
  payMethod: WindowMethod;
  goodsName: string;
  mallReserved: string | null;
  currency: string;
  channel: 'pc' | 'mobile' | null;
  useEscrow: boolean;
  buyerName: string | null;
  buyerTel: string | null;
  buyerEmail: string | null;
  mallUserId: string | null;
  card: SimCard | null;
  bank: { bankCode: string; bankName: string } | null;
  vbank: SimVbank | null;
  /** the billing key charged, for billing payments */
  bid: string | null;
  /** the tax-free part of `amount` the request gave (`taxFreeAmt`, spec §1.2, §3.2, §3.5; 0 when none). Absent in books written before it was kept. */
  taxFreeAmt?: number;
}

export interface SimPayment extends SimPaymentDetails {
  tid: string;
  clientId: string;
  orderId: string;
  kind: 'window' | 'billing' | 'keyin';
  status: NiceStatus;
  resultCode: string;
  resultMsg: string;
  messageSource: 'nicepay' | 'external';
  amount: number;
  balanceAmt: number;
  approveNo: string | null;
  paidAt: number | null;
  failedAt: number | null;
  cancelledAt: number | null;
  cancelledTid: string | null;
  cancels: SimCancel[];
  createdAt: number;
}

/** A buyer authentication made in the window (Server 승인): what approve may turn into a payment. */
export interface SimAuth {
  tid: string;
  clientId: string;
  orderId: string;
  amount: number;
  authToken: string;
  createdAt: number;
  /** `void`: its orderId was net-cancelled before approval */
  state: 'pending' | 'approved' | 'void';
  details: SimPaymentDetails;
  /** what approving does (card last-four rule); amount triggers are applied at approve */
  rule: Behaviour;
}

export interface SimBillingKey {
  bid: string;
  clientId: string;
  orderId: string;
  card: SimCard;
  /** what each charge with this key does (the `10NN` last-four rule) */
  chargeRule: Behaviour;
  createdAt: number;
  expiredAt: number | null;
}

export interface SimDelivery {
  id: number;
  clientId: string;
  url: string;
  tid: string;
  status: string;
  body: string;
  attempts: number;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  gaveUpAt: number | null;
  lastError: string | null;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nice_keys (
  client_id TEXT PRIMARY KEY,
  secret_key TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nice_tokens (
  token TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nice_auths (
  tid TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nice_auths_order ON nice_auths (client_id, order_id);
CREATE TABLE IF NOT EXISTS nice_payments (
  tid TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nice_payments_order ON nice_payments (client_id, order_id);
CREATE TABLE IF NOT EXISTS nice_cancel_tids (
  cancel_tid TEXT PRIMARY KEY,
  tid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nice_order_ids (
  client_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, order_id)
);
CREATE TABLE IF NOT EXISTS nice_billing_keys (
  bid TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nice_webhook_urls (
  client_id TEXT PRIMARY KEY,
  url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nice_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client_id TEXT NOT NULL,
  url TEXT NOT NULL,
  tid TEXT NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  delivered_at INTEGER,
  gave_up_at INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nice_deliveries_due ON nice_deliveries (next_attempt_at);
CREATE TABLE IF NOT EXISTS nice_issued_ids (
  id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS nice_window_sessions (
  token TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  params TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  closed_at INTEGER
);
`;

type Row = Record<string, unknown>;

/** draws before giving up on a free id: only a second with thousands of ids of one shape runs out */
const MAX_ID_DRAWS = 64;

export interface SimWindowSession {
  token: string;
  clientId: string;
  /** the requestPay parameters as posted (never card data) */
  params: Record<string, string>;
  createdAt: number;
  closedAt: number | null;
}

function toDelivery(r: Row): SimDelivery {
  return {
    id: r.id as number,
    clientId: r.client_id as string,
    url: r.url as string,
    tid: r.tid as string,
    status: r.status as string,
    body: r.body as string,
    attempts: r.attempts as number,
    nextAttemptAt: (r.next_attempt_at as number | null) ?? null,
    deliveredAt: (r.delivered_at as number | null) ?? null,
    gaveUpAt: (r.gave_up_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: r.created_at as number,
  };
}

export class NicepayLedger {
  readonly db: Database.Database;

  constructor(dbFile: string) {
    this.db = new Database(dbFile);
    if (dbFile !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.exec(SCHEMA);
    // a ledger written before ids were recorded as issued: its ids stay taken
    this.db.exec(`INSERT OR IGNORE INTO nice_issued_ids (id)
      SELECT tid FROM nice_auths UNION SELECT tid FROM nice_payments UNION SELECT cancel_tid FROM nice_cancel_tids UNION SELECT bid FROM nice_billing_keys`);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** A new tid of `clientId`'s MID, `methodCode` (spec §2.8), at `ms`: one no id had before (issueId). */
  issueTid(clientId: string, methodCode: string, ms: number): string {
    return this.issueId(() => newTid(midOf(clientId), methodCode, ms));
  }

  /** A new billing key of `clientId`'s MID at `ms`, one no id had before (issueId). */
  issueBid(clientId: string, ms: number): string {
    return this.issueId(() => newBid(midOf(clientId), ms));
  }

  /**
   * An id no earlier tid, cancel tid or bid had, from `draw`'s candidates. NICE's ids are unique,
   * but their shape leaves 4 random digits per MID and second (spec §2.8): 38 payments in one
   * second repeat one about once in 14 runs, and a repeated tid overwrote the earlier payment.
   */
  private issueId(draw: () => string): string {
    const take = this.db.prepare('INSERT INTO nice_issued_ids (id) VALUES (?) ON CONFLICT DO NOTHING');
    for (let i = 0; i < MAX_ID_DRAWS; i++) {
      const id = draw();
      if (take.run(id).changes === 1) return id;
    }
    throw new Error(`no unused id after ${MAX_ID_DRAWS} draws`);
  }

  // ---- keys and tokens

  secretOf(clientId: string): string | null {
    const r = this.db.prepare('SELECT secret_key FROM nice_keys WHERE client_id = ?').get(clientId) as Row | undefined;
    return (r?.secret_key as string | undefined) ?? null;
  }

  /** Binds a secret to a clientId unless one is bound already (`replace` overwrites). */
  putKey(clientId: string, secretKey: string, now: number, replace = false): void {
    this.db
      .prepare(
        `INSERT INTO nice_keys (client_id, secret_key, created_at) VALUES (?, ?, ?)
         ON CONFLICT (client_id) DO ${replace ? 'UPDATE SET secret_key = excluded.secret_key' : 'NOTHING'}`,
      )
      .run(clientId, secretKey, now);
  }

  tokenFor(clientId: string, now: number): { token: string; expiresAt: number } | null {
    const r = this.db
      .prepare('SELECT token, expires_at FROM nice_tokens WHERE client_id = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1')
      .get(clientId, now) as Row | undefined;
    return r ? { token: r.token as string, expiresAt: r.expires_at as number } : null;
  }

  putToken(token: string, clientId: string, expiresAt: number): void {
    this.db.prepare('INSERT INTO nice_tokens (token, client_id, expires_at) VALUES (?, ?, ?)').run(token, clientId, expiresAt);
  }

  clientOfToken(token: string, now: number): string | null {
    const r = this.db.prepare('SELECT client_id FROM nice_tokens WHERE token = ? AND expires_at > ?').get(token, now) as Row | undefined;
    return (r?.client_id as string | undefined) ?? null;
  }

  // ---- window sessions and authentications

  putWindowSession(s: SimWindowSession): void {
    this.db
      .prepare('INSERT INTO nice_window_sessions (token, client_id, params, created_at, closed_at) VALUES (?, ?, ?, ?, NULL)')
      .run(s.token, s.clientId, JSON.stringify(s.params), s.createdAt);
  }

  windowSession(token: string): SimWindowSession | null {
    const r = this.db.prepare('SELECT * FROM nice_window_sessions WHERE token = ?').get(token) as Row | undefined;
    if (!r) return null;
    return {
      token: r.token as string,
      clientId: r.client_id as string,
      params: JSON.parse(r.params as string) as Record<string, string>,
      createdAt: r.created_at as number,
      closedAt: (r.closed_at as number | null) ?? null,
    };
  }

  /** Closes a session; false when it was closed already (a window gives one result). */
  closeWindowSession(token: string, now: number): boolean {
    return this.db.prepare('UPDATE nice_window_sessions SET closed_at = ? WHERE token = ? AND closed_at IS NULL').run(now, token).changes === 1;
  }

  putAuth(a: SimAuth): void {
    this.db
      .prepare(
        `INSERT INTO nice_auths (tid, client_id, order_id, doc) VALUES (?, ?, ?, ?)
         ON CONFLICT (tid) DO UPDATE SET doc = excluded.doc`,
      )
      .run(a.tid, a.clientId, a.orderId, JSON.stringify(a));
  }

  auth(tid: string): SimAuth | null {
    const r = this.db.prepare('SELECT doc FROM nice_auths WHERE tid = ?').get(tid) as Row | undefined;
    return r ? (JSON.parse(r.doc as string) as SimAuth) : null;
  }

  pendingAuthsOf(clientId: string, orderId: string): SimAuth[] {
    return (this.db.prepare('SELECT doc FROM nice_auths WHERE client_id = ? AND order_id = ?').all(clientId, orderId) as Row[])
      .map((r) => JSON.parse(r.doc as string) as SimAuth)
      .filter((a) => a.state === 'pending');
  }

  // ---- payments

  putPayment(p: SimPayment): void {
    this.db
      .prepare(
        `INSERT INTO nice_payments (tid, client_id, order_id, status, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tid) DO UPDATE SET status = excluded.status, doc = excluded.doc`,
      )
      .run(p.tid, p.clientId, p.orderId, p.status, p.createdAt, JSON.stringify(p));
    const byCancel = this.db.prepare('INSERT INTO nice_cancel_tids (cancel_tid, tid) VALUES (?, ?) ON CONFLICT DO NOTHING');
    for (const c of p.cancels) byCancel.run(c.tid, p.tid);
  }

  /** The payment a cancel tid belongs to. */
  paymentOfCancel(cancelTid: string): SimPayment | null {
    const r = this.db.prepare('SELECT tid FROM nice_cancel_tids WHERE cancel_tid = ?').get(cancelTid) as Row | undefined;
    return r ? this.payment(r.tid as string) : null;
  }

  payment(tid: string): SimPayment | null {
    const r = this.db.prepare('SELECT doc FROM nice_payments WHERE tid = ?').get(tid) as Row | undefined;
    return r ? (JSON.parse(r.doc as string) as SimPayment) : null;
  }

  /** Every attempt of an orderId, newest first. */
  paymentsByOrder(clientId: string, orderId: string): SimPayment[] {
    return (
      this.db
        .prepare('SELECT doc FROM nice_payments WHERE client_id = ? AND order_id = ? ORDER BY created_at DESC, rowid DESC')
        .all(clientId, orderId) as Row[]
    ).map((r) => JSON.parse(r.doc as string) as SimPayment);
  }

  // ---- order ids (spec §0.6: one space for payments, cancels, billing registrations and expiries)

  /** True when a non-failed payment or an earlier cancel/regist/expire request used this orderId. */
  orderIdTaken(clientId: string, orderId: string): boolean {
    const used = this.db.prepare('SELECT 1 FROM nice_order_ids WHERE client_id = ? AND order_id = ?').get(clientId, orderId);
    if (used) return true;
    return !!this.db
      .prepare("SELECT 1 FROM nice_payments WHERE client_id = ? AND order_id = ? AND status <> 'failed' LIMIT 1")
      .get(clientId, orderId);
  }

  /** Records an orderId used by a cancel, regist or expire request; false when it was taken. */
  takeOrderId(clientId: string, orderId: string, purpose: string, now: number): boolean {
    if (this.orderIdTaken(clientId, orderId)) return false;
    this.db.prepare('INSERT INTO nice_order_ids (client_id, order_id, purpose, created_at) VALUES (?, ?, ?, ?)').run(clientId, orderId, purpose, now);
    return true;
  }

  // ---- billing keys

  putBillingKey(k: SimBillingKey): void {
    this.db
      .prepare(
        `INSERT INTO nice_billing_keys (bid, client_id, doc) VALUES (?, ?, ?)
         ON CONFLICT (bid) DO UPDATE SET doc = excluded.doc`,
      )
      .run(k.bid, k.clientId, JSON.stringify(k));
  }

  billingKey(bid: string): SimBillingKey | null {
    const r = this.db.prepare('SELECT doc FROM nice_billing_keys WHERE bid = ?').get(bid) as Row | undefined;
    return r ? (JSON.parse(r.doc as string) as SimBillingKey) : null;
  }

  // ---- webhooks

  webhookUrl(clientId: string): string | null {
    const r = this.db.prepare('SELECT url FROM nice_webhook_urls WHERE client_id = ?').get(clientId) as Row | undefined;
    return (r?.url as string | undefined) ?? null;
  }

  setWebhookUrl(clientId: string, url: string | null): void {
    if (url === null) this.db.prepare('DELETE FROM nice_webhook_urls WHERE client_id = ?').run(clientId);
    else
      this.db
        .prepare('INSERT INTO nice_webhook_urls (client_id, url) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET url = excluded.url')
        .run(clientId, url);
  }

  addDelivery(d: { clientId: string; url: string; tid: string; status: string; body: string; now: number }): number {
    return Number(
      this.db
        .prepare(
          'INSERT INTO nice_deliveries (client_id, url, tid, status, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(d.clientId, d.url, d.tid, d.status, d.body, d.now, d.now).lastInsertRowid,
    );
  }

  /**
   * Claims a due delivery for one attempt: counts the attempt and moves its next attempt to
   * `retryAt`, so a concurrent sweep does not send it twice. Null when it is not due (any more).
   */
  claimDelivery(id: number, now: number, retryAt: number): SimDelivery | null {
    const changed = this.db
      .prepare(
        `UPDATE nice_deliveries SET attempts = attempts + 1, next_attempt_at = ?
         WHERE id = ? AND delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?`,
      )
      .run(retryAt, id, now).changes;
    if (changed !== 1) return null;
    return toDelivery(this.db.prepare('SELECT * FROM nice_deliveries WHERE id = ?').get(id) as Row);
  }

  dueDeliveryIds(now: number): number[] {
    return (
      this.db
        .prepare('SELECT id FROM nice_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ? ORDER BY id')
        .all(now) as Row[]
    ).map((r) => r.id as number);
  }

  finishDelivery(id: number, outcome: { deliveredAt?: number; gaveUpAt?: number; error?: string }): void {
    this.db
      .prepare(
        `UPDATE nice_deliveries SET delivered_at = COALESCE(?, delivered_at), gave_up_at = COALESCE(?, gave_up_at),
         next_attempt_at = CASE WHEN ? IS NOT NULL OR ? IS NOT NULL THEN NULL ELSE next_attempt_at END,
         last_error = ? WHERE id = ?`,
      )
      .run(outcome.deliveredAt ?? null, outcome.gaveUpAt ?? null, outcome.deliveredAt ?? null, outcome.gaveUpAt ?? null, outcome.error ?? null, id);
  }

  // ---- the /__ledger view

  dump(filter: { clientId?: string; orderId?: string }): {
    payments: SimPayment[];
    authentications: SimAuth[];
    billingKeys: SimBillingKey[];
    webhooks: SimDelivery[];
  } {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.clientId) {
      where.push('client_id = ?');
      args.push(filter.clientId);
    }
    const byOrder = filter.orderId ? [...where, 'order_id = ?'] : where;
    const orderArgs = filter.orderId ? [...args, filter.orderId] : args;
    const w = (parts: string[]) => (parts.length ? `WHERE ${parts.join(' AND ')}` : '');
    const docs = (sql: string, a: string[]) => (this.db.prepare(sql).all(...a) as Row[]).map((r) => JSON.parse(r.doc as string));
    const payments = docs(`SELECT doc FROM nice_payments ${w(byOrder)} ORDER BY created_at, rowid`, orderArgs) as SimPayment[];
    const authentications = docs(`SELECT doc FROM nice_auths ${w(byOrder)} ORDER BY rowid`, orderArgs) as SimAuth[];
    const billingKeys = (docs(`SELECT doc FROM nice_billing_keys ${w(where)} ORDER BY rowid`, args) as SimBillingKey[]).filter(
      (k) => !filter.orderId || k.orderId === filter.orderId,
    );
    const tids = new Set(payments.map((p) => p.tid));
    const webhooks = (this.db.prepare(`SELECT * FROM nice_deliveries ${w(where)} ORDER BY id`).all(...args) as Row[])
      .map(toDelivery)
      .filter((d) => !filter.orderId || tids.has(d.tid));
    return { payments, authentications, billingKeys, webhooks };
  }
}
