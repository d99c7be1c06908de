/**
 * When Pier asks the PG whether an issued virtual account was paid into, in case the PG's deposit
 * notice never reaches Pier (Pier was down or unreachable when the PG sent it, and the PG gave up:
 * tPay's retries are UNCONFIRMED, NICE stops after 10 attempts in 10 minutes). Pure: times are Pier's
 * clock in UNIX seconds. Decision 0086 says why these and not more: each check is one inquiry at the
 * merchant's PG, for accounts whose notice almost always does arrive.
 *
 * - an hour after the account is issued (most deposits come within hours of it);
 * - then once a day while it is open;
 * - once more just after its deadline (the PG refuses deposits after it, so that answer is the
 *   PG's last word: the deposit is recorded, or the order's merchant_uid released);
 * - an account without a deadline (NICE may name none, decision 0041): daily until NICE's default
 *   validity (D+7) and a day more, then no more.
 */
export const FIRST_DEPOSIT_CHECK_SECONDS = 3600;
export const DEPOSIT_CHECK_EVERY_SECONDS = 86_400;
/** after the deadline: a deposit made in its last seconds, and the PG's own clock */
export const DEPOSIT_CHECK_AFTER_DEADLINE_SECONDS = 600;
/** an account with no deadline is asked about for this long after its issue */
export const NO_DEADLINE_CHECK_SECONDS = 8 * 86_400;
/** a PG that cannot be asked after the deadline is asked again hourly, for at most this long */
export const OVERDUE_RETRY_SECONDS = 3600;
export const OVERDUE_GIVE_UP_SECONDS = 7 * 86_400;

export interface OpenAccount {
  /** deposit deadline; 0 = none */
  vbankDate: number;
  issuedAt: number;
}

/** The first check of an account recorded issued at `now`. */
export const firstDepositCheckAt = (now: number): number => now + FIRST_DEPOSIT_CHECK_SECONDS;

/**
 * The check after one made at `now` that found the account still unpaid and not past its deadline:
 * a day on, but no later than just after the deadline; null when none is due any more (no deadline,
 * and past NO_DEADLINE_CHECK_SECONDS).
 */
export function nextDepositCheckAt(a: OpenAccount, now: number): number | null {
  const daily = now + DEPOSIT_CHECK_EVERY_SECONDS;
  if (a.vbankDate > 0) return Math.min(daily, a.vbankDate + DEPOSIT_CHECK_AFTER_DEADLINE_SECONDS);
  return daily <= a.issuedAt + NO_DEADLINE_CHECK_SECONDS ? daily : null;
}

/** Past its deadline at `now`: the next check is the last, the PG's answer final. */
export const pastDeadline = (a: OpenAccount, now: number): boolean => a.vbankDate > 0 && now > a.vbankDate;
