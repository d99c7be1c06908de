import type { TObject } from 'typebox';
import type { CardInput } from '../lib/card.js';
import type { Clock } from '../lib/clock.js';
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
  /** the PG's id of the merchant account: tPay's MID (e.g. `tpaytest1m`), NICE's clientId (e.g. `S2_af45…`) */
  mid: string;
  /** the PG's secret for this account: tPay's merchant key (also its REST `api_key`), NICE's secretKey */
  merchantKey: Secret;
  /** password the PG requires on refunds (tPay); empty for PGs that have none */
  cancelPassword: Secret;
  /**
   * a test account: PGs with separate test hosts (NICE's sandbox) are called there. Absent = false.
   */
  sandbox?: boolean;
  /**
   * this channel's own API base URL, for an endpoint that speaks the PG's protocol elsewhere (a
   * simulator, a proxy); absent or null = the connector's configured host for `sandbox`
   */
  baseUrl?: string | null;
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
  /**
   * the tax-free part of `amount` (V1 `tax_free`), for PGs that take one (NICE `taxFreeAmt`); absent
   * or 0 = none. tPay takes none.
   */
  taxFree?: number;
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
      /** the PG's sales-slip page a buyer can open (V1 receipt_url); null when the PG gives none */
      receiptUrl: string | null;
    } & CardDetails)
  | {
      outcome: 'declined';
      code: string;
      message: string;
      pgTid: string | null;
      /**
       * where the card was refused: `authentication` when the card data itself is wrong (number,
       * expiry, birth date, password), `approval` when the issuer declined a valid card (limit,
       * balance, suspension). V1 answers a key-in authentication failure with code -1 and no payment.
       */
      stage?: 'authentication' | 'approval';
    };

export type BillingKeyResult =
  | ({ outcome: 'issued'; billingKey: string } & CardDetails)
  | { outcome: 'declined'; code: string; message: string };

export interface RefundRequest {
  pgTid: string;
  moid: string;
  /**
   * Pier's id of this refund (its `payment_cancels` row), stable across retries: PGs that want a
   * unique id per cancel call (NICE's cancel `orderId`) derive it from this. Absent = the connector
   * makes a fresh one.
   */
  refundId?: string;
  amount: number;
  /** true when less than the remaining balance is refunded */
  partial: boolean;
  reason: string;
  /** virtual-account refunds: the buyer's refund account (KFTC bank code, number, holder) */
  refundBank?: string | null;
  refundAccount?: string | null;
  refundHolder?: string | null;
  /**
   * the tax-free part of this refund as Pier recorded it (decision 0055), for PGs that take one (NICE
   * `taxFreeAmt`); absent or 0 = none. No PG of Pier's takes a refund's VAT (decision 0081).
   */
  taxFree?: number;
}

export type RefundResult =
  | {
      outcome: 'refunded';
      pgCancelTid: string;
      amount: number;
      cancelledAt: number;
      /** the PG's slip of this cancel (V1 cancel_history[].receipt_url), when it gives one */
      receiptUrl: string | null;
    }
  | { outcome: 'declined'; code: string; message: string };

/**
 * What the PG knows about an attempt, asked for when Pier is in doubt (after a timeout).
 * `awaiting_deposit`: a virtual account issued and not paid into yet (`vbank` tells which); it is
 * neither paid nor failed, and stays so until the buyer deposits or its due date passes.
 */
