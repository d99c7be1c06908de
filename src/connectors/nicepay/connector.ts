/**
 * The NICEPAY connector's REST side (spec nicepay.md §2–§5): billing keys by regist/expire,
 * billing charges, key-in (decision 0014), cancels, lookups. Each call: build (transformers.ts),
 * send (client.ts), verify and map (transformers.ts).
 */
import { randomBytes } from 'node:crypto';
import { systemClock, unixSeconds, type Clock } from '../../lib/clock.js';
import { ConnectorError, type BillingKeyResult, type ChannelCredentials, type ChargeResult, type Connector, type ConnectorCapabilities, type InquiryResult, type RefundRequest, type RefundResult } from '../types.js';
import type { CardInput } from '../../lib/card.js';
import { NiceClient, type NiceAnswer } from './client.js';
import {
  expireDone,
  fromCancelAnswer,
  fromChargeAnswer,
  fromLookupAnswer,
  fromNetCancelAnswer,
  fromRegistAnswer,
  isAuthenticationDecline,
  niceEdiDate,
  niceResult,
  toBillingPayCall,
  toCancelCall,
  toExpireCall,
  toFindByOrderIdCall,
  toGetByTidCall,
  toNetCancelCall,
  toRegistCall,
  type NiceCall,
  type NicePayment,
  type NiceRegistAnswer,
} from './transformers.js';

/** NICE's "tax-free cancel exceeds the cancellable tax-free part" (spec §4.2, §4.3) */
const NICE_TAX_FREE_OVER = 'U319';

/** What NICE can do through Pier (spec §0.9); the window methods come with window.ts. */
export const NICEPAY_CAPABILITIES: ConnectorCapabilities = {
  // the payment window's methods come with window.ts (index.ts adds them beside `window`)
  windowPayMethods: [],
  keyIn: true,
  billingKey: true,
  // by NICE contract (spec §4.2); NICE's sandbox refuses partial cancels with U128, which reaches the merchant as a decline
  partialCancel: { card: true, trans: true, vbank: true, phone: false },
  vbankApi: false,
  cashReceipts: false,
  escrowLogistics: false,
};

export interface NicepayRestOptions {
  liveUrl: string;
  sandboxUrl: string;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  clock?: Clock;
}

/** A fresh order id for calls that need a unique one of their own (regist, expire, a cancel without Pier's id). */
const freshId = () => randomBytes(12).toString('hex');

export type NicepayRestConnector = Omit<Connector, 'window'> & {
  /** the API base a channel's calls go to */
  baseUrlOf(channel: ChannelCredentials): string;
  /** sends one Start API call for a channel (window.ts uses it for approve) */
  send(channel: ChannelCredentials, op: string, call: NiceCall): Promise<NiceAnswer>;
  close(): Promise<void>;
};

