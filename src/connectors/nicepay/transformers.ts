/**
 * NICEPAY Start API wire types and pure mappings to and from Pier's connector results (spec
 * nicepay.md §2–§5). No I/O: client.ts sends what these functions build and hands back NICE's answer.
 *
 * Trust rule: a payment object's content is read only after its `signature`
 * (sha256(tid + amount + ediDate + secretKey), §10) verifies. A `0000` payment answer without a
 * valid signature is a ConnectorError('bad_response'), in doubt when money may have moved, and is
 * never mapped to a paid or refunded result. Declines (resultCode ≠ 0000) carry no signature at
 * NICE and are read as they come: a decline moves no money.
 */
import { maskCardNumber, type CardInput } from '../../lib/card.js';
import { kstParts } from '../../lib/clock.js';
import { KFTC_BANKS, mapNiceCardCode } from '../kftc-codes.js';
import { receiptUrlOf } from '../receipt-url.js';
import {
  ConnectorError,
  type BillingKeyResult,
  type Buyer,
  type CardDetails,
  type ChargeRequest,
  type ChargeResult,
  type InquiryResult,
  type RefundRequest,
  type RefundResult,
  type WindowPayMethod,
} from '../types.js';
import { billingSignData, encDataPlaintext, encryptEncDataA2, orderSignData, paymentSignature, signaturesEqual, tidSignData } from './crypto.js';
import type { NiceAnswer } from './client.js';

// ---------------------------------------------------------------------------------------------
// Codes

export const NICE_OK = '0000';
/** legacy cancel / refund successes NICE's table still lists; the Start API answers 0000 (spec §4.3) */
const LEGACY_CANCEL_OK = new Set(['2001', '2211']);
/** "no such transaction / order" answers of the lookups (spec §5.1, §5.2) */
export const NICE_NOT_FOUND = new Set(['U107', 'U111', 'U126', 'A118', 'A251']);
/**
 * Net-cancel refusals that mean NICE holds nothing this order could still become (spec §5.3): its
 * "no such order" codes; `2020`, the net-cancel window passed (the approval request is over an hour
 * old, and reconciliation only gets here after the lookup found nothing); `U504`, already
 * net-cancelled. Only these let Pier give an attempt up and free its merchant_uid; any other
 * refusal (`9999` temporary error, `P035` net-cancel request error, `U503`, `U508` socket error,
 * `A299` API delay, a code Pier does not know) says nothing about the payment (decision 0041).
 */
const NICE_NETCANCEL_NOTHING = new Set([...NICE_NOT_FOUND, '2020', 'U504']);
/**
 * Charge and cancel answers (billing pay, key-in, cancel) whose code does not say the money did not
 * move: NICE may have approved (or refunded) before the failure, or holds this orderId's request
 * already. Spec §3.2 [E2]: "On U112, U503 or U506 look the charge up by orderId before resending";
 * the rest by §8's meanings: `U507` DB update error (U506's twin), `U508` socket error, `U501` and
 * `A226` communication errors (with the card company: the issuer may have approved), `A299` API
 * delay, `9999` temporary NICE error ([E2] §8), `A244`/`A257` order update/save failed, `P044`
 * approval status update failed, `2000` DB error: all after-the-fact failures of NICE's own
 * processing. `U112` can only be this request's own (Pier's charge orderId is the attempt's
 * imp_uid, a cancel's is its own per refund). These are in doubt and settled by lookup, never
 * recorded as declines (decision 0041).
 */
export const NICE_OUTCOME_UNKNOWN = new Set(['U112', 'U501', 'U503', 'U506', 'U507', 'U508', 'A226', 'A244', 'A257', 'A299', 'P044', '2000', '9999']);
/** expire of a key NICE no longer knows or has deleted: as deleted as it gets (spec §3.3) */
const NICE_KEY_GONE = new Set(['U115', 'A126', 'A124']);
/**
 * Codes meaning the card data itself failed authentication (number, expiry, birth date, PIN),
 * as opposed to an issuer refusing a valid card (spec §3.1, §8.2): V1 answers those with code -1.
 */
