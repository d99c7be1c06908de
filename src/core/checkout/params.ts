/**
 * Validation of IMP.request_pay parameters (spec/api-v1.md §14.2) before any window opens, and the
 * pure rules of the JTNET checkout: which card companies `card.detail` leaves, which installment
 * months may be offered. No I/O here.
 */
import { CARD_CODES, type StandardCode } from '../../domain/codes.js';
import { kstParts } from '../../lib/clock.js';
import { VAT_OVER_TAXABLE, vatWithinTaxable } from '../../domain/payment.js';
import { CUSTOMER_UID_MAX_BYTES, isCustomerUidForm, isMerchantUidForm, MERCHANT_UID_MAX_BYTES, utf8Bytes } from '../../domain/merchant-ids.js';

/** The F1003 message: the amount registered with POST/PUT /payments/prepare and the one at hand differ. */
export const prepareMismatchMessage = (prepared: number, amount: number, refunded = false) =>
  refunded
    ? `사전 등록된 결제금액(${prepared}원)과 결제 금액(${amount}원)이 일치하지 않아 결제를 취소하였습니다. (the prepared amount was changed while the PG window was open; the payment was cancelled at the PG)`
    : `사전 등록된 결제금액(${prepared}원)과 요청 금액(${amount}원)이 일치하지 않습니다. (amount differs from the prepared amount)`;

/** SDK-side codes Pier answers before a window opens (rsp.error_code). F1001, F1002, F0005 are V1's. */
export const RSP_ERRORS = {
  /** invalid request_pay parameters (Pier's code; V1 shows an alert or a PG-specific message) */
  badParams: 'F1000',
  /** V1 [SDK120]: the PG setting named by `pg` does not exist */
  unknownPg: 'F1001',
  /** V1: merchant_uid already paid */
  alreadyPaid: 'F1002',
  /** amount differs from POST /payments/prepare (UNCONFIRMED in V1; docs/decisions/0003-payment-window.md) */
  prepareMismatch: 'F1003',
  /** a payment with this merchant_uid is in progress (Pier's code) */
  inProgress: 'F1004',
  /** V1: the buyer stopped the payment */
  cancelled: 'F0005',
  /** unknown merchant code passed to IMP.init (Pier's code) */
  unknownMerchant: 'F1005',
  /** the checkout session expired or is unknown (Pier's code) */
  expired: 'F1006',
  /** the PG's result could not be verified (Pier's code) */
  unverified: 'F1007',
  /** approved with a card company request_pay's card.detail / card.direct did not enable; refunded (Pier's code) */
  cardNotAllowed: 'F1008',
  /** approved with installments outside display.card_quota or the 50,000 KRW rule; refunded (Pier's code) */
  quotaNotAllowed: 'F1009',
  /** too many checkouts or PG windows from one client address; nothing opened (Pier's code, decision 0059) */
  tooManyRequests: 'F1010',
  /** paid (or an account issued) with another pay_method than request_pay asked for, or as an escrow payment it never asks for; refunded or closed (Pier's code, decisions 0085, 0086) */
  payMethodNotAsked: 'F1011',
  /** a window account whose deposit deadline is later than request_pay's vbank_due; closed at the PG (Pier's code, decision 0085) */
  vbankDueNotAsked: 'F1012',
  /**
   * Given by the SDK only, never by the server: the window was closed and no close could reach Pier
   * to learn its outcome; the buyer may have paid (Pier's code, decision 0120). Listed so that no
   * server answer takes it.
   */
  closeUnconfirmed: 'F1013',
} as const;

export const ALREADY_PAID_RSP_MESSAGE = '이미 결제가 이루어진 거래건입니다.';
export const CANCELLED_RSP_MESSAGE = '사용자가 결제를 취소하였습니다.';
export const IN_PROGRESS_RSP_MESSAGE = '동일한 merchant_uid로 진행 중인 결제가 있습니다. (a payment with this merchant_uid is in progress)';

/** A merchant_uid lock held by a finished payment (paid, refunded, or a virtual account issued) rather than one in flight. */
const isDone = (h: { status: string; pg_state: string }) => h.status !== 'ready' || h.pg_state === 'done';

