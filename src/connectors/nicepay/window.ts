/**
 * NICE's payment window, Server 승인 (spec nicepay.md §1.2–§1.8), and NICE's webhooks (§6), the
 * merchant's side: pure builders and readers, plus the approve call sent through the REST side.
 *
 * Flow: Pier's checkout page loads NICE's JS SDK and calls `AUTHNICE.requestPay` (startWindow); the
 * buyer authenticates; the browser posts the auth result to `returnUrl` (readWindowResult: signature
 * sha256(authToken + clientId + amount + secretKey), orderId, amount and clientId checked); Pier then
 * approves `POST /v1/payments/{tid}` with its own amount (approveWindowResult: the answer's signature
 * verified before anything in it is read). Nothing is charged before the approve.
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import { KFTC_BANKS, NICE_TO_KFTC } from '../kftc-codes.js';
import {
  ConnectorError,
  type ChannelCredentials,
  type PaymentChangedNotice,
  type PgNotice,
  type WindowApproval,
  type WindowConnector,
  type WindowForm,
  type WindowPayMethod,
  type WindowRequest,
  type WindowResult,
} from '../types.js';
import type { NiceAnswer } from './client.js';
import { returnUrlSignature, signaturesEqual } from './crypto.js';
import { fromLookupAnswer, NICE_OK, NICE_OUTCOME_UNKNOWN, niceEdiDate, niceResult, niceText, niceTimeToUnix, niceVbankExpDate, toApproveCall, verifyPayment, type NiceCall, type NicePayment } from './transformers.js';

/** NICE's `method` for each V1 pay method (spec §1.3). */
const NICE_METHOD: Record<WindowPayMethod, string> = { card: 'card', trans: 'bank', vbank: 'vbank', phone: 'cellphone' };

/**
 * `authResultCode`s that mean the buyer gave up (spec §8.10 `I002`, §1.3 `P091`); any other
 * non-`0000` code is a failed authentication. Whether NICE posts them to returnUrl or only to
 * `fnError` is UNCONFIRMED (§11.3 #9): Pier handles both, fnError being posted back by its page.
 */
const BUYER_CANCEL_CODES = new Set(['I002', 'P091']);

/** The JS SDK function Pier's checkout page calls. */
export const NICE_SDK_CALL = 'AUTHNICE.requestPay';

/** NICE 2-digit card code for a KFTC code, when NICE lists the company (spec §8.13). */
function niceCardCodeOf(kftc: string): string | undefined {
  return Object.entries(NICE_TO_KFTC).find(([, v]) => v.code === kftc)?.[0];
}

/**
 * `AUTHNICE.requestPay` parameters for an attempt (spec §1.3). `orderId` is the attempt's moid;
 * `cardQuota` lists the months Pier allows (`00` = lump sum, always offered); `vbankHolder`, which
 * NICE requires for virtual accounts, is the buyer's name (else the goods name).
 */
export function toRequestPayParams(channel: ChannelCredentials, req: WindowRequest): Record<string, string | number | boolean> {
  if (req.billing) throw new TypeError("NICE's payment window issues no billing keys (spec §0.9)");
  const params: Record<string, string | number | boolean> = {
    clientId: channel.mid,
    method: NICE_METHOD[req.payMethod],
    orderId: req.moid,
    amount: req.amount,
    goodsName: niceText(req.goodsName, 40),
    returnUrl: req.returnUrl,
    language: req.language === 'en' ? 'EN' : 'KO',
  };
  if (req.buyer.name) params.buyerName = niceText(req.buyer.name, 30);
  const tel = req.buyer.tel?.replace(/\D/g, '');
  if (tel) params.buyerTel = tel.slice(0, 40);
  if (req.buyer.email) params.buyerEmail = niceText(req.buyer.email, 60);
  if (req.mallUserId) params.mallUserId = niceText(req.mallUserId, 20);
  if (req.taxFree) params.taxFreeAmt = req.taxFree;
  if (req.payMethod === 'card') {
    const months = [...new Set(req.cardQuotas.filter((m) => Number.isInteger(m) && m >= 2 && m <= 36))].sort((a, b) => a - b);
    params.cardQuota = ['00', ...months.map((m) => String(m).padStart(2, '0'))].join(',');
    const code = req.cardCode ? niceCardCodeOf(req.cardCode) : undefined;
    if (code) params.cardCode = code;
  }
  if (req.payMethod === 'vbank') {
    params.vbankHolder = niceText(req.buyer.name || req.goodsName, 40);
    if (req.vbankDueMs) params.vbankExpDate = niceVbankExpDate(req.vbankDueMs);
  }
  if (req.payMethod === 'phone') params.isDigital = req.digital === true;
  return params;
}

function tampered(message: string): ConnectorError {
  return new ConnectorError('bad_response', `NICE window result rejected: ${message}`, false, false);
}

/**
 * Verifies an auth result posted to returnUrl (spec §1.4). Whatever the code, an `orderId`,
 * `amount` or `clientId` that is present must be this attempt's. A success (`0000`) must carry a
 * tid and a valid signature over authToken, clientId and Pier's own amount; it is only
 * `authenticated`: the approve decides.
 */
