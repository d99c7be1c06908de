/**
 * Types of Pier's browser SDK (`window.IMP`), compatible with the `iamport-typings` package: a
 * merchant's `RequestPayParams` is accepted as Pier's params, and a callback written for
 * `RequestPayResponse` accepts Pier's rsp (test/sdk/typings.test.ts compiles such a snippet).
 */

export type PierPayMethod = 'card' | 'trans' | 'vbank' | 'phone';

/** `IMP.request_pay` parameters (spec/api-v1.md §14.2). Pier's JTNET window uses the ones documented here. */
export interface PierRequestPayParams {
  /** `jtnet` or `jtnet.{MID}`; absent = the merchant's default window channel */
  pg?: string;
  /** `card` (default), `trans`, `vbank`, `phone` */
  pay_method?: string;
  /** order id, at most 40 characters; generated as `nobody_<ms>` when absent (V1) */
  merchant_uid?: string;
  name?: string;
  /** KRW as a number (a string is refused); 0 only with customer_uid (billing key only) */
  amount: number;
  tax_free?: number;
  vat?: number;
  vat_amount?: number | null;
  currency?: string;
  /** `ko` (default) or `en` */
  language?: string;
  buyer_name?: string;
  buyer_email?: string;
  buyer_tel?: string;
  buyer_addr?: string;
  buyer_postcode?: string;
  /** echoed back in the rsp; stored as a JSON string */
  custom_data?: unknown;
  /** webhook URL(s) for this payment */
  notice_url?: string | string[];
  confirm_url?: string;
  /** issue a billing key in the window (card only) */
  customer_uid?: string;
  escrow?: boolean;
  escrowProducts?: unknown[];
  digital?: boolean;
  /** `YYYYMMDD`, `YYYY-MM-DD`, `YYYYMMDDHHmmss`, `YYYY-MM-DD HH:mm:ss` (KST) */
  vbank_due?: string;
  /** mobile: the page the buyer is sent to with the result in the query string */
  m_redirect_url?: string;
  app_scheme?: string;
  biz_num?: string;
  /** PC: open the checkout in a popup window instead of an overlay; `false` + m_redirect_url = full-page redirect */
  popup?: boolean;
  display?: { card_quota?: number[] };
  card?: {
    direct?: { code: string; quota: number };
    detail?: { card_code: string; enabled: boolean }[];
  };
}

/** The callback's `rsp` (spec/api-v1.md §14.3). */
export interface PierRequestPayResponse {
  success: boolean;
  imp_success: boolean;
  /** null when the request was refused before a payment was recorded */
  imp_uid: string | null;
  merchant_uid: string;
  /** the PG's own code on a decline; `F1002` already paid, `F0005` cancelled by the buyer, … */
  error_code?: string;
  error_msg?: string;
  pay_method?: PierPayMethod;
  /** the amount paid; for an issued virtual account (status `ready`) the amount to deposit; 0 on failure */
  paid_amount?: number;
  status?: 'ready' | 'paid' | 'failed';
  name?: string;
  pg_provider?: 'jtnet';
  pg_tid?: string;
  pg_type?: 'payment';
  buyer_name?: string;
  buyer_email?: string;
  buyer_tel?: string;
  buyer_addr?: string;
  buyer_postcode?: string;
  custom_data?: unknown;
  paid_at?: number;
  /** the PG's sales slip of an approved card, transfer or phone payment; absent when there is none */
  receipt_url?: string;
  currency?: 'KRW';
  apply_num?: string;
  card_name?: string | null;
  /** masked */
  card_number?: string | null;
  card_quota?: number;
  bank_name?: string | null;
  vbank_code?: string | null;
  vbank_num?: string;
  vbank_name?: string;
  vbank_holder?: string | null;
  /** deposit deadline, UNIX seconds */
  vbank_date?: number;
  customer_uid?: string | null;
}

export type PierRequestPayCallback = (rsp: PierRequestPayResponse) => void;

/** `window.IMP`. */
export interface PierIMP {
  /** the merchant code, `imp` + 8 digits (IMP.init must come before request_pay) */
  init(userCode: string): void;
  /** sub-merchant form of init; the tier code is accepted and ignored */
  agency(userCode: string, tierCode?: string): void;
  request_pay(params: PierRequestPayParams, callback?: PierRequestPayCallback): void;
  /** closes an open checkout as if the buyer closed it */
  close(): void;
  readonly version: string;
}