export type InquiryResult =
  | { found: false }
  | {
      found: true;
      state: 'paid' | 'cancelled' | 'failed' | 'awaiting_deposit';
      /**
       * The issued account, as the PG reports it (never as a browser posted it): always when `state`
       * is `awaiting_deposit`; for an account paid into (or closed) when the PG's answer names it,
       * so that one Pier first hears of already paid is recorded with its account (decision 0103).
       * `holder` null when the PG names none; `dueAt` 0 when it gives no deadline; `issuedAt` (UNIX
       * s) when the answer tells the issue apart from the deposit (`paidAt` is the deposit's time).
       */
      vbank?: { code: string; name: string; num: string; holder: string | null; dueAt: number; issuedAt?: number } | null;
      pgTid: string;
      amount: number;
      cancelledAmount: number;
      applyNum: string | null;
      paidAt: number;
      cardQuota: number;
      receiptUrl: string | null;
      /**
       * The method the PG says it was paid with; null or absent when its answer does not say (or
       * names one Pier does not know). A window's method is the browser's to post (tPay signs only
       * amt, mid and moid; NICE's SDK takes it from the page), so this is what the attempt's method
       * is checked against (decision 0085).
       */
      payMethod?: WindowPayMethod | null;
      /**
       * When the PG made this answer, UNIX seconds by the PG's own clock, from a part of the answer
       * it signs (NICE: `ediDate`, "response creation time"); absent when the PG does not say. Compared
       * only with a notice's `sentAt`, the same clock (decision 0087).
       */
      answeredAt?: number;
      /**
       * True when the PG made it an escrow payment (tPay `trans_type` 1, NICE `useEscrow`), false when
       * it says it did not, absent when its answer does not say. Escrow is the browser's to ask for
       * as well (tPay's `transType`, NICE's `useEscrow`), and Pier's checkout never asks for it
       * (decision 0086).
       */
      escrow?: boolean;
    } & CardDetails;

/** What the PG holds for a billing key (asked to confirm a key a browser reported). */
export type BillingKeyInquiry =
  | { found: false }
  | ({
      found: true;
      billingKey: string;
      /** the order id of the window the key was issued in; null when issued otherwise (REST) */
      moid: string | null;
    } & CardDetails);

/** A channel's PG settings as an operator enters them (console, CLI), before they are stored. */
export interface ChannelSettings {
  /** the PG's account id: tPay's MID, NICE's clientId */
  mid: string;
  /** the PG's secret; empty when editing and keeping the stored one */
  merchantKey: string;
  /** empty when the PG has none, or when editing and keeping the stored one */
  cancelPassword: string;
  sandbox: boolean;
  /** the channel's own API base URL, or null for the connector's configured host */
  baseUrl: string | null;
}

/** Which setting is wrong and why; `message` is English for the CLI and the API, `code` picks the console's text. */
export interface ChannelProblem {
  field: keyof ChannelSettings;
  code: 'required' | 'invalid' | 'too_long' | 'mode_mismatch' | 'not_allowed';
  message: string;
}

/** A PG's published test account (its simulator knows it too). */
export interface TestAccount {
  mid: string;
  kind: 'window' | 'api';
  name: string;
  merchantKey: string;
  cancelPassword: string;
  /** the sandbox demo merchant's default channel of its kind */
  demoDefault: boolean;
}

/**
 * What a PG asks of a channel (issue #13): the names of its credentials as the PG's own admin shows
 * them, which of them exist, and which values are valid. Channels, the console and the CLI stay
 * generic: a new PG brings its rules in its folder.
 */
export interface ChannelRules {
  /** the account id's name, e.g. `MID`, `clientId` */
  accountIdLabel: string;
  /** the secret's name, e.g. `merchantKey`, `secretKey` */
  secretLabel: string;
  /** an example account id for help texts, e.g. `tpaytest1m` */
  accountIdExample: string;
  /** refunds need a cancel password (tPay); false = the channel stores an empty one */
  cancelPassword: boolean;
  /** a channel may point at its own API base URL (a simulator, a NICE-compatible endpoint) */
  baseUrl: boolean;
  /**
   * the PG sends server-to-server notices to a URL registered once in its admin (NICE's webhook,
   * tPay's deposit notice URL), never to one the payment window carries (decision 0086): Pier shows
   * `{publicUrl}/checkout/pg/{channelId}/notify` to register there
   */
  registeredNotifyUrl: boolean;
  /** where in the PG's admin that URL is registered, for help texts (Korean, English) */
  notifyUrlSetting?: { ko: string; en: string };
  /**
   * the PG's published test accounts: the sandbox demo merchant gets a channel for each, and the
   * console fills one in for a test-mode channel left without an account id
   */
  testAccounts: readonly TestAccount[];
  /** the mode an account id implies by itself (NICE: `S…` sandbox, `R…` live); null or absent when it does not tell */
  impliedSandbox?(accountId: string): boolean | null;
  /** problems with these settings (empty = valid); `editing` lets the secrets stay empty (kept as stored) */
  check(settings: ChannelSettings, o: { editing: boolean }): ChannelProblem[];
}

