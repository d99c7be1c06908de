import { randomBytes, randomInt } from 'node:crypto';

function digits(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(randomInt(10));
  return s;
}

/** V1 payment id: `imp_` + 12 digits, as every real sample is. */
export const newImpUid = (): string => `imp_${digits(12)}`;

/** Merchant code for IMP.init: `imp` + 8 digits. */
export const newMerchantCode = (): string => `imp${digits(8)}`;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** V1 cancellation_id: 20 uppercase letters and digits (sample `06JC8FVHJTW2WY16FEY0`). */
export function newCancellationId(): string {
  let s = '';
  for (let i = 0; i < 20; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

/** Opaque internal row id with a readable prefix, e.g. `ch_5f2c…`. */
export const newId = (prefix: string): string => `${prefix}_${randomBytes(10).toString('hex')}`;

/** Random printable secret (REST API secret): 80 base62 characters like i'mport's. */
export function newApiSecret(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 80; i++) s += chars[randomInt(chars.length)];
  return s;
}

/** REST API key: 16 digits like i'mport's. */
export const newApiKey = (): string => digits(16);