/**
 * The rsp error of a merchant_uid another payment holds: F1002 when it is paid (or its account
 * issued), F1004 while that payment is in flight (an API charge, or Pier's own call to the PG).
 */
export const merchantUidTakenError = (holder: { status: string; pg_state: string } | undefined): { code: string; message: string } =>
  !holder || isDone(holder) ? { code: RSP_ERRORS.alreadyPaid, message: ALREADY_PAID_RSP_MESSAGE } : { code: RSP_ERRORS.inProgress, message: IN_PROGRESS_RSP_MESSAGE };

export class ParamError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CardRule {
  card_code: string;
  enabled: boolean;
}

/** request_pay parameters after validation: what Pier keeps in the checkout session. */
export interface CheckoutParams {
  pg: string | null;
  pay_method: 'card' | 'trans' | 'vbank' | 'phone';
  merchant_uid: string;
  name: string | null;
  amount: number;
  tax_free: number;
  vat_amount: number | null;
  currency: 'KRW';
  language: 'ko' | 'en';
  buyer_name: string | null;
  buyer_email: string | null;
  buyer_tel: string | null;
  buyer_addr: string | null;
  buyer_postcode: string | null;
  /** as a JSON string, as V1 stores it */
  custom_data: string | null;
  /** space-separated when several */
  notice_url: string | null;
  customer_uid: string | null;
  m_redirect_url: string | null;
  popup: boolean | null;
  digital: boolean;
  /** ms since the epoch */
  vbank_due_ms: number | null;
  display_card_quota: number[] | null;
  card_detail: CardRule[] | null;
  card_direct: { code: string; quota: number } | null;
}

/**
 * Bounds on what request_pay may carry. The buyer's browser is anonymous and untrusted, so every
 * field is bounded before a session is written (docs/decisions/0008-window-input-limits-and-origins.md).
 * Text limits are the `payments` columns, each at least V1's documented length (name 40,
 * buyer_name 16, buyer_email 64, buyer_tel 16, buyer_addr 128, buyer_postcode 8; spec/api-v1.md §12),
 * so no request V1 takes is refused.
 */
export const REQUEST_PAY_LIMITS = {
  name: 200,
  buyer_name: 100,
  buyer_email: 100,
  buyer_tel: 40,
  buyer_addr: 200,
  buyer_postcode: 16,
  /** characters of the JSON text stored as custom_data */
  customData: 10_000,
  /** webhook targets per payment; V1 gives no number, a merchant needs one or two */
  noticeUrls: 5,
  /** characters per notice_url (the common URL length limit of browsers, CDNs and servers) */
  noticeUrlLength: 2_000,
  mRedirectUrlLength: 2_000,
  /** card.detail rules (there are fewer than 30 domestic card companies) */
  cardDetailRules: 64,
  /** display.card_quota entries (months 0..36) */
  cardQuotaEntries: 37,
} as const;

/** C0 controls except tab, line feed and carriage return, and DEL: never text a shop means (and PostgreSQL cannot store NUL). */
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

const str = (v: unknown, field: string, max: number): string | null => {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string') throw new ParamError(RSP_ERRORS.badParams, `${field} 파라미터는 문자열이어야 합니다. (${field} must be a string)`);
  if (v.length > max) throw new ParamError(RSP_ERRORS.badParams, `${field} 파라미터가 너무 깁니다(최대 ${max}자). (${field} is longer than ${max} characters)`);
  if (CONTROL_CHARS.test(v)) throw new ParamError(RSP_ERRORS.badParams, `${field} 파라미터에 제어 문자를 사용할 수 없습니다. (${field} contains a control character)`);
  return v;
};

/** merchant_uid, customer_uid: the characters every path refuses (domain/merchant-ids.ts), tab and line breaks included */
const BAD_ID_CHARS = {
  merchant_uid: ['제어 문자, 짝이 없는 서로게이트 문자', 'a control character or an unpaired surrogate'],
  customer_uid: ['/, ?, #, 제어 문자, 짝이 없는 서로게이트 문자', '/, ?, #, a control character or an unpaired surrogate'],
} as const;
const badId = (field: keyof typeof BAD_ID_CHARS) =>
  new ParamError(RSP_ERRORS.badParams, `${field} 파라미터에 ${BAD_ID_CHARS[field][0]}를 사용할 수 없습니다. (${field} must not contain ${BAD_ID_CHARS[field][1]})`);

