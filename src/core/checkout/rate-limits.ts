/**
 * How much one client address may ask of the anonymous payment window (decision 0059).
 *
 * The merchant code is public (every merchant page calls `IMP.init` with it), so anyone can create
 * checkout sessions and open PG windows from them. Each session is a row; each window opened is a
 * `payments` row kept for good, and, abandoned, at least two inquiries at the merchant's PG
 * (reconciliation after the window's lifetime, then the recheck of decision 0007). A buyer makes a
 * few of each per purchase; these allowances are far above that and far below a flood.
 *
 * Every request counts (not only failures, as at the sign-in doors): what costs here is a request
 * that succeeds. Counted in the database per client address (an IPv6 client's /64: decision 0047),
 * so every Pier process shares the counts.
 */
import { clientOf, RateLimitedError, takeAttempt, type RateLimitRule } from '../merchants/rate-limit.js';
import type { Deps } from '../deps.js';

export interface CheckoutRateLimits {
  /** `POST /checkout/sessions` (IMP.request_pay) per client address */
  sessionsPerIp: RateLimitRule;
  /** PG windows opened (`POST /checkout/{id}/start`) per client address */
  windowsPerIp: RateLimitRule;
}

export const DEFAULT_CHECKOUT_RATE_LIMITS: CheckoutRateLimits = {
  sessionsPerIp: { limit: 300, windowSeconds: 600 },
  windowsPerIp: { limit: 150, windowSeconds: 600 },
};

/** The rsp message of a request refused by these limits (error_code F1010). */
export const tooManyRequestsMessage = (retryAfterSeconds: number) =>
  `결제 요청이 너무 많습니다. ${retryAfterSeconds}초 후에 다시 시도해 주세요. (too many payment requests from this address; retry after ${retryAfterSeconds} s)`;

/**
 * Counts one request of `door` for the client at `ip`. Null when it may go on; otherwise the
 * refusal (its Retry-After), the request having changed nothing.
 */
export async function takeCheckoutTurn(deps: Deps, door: 'session' | 'window', ip: string): Promise<RateLimitedError | null> {
  const limits = deps.checkoutRateLimits ?? DEFAULT_CHECKOUT_RATE_LIMITS;
  const rule = door === 'session' ? limits.sessionsPerIp : limits.windowsPerIp;
  try {
    await takeAttempt(deps.store, deps.clock, [{ bucket: `checkout-${door}:ip:${clientOf(ip).slice(0, 64)}`, ...rule }]);
    return null;
  } catch (err) {
    if (err instanceof RateLimitedError) return err;
    throw err;
  }
}

/**
 * PG inquiries one checkout's browser posts may cause: its close after the PG window opened, its
 * result (every post of it that finds the checkout still open: sent at once, they all do, decision
 * 0092), and results posted after the checkout ended (a late approval). A buyer's checkout needs one
 * or two (a result or a close, then the approval that raced it, a reload). Beyond these, a post asks the PG nothing:
 * the attempt is left to reconciliation, or to the recheck written when it was failed (decision
 * 0007), which ask the PG once whatever the posts. A decline's result post (its amount and order id
 * are what tPay encrypts) edited into an approval with any tid made one inquiry per post, without end.
 */
export const INQUIRIES_PER_CHECKOUT: RateLimitRule = { limit: 5, windowSeconds: 86_400 };

/** Counts one PG inquiry caused by a browser post on checkout `sessionId`: false once its allowance is spent. */
export async function takeCheckoutInquiry(deps: Deps, sessionId: string): Promise<boolean> {
  try {
    await takeAttempt(deps.store, deps.clock, [{ bucket: `checkout-inquiry:${sessionId.slice(0, 64)}`, ...INQUIRIES_PER_CHECKOUT }]);
    return true;
  } catch (err) {
    if (err instanceof RateLimitedError) return false;
    throw err;
  }
}