const AUTHENTICATION_CODES = new Set(['F112', 'F113', 'V510', 'V511', 'V512', 'V513', '3011', '3021', 'U317', 'U340', 'U341']);

// ---------------------------------------------------------------------------------------------
// Wire types (camelCase, spec §0.4). Only what Pier reads is typed; NICE may send more.

export interface NiceCard {
  cardCode?: string | null;
  cardName?: string | null;
  cardNum?: string | null;
  cardQuota?: number | string | null;
  cardType?: string | null;
  canPartCancel?: boolean | string | null;
}

export interface NiceCancel {
  tid?: string;
  amount?: number;
  cancelledAt?: string;
  reason?: string;
  receiptUrl?: string | null;
}

/** The payment object of spec §2. */
export interface NicePayment {
  resultCode: string;
  resultMsg?: string;
  tid?: string;
  cancelledTid?: string | null;
  orderId?: string;
  ediDate?: string;
  signature?: string;
  status?: string;
  paidAt?: string;
  failedAt?: string;
  cancelledAt?: string;
  payMethod?: string;
  /** an escrow payment (spec §2.1) */
  useEscrow?: boolean;
  amount?: number;
  balanceAmt?: number;
  approveNo?: string | null;
  receiptUrl?: string | null;
  card?: NiceCard | null;
  vbank?: { vbankCode?: string; vbankName?: string; vbankNumber?: string; vbankExpDate?: string | null; vbankHolder?: string } | null;
  cancels?: NiceCancel[] | null;
}

/** `POST /v1/subscribe/regist` answer (spec §3.1) */
export interface NiceRegistAnswer {
  resultCode: string;
  resultMsg?: string;
  tid?: string;
  orderId?: string;
  bid?: string;
  authDate?: string;
  cardCode?: string;
  cardName?: string;
}