/** merchant_uid (40), customer_uid (80): counted in bytes of UTF-8 as REST counts them (docs/decisions/0062-merchant-id-lengths.md) */
const idText = (v: unknown, field: keyof typeof BAD_ID_CHARS, maxBytes: number): string | null => {
  // the session endpoint's body limit bounds the text; its length is judged in bytes just below
  const id = str(v, field, Number.MAX_SAFE_INTEGER);
  if (id !== null && utf8Bytes(id) > maxBytes) {
    throw new ParamError(RSP_ERRORS.badParams, `${field} 파라미터가 너무 깁니다(UTF-8 최대 ${maxBytes}바이트). (${field} is longer than ${maxBytes} bytes of UTF-8)`);
  }
  return id;
};

/**
 * V1's `notice_url`: one URL or a list of them. At most 5 absolute http(s) URLs of at most 2,000
 * characters, without whitespace (Pier keeps the list space-separated). `[]` means none.
 */
export function parseNoticeUrls(v: unknown): string[] {
  if (v === undefined || v === null || v === '') return [];
  const { noticeUrls: maxCount, noticeUrlLength: maxLength } = REQUEST_PAY_LIMITS;
  const bad = (why: string) => new ParamError(RSP_ERRORS.badParams, `notice_url ${why}`);
  const list: unknown[] = Array.isArray(v) ? v : [v];
  if (typeof v !== 'string' && !Array.isArray(v)) throw bad('은 URL 문자열 또는 그 배열이어야 합니다. (notice_url must be a URL or an array of URLs)');
  if (list.length > maxCount) throw bad(`은 최대 ${maxCount}개까지 지정할 수 있습니다(${list.length}개). (notice_url allows at most ${maxCount} URLs, got ${list.length})`);
  for (const u of list) {
    if (typeof u !== 'string' || u === '') throw bad('의 각 항목은 URL 문자열이어야 합니다. (each notice_url must be a non-empty string)');
    if (u.length > maxLength) throw bad(`은 URL당 최대 ${maxLength}자입니다. (each notice_url must be at most ${maxLength} characters)`);
    if (/\s/.test(u) || CONTROL_CHARS.test(u) || !isHttpUrl(u)) throw bad('은 http(s)로 시작하는 절대 URL이어야 합니다. (notice_url must be an absolute http(s) URL)');
  }
  return list as string[];
}

/** V1 `vbank_due`: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM-DD HH:mm:ss`, `YYYYMMDDHHmmss`, `YYYYMMDDHHmm` (KST). */
export function parseVbankDue(v: string): number | null {
  const digits = v.replace(/[-: ]/g, '');
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$/.exec(digits);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hasTime = m[4] !== undefined;
  const [h, mi, s] = hasTime ? [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)] : [23, 59, 59];
  const ms = Date.UTC(y, mo - 1, d, h - 9, mi, s);
  const back = kstParts(ms);
  if (back.year !== y || back.month !== mo || back.day !== d || h > 23 || mi > 59 || s > 59) return null;
  return ms;
}

/**
 * Validates request_pay's `param` as the SDK sent it. Throws ParamError with an rsp error_code.
 * `now` generates `nobody_<ms>` when merchant_uid is absent (V1 SDK behaviour).
 */
