import { randomFillSync, randomInt } from 'node:crypto';
import { v7 as uuidV7 } from 'uuid';

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

/**
 * Opaque internal row id with a readable prefix, e.g. `whd_019ae4…`: a UUIDv7 (48-bit time, then
 * random bits) as 32 hex digits, so ids made one after another sort together. A random id sends
 * every insert to a random page of each index on it, and a commit writes each page it touched:
 * time-ordered ids made a delivery and its attempt about 3× cheaper to write on SQLite (66 → 23 µs
 * a row, docs/performance.md).
 */
export const newId = (prefix: string): string => `${prefix}_${timeOrderedId()}`;

/** timeOrderedId's random bytes, 256 ids' worth, and the 16 bytes of the id it makes */
const randomPool = Buffer.allocUnsafe(16 * 256);
let poolAt = randomPool.length;
const uuidBytes = Buffer.alloc(16);

/** the last id's millisecond and counter (RFC 9562's monotonic counter, as uuid keeps it without options) */
const last = { msecs: -Infinity, seq: 0 };

/**
 * A UUIDv7 as 32 hex digits: unique, ordered by the millisecond it was made and, within one
 * process, by the order it was made in: ids of one millisecond count up from a random start (the
 * state uuid keeps only when it draws its own random bytes). Events written in one transaction (a
 * payment's approval and its refund) are read back in the order they happened; random within the
 * millisecond, they came back in either order.
 * Its random bytes come from a pool filled 256 ids at a time: uuid's own source calls
 * crypto.getRandomValues per id, 5 µs each on Node 20, and a payment makes one (its event id).
 */
export function timeOrderedId(): string {
  if (poolAt === randomPool.length) {
    randomFillSync(randomPool);
    poolAt = 0;
  }
  const random = randomPool.subarray(poolAt, (poolAt += 16));
  const now = Date.now();
  if (now > last.msecs) {
    last.msecs = now;
    // 31 random bits: room to count up within the millisecond
    last.seq = random.readUInt32BE(6) & 0x7fffffff;
  } else {
    last.seq = (last.seq + 1) | 0;
    // the counter ran over (over 2^31 ids in one millisecond, or a clock set back far): borrow the next millisecond
    if (last.seq === 0) last.msecs++;
  }
  uuidV7({ random, msecs: last.msecs, seq: last.seq }, uuidBytes);
  return uuidBytes.toString('hex');
}

/** Random printable secret (REST API secret): 80 base62 characters like i'mport's. */
export function newApiSecret(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 80; i++) s += chars[randomInt(chars.length)];
  return s;
}

/** REST API key: 16 digits like i'mport's. */
export const newApiKey = (): string => digits(16);