export function fromReturnPost(channel: ChannelCredentials, posted: Record<string, string>, expected: { moid: string; amount: number }): WindowResult {
  const p = (k: string) => (typeof posted[k] === 'string' ? posted[k]!.trim() : '');
  const code = p('authResultCode');
  if (!code) throw tampered('no authResultCode');
  if (p('clientId') && p('clientId') !== channel.mid) throw tampered(`clientId ${p('clientId')} is not this channel's`);
  if (p('orderId') && p('orderId') !== expected.moid) throw tampered(`orderId ${p('orderId')} is not the expected ${expected.moid}`);
  if (p('amount') && p('amount') !== String(expected.amount)) throw tampered(`amount ${p('amount')} is not the expected ${expected.amount}`);
  const message = p('authResultMsg').slice(0, 200);
  if (code !== NICE_OK) {
    if (BUYER_CANCEL_CODES.has(code)) return { outcome: 'cancelled_by_buyer', code, message: message || '사용자 취소' };
    return { outcome: 'declined', code, message: message || '결제창 인증 실패', pgTid: p('tid') || null };
  }
  const tid = p('tid');
  const authToken = p('authToken');
  if (!tid || !authToken || !p('orderId') || !p('amount') || !p('clientId')) throw tampered('a success without tid, authToken, orderId, amount or clientId');
  const expectedSignature = returnUrlSignature({ authToken, clientId: channel.mid, amount: expected.amount }, channel.merchantKey.reveal());
  if (!signaturesEqual(expectedSignature, p('signature'))) throw tampered('signature does not verify');
  return { outcome: 'authenticated', pgTid: tid };
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The approve's answer. A decline (resultCode ≠ 0000) moved no money and is read as it comes, except
 * the codes that leave the outcome unknown (NICE_OUTCOME_UNKNOWN): in doubt, like a timeout. A
 * success is read only once its signature verifies, and must be for this tid, order and amount:
 * anything else is in doubt (money may have moved), for reconciliation.
 */
export function fromApproveAnswer(p: NicePayment, req: { pgTid: string; moid: string; amount: number }, secretKey: string): WindowApproval {
  if (NICE_OUTCOME_UNKNOWN.has(p.resultCode)) {
    // NICE's processing failed after (or while) approving (U506 DB insert error, A299 API delay, 9999…):
    // a lookup made now may not show an approval that stands or completes later, so the attempt stays
    // claimed in doubt holding its merchant_uid, and reconciliation settles it, net-cancelling before it
    // gives up, as for a billing charge (decisions 0041, 0095)
    throw new ConnectorError('bad_response', `NICE approve answered [${p.resultCode}]${text(p.resultMsg).slice(0, 100)}: outcome unknown, to be looked up by orderId`, true, false);
  }
  if (p.resultCode !== NICE_OK) return { outcome: 'declined', code: p.resultCode, message: text(p.resultMsg).slice(0, 200), pgTid: text(p.tid) || req.pgTid };
  verifyPayment(p, secretKey, 'approve', true);
  // NICE approves by tid alone, and the returnUrl signature binds neither tid nor orderId: another
  // window's result of the same amount, posted with this attempt's orderId, gets that window's
  // order charged. Said so, the caller records that order (it must not be dropped) and charged nothing here.
  if (p.tid === req.pgTid && p.amount === req.amount && typeof p.orderId === 'string' && p.orderId !== '' && p.orderId !== req.moid) {
    return { outcome: 'another_order', pgTid: p.tid, moid: p.orderId };
  }
  if (p.tid !== req.pgTid || p.orderId !== req.moid || p.amount !== req.amount) {
    throw new ConnectorError('bad_response', `NICE approve answered for another tid, order or amount (${p.amount} KRW)`, true, false);
  }
  let found: ReturnType<typeof fromLookupAnswer>;
  try {
    found = fromLookupAnswer(p, req, secretKey);
  } catch (err) {
    // NICE signed a 0000 approve of this tid, order and amount: whatever Pier cannot read in it, money
    // may have moved, so the attempt is settled by lookup, never failed
    if (err instanceof ConnectorError && !err.inDoubt) throw new ConnectorError(err.kind, err.message, true, err.retryable, { cause: err });
    throw err;
  }
  if (!found.found) throw new ConnectorError('bad_response', 'NICE approve answer could not be read', true, false);
  switch (found.state) {
    case 'paid': {
      const bank = (p as { bank?: { bankCode?: unknown; bankName?: unknown } | null }).bank;
      const bankCode = text(bank?.bankCode) || null;
      return {
        outcome: 'approved',
        pgTid: found.pgTid,
        applyNum: found.applyNum,
        paidAt: found.paidAt,
        cardQuota: found.cardQuota,
        receiptUrl: found.receiptUrl,
        bankCode,
        bankName: bankCode ? (KFTC_BANKS[bankCode] ?? (text(bank?.bankName) || null)) : null,
        cardCode: found.cardCode,
        cardName: found.cardName,
        cardNumberMasked: found.cardNumberMasked,
        cardType: found.cardType,
      };
    }
    case 'awaiting_deposit':
      return {
        outcome: 'vbank_issued',
        pgTid: found.pgTid,
        vbankCode: found.vbank!.code,
        vbankName: found.vbank!.name,
        vbankNum: found.vbank!.num,
        vbankHolder: text(p.vbank?.vbankHolder) || null,
        vbankDate: found.vbank!.dueAt,
        issuedAt: found.paidAt,
      };
    // approved and at once cancelled (NICE net-cancels after its own failure, spec §0.7): Pier
    // asks the PG again before recording anything, as for any decline
    case 'cancelled':
    case 'failed':
      return { outcome: 'declined', code: p.resultCode, message: `${text(p.resultMsg)} (status ${found.state})`.slice(0, 200), pgTid: found.pgTid };
  }
}

/**
 * A webhook (spec §6.3): a payment object signed like any other. Verified, it only names the
 * payment: Pier re-reads it from NICE by tid (§6.4 OUR DESIGN), since the signature covers neither
 * status nor orderId.
 */
export function fromWebhook(channel: ChannelCredentials, body: Record<string, unknown>): PgNotice {
  const p = body as unknown as NicePayment;
  if (p.resultCode !== NICE_OK) throw new ConnectorError('bad_response', `NICE webhook with resultCode ${String(p.resultCode).slice(0, 10)}`, false, false);
  verifyPayment(p, channel.merchantKey.reveal(), 'webhook', false);
  if (typeof p.orderId !== 'string' || p.orderId === '') throw new ConnectorError('bad_response', 'NICE webhook without orderId', false, false);
  const claimed = claimedState(p);
  // ediDate is signed and new for every event (NICE resends an event with the same one, §6.5); the
  // status, one of a handful, tells apart events stamped in the same millisecond (a simulator's
  // stopped clock) and costs a rewriter at most that many inquiries per event
  const status = typeof p.status === 'string' && NICE_STATUSES.has(p.status) ? p.status : '?';
  const sentAt = niceTimeToUnix(p.ediDate);
  return {
    kind: 'payment_changed',
    moid: p.orderId,
    pgTid: p.tid,
    messageId: `${p.ediDate} ${status}`,
    ...(sentAt !== null ? { sentAt } : {}),
    ...(claimed ? { claimed } : {}),
  };
}

/** NICE's payment statuses (spec §2.6). */
const NICE_STATUSES = new Set(['paid', 'ready', 'failed', 'cancelled', 'partialCancelled', 'expired']);

/**
 * The state a webhook claims (spec §2.6, §6.1), read from its unsigned `status` and `balanceAmt`:
 * only ever compared with what Pier records, never recorded.
 */
function claimedState(p: NicePayment & { amount: number }): PaymentChangedNotice['claimed'] {
  const amount = p.amount;
  const balance: unknown = p.balanceAmt;
  switch (p.status) {
    case 'paid':
      return { state: 'paid', amount, cancelledAmount: 0 };
    case 'ready':
      return { state: 'awaiting_deposit', amount, cancelledAmount: 0 };
    case 'cancelled':
      return { state: 'cancelled', amount, cancelledAmount: amount };
    case 'partialCancelled':
      return Number.isSafeInteger(balance) && (balance as number) > 0 && (balance as number) < amount ? { state: 'paid', amount, cancelledAmount: amount - (balance as number) } : undefined;
    default:
      return undefined;
  }
}

/** NICE expects `OK` as text/html to a webhook, else it resends (spec §6.5). */
export const NICE_WEBHOOK_ANSWER = { contentType: 'text/html; charset=utf-8', body: 'OK' } as const;

/** The window side of the NICE connector: the SDK call, returnUrl checks, approve and webhooks. */
export function createNicepayWindow(opts: {
  /** the JS SDK buyers' browsers load (NICE's, or the simulator's `/v1/js/`) */
  sdkUrl: string;
  /** sends one Start API call for a channel (the REST side's client) */
  send: (channel: ChannelCredentials, op: string, call: NiceCall) => Promise<NiceAnswer>;
  clock?: Clock;
}): WindowConnector {
  const clock = opts.clock ?? systemClock;
  return {
    issuesBillingKeys: false,
    startWindow: (channel, req): WindowForm => ({ kind: 'script', src: opts.sdkUrl, call: NICE_SDK_CALL, params: toRequestPayParams(channel, req) }),
    readWindowResult: fromReturnPost,
    async approveWindowResult(channel, req) {
      const secretKey = channel.merchantKey.reveal();
      const answer = await opts.send(channel, 'approve', toApproveCall(req.pgTid, req.amount, secretKey, niceEdiDate(clock.now())));
      return fromApproveAnswer(niceResult<NicePayment>(answer, 'approve'), req, secretKey);
    },
    // Server 승인 has no acknowledgement step: the approve is the merchant's confirmation
    confirmWindowResult: async () => undefined,
    readNotice: fromWebhook,
    noticeAnswer: NICE_WEBHOOK_ANSWER,
  };
}
