import ipaddr from 'ipaddr.js';
import { sql } from 'kysely';
import { PierError } from '../errors.js';
import { unixSeconds, type Clock } from '../../lib/clock.js';
import { sha256Hex } from '../../lib/password.js';
import type { Store } from '../../store/db.js';

/** At most `limit` attempts per `windowSeconds` in one bucket. */
export interface RateLimitRule {
  limit: number;
  windowSeconds: number;
}

/**
 * Attempt limits on the two doors a guesser can knock on: `POST /users/getToken` (each wrong
 * imp_secret costs a scrypt) and the console sign-in. Per client address and per credential
 * (imp_key or e-mail), so neither one address spraying many keys nor many addresses hammering one
 * key get far. Only failures use up the allowance: a merchant that calls getToken before every
 * request is never slowed down.
 */
export interface RateLimits {
  perIp: RateLimitRule;
  perKey: RateLimitRule;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  perIp: { limit: 30, windowSeconds: 60 },
  perKey: { limit: 10, windowSeconds: 60 },
};

export class RateLimitedError extends PierError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', `요청이 너무 많습니다. ${retryAfterSeconds}초 후에 다시 시도하세요. (too many attempts; retry after ${retryAfterSeconds} s)`);
  }
}

export interface Attempt {
  /** gives the attempt back (it succeeded), so only failures count against the limit */
  succeeded(): Promise<void>;
}

/**
 * Counts one attempt in each bucket before the expensive check runs, and throws RateLimitedError
 * (HTTP 429, `Retry-After`) when any bucket is over its limit. Counting is one atomic upsert per
 * bucket in the database, so parallel attempts on any number of Pier processes are all counted
 * and a burst cannot slip through between a read and a write.
 *
 * Each process puts an attempt in a window by its own clock, and clocks differ a little between
 * processes (hosts, a sandbox clock one process has not re-read yet: decision 0127). An attempt
 * whose window is the one just before the bucket's counts in the bucket's window, which a process
 * ahead has opened; only an attempt in a later window, or one far off (a clock moved back by more
 * than a window), starts the count again. Started again by any window but its own, as it was, a
 * bucket was reset at every attempt alternated between two such processes near a window's end.
 *
 * @example
 *   const attempt = await takeAttempt(store, clock, [{ bucket: `getToken:ip:${ip}`, ...limits.perIp }]);
 *   if (await verify()) await attempt.succeeded();
 */
export async function takeAttempt(store: Store, clock: Clock, buckets: ({ bucket: string } & RateLimitRule)[]): Promise<Attempt> {
  const now = unixSeconds(clock);
  const taken: { bucket: string; windowStart: number }[] = [];
  let retryAfter = 0;
  for (const b of buckets) {
    const windowStart = now - (now % b.windowSeconds);
    // the bucket's window is the next one: a process whose clock is ahead opened it
    const opened = sql<boolean>`rate_limit_buckets.window_start > ${windowStart} AND rate_limit_buckets.window_start <= ${windowStart + b.windowSeconds}`;
    const row = await store.db
      .insertInto('rate_limit_buckets')
      .values({ bucket: b.bucket, window_start: windowStart, hits: 1 })
      .onConflict((oc) =>
        oc.column('bucket').doUpdateSet({
          // both sides of SET read the old row, on SQLite and PostgreSQL alike
          hits: sql<number>`CASE WHEN rate_limit_buckets.window_start = ${windowStart} OR (${opened}) THEN rate_limit_buckets.hits + 1 ELSE 1 END`,
          window_start: sql<number>`CASE WHEN ${opened} THEN rate_limit_buckets.window_start ELSE ${windowStart} END`,
        }),
      )
      .returning(['hits', 'window_start'])
      .executeTakeFirstOrThrow();
    // the window the attempt was counted in: its end is what Retry-After names, and what succeeded() gives back to
    const countedIn = Number(row.window_start);
    taken.push({ bucket: b.bucket, windowStart: countedIn });
    if (Number(row.hits) > b.limit) retryAfter = Math.max(retryAfter, Math.max(1, countedIn + b.windowSeconds - now));
  }
  // buckets of old windows are deleted in the background, a bounded batch at a time
  // (jobs/handlers/ended-row-purge.ts), not here: a sweep on the request path deleted every old
  // bucket in one statement, however many an address spraying e-mails had left
  if (retryAfter > 0) throw new RateLimitedError(retryAfter);
  return {
    async succeeded() {
      for (const t of taken) {
        await store.db
          .updateTable('rate_limit_buckets')
          .set({ hits: sql<number>`hits - 1` })
          .where('bucket', '=', t.bucket)
          .where('window_start', '=', t.windowStart)
          .where('hits', '>', 0)
          .execute();
      }
    },
  };
}

/** Buckets for one door: the client address and the credential (hashed: buckets are not a list of keys). */
export function attemptBuckets(door: string, ip: string, credential: string, limits: RateLimits = DEFAULT_RATE_LIMITS) {
  return [
    { bucket: `${door}:ip:${clientOf(ip).slice(0, 64)}`, ...limits.perIp },
    { bucket: `${door}:key:${sha256Hex(credential).slice(0, 40)}`, ...limits.perKey },
  ];
}

/**
 * The client an address stands for: an IPv4 address (also written IPv4-mapped, `::ffff:a.b.c.d`),
 * or an IPv6 address's /64, which one host or one customer line is given whole: counted address
 * by address, its 2^64 addresses would each get the full allowance (decision 0047).
 */
export function clientOf(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const addr = ipaddr.process(ip);
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts;
  return `${parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
}
