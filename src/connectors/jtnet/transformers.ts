/**
 * tPay (JTNET) wire types and pure mappings to and from Pier's connector results.
 * No I/O here: client.ts sends what these functions build and hands back what tPay answered.
 *
 * Field names follow tPay's REST API (spec §2.1). Fields marked OUR DESIGN are not confirmed for
 * the real tPay; they are read when present and have fallbacks when absent.
 */
import type { CardInput } from '../../lib/card.js';
import { kstDate8 } from '../../lib/clock.js';
import { KFTC_BANKS, NICE_TO_KFTC } from '../kftc-codes.js';
import { receiptUrlOf } from '../receipt-url.js';
import {
  ConnectorError,
  type BillingKeyInquiry,
  type BillingKeyResult,
  type Buyer,
  type CardDetails,
  type ChannelCredentials,
  type ChargeRequest,
  type ChargeResult,
  type InquiryResult,
  type RefundRequest,
  type RefundResult,
  type WindowPayMethod,
} from '../types.js';

// ---------------------------------------------------------------------------------------------
// Wire types. Every value travels as a string (form fields in, JSON strings out).

export interface TpayAuth {
  mid: string;
  /** tPay merchantKey */
  api_key: string;
}

/** Fields every tPay answer carries; `error_cd`/`error_msg` hold the issuer's reason (OUR DESIGN name). */
export interface TpayResponseBase {
  result_cd: string;
  result_msg?: string;
  error_cd?: string;
  error_msg?: string;
}

export interface TpayGenBillkeyRequest extends TpayAuth {
  card_num: string;
  /** YYMM */
  card_exp: string;
  /** first two password digits */
  card_pwd?: string;
  /** YYMMDD birth date or 10-digit business number */
  buyer_auth_num?: string;
}

export interface TpayGenBillkeyResponse extends TpayResponseBase {
  card_token?: string;
  /** masked */
  card_num?: string;
  /** tPay 2-digit card company code */
  card_code?: string;
  card_name?: string;
  /** OUR DESIGN: "0" credit, "1" check */
  card_type?: string;
}

/** OUR DESIGN (simulator): `billkey_search`, a billing key's facts as tPay holds them */
export interface TpayBillkeySearchRequest extends TpayAuth {
  card_token: string;
}

export interface TpayBillkeySearchResponse extends TpayGenBillkeyResponse {
  /** the window order the key was issued in (`CDBILLRG`), empty for gen_billkey */
  moid?: string;
  mall_user_id?: string;
}

export interface TpayPaymentsTokenRequest extends TpayAuth {
  card_token: string;
  goods_nm: string;
  amt: string;
  moid: string;
  mall_user_id?: string;
  buyer_name?: string;
  buyer_tel?: string;
  buyer_email?: string;
  batch_div: '1';
  /** OUR DESIGN: installment months on billing charges */
  card_quota: string;
}

/** Key-in payment. The answer's shape is UNCONFIRMED; the simulator mirrors `payments_token`. */
export interface TpayPaymentsRequest extends TpayAuth {
  goods_nm: string;
  amt: string;
  moid: string;
  mall_user_id?: string;
  buyer_nm?: string;
  buyer_tel?: string;
  buyer_email?: string;
  buyer_addr?: string;
  buyer_post_no?: string;
  buyer_auth_num?: string;
  card_num: string;
  card_exp: string;
  card_pwd?: string;
  card_cvc?: string;
  card_quota: string;
  card_interest: '0' | '1';
}

export interface TpayPaymentResponse extends TpayResponseBase {
  tid?: string;
  moid?: string;
  paid_amt?: string;
  /** approval number (승인번호) */
  app_no?: string;
  /** OUR DESIGN: approval time, YYYYMMDDHHmmss KST */
  app_dt?: string;
  /** tPay 2-digit card company code */
  app_co?: string;
  app_co_name?: string;
  /** masked */
  card_num?: string;
  /** OUR DESIGN */
  card_quota?: string;
  /** OUR DESIGN: "0" credit, "1" check */
  card_type?: string;
  /** OUR DESIGN: the approval's sales-slip page (absolute URL on the PG's public host) */
  receipt_url?: string;
}
export type TpayPaymentsTokenResponse = TpayPaymentResponse;
export type TpayPaymentsResponse = TpayPaymentResponse;

