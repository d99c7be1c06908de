/**
 * What one client address may post to the PG notify route (`POST /checkout/pg/:channelId/notify`,
 * decision 0087). The route takes anonymous posts: anyone can send it bodies, forged or genuine
 * ones replayed, and before this each was parsed, verified and looked up. Beyond the allowance a
 * post is answered `429 RETRY` with `Retry-After`, before its body is read: a PG takes any answer
 * but its success one as a failed delivery and sends the notice again later (NICE: a minute later,
 * ten times, spec/nicepay.md §6.5), so a genuine notice refused here is delayed, not lost. Genuine
 * notices come from the PG's few addresses (NICE: 121.133.126.86/.87, §6.3), each counted on its
 * own: an attacker's posts use up only the allowance of the addresses they come from.
 *
 * The client address is Fastify's `req.ip`, which follows X-Forwarded-For only from the proxies
 * PIER_TRUST_PROXY names (api/app.ts); an IPv6 client counts by its /64 (@fastify/rate-limit's
 * key, as Pier's own limits count it, decision 0047). Counted in this process's memory, with
 * Pier's clock, in fixed windows: a count in the database would cost the write per post this is
 * meant to spare. With several processes the allowance multiplies by their number.
 */
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import type { RateLimitRule } from '../../core/merchants/rate-limit.js';

/**
 * Posts per client address per window. Far above what the PGs send: NICE's webhook job runs once a
 * minute and sends what happened in it, from two addresses; a Pier taking more NICE events than
 * this a minute raises it (PIER_PG_NOTICES_PER_IP).
 */
export const DEFAULT_PG_NOTICE_RATE_LIMIT: RateLimitRule = { limit: 600, windowSeconds: 60 };

/** Client addresses counted at once; past it the least recently seen is forgotten (its count starts again). */
const ADDRESSES_COUNTED = 10_000;

/**
 * Adds the allowance to `app` (the checkout routes' scope) and answers the hook the notify route
 * runs on each request, before its body is read.
 */
export async function pgNoticeLimit(app: FastifyInstance, clock: Clock, rule: RateLimitRule = DEFAULT_PG_NOTICE_RATE_LIMIT) {
  await app.register(rateLimit, { global: false, store: clockedStore(clock) });
  const take = app.createRateLimit({ max: rule.limit, timeWindow: rule.windowSeconds * 1000 });
  return async function limitPgNotices(req: FastifyRequest, reply: FastifyReply) {
    const r = await take(req);
    if (r.isAllowed || !r.isExceeded) return;
    // NICE wants 200 and `OK` (spec §6.5); anything else is retried. The body reaches no one.
    return reply.status(429).header('retry-after', String(Math.max(1, r.ttlInSeconds))).type('text/plain; charset=utf-8').send('RETRY');
  };
}

/**
 * @fastify/rate-limit's in-memory count (its LocalStore: fixed windows, least recently used
 * forgotten first) on Pier's clock instead of Date.now(), so the sandbox's and the tests' clocks
 * move it as they move every other allowance.
 */
function clockedStore(clock: Clock) {
  return class ClockedStore implements FastifyRateLimitStore {
    readonly #windows = new Map<string, { count: number; startMs: number }>();

    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      const now = clock.now();
      const known = this.#windows.get(key);
      const w = known && known.startMs + timeWindow > now ? known : { count: 0, startMs: now };
      w.count += 1;
      // most recently seen last: the first key is the one to forget
      this.#windows.delete(key);
      this.#windows.set(key, w);
      if (this.#windows.size > ADDRESSES_COUNTED) this.#windows.delete(this.#windows.keys().next().value!);
      callback(null, { current: w.count, ttl: w.startMs + timeWindow - now });
    }

    child(): FastifyRateLimitStore {
      return new ClockedStore();
    }
  };
}
