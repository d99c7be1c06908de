/**
 * NICEPAY Start API wire details the simulator needs everywhere: time format, id shapes, the
 * SHA-256 signatures of spec §10 and the `encData` ciphers of spec §3.1. Pure functions.
 */
import { createDecipheriv, createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { kstParts } from '../../lib/clock.js';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `yyyy-MM-dd'T'HH:mm:ss.SSS+0900` (spec §0.4): every time NICE answers with. */
export function niceTime(ms: number): string {
  const p = kstParts(ms);
  const millis = ((ms % 1000) + 1000) % 1000;
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${pad(millis, 3)}+0900`;
}

/** `"0"` for a time that has not happened (spec §0.4). */
export const niceTimeOrZero = (ms: number | null): string => (ms === null ? '0' : niceTime(ms));

/** `yyMMddHHmmss` in KST, the time part of tids and billing keys (spec §2.8). */
function stamp12(ms: number): string {
  const p = kstParts(ms);
  return `${String(p.year).slice(2)}${pad(p.month)}${pad(p.day)}${pad(p.hour)}${pad(p.minute)}${pad(p.second)}`;
}

const digits = (n: number) => Array.from({ length: n }, () => String(randomInt(10))).join('');

/** Start API pay methods of the window (spec §1.3) the simulator implements, and their tid code (spec §2.8). */
export const WINDOW_METHODS = { card: '01', bank: '02', vbank: '03', cellphone: '05' } as const;
export type WindowMethod = keyof typeof WINDOW_METHODS;

/** A 30-character tid: MID (10) + method (2) + medium `01` + yyMMddHHmmss + 4 digits (spec §2.8). */
export function newTid(mid: string, methodCode: string, ms: number): string {
  return `${mid}${methodCode}01${stamp12(ms)}${digits(4)}`;
}

/** A billing key: `BIKY` + MID + yyMMddHHmmss + 4 digits (spec §2.8). */
export function newBid(mid: string, ms: number): string {
  return `BIKY${mid}${stamp12(ms)}${digits(4)}`;
}

/** A 40-character window auth token shaped like `NICEUNTTB06096FF8F653AA366E7EEED1101AAAE`. */
export function newAuthToken(): string {
  let hex = '';
  for (let i = 0; i < 32; i++) hex += '0123456789ABCDEF'[randomInt(16)];
  return `NICEUNTT${hex}`;
}

/**
 * The shop's 10-character MID that prefixes its tids. The published sandbox key of spec §0.1 keeps
 * its real one (`UT0000113m`); any other clientId gets a stable one derived from it (OUR DESIGN).
 */
export function midOf(clientId: string): string {
  if (clientId === 'S2_af4543a0be4d49a98122e01ec2059a56') return 'UT0000113m';
  return `UT${sha256Hex(clientId).slice(0, 7)}m`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex strings (case-insensitive). */
export function sameHex(given: string, expected: string): boolean {
  const a = Buffer.from(given.toLowerCase());
  const b = Buffer.from(expected.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Payment-object and webhook `signature`: `sha256(tid + amount + ediDate + secretKey)` (spec §10). */
export const paymentSignature = (tid: string, amount: number, ediDate: string, secretKey: string) =>
  sha256Hex(`${tid}${amount}${ediDate}${secretKey}`);

/** The returnUrl `signature` of Server 승인: `sha256(authToken + clientId + amount + secretKey)` (spec §1.4). */
export const authSignature = (authToken: string, clientId: string, amount: number, secretKey: string) =>
  sha256Hex(`${authToken}${clientId}${amount}${secretKey}`);

/**
 * Decrypts a billing/key-in `encData` (spec §3.1): `A2` = AES-256-CBC with the whole secretKey and
 * IV = its first 16 characters; otherwise AES-128-ECB with the first 16 characters, falling back to
 * AES-128-CBC (IV = key) since the manuals disagree on the default (spec §11.3 #3). Null when nothing
 * decrypts to text.
 */
export function decryptEncData(encData: string, secretKey: string, encMode: string | undefined): string | null {
  if (!/^(?:[0-9a-fA-F]{32})+$/.test(encData)) return null;
  const data = Buffer.from(encData, 'hex');
  const key16 = Buffer.from(secretKey.slice(0, 16), 'utf8');
  const attempts: Array<() => Buffer> =
    encMode === 'A2'
      ? [() => decipher('aes-256-cbc', Buffer.from(secretKey, 'utf8'), key16, data)]
      : [() => decipher('aes-128-ecb', key16, null, data), () => decipher('aes-128-cbc', key16, key16, data)];
  for (const attempt of attempts) {
    try {
      const text = attempt().toString('utf8');
      if (/^[\x20-\x7e]+$/.test(text) && text.includes('cardNo=')) return text;
    } catch {
      // wrong key, mode or padding: try the next mode
    }
  }
  return null;
}

function decipher(algorithm: string, key: Buffer, iv: Buffer | null, data: Buffer): Buffer {
  const d = createDecipheriv(algorithm, key, iv);
  return Buffer.concat([d.update(data), d.final()]);
}

/** The card fields of a decrypted `encData` plaintext (`cardNo=…&expYear=YY&expMonth=MM&idNo=…&cardPw=..`). */
export interface EncCard {
  cardNo: string;
  expYear: string;
  expMonth: string;
  idNo?: string;
  cardPw?: string;
}

export function parseEncCard(plain: string): EncCard | null {
  const f = new URLSearchParams(plain);
  const cardNo = f.get('cardNo');
  const expYear = f.get('expYear');
  const expMonth = f.get('expMonth');
  if (!cardNo || !expYear || !expMonth) return null;
  return { cardNo, expYear, expMonth, idNo: f.get('idNo') || undefined, cardPw: f.get('cardPw') || undefined };
}