export interface TpayDelBillkeyRequest extends TpayAuth {
  card_token: string;
}
export type TpayDelBillkeyResponse = TpayResponseBase;

export interface TpayRefundsRequest extends TpayAuth {
  tid: string;
  cancel_pw: string;
  cancel_amt: string;
  cancel_msg: string;
  partial_cancel: '0' | '1';
  moid?: string;
  /** OUR DESIGN: VBANK refunds go to this account (KFTC bank code, digits, holder name) */
  refund_bank_cd?: string;
  refund_acct_no?: string;
  refund_acct_nm?: string;
}

export interface TpayRefundsResponse extends TpayResponseBase {
  /** the cancel's own tid */
  tid?: string;
  /** YYYYMMDD */
  CancelDate?: string;
  /** HHmmss */
  CancelTime?: string;
  PayMethod?: string;
  /** OUR DESIGN */
  cancel_amt?: string;
  /** OUR DESIGN */
  remain_amt?: string;
  /** OUR DESIGN: this cancel's own slip page */
  receipt_url?: string;
}

export interface TpayTransSearchRequest extends TpayAuth {
  tid?: string;
  /** OUR DESIGN: lookup by moid, so an attempt that timed out before Pier learned its tid can be found */
  moid?: string;
  /** YYYYMMDD */
  sch_sdate: string;
  sch_edate: string;
}

/** One row of `list_arr` (shape is OUR DESIGN; tPay's is UNCONFIRMED). */
export interface TpayTransSearchItem {
  tid: string;
  moid: string;
  /** "0" approved, "2" partially cancelled, "1" fully cancelled, "9" failed, "4" virtual account awaiting deposit */
  state_cd: string;
  amt: string;
  cancel_amt?: string;
  app_no?: string;
  app_dt?: string;
  app_co?: string;
  app_co_name?: string;
  card_num?: string;
  card_quota?: string;
  card_type?: string;
  /** OUR DESIGN: the approval's slip page; empty for declines */
  receipt_url?: string;
  /** virtual accounts (OUR DESIGN): KFTC bank code, account number, due date (KST YYYYMMDDHHMMSS) */
  bank_code?: string;
  vbank_num?: string;
  vbank_exp_dt?: string;
  /** VBANK: when the deposit came (YYYYMMDDHHmmss KST); empty while awaiting it */
  deposit_dt?: string;
  /** virtual accounts (OUR DESIGN, UNCONFIRMED for tPay; decision 0043): the account holder's name */
  vbank_holder?: string;
  /** the window's `payMethod` the transaction was made with: CARD, BANK, VBANK, CELLPHONE (OUR DESIGN, UNCONFIRMED for tPay) */
  pay_method?: string;
  /** the window's `transType`: "0" normal, "1" escrow (OUR DESIGN, UNCONFIRMED for tPay; decision 0086) */
  trans_type?: string;
}

/** tPay's `trans_type` → escrow or not; undefined when the row does not say. */
export const escrowOfTpay = (raw: unknown): boolean | undefined => (raw === '1' ? true : raw === '0' ? false : undefined);

/** tPay's `payMethod` → V1's pay_method; null for one Pier does not know (or none given). */
const TPAY_PAY_METHODS: Readonly<Record<string, WindowPayMethod>> = { CARD: 'card', CDBILLRG: 'card', BANK: 'trans', VBANK: 'vbank', CELLPHONE: 'phone' };
export const payMethodOfTpay = (raw: unknown): WindowPayMethod | null =>
  typeof raw === 'string' && Object.prototype.hasOwnProperty.call(TPAY_PAY_METHODS, raw.toUpperCase()) ? TPAY_PAY_METHODS[raw.toUpperCase()]! : null;

export interface TpayTransSearchResponse extends TpayResponseBase {
  list_arr?: TpayTransSearchItem[];
}

// ---------------------------------------------------------------------------------------------
// Result codes