// ---------------------------------------------------------------------------------------------
// Time

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A request `ediDate`: ISO 8601 in KST with milliseconds, e.g. `2026-01-15T12:00:00.000+09:00`. */
export function niceEdiDate(ms: number): string {
  const p = kstParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${pad(((ms % 1000) + 1000) % 1000, 3)}+09:00`;
}

/**
 * NICE's ISO 8601 times (`2021-11-05T17:14:35.150+0900`, colon optional, no offset = KST) → UNIX
 * seconds; `"0"` (not happened), empty or malformed → null.
 */
export function niceTimeToUnix(raw: unknown): number | null {
  if (typeof raw !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(raw.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, , off] = m;
  let offsetMin = 9 * 60;
  if (off === 'Z') offsetMin = 0;
  else if (off) {
    const sign = off.startsWith('-') ? -1 : 1;
    const digits = off.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0)) - offsetMin * 60_000;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

/** `YYYY-MM-DDTHH:mm` KST: the vbank deadline format NICE accepts (spec §2.3). */
export function niceVbankExpDate(ms: number): string {
  const p = kstParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

// ---------------------------------------------------------------------------------------------
// Request builders. Each returns the path and JSON body (or query) of one call.

export interface NiceCall {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: object;
}

const enc = encodeURIComponent;

/**
 * `value` cut to at most `maxBytes` UTF-8 bytes, never inside a character. NICE's limits are bytes
 * (the manual's "Byte" column) and an over-long field is refused (`U105`/`P009`), not cut; which
 * encoding NICE counts in is not published, and UTF-8 (3 bytes a Hangul syllable) is the longest
 * of the candidates, so a value cut here fits whichever NICE uses (decision 0133).
 */
export function niceText(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  let out = '';
  let bytes = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
  }
  return out;
}

/** Buyer fields NICE takes; `buyerTel` digits only (spec §3.1, §3.2). */
function buyerFields(buyer: Buyer): Record<string, string> {
  const out: Record<string, string> = {};
  if (buyer.name) out.buyerName = niceText(buyer.name, 30);
  if (buyer.email) out.buyerEmail = niceText(buyer.email, 60);
  const tel = buyer.tel?.replace(/\D/g, '');
  if (tel) out.buyerTel = tel.slice(0, 20);
  return out;
}

/** The card as `encData` in mode A2 (spec §3.1): `expYear` YY, `expMonth` MM. */
export function toEncData(card: CardInput, secretKey: string): string {
  return encryptEncDataA2(
    encDataPlaintext({
      cardNo: card.number,
      expYear: pad(card.expiryYear % 100),
      expMonth: pad(card.expiryMonth),
      idNo: card.birth,
      cardPw: card.pwd2digit,
    }),
    secretKey,
  );
}

/** `POST /v1/payments/{tid}` (spec §1.6): server approval of a window authentication, for the amount Pier registered. */
export function toApproveCall(tid: string, amount: number, secretKey: string, ediDate: string): NiceCall {
  return { method: 'POST', path: `/v1/payments/${enc(tid)}`, body: { amount, ediDate, signData: paymentSignature({ tid, amount, ediDate }, secretKey) } };
}

/** `POST /v1/subscribe/regist` */
export function toRegistCall(card: CardInput, holder: Buyer, orderId: string, secretKey: string, ediDate: string): NiceCall {
  return {
    method: 'POST',
    path: '/v1/subscribe/regist',
    body: { encData: toEncData(card, secretKey), orderId, encMode: 'A2', ...buyerFields(holder), ediDate, signData: orderSignData(orderId, ediDate, secretKey) },
  };
}

/** `POST /v1/subscribe/{bid}/payments` (spec §3.2): `useShopInterest` may only be false. */
export function toBillingPayCall(bid: string, req: ChargeRequest, secretKey: string, ediDate: string): NiceCall {
  return {
    method: 'POST',
    path: `/v1/subscribe/${enc(bid)}/payments`,
    body: {
      orderId: req.moid,
      amount: req.amount,
      goodsName: niceText(req.goodsName, 40),
      cardQuota: req.cardQuota,
      useShopInterest: false,
      ...buyerFields(req.buyer),
      // NICE splits supply and VAT from amount and taxFreeAmt (spec §0.4): without it the whole amount is taxable
      ...(req.taxFree ? { taxFreeAmt: req.taxFree } : {}),
      ediDate,
      signData: billingSignData(req.moid, bid, ediDate, secretKey),
    },
  };
}

/** `POST /v1/subscribe/{bid}/expire` (spec §3.3) */
export function toExpireCall(bid: string, orderId: string, secretKey: string, ediDate: string): NiceCall {
  return { method: 'POST', path: `/v1/subscribe/${enc(bid)}/expire`, body: { orderId, ediDate, signData: billingSignData(orderId, bid, ediDate, secretKey) } };
}

/**
 * `POST /v1/payments/{tid}/cancel` (spec §4.1, §4.4): a fresh `orderId` per cancel; `cancelAmt`
 * only on a partial cancel (absent = full, which is also the only form NICE's sandbox accepts);
 * a virtual account's refund account when given.
 */
export function toCancelCall(req: RefundRequest, cancelOrderId: string, secretKey: string, ediDate: string): NiceCall {
  return {
    method: 'POST',
    path: `/v1/payments/${enc(req.pgTid)}/cancel`,
    body: {
      reason: niceText(req.reason || '취소요청', 100),
      orderId: cancelOrderId,
      ...(req.partial ? { cancelAmt: req.amount } : {}),
      // the refund's tax-free part (NICE takes no VAT on a cancel: it derives it, spec §0.4)
      ...(req.taxFree ? { taxFreeAmt: req.taxFree } : {}),
      ...(req.refundAccount ? { refundAccount: req.refundAccount } : {}),
      ...(req.refundBank ? { refundBankCode: req.refundBank } : {}),
      ...(req.refundHolder ? { refundHolder: req.refundHolder } : {}),
      ediDate,
      signData: tidSignData(req.pgTid, ediDate, secretKey),
    },
  };
}

/** `GET /v1/payments/find/{orderId}` without `orderDate`, `signData` over the orderId (spec §5.2, [E2]) */
export function toFindByOrderIdCall(orderId: string, secretKey: string, ediDate: string): NiceCall {
  return { method: 'GET', path: `/v1/payments/find/${enc(orderId)}`, query: { ediDate, signData: orderSignData(orderId, ediDate, secretKey) } };
}

/** `GET /v1/payments/{tid}` (spec §5.1) */
export function toGetByTidCall(tid: string, secretKey: string, ediDate: string): NiceCall {
  return { method: 'GET', path: `/v1/payments/${enc(tid)}`, query: { ediDate, signData: tidSignData(tid, ediDate, secretKey) } };
}

/** `POST /v1/payments/netcancel` (spec §5.3) */
export function toNetCancelCall(orderId: string, secretKey: string, ediDate: string): NiceCall {
  return { method: 'POST', path: '/v1/payments/netcancel', body: { orderId, ediDate, signData: orderSignData(orderId, ediDate, secretKey) } };
}

// ---------------------------------------------------------------------------------------------
// Answer readers

function badResponse(message: string, inDoubt: boolean): ConnectorError {
  return new ConnectorError('bad_response', message, inDoubt, false);
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** NICE's code and message as Pier reports a decline (V1 `fail_reason` = `[code]message`). */
function declineOf(r: { resultCode: string; resultMsg?: unknown }): { code: string; message: string } {
  return { code: r.resultCode, message: text(r.resultMsg).slice(0, 200) };
}

/**
 * The body of an answer as a NICE result. Auth and routing refusals (HTTP 401/403/405) are
 * technical failures NICE refused before acting (not in doubt), never declines: a wrong secret key
 * is not a card's fault. 404 bodies (`U107` no data) go on to the caller, which knows what "not
 * found" means for its call.
 */
export function niceResult<T extends { resultCode: string }>(answer: NiceAnswer, op: string): T {
  if (answer.status === 401 || answer.status === 403 || answer.status === 405) {
    const r = answer.body as { resultCode: string; resultMsg?: unknown };
    throw new ConnectorError('http_status', `NICE ${op}: HTTP ${answer.status} [${r.resultCode}]${text(r.resultMsg).slice(0, 100)}`, false, false);
  }
  return answer.body as T;
}

/**
 * Checks a `0000` payment object: signed by the channel's secret over its own tid, original amount
 * and ediDate. `inDoubt`: whether money may have moved on the call that returned it.
 */
export function verifyPayment(p: NicePayment, secretKey: string, op: string, inDoubt: boolean): asserts p is NicePayment & { tid: string; amount: number; ediDate: string } {
  if (typeof p.tid !== 'string' || p.tid === '' || !Number.isSafeInteger(p.amount) || typeof p.ediDate !== 'string') {
    throw badResponse(`NICE ${op}: payment answer without tid, amount or ediDate`, inDoubt);
  }
  if (!signaturesEqual(paymentSignature({ tid: p.tid, amount: p.amount!, ediDate: p.ediDate }, secretKey), p.signature)) {
    throw badResponse(`NICE ${op}: answer signature does not verify; not trusted`, inDoubt);
  }
}

function cardQuotaOf(raw: unknown, fallback: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,2}$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

function cardDetailsOf(card: NiceCard | null | undefined): CardDetails {
  if (!card) return { cardCode: null, cardName: null, cardNumberMasked: null, cardType: null };
  return {
    ...mapNiceCardCode(card.cardCode, card.cardName),
    cardNumberMasked: text(card.cardNum) || null,
    cardType: card.cardType === 'check' ? 1 : card.cardType === 'credit' ? 0 : null,
  };
}

/**
 * Regist's answer. NICE reports no card number or card type there (spec §3.1): the number is
 * masked here from the card Pier sent, NICE's way (first 6 + last 4), so V1 `card_number` reads
 * the same as on JTNET; the type stays unknown until a charge reports it.
 */
export function fromRegistAnswer(r: NiceRegistAnswer, card: Pick<CardInput, 'number'>): BillingKeyResult {
  if (r.resultCode !== NICE_OK) return { outcome: 'declined', ...declineOf(r) };
  if (typeof r.bid !== 'string' || r.bid === '') throw badResponse('NICE regist succeeded without a bid', false);
  return { outcome: 'issued', billingKey: r.bid, ...mapNiceCardCode(r.cardCode, r.cardName), cardNumberMasked: maskCardNumber(card.number), cardType: null };
}

/** Whether a regist decline is about the card data (V1 code -1, no payment) rather than the issuer. */
export const isAuthenticationDecline = (code: string) => AUTHENTICATION_CODES.has(code);

/**
 * A charge's answer (billing pay, key-in): approved only when `0000`, signed, `paid`, for this
 * order and exactly this amount. Anything else about a `0000` answer is in doubt (money may have
 * moved): reconciliation settles it by orderId.
 */
export function fromChargeAnswer(p: NicePayment, req: Pick<ChargeRequest, 'moid' | 'amount' | 'cardQuota'>, secretKey: string, nowSeconds: number): ChargeResult {
  if (NICE_OUTCOME_UNKNOWN.has(p.resultCode)) {
    // a decline would free the merchant_uid for a second charge while this one may stand at NICE
    throw new ConnectorError('bad_response', `NICE charge answered [${p.resultCode}]${text(p.resultMsg).slice(0, 100)}: outcome unknown, to be looked up by orderId`, true, false);
  }
  if (p.resultCode !== NICE_OK) {
    return { outcome: 'declined', ...declineOf(p), pgTid: text(p.tid) || null, stage: isAuthenticationDecline(p.resultCode) ? 'authentication' : 'approval' };
  }
  verifyPayment(p, secretKey, 'charge', true);
  if (p.orderId !== req.moid) throw badResponse(`NICE charge answered for another orderId`, true);
  if (p.amount !== req.amount) throw badResponse(`NICE charged ${p.amount} KRW for a request of ${req.amount} KRW`, true);
  if (p.status === 'failed') return { outcome: 'declined', code: p.resultCode, message: text(p.resultMsg), pgTid: p.tid, stage: 'approval' };
  if (p.status !== 'paid') throw badResponse(`NICE charge answered status ${JSON.stringify(text(p.status).slice(0, 20))}`, true);
  return {
    outcome: 'approved',
    pgTid: p.tid,
    applyNum: text(p.approveNo),
    cardQuota: cardQuotaOf(p.card?.cardQuota, req.cardQuota),
    paidAt: niceTimeToUnix(p.paidAt) ?? nowSeconds,
    receiptUrl: receiptUrlOf(p.receiptUrl),
    ...cardDetailsOf(p.card),
  };
}

/**
 * A cancel's answer: refunded only when successful, signed, for this payment's tid, and when the
 * cancel it reports (the `cancels[]` entry of `cancelledTid`) is exactly the amount asked for.
 */
export function fromCancelAnswer(p: NicePayment, req: Pick<RefundRequest, 'pgTid' | 'amount'>, secretKey: string, nowSeconds: number): RefundResult {
  if (NICE_OUTCOME_UNKNOWN.has(p.resultCode)) {
    // the same after-the-fact failures as on a charge; `U112` here is this cancel's own orderId,
    // already processed. A decline would give the amount back to the merchant, who may then refund
    // it again while NICE has refunded it once already: in doubt, settled from NICE's cancels.
    throw new ConnectorError('bad_response', `NICE cancel answered [${p.resultCode}]${text(p.resultMsg).slice(0, 100)}: outcome unknown, to be looked up`, true, false);
  }
  if (p.resultCode !== NICE_OK && !LEGACY_CANCEL_OK.has(p.resultCode)) return { outcome: 'declined', ...declineOf(p) };
  verifyPayment(p, secretKey, 'cancel', true);
  if (p.tid !== req.pgTid) throw badResponse('NICE cancel answered for another tid', true);
  if (p.status !== 'cancelled' && p.status !== 'partialCancelled') throw badResponse(`NICE cancel answered status ${JSON.stringify(text(p.status).slice(0, 20))}`, true);
  const cancels = Array.isArray(p.cancels) ? p.cancels : [];
  const cancelTid = text(p.cancelledTid) || p.tid;
  const entry = cancels.find((c) => c && c.tid === cancelTid) ?? cancels[cancels.length - 1];
  const amount = entry && Number.isSafeInteger(entry.amount) ? entry.amount! : req.amount;
  if (amount !== req.amount) throw badResponse(`NICE cancelled ${amount} KRW for a request of ${req.amount} KRW`, true);
  return {
    outcome: 'refunded',
    pgCancelTid: cancelTid,
    amount,
    cancelledAt: niceTimeToUnix(entry?.cancelledAt) ?? niceTimeToUnix(p.cancelledAt) ?? nowSeconds,
    receiptUrl: receiptUrlOf(entry?.receiptUrl ?? p.receiptUrl),
  };
}

/** NICE `status` → what it means for Pier (spec §2.6). An unknown status is never guessed. */
function stateOf(status: unknown): 'paid' | 'cancelled' | 'failed' | 'awaiting_deposit' {
  switch (status) {
    case 'paid':
    case 'partialCancelled':
      return 'paid';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
      return 'failed';
    // a virtual account issued and not paid into; `expired` (official list, never seen) stays
    // awaiting with its deadline in the past, as V1 has no expired state (spec §2.6)
    case 'ready':
    case 'expired':
      return 'awaiting_deposit';
    default:
      throw badResponse(`NICE lookup: unknown status ${JSON.stringify(String(status).slice(0, 20))}`, false);
  }
}

/**
 * A lookup's answer (by orderId or tid) as Pier's inquiry result: not found for NICE's "no data"
 * codes; otherwise the signed payment object, which must be for the order asked about.
 */
export function fromLookupAnswer(p: NicePayment, q: { moid: string; pgTid?: string | null }, secretKey: string): InquiryResult {
  if (NICE_NOT_FOUND.has(p.resultCode)) return { found: false };
  // A failed payment (a declined window approve) comes back with its decline code and no signature
  // (spec §2.1: signature only for valid transactions): it says no money moved. (N-window, for N-rest to review.)
  if (p.status === 'failed' && typeof p.tid === 'string' && p.tid !== '' && Number.isSafeInteger(p.amount)) {
    if (p.orderId !== q.moid || (q.pgTid && p.tid !== q.pgTid)) return { found: false };
    return { found: true, state: 'failed', pgTid: p.tid, amount: p.amount!, cancelledAmount: 0, applyNum: null, paidAt: 0, cardQuota: 0, receiptUrl: null, ...cardDetailsOf(null) };
  }
  if (p.resultCode !== NICE_OK) throw new ConnectorError('bad_response', `NICE lookup refused: [${p.resultCode}]${text(p.resultMsg).slice(0, 100)}`, false, false);
  verifyPayment(p, secretKey, 'lookup', false);
  if (p.orderId !== q.moid || (q.pgTid && p.tid !== q.pgTid)) return { found: false };
  const state = stateOf(p.status);
  let vbank: NonNullable<Extract<InquiryResult, { found: true }>['vbank']> | null = null;
  if (state !== 'awaiting_deposit') {
    // paid into (or closed): the account as NICE still reports it, when it does
    const v = p.vbank;
    const dueAt = v?.vbankExpDate == null ? 0 : niceTimeToUnix(v.vbankExpDate);
    if (v?.vbankCode && v.vbankNumber) vbank = { code: v.vbankCode, name: KFTC_BANKS[v.vbankCode] ?? (text(v.vbankName) || v.vbankCode), num: v.vbankNumber, holder: text(v.vbankHolder) || null, dueAt: dueAt ?? 0 };
  } else {
    const v = p.vbank;
    // NICE may give no deadline ([E2], spec §2.3): V1's 0 = none, which Pier never reads as overdue
    // (its deposit check and merchant_uid release skip 0). No deadline of Pier's own is put in its
    // place: one NICE did not state could refuse a deposit NICE accepted (decision 0041).
    const dueAt = v?.vbankExpDate == null ? 0 : niceTimeToUnix(v.vbankExpDate);
    if (!v?.vbankCode || !v.vbankNumber || dueAt === null) throw badResponse(`NICE lookup: virtual account ${p.tid} without bank or number, or with a malformed deadline`, false);
    vbank = { code: v.vbankCode, name: KFTC_BANKS[v.vbankCode] ?? (text(v.vbankName) || v.vbankCode), num: v.vbankNumber, holder: text(v.vbankHolder) || null, dueAt };
  }
  const balance = Number.isSafeInteger(p.balanceAmt) ? p.balanceAmt! : state === 'cancelled' ? 0 : p.amount;
  // signed (verifyPayment): NICE's own time of this answer, which notices' times are compared with (decision 0087)
  const answeredAt = niceTimeToUnix(p.ediDate);
  return {
    found: true,
    state,
    ...(vbank ? { vbank } : {}),
    pgTid: p.tid,
    amount: p.amount,
    cancelledAmount: Math.max(0, p.amount - balance),
    applyNum: text(p.approveNo) || null,
    paidAt: niceTimeToUnix(p.paidAt) ?? 0,
    cardQuota: cardQuotaOf(p.card?.cardQuota, 0),
    receiptUrl: state === 'failed' ? null : receiptUrlOf(p.receiptUrl),
    ...(payMethodOfNice(p.payMethod) ? { payMethod: payMethodOfNice(p.payMethod) } : {}),
    ...(answeredAt !== null ? { answeredAt } : {}),
    ...(typeof p.useEscrow === 'boolean' ? { escrow: p.useEscrow } : {}),
    ...cardDetailsOf(p.card),
  };
}

/** NICE's `payMethod` (spec §2.6) → V1's pay_method: the easy pays are cards, as V1 reports them (spec's V1 mapping); null for one Pier does not know. */
const NICE_PAY_METHODS: Readonly<Record<string, WindowPayMethod>> = {
  card: 'card',
  naverpay: 'card',
  kakaopay: 'card',
  payco: 'card',
  ssgpay: 'card',
  samsungpay: 'card',
  tosspay: 'card',
  bank: 'trans',
  vbank: 'vbank',
  cellphone: 'phone',
};
export const payMethodOfNice = (raw: unknown): WindowPayMethod | null =>
  typeof raw === 'string' && Object.prototype.hasOwnProperty.call(NICE_PAY_METHODS, raw) ? NICE_PAY_METHODS[raw]! : null;

/** Expire's answer: done when NICE deleted the key or no longer has it. */
export function expireDone(r: { resultCode: string }): boolean {
  return r.resultCode === NICE_OK || NICE_KEY_GONE.has(r.resultCode);
}

/**
 * Net-cancel's answer (spec §5.3): `voided` when NICE reversed an approval of this order (signed,
 * `cancelled`); `nothing` when its refusal says there is nothing to reverse (NICE_NETCANCEL_NOTHING).
 * Any other refusal, and a `0000` that is not a signed cancellation of this order, is not
 * understood: a ConnectorError in doubt, so the caller keeps the attempt open and asks again later.
 */
export function fromNetCancelAnswer(p: NicePayment, orderId: string, secretKey: string): 'nothing' | { voided: Extract<InquiryResult, { found: true }> } {
  if (NICE_NETCANCEL_NOTHING.has(p.resultCode)) return 'nothing';
  if (p.resultCode !== NICE_OK) {
    // NICE may still hold (or later apply) an approval of this order: asking again is the remedy
    throw new ConnectorError('bad_response', `NICE netcancel refused: [${p.resultCode}]${text(p.resultMsg).slice(0, 100)}; the order may still be approved`, true, true);
  }
  verifyPayment(p, secretKey, 'netcancel', false);
  if (p.orderId !== orderId || p.status !== 'cancelled') throw badResponse(`NICE netcancel answered status ${JSON.stringify(text(p.status).slice(0, 20))} for this order`, false);
  // the payment object of the approval it reversed (spec §5.3), read as a lookup's: recorded paid
  // with its refund, never as "no record" (decision 0110)
  const reversed = fromLookupAnswer(p, { moid: orderId }, secretKey);
  if (!reversed.found || reversed.state !== 'cancelled') throw badResponse('NICE netcancel answered a payment it did not report cancelled', false);
  return { voided: reversed };
}
