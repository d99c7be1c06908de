import type { FastifyRequest } from 'fastify';
import { PierError } from './errors.js';
import type { CardInput } from '../lib/card.js';
import { VAT_OVER_TAXABLE, vatWithinTaxable } from '../domain/payment.js';

/** The authenticated merchant of a request (set by the auth hook). */
export function merchantOf(req: FastifyRequest): string {
  if (!req.merchant) throw new PierError('unauthorized', 'Unauthorized');
  return req.merchant.merchantId;
}

/** The schema's bound on a custom_data string; an object or array is held to the same length of JSON (as the window's). */
export const CUSTOM_DATA_MAX = 10_000;

/**
 * A parsed body value as JSON text, for storing. A value nested deeper than JSON.stringify's stack
 * reaches (20,000 arrays fit a 40 KB body) throws a RangeError, which was a 500: refused naming `field`.
 */
export function jsonTextOf(v: unknown, field: string): string {
  try {
    return JSON.stringify(v);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new PierError('invalid_parameter', `파라미터 형식이 올바르지 않습니다: ${field}`, `${field} is nested too deep`);
  }
}

/** custom_data as stored: a string as given, an object or array as JSON within the string's bound. */
export function customDataString(v: unknown, field = 'custom_data'): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  const text = jsonTextOf(v, field);
  if (text.length > CUSTOM_DATA_MAX) throw new PierError('invalid_parameter', `파라미터 형식이 올바르지 않습니다: ${field}`, `${field} is longer than ${CUSTOM_DATA_MAX} characters of JSON`);
  return text;
}

/** Turns the V1 card fields into in-memory card data. The card never goes further than the PG call. */
export function cardFromBody(b: { card_number: string; expiry: string; birth?: string | null; pwd_2digit?: string | null; cvc?: string | null }): CardInput {
  const expiry = b.expiry.replace('-', '');
  return {
    number: b.card_number.replace(/[^0-9]/g, ''),
    expiryYear: Number(expiry.slice(0, 4)),
    expiryMonth: Number(expiry.slice(4, 6)),
    birth: b.birth ?? undefined,
    pwd2digit: b.pwd_2digit ?? undefined,
    cvc: b.cvc ?? undefined,
  };
}

export function buyerFromBody(b: {
  buyer_name?: string | null;
  buyer_email?: string | null;
  buyer_tel?: string | null;
  buyer_addr?: string | null;
  buyer_postcode?: string | null;
}) {
  return {
    name: b.buyer_name ?? null,
    email: b.buyer_email ?? null,
    tel: b.buyer_tel ?? null,
    addr: b.buyer_addr ?? null,
    postcode: b.buyer_postcode ?? null,
  };
}

/** `name[]` query arrays arrive as a string when given once. */
export function asArray(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * V1 `notice_url` (a URL or a list of them) as Pier keeps it: space-separated, null for none. Each
 * item must be one absolute http(s) URL, as in the payment window (checkout/params.ts
 * parseNoticeUrls): the kept list is split on whitespace, so an item packing URLs between spaces
 * became that many receivers (50 in one 2,000-character item, 500 deliveries of one payment from
 * ten items), and an item that is no URL was tried ten times for nothing (decision 0045).
 */
export function noticeUrlOf(v: string | string[] | null | undefined): string | null {
  if (v === undefined || v === null) return null;
  const list = asArray(v)
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of list) {
    if (/[\s\u0000-\u001F\u007F]/.test(u) || !isHttpUrl(u)) {
      throw new PierError('invalid_parameter', 'notice_url의 각 항목은 http(s)로 시작하는 절대 URL 하나여야 합니다. (each notice_url must be one absolute http(s) URL)');
    }
  }
  return list.length > 0 ? list.join(' ') : null;
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The order fields shared by onetime and again, as the core wants them (the client's User-Agent, cut to 256 characters, included). */
export function orderFromBody(
  req: FastifyRequest,
  b: {
    merchant_uid: string;
    amount: number;
    tax_free?: number | null;
    vat_amount?: number | null;
    name?: string | null;
    card_quota?: number | null;
    custom_data?: unknown;
    notice_url?: string | string[] | null;
    customer_uid?: string | null;
    buyer_name?: string | null;
    buyer_email?: string | null;
    buyer_tel?: string | null;
    buyer_addr?: string | null;
    buyer_postcode?: string | null;
  },
) {
  if ((b.tax_free ?? 0) > b.amount) throw new PierError('invalid_parameter', 'tax_free는 amount보다 클 수 없습니다.');
  if (!vatWithinTaxable(b.amount, b.tax_free ?? 0, b.vat_amount ?? null)) throw new PierError('invalid_parameter', VAT_OVER_TAXABLE);
  return {
    merchantId: merchantOf(req),
    merchantUid: b.merchant_uid,
    amount: b.amount,
    taxFree: b.tax_free ?? 0,
    vatAmount: b.vat_amount ?? null,
    name: b.name ?? null,
    buyer: buyerFromBody(b),
    cardQuota: b.card_quota ?? 0,
    customData: customDataString(b.custom_data),
    noticeUrl: noticeUrlOf(b.notice_url),
    customerUid: b.customer_uid ?? null,
    customerUidUsage: b.customer_uid ? 'payment' : null,
    userAgent: req.headers['user-agent']?.slice(0, 256) ?? null,
  };
}