export function validateRequestPay(raw: unknown, now: number, supportedMethods: readonly string[]): CheckoutParams {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ParamError(RSP_ERRORS.badParams, 'request_pay 파라미터가 올바르지 않습니다. (param must be an object)');
  const p = raw as Record<string, unknown>;

  const payMethod = p.pay_method === undefined || p.pay_method === null || p.pay_method === '' ? 'card' : p.pay_method;
  if (typeof payMethod !== 'string' || !supportedMethods.includes(payMethod)) {
    throw new ParamError(
      RSP_ERRORS.badParams,
      `지원하지 않는 결제수단입니다: ${String(payMethod)} (pay_method not supported by this PG; supported: ${supportedMethods.join(', ')})`,
    );
  }

  if (typeof p.amount !== 'number' || !Number.isFinite(p.amount)) {
    throw new ParamError(RSP_ERRORS.badParams, 'amount 파라미터는 숫자(number)여야 합니다. (amount must be a number, not a string)');
  }
  if (!Number.isInteger(p.amount) || p.amount < 0) throw new ParamError(RSP_ERRORS.badParams, '결제금액(amount)이 올바르지 않습니다. (amount must be a non-negative integer in KRW)');
  const customerUid = idText(p.customer_uid, 'customer_uid', CUSTOMER_UID_MAX_BYTES);
  if (customerUid && !isCustomerUidForm(customerUid)) throw badId('customer_uid');
  if (customerUid && payMethod !== 'card') throw new ParamError(RSP_ERRORS.badParams, '빌링키 발급(customer_uid)은 신용카드(card)만 지원합니다. (customer_uid requires pay_method card)');
  if (p.amount === 0 && !customerUid) throw new ParamError(RSP_ERRORS.badParams, '결제금액은 0원보다 커야 합니다. (amount must be positive unless customer_uid issues a billing key)');
  if (p.amount > 100_000_000_000) throw new ParamError(RSP_ERRORS.badParams, '결제금액(amount)이 너무 큽니다. (amount too large)');

  let merchantUid = idText(p.merchant_uid, 'merchant_uid', MERCHANT_UID_MAX_BYTES);
  if (merchantUid && !isMerchantUidForm(merchantUid)) throw badId('merchant_uid');
  if (!merchantUid) merchantUid = `nobody_${now}`;

  if (p.currency !== undefined && p.currency !== null && p.currency !== 'KRW') {
    throw new ParamError(RSP_ERRORS.badParams, `지원하지 않는 통화입니다: ${String(p.currency)} (only KRW)`);
  }
  const num = (v: unknown, field: string): number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ParamError(RSP_ERRORS.badParams, `${field} 파라미터는 0 이상의 정수여야 합니다. (${field} must be a non-negative integer)`);
    return v;
  };
  const taxFree = num(p.tax_free, 'tax_free') ?? 0;
  if (taxFree > p.amount) throw new ParamError(RSP_ERRORS.badParams, 'tax_free는 amount보다 클 수 없습니다. (tax_free exceeds amount)');
  const vat = num(p.vat_amount ?? p.vat, 'vat_amount');
  if (!vatWithinTaxable(p.amount, taxFree, vat)) throw new ParamError(RSP_ERRORS.badParams, `${VAT_OVER_TAXABLE} (vat_amount exceeds amount − tax_free)`);

  let customData: string | null = null;
  if (p.custom_data !== undefined && p.custom_data !== null) {
    // JSON.stringify escapes control characters, so only a custom_data given as a string can hold one
    const max = REQUEST_PAY_LIMITS.customData;
    try {
      customData = typeof p.custom_data === 'string' ? p.custom_data : JSON.stringify(p.custom_data);
    } catch (err) {
      // nested deeper than JSON.stringify's stack reaches (20,000 arrays fit in 40 KB): a RangeError, which was a 500
      if (!(err instanceof RangeError)) throw err;
      throw new ParamError(RSP_ERRORS.badParams, `custom_data가 너무 깊게 중첩되어 있습니다. (custom_data is nested too deep)`);
    }
    if (customData.length > max) throw new ParamError(RSP_ERRORS.badParams, `custom_data가 너무 큽니다(JSON 최대 ${max}자). (custom_data is larger than ${max} characters of JSON)`);
    if (CONTROL_CHARS.test(customData)) throw new ParamError(RSP_ERRORS.badParams, 'custom_data에 제어 문자를 사용할 수 없습니다. (custom_data contains a control character)');
  }

  const noticeUrls = parseNoticeUrls(p.notice_url);
  const noticeUrl = noticeUrls.length > 0 ? noticeUrls.join(' ') : null;

  const mRedirect = str(p.m_redirect_url, 'm_redirect_url', REQUEST_PAY_LIMITS.mRedirectUrlLength);
  if (mRedirect && !isHttpUrl(mRedirect)) throw new ParamError(RSP_ERRORS.badParams, 'm_redirect_url은 http(s) URL이어야 합니다. (m_redirect_url must be an http(s) URL)');

  let vbankDue: number | null = null;
  const due = str(p.vbank_due, 'vbank_due', 20);
  if (due) {
    vbankDue = parseVbankDue(due);
    if (vbankDue === null) throw new ParamError(RSP_ERRORS.badParams, 'vbank_due 형식이 올바르지 않습니다(YYYYMMDD, YYYY-MM-DD HH:mm:ss 등). (vbank_due has the wrong format)');
    if (vbankDue <= now) throw new ParamError(RSP_ERRORS.badParams, '가상계좌 입금기한(vbank_due)이 이미 지났습니다. (vbank_due is in the past)');
  }

  let displayQuota: number[] | null = null;
  const display = p.display as { card_quota?: unknown } | undefined;
  if (display && typeof display === 'object' && display.card_quota !== undefined) {
    if (Array.isArray(display.card_quota) && display.card_quota.length > REQUEST_PAY_LIMITS.cardQuotaEntries) {
      throw new ParamError(RSP_ERRORS.badParams, `display.card_quota는 최대 ${REQUEST_PAY_LIMITS.cardQuotaEntries}개입니다. (display.card_quota has too many entries)`);
    }
    if (!Array.isArray(display.card_quota) || !display.card_quota.every((q) => typeof q === 'number' && Number.isInteger(q) && q >= 0 && q <= 36)) {
      throw new ParamError(RSP_ERRORS.badParams, 'display.card_quota는 할부개월 수(0~36) 배열이어야 합니다. (display.card_quota must be an array of months)');
    }
    displayQuota = display.card_quota as number[];
  }

  let cardDetail: CardRule[] | null = null;
  let cardDirect: { code: string; quota: number } | null = null;
  const card = p.card as { detail?: unknown; direct?: unknown } | undefined;
  if (card && typeof card === 'object') {
    if (card.detail !== undefined) {
      if (Array.isArray(card.detail) && card.detail.length > REQUEST_PAY_LIMITS.cardDetailRules) {
        throw new ParamError(RSP_ERRORS.badParams, `card.detail은 최대 ${REQUEST_PAY_LIMITS.cardDetailRules}개입니다. (card.detail has too many rules)`);
      }
      const isRule = (r: any) => r && typeof r === 'object' && typeof r.card_code === 'string' && /^(\*|[0-9A-Za-z]{1,8})$/.test(r.card_code) && typeof r.enabled === 'boolean';
      if (!Array.isArray(card.detail) || !card.detail.every(isRule)) {
        throw new ParamError(RSP_ERRORS.badParams, 'card.detail은 {card_code, enabled} 배열이어야 합니다. (card.detail must be an array of {card_code, enabled})');
      }
      cardDetail = (card.detail as CardRule[]).map((r) => ({ card_code: r.card_code, enabled: r.enabled }));
    }
    if (card.direct !== undefined && card.direct !== null) {
      const d = card.direct as { code?: unknown; quota?: unknown };
      if (typeof d.code !== 'string' || !CARD_CODES.some((c) => c.code === d.code)) throw new ParamError(RSP_ERRORS.badParams, 'card.direct.code가 올바른 카드사 코드가 아닙니다. (card.direct.code is not a KFTC card code)');
      const quota = d.quota === undefined ? 0 : d.quota;
      if (typeof quota !== 'number' || !Number.isInteger(quota) || quota < 0 || quota > 36) throw new ParamError(RSP_ERRORS.badParams, 'card.direct.quota가 올바르지 않습니다. (card.direct.quota must be months)');
      cardDirect = { code: d.code, quota };
    }
  }

  const params: CheckoutParams = {
    pg: str(p.pg, 'pg', 80),
    pay_method: payMethod as CheckoutParams['pay_method'],
    merchant_uid: merchantUid,
    name: str(p.name, 'name', REQUEST_PAY_LIMITS.name),
    amount: p.amount,
    tax_free: taxFree,
    vat_amount: vat,
    currency: 'KRW',
    language: p.language === 'en' ? 'en' : 'ko',
    buyer_name: str(p.buyer_name, 'buyer_name', REQUEST_PAY_LIMITS.buyer_name),
    buyer_email: str(p.buyer_email, 'buyer_email', REQUEST_PAY_LIMITS.buyer_email),
    buyer_tel: str(p.buyer_tel, 'buyer_tel', REQUEST_PAY_LIMITS.buyer_tel),
    buyer_addr: str(p.buyer_addr, 'buyer_addr', REQUEST_PAY_LIMITS.buyer_addr),
    buyer_postcode: str(p.buyer_postcode, 'buyer_postcode', REQUEST_PAY_LIMITS.buyer_postcode),
    custom_data: customData,
    notice_url: noticeUrl,
    customer_uid: customerUid,
    m_redirect_url: mRedirect,
    popup: typeof p.popup === 'boolean' ? p.popup : null,
    digital: p.digital === true,
    vbank_due_ms: vbankDue,
    display_card_quota: displayQuota,
    card_detail: cardDetail,
    card_direct: cardDirect,
  };
  if (cardDirect && enabledCards(params).every((c) => c.code !== cardDirect!.code)) {
    throw new ParamError(RSP_ERRORS.badParams, 'card.direct로 지정한 카드사가 card.detail에서 비활성화되어 있습니다. (card.direct names a disabled card company)');
  }
  if (params.pay_method === 'card' && enabledCards(params).length === 0) {
    throw new ParamError(RSP_ERRORS.badParams, '선택 가능한 카드사가 없습니다. card.detail 설정을 확인하세요. (card.detail disables every card company)');
  }
  return params;
}

