/**
 * NICEPAY Start API integrity functions (spec nicepay.md §10, §3.1): SHA-256 signatures, hex
 * lowercase over the UTF-8 concatenation without separators, and the AES `encData` of billing-key
 * registration and key-in. Pure; the secret key is passed in revealed and never kept.
 *
 * @example
 *   const sig = paymentSignature({ tid, amount: 1004, ediDate }, secretKey);
 *   if (!signaturesEqual(sig, answer.signature)) throw …;
 */
import { createCipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { ConnectorError } from '../types.js';

/** The length of a NICE secretKey, which mode A2 uses whole as its AES-256 key (spec §3.1). */
export const NICE_SECRET_KEY_LENGTH = 32;

/** hex(sha256(parts joined with nothing)) */
export function sha256Hex(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.map(String).join(''), 'utf8').digest('hex');
}

/** Constant-time equality of two hex signatures; any non-string or length difference is unequal. */
export function signaturesEqual(expected: string, received: unknown): boolean {
  if (typeof received !== 'string') return false;
  const a = Buffer.from(expected.toLowerCase(), 'utf8');
  const b = Buffer.from(received.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `signature` of every payment object NICE answers (approve, lookups, cancel, net-cancel, billing
 * charge, key-in, webhook): `tid + amount + ediDate + secretKey`, with the payment's original
 * amount and the answer's own `ediDate` exactly as received. Also the approve `signData`.
 */
export function paymentSignature(p: { tid: string; amount: number; ediDate: string }, secretKey: string): string {
  return sha256Hex(p.tid, p.amount, p.ediDate, secretKey);
}

/** returnUrl POST `signature` (Server 승인): `authToken + clientId + amount + secretKey`. */
export function returnUrlSignature(p: { authToken: string; clientId: string; amount: number | string }, secretKey: string): string {
  return sha256Hex(p.authToken, p.clientId, p.amount, secretKey);
}

/** Request `signData` of cancel and lookup by tid: `tid + ediDate + secretKey`. */
export function tidSignData(tid: string, ediDate: string, secretKey: string): string {
  return sha256Hex(tid, ediDate, secretKey);
}

/**
 * Request `signData` keyed by order id: billing regist, net-cancel, key-in, and lookup by orderId
 * ([E2]'s formula, which Pier follows over the official doc's `tid + …`, spec §5.2): `orderId + ediDate + secretKey`.
 */
export function orderSignData(orderId: string, ediDate: string, secretKey: string): string {
  return sha256Hex(orderId, ediDate, secretKey);
}

/** Request `signData` of billing charge and expire: `orderId + bid + ediDate + secretKey`. */
export function billingSignData(orderId: string, bid: string, ediDate: string, secretKey: string): string {
  return sha256Hex(orderId, bid, ediDate, secretKey);
}

/** The card fields of `encData`, in the order NICE's examples send them (spec §3.1). */
export interface EncCardData {
  cardNo: string;
  /** YY */
  expYear: string;
  /** MM */
  expMonth: string;
  /** YYMMDD birth date or 10-digit business number */
  idNo?: string;
  /** first two PIN digits */
  cardPw?: string;
}

/** `cardNo=…&expYear=…&expMonth=…&idNo=…&cardPw=…`, absent fields left out (spec §3.1). */
export function encDataPlaintext(card: EncCardData): string {
  const fields: [string, string | undefined][] = [
    ['cardNo', card.cardNo],
    ['expYear', card.expYear],
    ['expMonth', card.expMonth],
    ['idNo', card.idNo],
    ['cardPw', card.cardPw],
  ];
  return fields
    .filter((f): f is [string, string] => typeof f[1] === 'string' && f[1] !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * `encData` in mode `A2`: AES-256-CBC, PKCS#7, key = the 32-character secret key, IV = its first
 * 16 characters, lowercase hex. Pier always sends `encMode: 'A2'` (spec §3.1, §11.3 #3).
 */
export function encryptEncDataA2(plaintext: string, secretKey: string): string {
  const key = Buffer.from(secretKey, 'utf8');
  // thrown before anything is sent: NICE was never asked, so the attempt is not in doubt (a plain
  // Error would read as "the PG may have charged"). Channel rules refuse such a key at save.
  if (key.length !== NICE_SECRET_KEY_LENGTH) throw new ConnectorError('bad_response', `NICE encData A2 needs a ${NICE_SECRET_KEY_LENGTH}-character secretKey; the channel's has ${secretKey.length}`, false, false);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('hex');
}

/**
 * `encData` in the default mode `A1` (no `encMode`): AES-128-ECB, key = the first 16 characters of
 * the secret key, lowercase hex. Key-in (`/v1/key-in/payments`) documents only this mode (spec §3.5).
 */
export function encryptEncDataA1(plaintext: string, secretKey: string): string {
  const key = Buffer.from(secretKey, 'utf8').subarray(0, 16);
  if (key.length !== 16) throw new Error('NICE encData A1 needs a secret key of at least 16 characters');
  const cipher = createCipheriv('aes-128-ecb', key, null);
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('hex');
}
