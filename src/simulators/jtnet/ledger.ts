/**
 * The tPay simulator's own books, in its own SQLite database (never Pier's): merchants,
 * billing keys, approvals (and declined attempts) and cancels. Card numbers are stored masked only;
 * passwords, birth dates and CVCs are never stored.
 */
import Database from 'better-sqlite3';
import type { Clock } from '../../lib/clock.js';
import { kstTimestamp14 } from '../../lib/clock.js';
import type { Behaviour } from './test-cards.js';

export interface SimMerchant {
  mid: string;
  /** tPay merchantKey, doubles as the REST `api_key` */
  merchantKey: string;
  /** accepted `cancel_pw` values */
  cancelPasswords: string[];
  name: string;
}

export interface SimBillingKey {
  cardToken: string;
  mid: string;
  cardNumMasked: string;
  tpayCardCode: string;
  cardType: 0 | 1;
  /** YYMM */
  cardExp: string;
  /** what every later charge with this key does (the `10NN` rule) */
  chargeRule: Behaviour;
  createdAt: number;
  deletedAt: number | null;
}

export type SimTxStatus = 'paid' | 'cancelled' | 'failed';

export interface SimTransaction {
  tid: string;
  mid: string;
  moid: string;
  /** `payments` (key-in) or `payments_token` (billing key) */
  method: 'keyin' | 'billkey';
  cardToken: string | null;
  amount: number;
  cancelledAmount: number;
  status: SimTxStatus;
  resultCd: string;
  resultMsg: string;
  errorCd: string | null;
  errorMsg: string | null;
  appNo: string | null;
  cardNumMasked: string;
  tpayCardCode: string;
  cardType: 0 | 1;
  cardQuota: number;
  goodsName: string;
  createdAt: number;
}