export const TPAY_OK = '0000';
export const TPAY_REFUND_OK = '2001';
/** trans_search: nothing matched (NICE analogue A118) */
export const TPAY_NOT_FOUND = 'A118';
/** del_billkey: key already deleted or unknown (NICE analogue A126) */
export const TPAY_NO_BILLKEY = 'A126';

// ---------------------------------------------------------------------------------------------
// Card companies: tPay 2-digit code → KFTC code (spec §3.1) and PortOne-style name.

/** KFTC bank codes and names (see kftc-codes.ts). (window.ts re-exports it) */
export { KFTC_BANKS, receiptUrlOf };

/** tPay's card codes are NICE's 2-digit list (see card-companies.ts). */
export const TPAY_TO_KFTC = NICE_TO_KFTC;

/** KFTC code and name for a tPay card code; an unknown code keeps tPay's name and no KFTC code. */
export function mapTpayCardCode(tpayCode: string | undefined, tpayName: string | undefined): { cardCode: string | null; cardName: string | null } {
  const hit = tpayCode ? TPAY_TO_KFTC[tpayCode] : undefined;
  if (hit) return { cardCode: hit.code, cardName: hit.name };
  return { cardCode: null, cardName: tpayName || null };
}

function cardType(raw: string | undefined): 0 | 1 | null {
  return raw === '1' ? 1 : raw === '0' ? 0 : null;
}

