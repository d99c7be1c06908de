/**
 * The tPay simulator's own books, in its own SQLite database (never Pier's): merchants,
 * billing keys, approvals (and declined attempts) and cancels. Card numbers are stored masked only;
 * passwords, birth dates and CVCs are never stored.
 */
import Database from 'better-sqlite3';
import type { Clock } from '../../lib/clock.js';
import { kstTimestamp14 } from '../../lib/clock.js';
import type { Behaviour } from '../shared/test-cards.js';

export interface SimMerchant {
  mid: string;
  /** tPay merchantKey, doubles as the REST `api_key` */
  merchantKey: string;
  /** accepted `cancel_pw` values */
  cancelPasswords: string[];
  name: string;
  /**
   * where this MID's virtual-account deposit notices go: the URL a merchant registers in tPay's
   * merchant admin (OUR DESIGN: tPay takes no notice URL with the payment, spec §2.1); null = none
   */
  noticeUrl?: string | null;
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
  /** the window order (moid) the key was issued in (`CDBILLRG`); null for gen_billkey */
  moid?: string | null;
  /** the window's `mallUserId`, if any */
  mallUserId?: string | null;
}

/** `ready`: a virtual account issued in the window, awaiting the deposit. */
export type SimTxStatus = 'paid' | 'cancelled' | 'failed' | 'ready';

/** tPay's window pay methods; REST charges are `CARD`. */
export type SimPayMethod = 'CARD' | 'BANK' | 'VBANK' | 'CELLPHONE';

export interface SimTransaction {
  tid: string;
  mid: string;
  moid: string;
  /** `payments` (key-in), `payments_token` (billing key) or the payment window (`webTxInit`) */
  method: 'keyin' | 'billkey' | 'window';
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
  /** the window fields below default to CARD / null for REST charges */
  payMethod: SimPayMethod;
  /** KFTC bank code of a transfer or a virtual account */
  bankCode: string | null;
  vbankNum: string | null;
  vbankHolder: string | null;
  /** deposit deadline, ms since the epoch */
  vbankDueAt: number | null;
  depositedAt: number | null;
  depositorName: string | null;
  /** the window's `transType`: 0 normal, 1 escrow (REST charges: 0) */
  transType: 0 | 1;
  /** when the merchant acknowledged the window result (`resultConfirm`) */
  confirmedAt: number | null;
  carrier: string | null;
  /** masked phone number of a CELLPHONE payment */
  phoneMasked: string | null;
}

/** The window-only fields of a transaction, null for REST charges. */
export const NO_WINDOW_FIELDS = {
  payMethod: 'CARD',
  bankCode: null,
  vbankNum: null,
  vbankHolder: null,
  vbankDueAt: null,
  depositedAt: null,
  depositorName: null,
  transType: 0,
  confirmedAt: null,
  carrier: null,
  phoneMasked: null,
} as const satisfies Partial<SimTransaction>;

/** An open payment window: what the merchant's webTxInit form asked for. */
export interface SimWindowSession {
  token: string;
  mid: string;
  /** the webTxInit fields as posted (no card data ever) */
  request: Record<string, string>;
  mobile: boolean;
  createdAt: number;
  /** set when a final result was produced; a session gives one result only */
  closedAt: number | null;
}