/**
 * How Pier builds a connector: one per PG folder, listed once in `registry.ts`. Its configuration
 * section (`connectors.<provider>` in Pier's config, with its defaults and environment variables)
 * lives with the connector, so adding a PG touches no other part of Pier's configuration.
 */
export interface ConnectorModule<Options extends ConnectorBaseOptions = ConnectorBaseOptions, Provider extends string = string> {
  /** V1 pg_provider code, e.g. `jtnet`, `nice_v2` */
  readonly provider: Provider;
  /** the PG's name as the console shows it */
  readonly label: string;
  /** JSON schema (TypeBox) of `connectors.<provider>` */
  readonly schema: TObject;
  readonly defaults: Options;
  /** environment variable → key inside `connectors.<provider>` and how to read it */
  readonly env: Readonly<Record<string, { key: keyof Options & string; type: 'string' | 'int' | 'bool' }>>;
  /** what a channel of this PG holds and which values are valid */
  readonly channelRules: ChannelRules;
  /**
   * how an operator sets this PG up when its configuration leaves it out, for the start's log line
   * and the refusal of a channel of it (e.g. `set PIER_JTNET_URL to the tPay host`); names no secret
   */
  readonly setupHint: string;
  /**
   * Where this configuration sends the PG's test (sandbox) calls when that is a simulator Pier can
   * drive (the embedded one, or one named in the settings), for the sandbox tools (lib/simulator-tools.ts);
   * null when it is the PG's own test host or nothing (decision 0080)
   */
  sandboxHost(options: Options, context: ConnectorContext): string | null;
  /**
   * PG calls one operation (a charge, a refund) may make one after another before its outcome is
   * recorded; 1 when absent. How long after an attempt or a refund is recorded one of its calls may
   * still be in flight, so how long reconciliation leaves it alone (decision 0099).
   */
  readonly callsPerOperation?: number;
  /**
   * The connector, or null when this configuration does not set the PG up at all (JTNET: no host and
   * no embedded simulator): the registry then leaves the PG out, so a Pier that uses only other PGs
   * needs nothing of it (decision 0079). A configuration that sets it up wrongly throws
   * ConnectorConfigError.
   */
  create(options: Options, context: ConnectorContext): (Connector & { close(): Promise<void> }) | null;
}

/** Every connector's configuration has at least its timeouts. */
export interface ConnectorBaseOptions {
  connectTimeoutMs: number;
  /** past it a call fails with ConnectorError kind `timeout`, in doubt */
  readTimeoutMs: number;
}

/** What Pier gives every connector besides its own configuration. */
export interface ConnectorContext {
  /** time source for request timestamps and fallbacks (default: system clock) */
  clock?: Clock;
  /**
   * this PG's simulator when Pier runs it embedded (sandbox mode): `apiUrl` is where Pier calls it,
   * `publicUrl` where buyers' browsers reach its window and slips
   */
  simulator?: { apiUrl: string; publicUrl: string };
}