export function createNicepayRestConnector(opts: NicepayRestOptions): NicepayRestConnector {
  const client = new NiceClient(opts);
  const clock = opts.clock ?? systemClock;
  const baseUrlOf = (channel: ChannelCredentials) => channel.baseUrl || (channel.sandbox ? opts.sandboxUrl : opts.liveUrl);
  const send = (channel: ChannelCredentials, op: string, call: NiceCall) => client.call(baseUrlOf(channel), channel, op, call);
  const secretOf = (channel: ChannelCredentials) => channel.merchantKey.reveal();
  const ediDate = () => niceEdiDate(clock.now());

  async function regist(channel: ChannelCredentials, card: CardInput, holder: Parameters<Connector['issueBillingKey']>[2], orderId: string): Promise<BillingKeyResult> {
    const answer = await send(channel, 'regist', toRegistCall(card, holder, orderId, secretOf(channel), ediDate()));
    return fromRegistAnswer(niceResult<NiceRegistAnswer>(answer, 'regist'), card);
  }

  async function expire(channel: ChannelCredentials, bid: string): Promise<void> {
    const answer = await send(channel, 'expire', toExpireCall(bid, `expire-${freshId()}`, secretOf(channel), ediDate()));
    const r = niceResult<{ resultCode: string; resultMsg?: string }>(answer, 'expire');
    if (!expireDone(r)) throw new ConnectorError('bad_response', `NICE expire refused: [${r.resultCode}]${r.resultMsg ?? ''}`, false, false);
  }

  async function chargeBillingKey(channel: ChannelCredentials, bid: string, req: Parameters<Connector['chargeBillingKey']>[2]): Promise<ChargeResult> {
    const answer = await send(channel, 'billing payment', toBillingPayCall(bid, req, secretOf(channel), ediDate()));
    return fromChargeAnswer(niceResult<NicePayment>(answer, 'billing payment'), req, secretOf(channel), unixSeconds(clock));
  }

  async function lookup(channel: ChannelCredentials, op: string, call: NiceCall, q: { moid: string; pgTid?: string | null }): Promise<InquiryResult> {
    const r = niceResult<NicePayment>(await send(channel, op, call), op);
    return fromLookupAnswer(r, q, secretOf(channel));
  }

  async function refund(channel: ChannelCredentials, req: RefundRequest): Promise<RefundResult> {
    // unique per refund, stable for Pier's refund id (spec §0.6: a cancel orderId is never reused)
    const cancelOrderId = `${req.moid}-c${req.refundId ?? freshId()}`;
    const answer = niceResult<NicePayment>(await send(channel, 'cancel', toCancelCall(req, cancelOrderId, secretOf(channel), ediDate())), 'cancel');
    if (answer.resultCode === NICE_TAX_FREE_OVER && req.taxFree) {
      // NICE holds a smaller tax-free part than Pier: a payment charged before Pier sent taxFreeAmt
      // (decision 0081). U319 refunded nothing, so the refund is sent again as NICE knows the
      // payment, all taxable (as before), under a cancel orderId of its own (spec §0.6: a spent
      // orderId is never reused); refused, a payment Pier split could never be refunded at all
      const again = niceResult<NicePayment>(await send(channel, 'cancel', toCancelCall({ ...req, taxFree: 0 }, `${cancelOrderId}-t`, secretOf(channel), ediDate())), 'cancel');
      return fromCancelAnswer(again, req, secretOf(channel), unixSeconds(clock));
    }
    return fromCancelAnswer(answer, req, secretOf(channel), unixSeconds(clock));
  }

  return {
    provider: 'nice_v2',
    capabilities: NICEPAY_CAPABILITIES,
    baseUrlOf,
    send,

    issueBillingKey: (channel, card, holder) => regist(channel, card, holder, `bk-${freshId()}`),

    deleteBillingKey: expire,

    chargeBillingKey,

    /**
     * Key-in as regist → billing charge → expire with a throw-away key (decision 0014): it works in
     * NICE's sandbox and for every merchant enabled for billing, where `/v1/key-in/payments` is
     * live-only and per-merchant. Only the charge moves money; it carries the attempt's orderId, so
     * an unknown outcome is found by `inquire`. A failed regist charged nothing (not in doubt).
     */
    async chargeKeyIn(channel, card, req) {
      let key: BillingKeyResult;
      try {
        key = await regist(channel, card, req.buyer, `${req.moid}-regist`);
      } catch (err) {
        if (err instanceof ConnectorError) throw new ConnectorError(err.kind, err.message, false, err.retryable, { cause: err });
        throw err;
      }
      if (key.outcome === 'declined') {
        return { outcome: 'declined', code: key.code, message: key.message, pgTid: null, stage: isAuthenticationDecline(key.code) ? 'authentication' : 'approval' };
      }
      try {
        return await chargeBillingKey(channel, key.billingKey, req);
      } finally {
        // the key was for this charge only; a failed expire leaves a key nobody holds
        await expire(channel, key.billingKey).catch(() => undefined);
      }
    },

    refund,

    // an issued, unpaid virtual account is closed by a full cancel (spec §4.2)
    revokeVbank: (channel, req) => refund(channel, { ...req, partial: false }),

    /**
     * By orderId first (an attempt whose answer was lost has no tid at Pier); then by tid when Pier
     * knows one (a declined billing charge is found only by tid, spec §3.2).
     */
    async inquire(channel, q) {
      const byOrder = await lookup(channel, 'find', toFindByOrderIdCall(q.moid, secretOf(channel), ediDate()), q);
      if (byOrder.found || !q.pgTid) return byOrder;
      return lookup(channel, 'lookup', toGetByTidCall(q.pgTid, secretOf(channel), ediDate()), q);
    },

    /**
     * Net-cancel by orderId (spec §5.3) before Pier gives up an attempt NICE had no record of, so
     * an approval NICE applies late is reversed rather than paid beside a retry (decision 0014).
     */
    async voidUnknownAttempt(channel, q) {
      const answer = await send(channel, 'netcancel', toNetCancelCall(q.moid, secretOf(channel), ediDate()));
      return fromNetCancelAnswer(niceResult<NicePayment>(answer, 'netcancel'), q.moid, secretOf(channel));
    },

    close: () => client.close(),
  };
}
