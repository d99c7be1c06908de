import type { CardInput } from '../lib/card.js';
import type { Secret } from '../lib/secret.js';

/** V1 pay_method values a connector may support. */
export type PayMethod = 'card' | 'trans' | 'vbank' | 'phone';

/** What a PG can do through Pier. The core checks these before calling a connector. */
export interface ConnectorCapabilities {
  /** pay methods offered in the payment window */
  windowPayMethods: PayMethod[];
  /** key-in card payments (POST /subscribe/payments/onetime) */
  keyIn: boolean;
  /** billing keys by REST (POST /subscribe/customers/{customer_uid}) and charges with them */
  billingKey: boolean;
  /** partial refunds (per pay method) */
  partialCancel: Partial<Record<PayMethod, boolean>>;
  /** POST /vbanks (virtual account without the window) */
  vbankApi: boolean;
  /** POST /receipts/* cash receipts */
  cashReceipts: boolean;
  /** escrow logistics API */
  escrowLogistics: boolean;
}

/** A PG account as configured on a merchant's channel. Secrets stay wrapped until the wire. */
export interface ChannelCredentials {
  /** PG merchant id (MID), e.g. `tpaytest1m` */
  mid: string;
  /** the PG's merchant key; for tPay it doubles as the REST `api_key` */
  merchantKey: Secret;
  /** password the PG requires on refunds */
  cancelPassword: Secret;
}

export interface Buyer {
  name?: string | null;
  email?: string | null;
  tel?: string | null;
  addr?: string | null;
  postcode?: string | null;
}

/** Card facts a PG reports back; never the full number. */
export interface CardDetails {
  /** KFTC 3-digit card company code (V1 `card_code`), e.g. `366` */
  cardCode: string | null;
  /** card company name (V1 `card_name`), e.g. `신한카드` */
  cardName: string | null;
  /** masked card number as the PG returned it */
  cardNumberMasked: string | null;
  /** 0 credit, 1 check, null unknown */
  cardType: 0 | 1 | null;
}

export interface ChargeRequest {
  /** order id sent to the PG; Pier uses the imp_uid, unique per attempt, so an attempt can be found again */
  moid: string;
  amount: number;
  goodsName: string;
  /** installment months, 0 = lump sum */
  cardQuota: number;
  buyer: Buyer;
  /** merchant-side user id, if any (customer_uid for billing charges) */
  mallUserId?: string;
}

export type ChargeResult =
  | ({
      outcome: 'approved';
      pgTid: string;
      /** card approval number (V1 apply_num) */
      applyNum: string;
      cardQuota: number;
      /** UNIX seconds of approval as the PG reports it */
      paidAt: number;
      receiptUrl: string | null;
    } & CardDetails)
  | { outcome: 'declined'; code: string; message: string; pgTid: string | null };

export type BillingKeyResult =
  | ({ outcome: 'issued'; billingKey: string } & CardDetails)
  | { outcome: 'declined'; code: string; message: string };

export interface RefundRequest {
  pgTid: string;
  moid: string;
  amount: number;
  /** true when less than the remaining balance is refunded */
  partial: boolean;
  reason: string;
}

export type RefundResult =
  | { outcome: 'refunded'; pgCancelTid: string; amount: number; cancelledAt: number }
  | { outcome: 'declined'; code: string; message: string };

/** What the PG knows about an attempt, asked for when Pier is in doubt (after a timeout). */
export type InquiryResult =
  | { found: false }
  | {
      found: true;
      state: 'paid' | 'cancelled' | 'failed';
      pgTid: string;
      amount: number;
      cancelledAmount: number;
      applyNum: string | null;
      paidAt: number;
      cardQuota: number;
      receiptUrl: string | null;
    } & CardDetails;

/**
 * A PG connector: wire types, mapping functions and HTTP, nothing else (design.md principle 2).
 * Declines are results; technical failures throw ConnectorError.
 */
export interface Connector {
  /** V1 pg_provider code, e.g. `jtnet` */
  readonly provider: string;
  readonly capabilities: ConnectorCapabilities;
  issueBillingKey(channel: ChannelCredentials, card: CardInput, holder: Buyer): Promise<BillingKeyResult>;
  deleteBillingKey(channel: ChannelCredentials, billingKey: string): Promise<void>;
  chargeKeyIn(channel: ChannelCredentials, card: CardInput, req: ChargeRequest): Promise<ChargeResult>;
  chargeBillingKey(channel: ChannelCredentials, billingKey: string, req: ChargeRequest): Promise<ChargeResult>;
  refund(channel: ChannelCredentials, req: RefundRequest): Promise<RefundResult>;
  /** look an attempt up by the moid Pier sent (and the PG tid when known) */
  inquire(channel: ChannelCredentials, q: { moid: string; pgTid?: string | null; aroundMs: number }): Promise<InquiryResult>;
}

export type ConnectorErrorKind = 'connect' | 'timeout' | 'http_status' | 'bad_response';

/**
 * A technical failure talking to a PG (never a decline).
 * `inDoubt` is true when the request may have reached the PG and been acted on
 * (read timeout, connection reset after sending, 5xx): the outcome must be settled by inquiry.
 * A `connect` failure never reached the PG, so it is not in doubt.
 */
export class ConnectorError extends Error {
  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    readonly inDoubt: boolean,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectorError';
  }
}