/** A connector's configuration cannot work (e.g. no PG address and no simulator). */
export class ConnectorConfigError extends Error {
  override name = 'ConnectorConfigError';
  constructor(
    /** the configuration key at fault, e.g. `connectors.jtnet.baseUrl` */
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

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
  /**
   * closes a virtual account issued in the window that nobody has paid into yet (DELETE /vbanks),
   * when the PG can; a `declined` result leaves it open
   */
  revokeVbank?(channel: ChannelCredentials, req: { pgTid: string; moid: string; amount: number; reason: string }): Promise<RefundResult>;
  /** look an attempt up by the moid Pier sent (and the PG tid when known) */
  inquire(channel: ChannelCredentials, q: { moid: string; pgTid?: string | null; aroundMs: number }): Promise<InquiryResult>;
  /**
   * Before Pier gives up an attempt the PG has no record of (and frees its merchant_uid), makes
   * sure the PG can never approve it late, where the PG has such a call (NICE's net-cancel by
   * order id). `voided`: the PG had approved it after all and has now reversed it; the approval
   * as the PG's signed answer reports it (reversed), to be recorded with its refund. Throws
   * ConnectorError when it cannot tell; the attempt then stays open. Absent: nothing to do.
   */
  voidUnknownAttempt?(channel: ChannelCredentials, q: { moid: string }): Promise<'nothing' | { voided: Extract<InquiryResult, { found: true }> }>;
  /** look a billing key up at the PG; a deleted or unknown key is `found: false` */
  inquireBillingKey?(channel: ChannelCredentials, billingKey: string): Promise<BillingKeyInquiry>;
  /** the PG's payment window, when it has one */
  readonly window?: WindowConnector;
  /**
   * a cheap call that proves the PG's API answers (for GET /ready); throws ConnectorError when it
   * cannot be reached. Moves no money and needs no merchant credentials.
   */
  ping?(deadlineMs: number): Promise<void>;
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

// ---------------------------------------------------------------------------------------------
// Payment window (authenticated payments through the PG's own window, issue #3)

export type WindowPayMethod = 'card' | 'trans' | 'vbank' | 'phone';

/** What Pier's checkout asks the PG window for. */
export interface WindowRequest {
  /** order id sent to the PG: the imp_uid of the attempt */
  moid: string;
  amount: number;
  goodsName: string;
  payMethod: WindowPayMethod;
  buyer: Buyer;
  mallUserId?: string;
  /** where the PG posts the buyer's browser back with the result */
  returnUrl: string;
  /** where the PG sends the buyer who closes or cancels the window */
  cancelUrl: string;
  /** mobile window (full-page) rather than PC */
  mobile: boolean;
  /** installment months the buyer may choose; [] = lump sum only */
  cardQuotas: number[];
  /** KFTC card company chosen in Pier's checkout, if any */
  cardCode?: string | null;
  /** issue a billing key in the window (request_pay with customer_uid); card only */
  billing: boolean;
  /** virtual-account deposit deadline, ms since the epoch */
  vbankDueMs?: number | null;
  /** phone payments: digital content (V1 `digital`; NICE `isDigital`) */
  digital?: boolean;
  language: 'ko' | 'en';
  /** the tax-free part of `amount` (V1 `tax_free`), for PGs whose window takes one (NICE `taxFreeAmt`); absent or 0 = none */
  taxFree?: number;
}

/**
 * How the buyer's browser opens the PG window, handed over by Pier's checkout page:
 *  - `form`: a form the page posts to the PG (tPay: webTxInit);
 *  - `script`: the PG's JS SDK loaded from `src`, then the function `call` (a dotted global name)
 *    called with `params` (NICE: `AUTHNICE.requestPay`). The page adds `fnError`, which hands an SDK
 *    error back to `returnUrl` as a non-success result, and allows scripts from `src`'s origin only.
 *
 * @example { kind: 'script', src: 'https://pay.nicepay.co.kr/v1/js/', call: 'AUTHNICE.requestPay', params: { clientId, method: 'card', orderId, amount, goodsName, returnUrl } }
 */
export type WindowForm =
  | { kind: 'form'; action: string; method: 'POST'; fields: Record<string, string> }
  | { kind: 'script'; src: string; call: string; params: Record<string, string | number | boolean> };

export type WindowResult =
  | ({
      outcome: 'approved';
      pgTid: string;
      applyNum: string | null;
      paidAt: number;
      cardQuota: number;
      receiptUrl: string | null;
      /** bank of a real-time transfer (KFTC code and name) */
      bankCode: string | null;
      bankName: string | null;
    } & CardDetails)
  | {
      outcome: 'vbank_issued';
      pgTid: string;
      vbankCode: string;
      vbankName: string;
      vbankNum: string;
      vbankHolder: string | null;
      /** deposit deadline, UNIX seconds */
      vbankDate: number;
      issuedAt: number;
    }
  | ({ outcome: 'billing_key_issued'; billingKey: string } & CardDetails)
  | { outcome: 'declined'; code: string; message: string; pgTid: string | null }
  | { outcome: 'cancelled_by_buyer'; code: string; message: string }
  /**
   * The buyer authenticated and the PG waits for the merchant's server to approve (NICE Server 승인):
   * nothing is charged until Pier calls approveWindowResult with this tid and its own amount.
   */
  | { outcome: 'authenticated'; pgTid: string };

/**
 * What an approve call (approveWindowResult) can answer: the payment, or why there is none.
 * `another_order`: the PG approved the tid, but for the order it was authenticated for, not this
 * attempt (an auth result moved from another window: its signature covers neither tid nor order
 * id). Nothing was charged for this attempt; `moid`'s was.
 */
export type WindowApproval = Extract<WindowResult, { outcome: 'approved' | 'vbank_issued' | 'declined' }> | { outcome: 'another_order'; pgTid: string; moid: string };

/** A server-to-server notice from the PG about an earlier window payment (a virtual-account deposit). */
export interface DepositNotice {
  moid: string;
  pgTid: string;
  amount: number;
  depositedAt: number;
  depositorName: string | null;
}

/**
 * A notice the PG sent to the channel's notify URL (`/checkout/pg/{channel}/notify`, registered in the
 * PG's admin: decision 0086), verified:
 *  - `deposit`: a virtual-account deposit whose content the PG signed in full (tPay);
 *  - `payment_changed`: "this payment changed" (NICE webhooks: the signature covers only tid, amount
 *    and ediDate): Pier re-reads the payment from the PG by tid and applies what the PG says.
 */
export type PgNotice = { kind: 'deposit'; deposit: DepositNotice } | PaymentChangedNotice;

/** "This payment changed, ask me" (NICE's webhooks): verified, it names the payment and nothing more is trusted. */
export interface PaymentChangedNotice {
  kind: 'payment_changed';
  moid: string;
  pgTid: string;
  /**
   * What tells this message from the PG's other messages about the tid, taken from its signed part
   * (NICE: `ediDate`, fresh for every event and the same on every resend of it): a repeat of a
   * message Pier already asked the PG about brings nothing new. Absent: every notice is asked about.
   */
  messageId?: string;
  /**
   * When the PG made this message, UNIX seconds by the PG's own clock, from its signed part (NICE:
   * `ediDate`, made after the event and the same on every resend). A message made well before an
   * answer about the payment that Pier applied (InquiryResult `answeredAt`) announces nothing that
   * answer did not hold (decision 0087). Absent: no such comparison.
   */
  sentAt?: number;
  /**
   * The state the notice claims, from fields its signature does not cover (NICE: `status`,
   * `balanceAmt`): never recorded, only used to leave the PG unasked when Pier already records the
   * payment exactly so. Absent when the PG's status is not one Pier reads.
   */
  claimed?: { state: 'paid' | 'awaiting_deposit' | 'cancelled'; amount: number; cancelledAmount: number };
}

/** Window support, for connectors whose PG has a payment window. */
export interface WindowConnector {
  /** false when the PG window cannot issue billing keys (request_pay with customer_uid is refused before it opens); absent = it can */
  readonly issuesBillingKeys?: boolean;
  /** builds what opens the PG window (a form to post, or the PG's JS SDK to call) */
  startWindow(channel: ChannelCredentials, req: WindowRequest): WindowForm;
  /**
   * Verifies and maps what the PG posted back to `returnUrl` (decrypting or checking the signature,
   * and the amount and order id against what Pier expects); a tampered result throws
   * ConnectorError('bad_response'). An `authenticated` result still needs approveWindowResult.
   */
  readWindowResult(channel: ChannelCredentials, posted: Record<string, string>, expected: { moid: string; amount: number }): WindowResult;
  /**
   * Server approval of an `authenticated` result (NICE `POST /v1/payments/{tid}` with Pier's amount),
   * the answer's signature verified. A timeout throws ConnectorError with inDoubt: the PG may have
   * approved, so the attempt is settled by inquiry. Required when readWindowResult can answer `authenticated`.
   */
  approveWindowResult?(channel: ChannelCredentials, req: { pgTid: string; moid: string; amount: number }): Promise<WindowApproval>;
  /** acknowledges a result to the PG (tPay resultConfirm) after Pier recorded it; resolves at once for a PG without that step (NICE) */
  confirmWindowResult(channel: ChannelCredentials, pgTid: string): Promise<void>;
  /** verifies and maps a notice the PG sent to the channel's notify URL: form fields or a JSON body, as the PG sends them */
  readNotice(channel: ChannelCredentials, body: Record<string, unknown>): PgNotice;
  /** the answer the PG expects to a notice it delivered (NICE: `OK` as text/html); absent = Pier's JSON answer */
  readonly noticeAnswer?: { contentType: string; body: string };
}