export interface SimCancel {
  cancelTid: string;
  tid: string;
  mid: string;
  amount: number;
  reason: string;
  partial: boolean;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS merchants (
  mid TEXT PRIMARY KEY,
  merchant_key TEXT NOT NULL,
  cancel_passwords TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_keys (
  card_token TEXT PRIMARY KEY,
  mid TEXT NOT NULL,
  card_num_masked TEXT NOT NULL,
  tpay_card_code TEXT NOT NULL,
  card_type INTEGER NOT NULL,
  card_exp TEXT NOT NULL,
  charge_rule TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE TABLE IF NOT EXISTS transactions (
  tid TEXT PRIMARY KEY,
  mid TEXT NOT NULL,
  moid TEXT NOT NULL,
  method TEXT NOT NULL,
  card_token TEXT,
  amount INTEGER NOT NULL,
  cancelled_amount INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  result_cd TEXT NOT NULL,
  result_msg TEXT NOT NULL,
  error_cd TEXT,
  error_msg TEXT,
  app_no TEXT,
  card_num_masked TEXT NOT NULL,
  tpay_card_code TEXT NOT NULL,
  card_type INTEGER NOT NULL,
  card_quota INTEGER NOT NULL,
  goods_name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_mid_moid ON transactions (mid, moid);
CREATE TABLE IF NOT EXISTS cancels (
  cancel_tid TEXT PRIMARY KEY,
  tid TEXT NOT NULL REFERENCES transactions (tid),
  mid TEXT NOT NULL,
  amount INTEGER NOT NULL,
  reason TEXT NOT NULL,
  partial INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cancels_tid ON cancels (tid);
CREATE TABLE IF NOT EXISTS tid_seq (n INTEGER PRIMARY KEY AUTOINCREMENT, mid TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

function toBillingKey(r: Row): SimBillingKey {
  return {
    cardToken: r.card_token as string,
    mid: r.mid as string,
    cardNumMasked: r.card_num_masked as string,
    tpayCardCode: r.tpay_card_code as string,
    cardType: (r.card_type as number) === 1 ? 1 : 0,
    cardExp: r.card_exp as string,
    chargeRule: JSON.parse(r.charge_rule as string) as Behaviour,
    createdAt: r.created_at as number,
    deletedAt: (r.deleted_at as number | null) ?? null,
  };
}

function toTransaction(r: Row): SimTransaction {
  return {
    tid: r.tid as string,
    mid: r.mid as string,
    moid: r.moid as string,
    method: r.method as 'keyin' | 'billkey',
    cardToken: (r.card_token as string | null) ?? null,
    amount: r.amount as number,
    cancelledAmount: r.cancelled_amount as number,
    status: r.status as SimTxStatus,
    resultCd: r.result_cd as string,
    resultMsg: r.result_msg as string,
    errorCd: (r.error_cd as string | null) ?? null,
    errorMsg: (r.error_msg as string | null) ?? null,
    appNo: (r.app_no as string | null) ?? null,
    cardNumMasked: r.card_num_masked as string,
    tpayCardCode: r.tpay_card_code as string,
    cardType: (r.card_type as number) === 1 ? 1 : 0,
    cardQuota: r.card_quota as number,
    goodsName: r.goods_name as string,
    createdAt: r.created_at as number,
  };
}

function toCancel(r: Row): SimCancel {
  return {
    cancelTid: r.cancel_tid as string,
    tid: r.tid as string,
    mid: r.mid as string,
    amount: r.amount as number,
    reason: r.reason as string,
    partial: (r.partial as number) === 1,
    createdAt: r.created_at as number,
  };
}

export class TpayLedger {
  readonly db: Database.Database;

  constructor(
    dbFile: string,
    private readonly clock: Clock,
  ) {
    this.db = new Database(dbFile);
    if (dbFile !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Adds a merchant, or replaces its keys when `replace` is set (seeds use insert-if-absent). */
  putMerchant(m: SimMerchant, replace: boolean): void {
    const sql = replace
      ? `INSERT INTO merchants (mid, merchant_key, cancel_passwords, name, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (mid) DO UPDATE SET merchant_key = excluded.merchant_key,
           cancel_passwords = excluded.cancel_passwords, name = excluded.name`
      : `INSERT INTO merchants (mid, merchant_key, cancel_passwords, name, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (mid) DO NOTHING`;
    this.db.prepare(sql).run(m.mid, m.merchantKey, JSON.stringify(m.cancelPasswords), m.name, this.clock.now());
  }

  getMerchant(mid: string): SimMerchant | undefined {
    const r = this.db.prepare('SELECT * FROM merchants WHERE mid = ?').get(mid) as Row | undefined;
    if (!r) return undefined;
    return {
      mid: r.mid as string,
      merchantKey: r.merchant_key as string,
      cancelPasswords: JSON.parse(r.cancel_passwords as string) as string[],
      name: r.name as string,
    };
  }

  listMerchantIds(): string[] {
    return (this.db.prepare('SELECT mid FROM merchants ORDER BY mid').all() as Row[]).map((r) => r.mid as string);
  }

  /** A tPay-shaped TID: MID + yyMMddHHmmss (KST) + 4-digit sequence. */
  nextTid(mid: string): string {
    const n = Number(this.db.prepare('INSERT INTO tid_seq (mid) VALUES (?)').run(mid).lastInsertRowid);
    return `${mid}${kstTimestamp14(this.clock.now()).slice(2)}${String(n % 10000).padStart(4, '0')}`;
  }

  insertBillingKey(k: SimBillingKey): void {
    this.db
      .prepare(
        `INSERT INTO billing_keys (card_token, mid, card_num_masked, tpay_card_code, card_type, card_exp, charge_rule, created_at, deleted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        k.cardToken,
        k.mid,
        k.cardNumMasked,
        k.tpayCardCode,
        k.cardType,
        k.cardExp,
        JSON.stringify(k.chargeRule),
        k.createdAt,
        k.deletedAt,
      );
  }

  getBillingKey(mid: string, cardToken: string): SimBillingKey | undefined {
    const r = this.db.prepare('SELECT * FROM billing_keys WHERE mid = ? AND card_token = ?').get(mid, cardToken) as
      | Row
      | undefined;
    return r ? toBillingKey(r) : undefined;
  }

  deleteBillingKey(mid: string, cardToken: string): boolean {
    const res = this.db
      .prepare('UPDATE billing_keys SET deleted_at = ? WHERE mid = ? AND card_token = ? AND deleted_at IS NULL')
      .run(this.clock.now(), mid, cardToken);
    return res.changes === 1;
  }

  insertTransaction(t: SimTransaction): void {
    this.db
      .prepare(
        `INSERT INTO transactions (tid, mid, moid, method, card_token, amount, cancelled_amount, status, result_cd, result_msg,
           error_cd, error_msg, app_no, card_num_masked, tpay_card_code, card_type, card_quota, goods_name, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        t.tid,
        t.mid,
        t.moid,
        t.method,
        t.cardToken,
        t.amount,
        t.cancelledAmount,
        t.status,
        t.resultCd,
        t.resultMsg,
        t.errorCd,
        t.errorMsg,
        t.appNo,
        t.cardNumMasked,
        t.tpayCardCode,
        t.cardType,
        t.cardQuota,
        t.goodsName,
        t.createdAt,
      );
  }

  getTransaction(mid: string, tid: string): SimTransaction | undefined {
    const r = this.db.prepare('SELECT * FROM transactions WHERE mid = ? AND tid = ?').get(mid, tid) as Row | undefined;
    return r ? toTransaction(r) : undefined;
  }

  /** An approved (paid or cancelled) transaction of this merchant with this moid, if any. */
  approvedByMoid(mid: string, moid: string): SimTransaction | undefined {
    const r = this.db
      .prepare(`SELECT * FROM transactions WHERE mid = ? AND moid = ? AND status <> 'failed' LIMIT 1`)
      .get(mid, moid) as Row | undefined;
    return r ? toTransaction(r) : undefined;
  }

  /** Transactions of a merchant by tid and/or moid, oldest first. */
  search(mid: string, q: { tid?: string; moid?: string }): SimTransaction[] {
    const where = ['mid = ?'];
    const args: unknown[] = [mid];
    if (q.tid) {
      where.push('tid = ?');
      args.push(q.tid);
    }
    if (q.moid) {
      where.push('moid = ?');
      args.push(q.moid);
    }
    const rows = this.db
      .prepare(`SELECT * FROM transactions WHERE ${where.join(' AND ')} ORDER BY created_at, rowid`)
      .all(...args) as Row[];
    return rows.map(toTransaction);
  }

  cancelsOf(tid: string): SimCancel[] {
    return (this.db.prepare('SELECT * FROM cancels WHERE tid = ? ORDER BY created_at, rowid').all(tid) as Row[]).map(toCancel);
  }

  /** Records a cancel and moves the balance, atomically. The caller has checked the amount. */
  recordCancel(c: SimCancel): SimTransaction {
    return this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO cancels (cancel_tid, tid, mid, amount, reason, partial, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(c.cancelTid, c.tid, c.mid, c.amount, c.reason, c.partial ? 1 : 0, c.createdAt);
      this.db
        .prepare(
          `UPDATE transactions SET cancelled_amount = cancelled_amount + ?,
             status = CASE WHEN cancelled_amount + ? >= amount THEN 'cancelled' ELSE status END
           WHERE tid = ?`,
        )
        .run(c.amount, c.amount, c.tid);
      return this.getTransaction(c.mid, c.tid)!;
    })();
  }

  /** Everything the simulator knows, for `GET /__ledger`. Masked card numbers only; no keys or passwords. */
  snapshot(mid?: string) {
    const filter = mid ? ' WHERE mid = ?' : '';
    const args = mid ? [mid] : [];
    const txs = (this.db.prepare(`SELECT * FROM transactions${filter} ORDER BY created_at, rowid`).all(...args) as Row[]).map(
      toTransaction,
    );
    const cancels = (this.db.prepare(`SELECT * FROM cancels${filter} ORDER BY created_at, rowid`).all(...args) as Row[]).map(
      toCancel,
    );
    const keys = (this.db.prepare(`SELECT * FROM billing_keys${filter} ORDER BY created_at, rowid`).all(...args) as Row[]).map(
      toBillingKey,
    );
    const withCancels = (t: SimTransaction) => ({ ...t, cancels: cancels.filter((c) => c.tid === t.tid) });
    return {
      merchants: mid ? this.listMerchantIds().filter((m) => m === mid) : this.listMerchantIds(),
      approvals: txs.filter((t) => t.status !== 'failed').map(withCancels),
      declines: txs.filter((t) => t.status === 'failed'),
      billingKeys: keys,
    };
  }
}