export interface SimCancel {
  cancelTid: string;
  tid: string;
  mid: string;
  amount: number;
  reason: string;
  partial: boolean;
  createdAt: number;
  /** VBANK refunds: the buyer's refund account (number masked) */
  refundBankCd?: string | null;
  refundAcctMasked?: string | null;
  refundAcctName?: string | null;
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
CREATE TABLE IF NOT EXISTS window_sessions (
  token TEXT PRIMARY KEY,
  mid TEXT NOT NULL,
  request TEXT NOT NULL,
  mobile INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  closed_at INTEGER
);
CREATE TABLE IF NOT EXISTS tid_seq (n INTEGER PRIMARY KEY AUTOINCREMENT, mid TEXT NOT NULL);
`;

/** Columns added after the first release; added to an older ledger file on open. */
const ADDED_COLUMNS: ReadonlyArray<[table: string, column: string, ddl: string]> = [
  ['merchants', 'notice_url', 'TEXT'],
  ['transactions', 'pay_method', "TEXT NOT NULL DEFAULT 'CARD'"],
  ['transactions', 'bank_code', 'TEXT'],
  ['transactions', 'vbank_num', 'TEXT'],
  ['transactions', 'vbank_holder', 'TEXT'],
  ['transactions', 'vbank_due_at', 'INTEGER'],
  ['transactions', 'deposited_at', 'INTEGER'],
  ['transactions', 'depositor_name', 'TEXT'],
  ['transactions', 'trans_type', 'INTEGER NOT NULL DEFAULT 0'],
  ['transactions', 'confirmed_at', 'INTEGER'],
  ['transactions', 'carrier', 'TEXT'],
  ['transactions', 'phone_masked', 'TEXT'],
  ['billing_keys', 'moid', 'TEXT'],
  ['billing_keys', 'mall_user_id', 'TEXT'],
  ['cancels', 'refund_bank_cd', 'TEXT'],
  ['cancels', 'refund_acct_masked', 'TEXT'],
  ['cancels', 'refund_acct_name', 'TEXT'],
];

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
    moid: (r.moid as string | null) ?? null,
    mallUserId: (r.mall_user_id as string | null) ?? null,
  };
}

function toTransaction(r: Row): SimTransaction {
  return {
    tid: r.tid as string,
    mid: r.mid as string,
    moid: r.moid as string,
    method: r.method as SimTransaction['method'],
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
    payMethod: ((r.pay_method as string | null) ?? 'CARD') as SimPayMethod,
    bankCode: (r.bank_code as string | null) ?? null,
    vbankNum: (r.vbank_num as string | null) ?? null,
    vbankHolder: (r.vbank_holder as string | null) ?? null,
    vbankDueAt: (r.vbank_due_at as number | null) ?? null,
    depositedAt: (r.deposited_at as number | null) ?? null,
    depositorName: (r.depositor_name as string | null) ?? null,
    transType: (r.trans_type as number | null) === 1 ? 1 : 0,
    confirmedAt: (r.confirmed_at as number | null) ?? null,
    carrier: (r.carrier as string | null) ?? null,
    phoneMasked: (r.phone_masked as string | null) ?? null,
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
    refundBankCd: (r.refund_bank_cd as string | null) ?? null,
    refundAcctMasked: (r.refund_acct_masked as string | null) ?? null,
    refundAcctName: (r.refund_acct_name as string | null) ?? null,
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
    for (const [table, column, ddl] of ADDED_COLUMNS) {
      const cols = (this.db.prepare(`PRAGMA table_info(${table})`).all() as Row[]).map((c) => c.name);
      if (!cols.includes(column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${ddl}`);
    }
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
      noticeUrl: (r.notice_url as string | null) ?? null,
    };
  }

  /** Registers (or, with null, removes) the URL a MID's deposit notices go to. False for an unknown MID. */
  setNoticeUrl(mid: string, url: string | null): boolean {
    return this.db.prepare('UPDATE merchants SET notice_url = ? WHERE mid = ?').run(url, mid).changes === 1;
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
        `INSERT INTO billing_keys (card_token, mid, card_num_masked, tpay_card_code, card_type, card_exp, charge_rule, created_at, deleted_at, moid, mall_user_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        k.moid ?? null,
        k.mallUserId ?? null,
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
           error_cd, error_msg, app_no, card_num_masked, tpay_card_code, card_type, card_quota, goods_name, created_at,
           pay_method, bank_code, vbank_num, vbank_holder, vbank_due_at, deposited_at, depositor_name,
           confirmed_at, carrier, phone_masked, trans_type)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        t.payMethod,
        t.bankCode,
        t.vbankNum,
        t.vbankHolder,
        t.vbankDueAt,
        t.depositedAt,
        t.depositorName,
        t.confirmedAt,
        t.carrier,
        t.phoneMasked,
        t.transType,
      );
  }

  /** Marks a window result acknowledged (`resultConfirm`). False when the tid is unknown. */
  confirm(tid: string): SimTransaction | undefined {
    this.db.prepare('UPDATE transactions SET confirmed_at = COALESCE(confirmed_at, ?) WHERE tid = ?').run(this.clock.now(), tid);
    const r = this.db.prepare('SELECT * FROM transactions WHERE tid = ?').get(tid) as Row | undefined;
    return r ? toTransaction(r) : undefined;
  }

  /** Records a deposit into an issued virtual account: `ready` becomes `paid`. */
  recordDeposit(tid: string, depositorName: string | null): SimTransaction {
    this.db
      .prepare(`UPDATE transactions SET status = 'paid', deposited_at = ?, depositor_name = ? WHERE tid = ? AND status = 'ready'`)
      .run(this.clock.now(), depositorName, tid);
    return toTransaction(this.db.prepare('SELECT * FROM transactions WHERE tid = ?').get(tid) as Row);
  }

  /**
   * A fault on request (`/__control/vbank/deposit` with `closedAccount`): a deposit into a virtual
   * account closed unpaid, which the PG took after all: `cancelled` becomes `paid`, its close gone.
   */
  recordDepositIntoClosed(tid: string, depositorName: string | null): SimTransaction {
    this.db.transaction(() => {
      const changed = this.db
        .prepare(`UPDATE transactions SET status = 'paid', cancelled_amount = 0, deposited_at = ?, depositor_name = ? WHERE tid = ? AND status = 'cancelled' AND deposited_at IS NULL`)
        .run(this.clock.now(), depositorName, tid);
      if (changed.changes === 1) this.db.prepare('DELETE FROM cancels WHERE tid = ?').run(tid);
    })();
    return toTransaction(this.db.prepare('SELECT * FROM transactions WHERE tid = ?').get(tid) as Row);
  }

  /** Issued virtual accounts (any merchant) by tid or moid, newest first. */
  findVbank(q: { tid?: string; moid?: string; mid?: string }): SimTransaction[] {
    const where = [`pay_method = 'VBANK'`, `status <> 'failed'`];
    const args: unknown[] = [];
    for (const [col, v] of [['tid', q.tid], ['moid', q.moid], ['mid', q.mid]] as const) {
      if (v) {
        where.push(`${col} = ?`);
        args.push(v);
      }
    }
    return (this.db.prepare(`SELECT * FROM transactions WHERE ${where.join(' AND ')} ORDER BY created_at DESC, rowid DESC`).all(...args) as Row[]).map(
      toTransaction,
    );
  }

  /** Window approvals not acknowledged by `resultConfirm` and created at or before `cutoff`. */
  unconfirmedWindowApprovals(cutoff: number): SimTransaction[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM transactions WHERE method = 'window' AND status = 'paid' AND confirmed_at IS NULL
             AND cancelled_amount = 0 AND created_at <= ? ORDER BY created_at, rowid`,
        )
        .all(cutoff) as Row[]
    ).map(toTransaction);
  }

  insertWindowSession(w: SimWindowSession): void {
    this.db
      .prepare('INSERT INTO window_sessions (token, mid, request, mobile, created_at, closed_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(w.token, w.mid, JSON.stringify(w.request), w.mobile ? 1 : 0, w.createdAt, w.closedAt);
  }

  getWindowSession(token: string): SimWindowSession | undefined {
    const r = this.db.prepare('SELECT * FROM window_sessions WHERE token = ?').get(token) as Row | undefined;
    if (!r) return undefined;
    return {
      token: r.token as string,
      mid: r.mid as string,
      request: JSON.parse(r.request as string) as Record<string, string>,
      mobile: (r.mobile as number) === 1,
      createdAt: r.created_at as number,
      closedAt: (r.closed_at as number | null) ?? null,
    };
  }

  /** Closes a window session; false when it was already closed (a double submit). */
  closeWindowSession(token: string): boolean {
    return this.db.prepare('UPDATE window_sessions SET closed_at = ? WHERE token = ? AND closed_at IS NULL').run(this.clock.now(), token).changes === 1;
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

  /**
   * What a receipt page is about: an approval (paid or later cancelled) by its tid, or one cancel by
   * its cancel tid. Declines and virtual accounts not yet paid into have no slip.
   */
  receiptSubject(tid: string): { tx: SimTransaction; cancel: SimCancel | null } | undefined {
    const c = this.db.prepare('SELECT * FROM cancels WHERE cancel_tid = ?').get(tid) as Row | undefined;
    const txTid = c ? (c.tid as string) : tid;
    const r = this.db.prepare(`SELECT * FROM transactions WHERE tid = ? AND status IN ('paid', 'cancelled')`).get(txTid) as Row | undefined;
    if (!r) return undefined;
    return { tx: toTransaction(r), cancel: c ? toCancel(c) : null };
  }

  cancelsOf(tid: string): SimCancel[] {
    return (this.db.prepare('SELECT * FROM cancels WHERE tid = ? ORDER BY created_at, rowid').all(tid) as Row[]).map(toCancel);
  }

  /** Records a cancel and moves the balance, atomically. The caller has checked the amount. */
  recordCancel(c: SimCancel): SimTransaction {
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO cancels (cancel_tid, tid, mid, amount, reason, partial, created_at, refund_bank_cd, refund_acct_masked, refund_acct_name)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          c.cancelTid,
          c.tid,
          c.mid,
          c.amount,
          c.reason,
          c.partial ? 1 : 0,
          c.createdAt,
          c.refundBankCd ?? null,
          c.refundAcctMasked ?? null,
          c.refundAcctName ?? null,
        );
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
