/**
 * Deposit checks (decision 0086): Pier asks the PG, on the schedule of domain/deposit-checks.ts,
 * whether an issued window virtual account was paid into, so that a deposit whose notice never
 * reached Pier is recorded within about a day (and, after the account's deadline, for good) rather
 * than never: before this, such a deposit was found only if something asked for the order's
 * merchant_uid after the deadline.
 *
 * A check is a lease on the row: the claim (claimRows, one statement) moves `deposit_check_at` on,
 * so two processes never ask about one account at once, and a process that dies mid-check leaves it
 * due again within the hour. The run writes the next check fenced on that lease.
 */
import { sql } from 'kysely';
import { DEPOSIT_CHECK_EVERY_SECONDS, nextDepositCheckAt, OVERDUE_GIVE_UP_SECONDS, OVERDUE_RETRY_SECONDS, pastDeadline } from '../../domain/deposit-checks.js';
import { claimRows } from '../../jobs/claim.js';
import { unixSeconds } from '../../lib/clock.js';
import type { Deps } from '../deps.js';
import { channelById, PG_LEFT_OUT_WAIT_SECONDS, PgNotConfiguredError } from '../merchants/channels.js';
import { releaseUnpaidOverdueLock } from '../payments/attempts.js';
import { depositAskedOfPg, depositAtPgOfOverdueVbank } from './deposit.js';

/** A claimed check: the account, its merchant, and the lease its row holds (its deposit_check_at now). */
export interface DepositCheck {
  impUid: string;
  merchantId: string;
  lease: number;
}

/** How long a claimed check holds its row: past it, another process may take the check. */
const LEASE_SECONDS = OVERDUE_RETRY_SECONDS;

/**
 * Leases up to `limit` checks due on Pier's clock, the earliest first. The lease is the check's own
 * time moved on, on Pier's clock too (decision 0086: the sandbox clock moves checks, and its reset
 * moves them back), so there is no lease of the database's clock to run out here: a check whose
 * process died is due again once Pier's clock passes it. On PostgreSQL a payment another
 * transaction holds locked meanwhile (a deposit being recorded, its merchant_uid released) is
 * skipped rather than waited for; it stays due, and a later claim takes it. `skipMerchants`:
 * merchants whose checks are not taken now (their room in the lane is full,
 * jobs/handlers/vbank-deposit-checks.ts).
 */
export async function claimDepositChecks(deps: Deps, limit: number, skipMerchants: string[] = []): Promise<DepositCheck[]> {
  const now = unixSeconds(deps.clock);
  const lease = now + LEASE_SECONDS;
  const claimed = await claimRows(deps.store, 'payments', {
    key: 'imp_uid',
    // the predicate of payments_deposit_check as a literal (migration 029): a partial index serves
    // only a statement whose WHERE states it
    due: (eb) =>
      eb.and([
        sql<boolean>`deposit_check_at is not null`,
        eb('deposit_check_at', '<=', now),
        ...(skipMerchants.length > 0 ? [eb('merchant_id', 'not in', skipMerchants)] : []),
      ]),
    set: { deposit_check_at: lease },
    orderBy: ['deposit_check_at', 'imp_uid'],
    limit,
  });
  return claimed.map((p) => ({ impUid: p.imp_uid, merchantId: p.merchant_id, lease }));
}

/** Asks the PG about one account and records what it holds; writes the next check (or none). */
export async function runDepositCheck(deps: Deps, job: DepositCheck): Promise<void> {
  const { db } = deps.store;
  const setNext = async (next: number | null) => {
    await db.updateTable('payments').set({ deposit_check_at: next }).where('imp_uid', '=', job.impUid).where('deposit_check_at', '=', job.lease).execute();
  };
  const p = await db
    .selectFrom('payments')
    .select(['imp_uid', 'merchant_id', 'merchant_uid', 'channel_id', 'pg_tid', 'status', 'pg_state', 'pay_method', 'vbank_num', 'vbank_date', 'vbank_issued_at', 'started_at'])
    .where('imp_uid', '=', job.impUid)
    .executeTakeFirst();
  // paid (its notice came), closed or failed since: nothing to ask
  if (!p || p.status !== 'ready' || p.pg_state !== 'done' || p.pay_method !== 'vbank' || !p.vbank_num) return setNext(null);
  const now = unixSeconds(deps.clock);
  const account = { vbankDate: Number(p.vbank_date), issuedAt: Number(p.vbank_issued_at) };

  // opened before either branch: a PG this process leaves out is waited for the same way after the
  // deadline as before it
  let channel;
  try {
    channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
  } catch (err) {
    // a PG this process leaves out (decision 0080): the account waits for a process that has its
    // settings, never given up for it; any other failure to open the channel is asked again later
    if (err instanceof PgNotConfiguredError) return setNext(now + PG_LEFT_OUT_WAIT_SECONDS);
    deps.logger.warn({ imp_uid: p.imp_uid, err: (err as Error).message }, 'deposit check: the channel could not be opened; asked again later');
    return setNext(now + OVERDUE_RETRY_SECONDS);
  }

  if (pastDeadline(account, now)) {
    // the last check: the PG takes no deposit after the deadline, so its answer is final
    const held = await depositAtPgOfOverdueVbank(deps, p.imp_uid);
    if (held === 'unpaid') {
      await releaseUnpaidOverdueLock(deps, p.imp_uid, p.merchant_id, p.merchant_uid);
      return setNext(null);
    }
    if (held === 'paid') return setNext(null);
    const giveUp = now - account.vbankDate >= OVERDUE_GIVE_UP_SECONDS;
    if (giveUp) deps.logger.error({ imp_uid: p.imp_uid }, 'virtual account past its deadline: the PG could not say for a week whether it holds a deposit; no more checks (an operator asks it)');
    return setNext(giveUp ? null : now + OVERDUE_RETRY_SECONDS);
  }

  // a removed channel can be asked nothing (and receives no notice either); past the deadline
  // depositAtPgOfOverdueVbank takes that as unpaid and frees the merchant_uid
  if (!channel) return setNext(null);
  const atPg = await depositAskedOfPg(deps, channel, p);
  switch (atPg.held) {
    case 'unasked':
      deps.logger.warn({ imp_uid: p.imp_uid, err: atPg.err.message }, 'deposit check: the PG could not be asked; asked again later');
      return setNext(Math.min(now + OVERDUE_RETRY_SECONDS, nextDepositCheckAt(account, now) ?? now + OVERDUE_RETRY_SECONDS));
    case 'recorded':
      deps.logger.warn({ imp_uid: p.imp_uid }, 'deposit check: the PG holds a deposit whose notice had not reached Pier; recorded');
      return;
    case 'unrecordable':
      deps.logger.error({ imp_uid: p.imp_uid, reason: atPg.refused.reason, message: atPg.refused.message }, 'deposit check: the PG holds a deposit Pier cannot record; left for an operator');
      return setNext(now + DEPOSIT_CHECK_EVERY_SECONDS);
    case 'none':
      return setNext(nextDepositCheckAt(account, now));
  }
}