export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Domestic card companies offered in the window (KFTC codes; overseas codes are not JTNET's). */
export const WINDOW_CARD_COMPANIES: StandardCode[] = CARD_CODES.filter((c) => c.code.length === 3);

/**
 * The card companies a buyer may pick: every domestic company, then each `card.detail` rule in
 * order (`card_code: '*'` sets them all), then `card.direct` alone if given.
 * `[{card_code:'*',enabled:false},{card_code:'366',enabled:true}]` leaves only 신한카드.
 */
export function enabledCards(p: Pick<CheckoutParams, 'card_detail' | 'card_direct'>): StandardCode[] {
  const enabled = new Map(WINDOW_CARD_COMPANIES.map((c) => [c.code, true]));
  for (const rule of p.card_detail ?? []) {
    if (rule.card_code === '*') for (const k of enabled.keys()) enabled.set(k, rule.enabled);
    else if (enabled.has(rule.card_code)) enabled.set(rule.card_code, rule.enabled);
  }
  const list = WINDOW_CARD_COMPANIES.filter((c) => enabled.get(c.code));
  return p.card_direct ? list.filter((c) => c.code === p.card_direct!.code) : list;
}

/** Installments are offered only from this amount up (V1 rule, spec/api-v1.md §14.2). */
export const INSTALLMENT_MINIMUM = 50_000;
const DEFAULT_QUOTAS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/**
 * Installment months the buyer may choose, always starting with 0 (lump sum): none below 50,000
 * KRW; `display.card_quota` limits them (`[]` = lump sum only); `card.direct.quota` fixes one.
 */
export function allowedQuotas(p: Pick<CheckoutParams, 'amount' | 'display_card_quota' | 'card_direct'>): number[] {
  if (p.amount < INSTALLMENT_MINIMUM) return [0];
  if (p.card_direct && p.card_direct.quota >= 2) return [p.card_direct.quota];
  const months = p.display_card_quota === null ? DEFAULT_QUOTAS : p.display_card_quota.filter((q) => q >= 2);
  return [0, ...[...new Set(months)].sort((a, b) => a - b)];
}

const MOBILE_UA = /Mobi|Android|iPhone|iPad|iPod|Windows Phone|SamsungBrowser/i;

/** Whether a user agent is a phone or tablet browser (V1 opens the mobile window there). */
export function isMobileUserAgent(ua: string | null | undefined): boolean {
  return !!ua && MOBILE_UA.test(ua);
}