function cardDetails(r: { card_num?: string; card_type?: string }, code?: string, name?: string): CardDetails {
  // not `{ ...spread, more }`: Node 20 adds each key after a leading spread on a slow path (docs/performance.md)
  return { cardNumberMasked: r.card_num || null, cardType: cardType(r.card_type), ...mapTpayCardCode(code, name) };
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** tPay's `card_exp`: YYMM. */
export function toCardExp(card: Pick<CardInput, 'expiryYear' | 'expiryMonth'>): string {
  return `${String(card.expiryYear % 100).padStart(2, '0')}${String(card.expiryMonth).padStart(2, '0')}`;
}

const KST_OFFSET_MS = 9 * 3600 * 1000;

/** `YYYYMMDDHHmmss` (KST) → UNIX seconds, or null when malformed. */
export function kstTimestampToUnix(ts: string | undefined): number | null {
  if (!ts || !/^\d{14}$/.test(ts)) return null;
  const ms = Date.UTC(Number(ts.slice(0, 4)), Number(ts.slice(4, 6)) - 1, Number(ts.slice(6, 8)), Number(ts.slice(8, 10)), Number(ts.slice(10, 12)), Number(ts.slice(12, 14))) - KST_OFFSET_MS;
  return Math.floor(ms / 1000);
}

/** A tPay TID is MID + yyMMddHHmmss + sequence: the approval time can be read back from it. */
export function timeFromTid(tid: string, mid: string): number | null {
  if (!tid.startsWith(mid)) return null;
  const stamp = tid.slice(mid.length, mid.length + 12);
  return /^\d{12}$/.test(stamp) ? kstTimestampToUnix(`20${stamp}`) : null;
}

function amountOf(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : null;
}

/** The PG's decline code and message: the issuer's when it gave one, else tPay's own. */
/**
 * tPay checks the card data before it asks the issuer to approve (spec jtnet.md §4: a wrong number,
 * expiry or password fails at authentication; limits and lost cards fail at approval). These codes
 * name card data that does not authenticate: 3011 card number, 3021 expiry, and issuer reasons
 * 04/23 expiry, 14/48 number, 19 password, 51/52 birth date.
 */
const AUTHENTICATION_RESULT_CODES: ReadonlySet<string> = new Set(['3011', '3021']);
const AUTHENTICATION_REASONS: ReadonlySet<string> = new Set(['04', '14', '19', '23', '48', '51', '52']);

function declineStage(r: TpayResponseBase): 'authentication' | 'approval' {
  return AUTHENTICATION_RESULT_CODES.has(r.result_cd) || (r.error_cd && AUTHENTICATION_REASONS.has(r.error_cd)) ? 'authentication' : 'approval';
}

function declineOf(r: TpayResponseBase): { code: string; message: string } {
  if (r.error_cd) return { code: r.error_cd, message: r.error_msg || r.result_msg || '' };
  return { code: r.result_cd, message: r.result_msg || '' };
}

function badResponse(message: string): ConnectorError {
  return new ConnectorError('bad_response', message, true, false);
}

// ---------------------------------------------------------------------------------------------
// Request builders

/**
 * A request to tPay: the channel's credentials, then `fields`. Built with the credentials first
 * rather than as `{ ...auth, fields }`: Node 20 adds each key after a leading spread on a slow
 * path, about a microsecond each (docs/performance.md).
 */
function withAuth<F extends object>(channel: ChannelCredentials, fields: F): TpayAuth & F {
  return { mid: channel.mid, api_key: channel.merchantKey.reveal(), ...fields };
}

export function toGenBillkeyRequest(channel: ChannelCredentials, card: CardInput, _holder: Buyer): TpayGenBillkeyRequest {
  return withAuth(channel, {
    card_num: card.number,
    card_exp: toCardExp(card),
    ...(card.pwd2digit ? { card_pwd: card.pwd2digit } : {}),
    ...(card.birth ? { buyer_auth_num: card.birth } : {}),
  });
}

export function toDelBillkeyRequest(channel: ChannelCredentials, billingKey: string): TpayDelBillkeyRequest {
  return withAuth(channel, { card_token: billingKey });
}

function opt<K extends string>(key: K, v: string | null | undefined): Partial<Record<K, string>> {
  return v ? ({ [key]: v } as Record<K, string>) : {};
}

export function toPaymentsTokenRequest(channel: ChannelCredentials, billingKey: string, req: ChargeRequest): TpayPaymentsTokenRequest {
  return withAuth(channel, {
    card_token: billingKey,
    goods_nm: req.goodsName,
    amt: String(req.amount),
    moid: req.moid,
    ...opt('mall_user_id', req.mallUserId),
    ...opt('buyer_name', req.buyer.name),
    ...opt('buyer_tel', req.buyer.tel),
    ...opt('buyer_email', req.buyer.email),
    batch_div: '1',
    card_quota: String(req.cardQuota).padStart(2, '0'),
  });
}

export function toPaymentsRequest(channel: ChannelCredentials, card: CardInput, req: ChargeRequest): TpayPaymentsRequest {
  return withAuth(channel, {
    goods_nm: req.goodsName,
    amt: String(req.amount),
    moid: req.moid,
    ...opt('mall_user_id', req.mallUserId),
    ...opt('buyer_nm', req.buyer.name),
    ...opt('buyer_tel', req.buyer.tel),
    ...opt('buyer_email', req.buyer.email),
    ...opt('buyer_addr', req.buyer.addr),
    ...opt('buyer_post_no', req.buyer.postcode),
    ...opt('buyer_auth_num', card.birth),
    card_num: card.number,
    card_exp: toCardExp(card),
    ...opt('card_pwd', card.pwd2digit),
    ...opt('card_cvc', card.cvc),
    card_quota: String(req.cardQuota).padStart(2, '0'),
    card_interest: '0',
  });
}

export function toRefundsRequest(channel: ChannelCredentials, req: RefundRequest): TpayRefundsRequest {
  return withAuth(channel, {
    tid: req.pgTid,
    cancel_pw: channel.cancelPassword.reveal(),
    cancel_amt: String(req.amount),
    cancel_msg: req.reason,
    partial_cancel: req.partial ? '1' : '0',
    moid: req.moid,
    ...opt('refund_bank_cd', req.refundBank),
    ...opt('refund_acct_no', req.refundAccount),
    ...opt('refund_acct_nm', req.refundHolder),
  });
}

const DAY_MS = 86_400_000;

/** Searches by moid (and tid when known) over the KST days from one day before to one day after `aroundMs`. */
export function toTransSearchRequest(
  channel: ChannelCredentials,
  q: { moid: string; pgTid?: string | null; aroundMs: number },
): TpayTransSearchRequest {
  return withAuth(channel, {
    moid: q.moid,
    sch_sdate: kstDate8(q.aroundMs - DAY_MS),
    sch_edate: kstDate8(q.aroundMs + DAY_MS),
    ...opt('tid', q.pgTid),
  });
}

// ---------------------------------------------------------------------------------------------
// Response mappers

/** Checks that a parsed body looks like a tPay answer. */
export function asTpayResponse<T extends TpayResponseBase>(raw: unknown): T {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badResponse('tPay answered something that is not a JSON object');
  const rc = (raw as Record<string, unknown>).result_cd;
  if (typeof rc !== 'string' || rc === '') throw badResponse('tPay answer has no result_cd');
  return raw as T;
}

/** A key tPay does not know or has deleted answers A126 (`TPAY_NO_BILLKEY`). */
export function fromBillkeySearchResponse(r: TpayBillkeySearchResponse): BillingKeyInquiry {
  if (r.result_cd === TPAY_NO_BILLKEY) return { found: false };
  if (r.result_cd !== TPAY_OK) throw badResponse(`tPay billkey_search refused: ${r.result_cd} ${r.result_msg ?? ''}`.trim());
  if (!r.card_token) throw badResponse('tPay billkey_search answered without a card_token');
  return { found: true, billingKey: r.card_token, moid: r.moid || null, ...cardDetails(r, r.card_code, r.card_name) };
}

export function fromGenBillkeyResponse(r: TpayGenBillkeyResponse): BillingKeyResult {
  if (r.result_cd !== TPAY_OK) return { outcome: 'declined', ...declineOf(r) };
  if (!r.card_token) throw badResponse('tPay gen_billkey succeeded without a card_token');
  return { outcome: 'issued', billingKey: r.card_token, ...cardDetails(r, r.card_code, r.card_name) };
}

/**
 * Maps a `payments` / `payments_token` answer. `now` is the fallback approval time when tPay
 * gives neither `app_dt` nor a TID with a readable timestamp.
 */
export function fromPaymentResponse(
  r: TpayPaymentResponse,
  req: Pick<ChargeRequest, 'amount' | 'cardQuota'>,
  mid: string,
  nowSeconds: number,
): ChargeResult {
  if (r.result_cd !== TPAY_OK) return { outcome: 'declined', ...declineOf(r), pgTid: r.tid || null, stage: declineStage(r) };
  if (!r.tid || !r.app_no) throw badResponse('tPay approval without tid or app_no');
  const paid = amountOf(r.paid_amt);
  if (paid !== null && paid !== req.amount) {
    throw badResponse(`tPay approved ${paid} KRW for a request of ${req.amount} KRW`);
  }
  return {
    outcome: 'approved',
    pgTid: r.tid,
    applyNum: r.app_no,
    cardQuota: amountOf(r.card_quota) ?? req.cardQuota,
    paidAt: kstTimestampToUnix(r.app_dt) ?? timeFromTid(r.tid, mid) ?? nowSeconds,
    receiptUrl: receiptUrlOf(r.receipt_url),
    ...cardDetails(r, r.app_co, r.app_co_name),
  };
}

export function fromRefundsResponse(r: TpayRefundsResponse, req: Pick<RefundRequest, 'amount'>, nowSeconds: number): RefundResult {
  if (r.result_cd !== TPAY_REFUND_OK) return { outcome: 'declined', ...declineOf(r) };
  if (!r.tid) throw badResponse('tPay refund succeeded without a tid');
  const amount = amountOf(r.cancel_amt) ?? req.amount;
  if (amount !== req.amount) throw badResponse(`tPay cancelled ${amount} KRW for a request of ${req.amount} KRW`);
  return {
    outcome: 'refunded',
    pgCancelTid: r.tid,
    amount,
    cancelledAt: kstTimestampToUnix(`${r.CancelDate ?? ''}${r.CancelTime ?? ''}`) ?? nowSeconds,
    receiptUrl: receiptUrlOf(r.receipt_url),
  };
}

/** trans_search `state_cd` of a virtual account issued in the window and not paid into yet (OUR DESIGN) */
export const TPAY_STATE_AWAITING_DEPOSIT = '4';

/**
 * trans_search `state_cd` → what it means for Pier. A code Pier does not know is never read as paid
 * (or as anything else): the answer is treated as unusable and the attempt stays in doubt.
 */
function stateOf(stateCd: string): 'paid' | 'cancelled' | 'failed' | 'awaiting_deposit' {
  switch (stateCd) {
    case '0':
    case '2':
      return 'paid';
    case '1':
      return 'cancelled';
    case '9':
      return 'failed';
    case TPAY_STATE_AWAITING_DEPOSIT:
      return 'awaiting_deposit';
    default:
      throw badResponse(`tPay trans_search: unknown state_cd ${JSON.stringify(String(stateCd).slice(0, 8))}`);
  }
}

/**
 * Maps a `trans_search` answer to what Pier needs after a timeout. When several rows match the
 * moid, an approved one wins over failed attempts.
 */
export function fromTransSearchResponse(r: TpayTransSearchResponse, mid: string, q: { moid: string; pgTid?: string | null }): InquiryResult {
  if (r.result_cd === TPAY_NOT_FOUND) return { found: false };
  if (r.result_cd !== TPAY_OK) {
    throw new ConnectorError('bad_response', `tPay trans_search refused: ${r.result_cd} ${r.result_msg ?? ''}`.trim(), false, false);
  }
  const rows = (Array.isArray(r.list_arr) ? r.list_arr : []).filter(
    (x) => x && x.moid === q.moid && (!q.pgTid || x.tid === q.pgTid),
  );
  if (rows.length === 0) return { found: false };
  const row = rows.find((x) => x.state_cd !== '9') ?? rows[rows.length - 1]!;
  const state = stateOf(row.state_cd);
  let vbank: NonNullable<Extract<InquiryResult, { found: true }>['vbank']> | null = null;
  if (state === 'awaiting_deposit') {
    const dueAt = kstTimestampToUnix(row.vbank_exp_dt);
    if (!row.bank_code || !row.vbank_num || dueAt === null) throw badResponse(`tPay trans_search: virtual account ${row.tid} without bank, number or due date`);
    vbank = { code: row.bank_code, name: KFTC_BANKS[row.bank_code] ?? row.bank_code, num: row.vbank_num, holder: row.vbank_holder?.trim() || null, dueAt };
  } else if (payMethodOfTpay(row.pay_method) === 'vbank' && row.bank_code && row.vbank_num) {
    // paid into (or closed): the account as tPay still reports it, issued at app_dt
    const issuedAt = kstTimestampToUnix(row.app_dt);
    vbank = {
      code: row.bank_code,
      name: KFTC_BANKS[row.bank_code] ?? row.bank_code,
      num: row.vbank_num,
      holder: row.vbank_holder?.trim() || null,
      dueAt: kstTimestampToUnix(row.vbank_exp_dt) ?? 0,
      ...(issuedAt !== null ? { issuedAt } : {}),
    };
  }
  const amount = amountOf(row.amt);
  if (amount === null) throw badResponse('tPay trans_search row without a valid amt');
  return {
    found: true,
    state,
    ...(vbank ? { vbank } : {}),
    pgTid: row.tid,
    amount,
    cancelledAmount: amountOf(row.cancel_amt) ?? (state === 'cancelled' ? amount : 0),
    applyNum: row.app_no || null,
    // a virtual account is paid when the deposit comes, not when it was issued (app_dt)
    paidAt: kstTimestampToUnix(row.deposit_dt) ?? kstTimestampToUnix(row.app_dt) ?? timeFromTid(row.tid, mid) ?? 0,
    cardQuota: amountOf(row.card_quota) ?? 0,
    receiptUrl: state === 'failed' ? null : receiptUrlOf(row.receipt_url),
    ...(payMethodOfTpay(row.pay_method) ? { payMethod: payMethodOfTpay(row.pay_method) } : {}),
    ...(escrowOfTpay(row.trans_type) !== undefined ? { escrow: escrowOfTpay(row.trans_type) } : {}),
    ...cardDetails(row, row.app_co, row.app_co_name),
  };
}
