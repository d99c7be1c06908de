/**
 * Reconciliation: settles what Pier does not know by asking the PG (tPay `trans_search`).
 *
 * - A payment attempt left `calling` (its process died) or `in_doubt` (the PG's answer was lost).
 * - A refund left `in_doubt`, or `pending` for longer than a PG call can last (its process died
 *   between sending it and recording the answer).
 *
 * Every row carries its own `next_check_at` on the database's clock (migration 007). A row is
 * looked at once `graceSeconds` (longer than a PG call can last, its connect + read timeout, so no
 * request of it can still be in flight) have passed since then; each look first moves `next_check_at` back by a growing step
 * (1 min, 5 min, 1 h, 1 day, as Kill Bill's janitor does), fenced on `check_count`, so a row is
 * checked by one process at a time and a row the PG cannot answer for never comes before the
 * others again. One pass takes batches until nothing is due, so it always finishes and reaches
 * every due row. See docs/decisions/0009-reconciliation-and-time.md.
 */
import { sql } from 'kysely';
import { unixSeconds } from '../../lib/clock.js';
import { statusAfterRefund } from '../../domain/payment.js';
import { dbNow } from '../../store/db-clock.js';
import { channelById } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { approvalOf, approveAttemptWith, recordApproval, recordFailure, recordIssuedVbank } from './record-outcome.js';
import { pgRefundOfApproval, recordRefund, REFUNDED_AT_PG, releaseCancel } from './cancel.js';
import { isWindowAttempt, recordWindowVbank, settleWindowAttempt } from '../checkout/window-settlement.js';
import { forEachLimit } from '../../jobs/runner.js';

export type Settlement = 'paid' | 'failed' | 'cancelled' | 'awaiting_deposit' | 'amount_mismatch' | 'unknown';

/** Seconds a check that could not settle a row waits before the next (after the grace); the last repeats. */
export const RECHECK_BACKOFF_SECONDS = [60, 300, 3600, 86_400] as const;

export const recheckDelaySeconds = (checkCount: number) => RECHECK_BACKOFF_SECONDS[Math.min(checkCount, RECHECK_BACKOFF_SECONDS.length - 1)]!;

/**
 * How long a row must have been left alone before reconciliation may ask the PG about it: the
 * longest a PG call can last (after which no answer of that call can come) plus a margin for
 * clocks and retries. Derived from configuration, never fixed.
 */
export function inFlightGraceSeconds(callMs: number): number {
  return Math.ceil(callMs / 1000) + 30;
}

/**
 * The grace for the configured PGs: the slowest one's whole call, connect + read timeout, which
 * ends every call however its answer trickles (decision 0061). The read timeout alone left a call
 * whose connect took more than 30 s in flight when reconciliation asked about its row.
 */
export const reconcileGraceSeconds = (connectors: { maxCallMs(): number }): number => inFlightGraceSeconds(connectors.maxCallMs());

/** Marks an attempt whose PG answer was lost `in_doubt`, its grace counted from now (database clock). */
export async function markInDoubt(deps: Deps, impUid: string, fromStates: string[] = ['calling']): Promise<void> {
  await deps.store.db
    .updateTable('payments')
    .set({ pg_state: 'in_doubt', next_check_at: dbNow(deps.store), updated_at: unixSeconds(deps.clock) })
    .where('imp_uid', '=', impUid)
    .where('pg_state', 'in', fromStates)
    .execute();
}

/**
 * Settles one attempt whose PG outcome Pier does not know (a timeout, or a process that died
 * between the call and the record) by asking the PG (tPay `trans_search`).
 * `giveUpIfUnknown`: when the PG has no record of it, fail the attempt and free its merchant_uid.
 * Only do that once the PG can no longer be acting on the request (the job waits for that).
 * Safe to run from several processes: every write is conditional on the attempt still being open.
 * The PG's amount must equal Pier's: a mismatch is never recorded as paid (it stays in doubt for an
 * operator, logged as an error).
 */
export async function settleAttempt(deps: Deps, impUid: string, opts: { giveUpIfUnknown: boolean }): Promise<Settlement> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p || !['calling', 'in_doubt'].includes(p.pg_state) || !p.channel_id) return 'unknown';
  const channel = await channelById(deps, p.channel_id);
  if (!channel) return 'unknown';
  const found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 });
  if (!found.found && opts.giveUpIfUnknown && channel.connector.voidUnknownAttempt) {
    // the merchant_uid is about to be freed: a late approval of this attempt must not stand (NICE net-cancel)
    const voided = await channel.connector.voidUnknownAttempt(channel.credentials, { moid: p.imp_uid });
    if (voided === 'voided') deps.logger.warn({ imp_uid: impUid }, 'reconciliation: the PG had approved an attempt it first had no record of; reversed before giving it up');
  }
  // a virtual account the buyer saw but Pier never recorded: issued, awaiting its deposit
  if (found.found && found.state === 'awaiting_deposit' && found.amount === Number(p.amount)) {
    // a window attempt takes its merchant_uid only now, and may find it paid meanwhile (decision 0058)
    const recorded = isWindowAttempt(p) ? await recordWindowVbank(deps, channel, p, found) : await recordIssuedVbank(deps, impUid, found);
    if (recorded) return 'awaiting_deposit';
    const after = await db.selectFrom('payments').select('status').where('imp_uid', '=', impUid).executeTakeFirst();
    return after?.status === 'failed' ? 'failed' : 'unknown';
  }
  // window attempts: card rules, late approvals and the PG acknowledgement (issue #9)
  if (isWindowAttempt(p)) return settleWindowAttempt(deps, p, opts, { channel, found });
  if (found.found && found.state !== 'failed' && found.amount !== Number(p.amount)) {
    deps.logger.error({ imp_uid: impUid, pg_amount: found.amount, amount: Number(p.amount) }, 'reconciliation: the PG reports another amount than Pier sent; left in doubt for an operator');
    return 'amount_mismatch';
  }
  if (!found.found || found.state === 'failed') {
    if (!found.found && !opts.giveUpIfUnknown) return 'unknown';
    await recordFailure(
      deps,
      impUid,
      found.found ? '[PG_FAILED] PG사에서 승인되지 않은 거래입니다.' : '[PG_NO_RECORD] PG사에 거래 기록이 없습니다. (no record at the PG after a timeout)',
      null,
      // an API charge was answered "being confirmed" (or its process died before answering): the
      // `failed` webhook tells the merchant how it ended (window attempts keep V1's no-webhook rule)
      { notify: p.channel === 'api' },
    );
    deps.logger.info({ imp_uid: impUid }, 'in-doubt attempt settled as failed');
    return 'failed';
  }
  if (found.state === 'awaiting_deposit') {
    return (await recordIssuedVbank(deps, impUid, found)) ? 'awaiting_deposit' : 'unknown';
  }
  // Refunded at the PG while Pier was in doubt (a refund at the PG's console, NICE's net-cancel):
  // recorded as a refund like any other the PG made on its own (its cancel_history entry and
  // `cancelled` webhook), reserved in the approval's own transaction. The PG's total was read while
  // the attempt was open, when Pier had no refunds of it, so only the process that records the
  // approval records the refund: a second run (or the process that lost the race) does nothing.
  const pgRefund = found.cancelledAmount > 0 ? pgRefundOfApproval(deps, impUid, found.cancelledAmount, REFUNDED_AT_PG) : null;
  const settledHere = pgRefund ? (await approveAttemptWith(deps, impUid, approvalOf(found), pgRefund.reserve)) !== undefined : await recordApproval(deps, impUid, approvalOf(found));
  if (settledHere) deps.logger.info({ imp_uid: impUid }, 'in-doubt attempt settled as paid');
  if (settledHere && pgRefund) await pgRefund.record();
  if (!settledHere) return found.state === 'cancelled' ? 'cancelled' : 'paid';
  return statusAfterRefund(found.amount, found.cancelledAmount) === 'cancelled' ? 'cancelled' : 'paid';
}

export interface PassOptions {
  /** seconds a row must have been left alone (database clock); at least the PG read timeout */
  graceSeconds: number;
  /** rows taken per batch (default 100) */
  limit?: number;
  /** stop taking new batches after this many ms (default 5 minutes); the rest waits for the next pass */
  budgetMs?: number;
  /** rows checked at once within a batch (default 8) */
  concurrency?: number;
  /**
   * check every open row past its grace now, whatever its backoff (`pier reconcile`: an operator
   * asking explicitly); the pass then goes through the rows once, in key order
   */
  ignoreBackoff?: boolean;
}

/**
 * Takes one due row for checking: moves its next_check_at back by its backoff step and counts the
 * check, conditional on nobody else having taken it since it was read. True if this caller has it.
 */
async function takeForCheck(deps: Deps, table: 'payments' | 'payment_cancels', key: { column: 'imp_uid' | 'cancellation_id'; value: string }, checkCount: number): Promise<boolean> {
  const res = await deps.store.db
    .updateTable(table as 'payments')
    .set({ next_check_at: sql`${dbNow(deps.store)} + ${recheckDelaySeconds(checkCount)}`, check_count: checkCount + 1 })
    .where(key.column as 'imp_uid', '=', key.value)
    .where('check_count', '=', checkCount)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * The reconciliation step for payment attempts: settles every attempt in doubt (or stuck
 * `calling`, i.e. its process died) whose grace has passed, in one pass that always finishes.
 */
export async function reconcileInDoubt(deps: Deps, opts: PassOptions) {
  const deadline = Date.now() + (opts.budgetMs ?? 300_000);
  const outcome: Record<string, Settlement> = {};
  let after: string | null = null;
  while (Date.now() < deadline) {
    const due = await deps.store.db
      .selectFrom('payments')
      .select(['imp_uid', 'check_count'])
      .where('pg_state', 'in', ['calling', 'in_doubt'])
      .where((eb) => {
        const pastGrace = eb('next_check_at', '<=', sql<number>`${dbNow(deps.store)} - ${opts.graceSeconds}`);
        // a row checked before was past its grace then: only its backoff holds it back
        return opts.ignoreBackoff ? eb.or([pastGrace, eb('check_count', '>', 0)]) : pastGrace;
      })
      .$if(!!opts.ignoreBackoff && after !== null, (q) => q.where('imp_uid', '>', after!))
      .orderBy(opts.ignoreBackoff ? 'imp_uid' : 'next_check_at')
      .limit(opts.limit ?? 100)
      .execute();
    if (due.length === 0) break;
    after = due[due.length - 1]!.imp_uid;
    await forEachLimit(due, opts.concurrency ?? 8, async ({ imp_uid, check_count }) => {
      if (!(await takeForCheck(deps, 'payments', { column: 'imp_uid', value: imp_uid }, Number(check_count ?? 0)))) return;
      try {
        outcome[imp_uid] = await settleAttempt(deps, imp_uid, { giveUpIfUnknown: true });
      } catch (err) {
        deps.logger.warn({ imp_uid, err: (err as Error).message }, 'reconciliation: PG inquiry failed; will retry after its backoff');
        outcome[imp_uid] = 'unknown';
      }
    });
  }
  return outcome;
}

type CancelSnapshot = { cancelAmount: number; rows: { cancellation_id: string; state: string; amount: number; reason: string | null; fresh: boolean }[] };

async function cancelSnapshot(deps: Deps, impUid: string, graceSeconds: number): Promise<CancelSnapshot> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').select('cancel_amount').where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('payment_cancels')
    .select(['cancellation_id', 'state', 'amount', 'reason', sql<number>`CASE WHEN next_check_at > ${dbNow(deps.store)} - ${graceSeconds} AND check_count = 0 THEN 1 ELSE 0 END`.as('fresh')])
    .where('imp_uid', '=', impUid)
    .orderBy('id')
    .execute();
  return { cancelAmount: Number(p.cancel_amount), rows: rows.map((r) => ({ ...r, amount: Number(r.amount), fresh: Number(r.fresh) === 1 })) };
}

const sameSnapshot = (a: CancelSnapshot, b: CancelSnapshot) =>
  a.cancelAmount === b.cancelAmount && a.rows.length === b.rows.length && a.rows.every((r, i) => r.cancellation_id === b.rows[i]!.cancellation_id && r.state === b.rows[i]!.state);

/**
 * The refunds (in request order) whose amounts add up to exactly `total`, preferring the earliest;
 * null when none do. Refunds of one payment are few, so every combination is tried (up to 2^16).
 */
export function refundsMakingUp<T extends { amount: number }>(refunds: T[], total: number): T[] | null {
  if (total === 0) return [];
  const n = Math.min(refunds.length, 16);
  for (let size = 1; size <= n; size++) {
    for (let mask = 1; mask < 1 << n; mask++) {
      let bits = 0;
      let sum = 0;
      for (let i = 0; i < n; i++) if (mask & (1 << i)) ((bits += 1), (sum += refunds[i]!.amount));
      if (bits === size && sum === total) return refunds.filter((_, i) => i < n && mask & (1 << i));
    }
  }
  return null;
}

/**
 * Settles refunds whose outcome Pier does not know: `in_doubt` (the PG's answer was lost) and
 * `pending` past the grace (the process died while sending it). The PG reports only its total
 * refunded amount, so the refunds whose amounts make up exactly what it refunded beyond Pier's
 * recorded refunds are recorded, the others released. To never credit one refund with another's
 * money, Pier's refunds are read before and after the inquiry: if anything changed meanwhile, or a
 * refund is still being sent (pending within its grace), the payment waits for its next check.
 */
export async function reconcileInDoubtCancels(deps: Deps, opts: PassOptions) {
  const { db } = deps.store;
  const deadline = Date.now() + (opts.budgetMs ?? 300_000);
  const outcome: Record<string, 'succeeded' | 'failed'> = {};
  const seen = new Set<string>();
  let after: string | null = null;
  while (Date.now() < deadline) {
    const due = await db
      .selectFrom('payment_cancels')
      .select(['imp_uid', 'cancellation_id', 'check_count'])
      .where('state', 'in', ['pending', 'in_doubt'])
      .where((eb) => {
        const pastGrace = eb('next_check_at', '<=', sql<number>`${dbNow(deps.store)} - ${opts.graceSeconds}`);
        return opts.ignoreBackoff ? eb.or([pastGrace, eb('check_count', '>', 0)]) : pastGrace;
      })
      .$if(!!opts.ignoreBackoff && after !== null, (q) => q.where('cancellation_id', '>', after!))
      .orderBy(opts.ignoreBackoff ? 'cancellation_id' : 'next_check_at')
      .limit(opts.limit ?? 100)
      .execute();
    if (due.length === 0) break;
    after = due[due.length - 1]!.cancellation_id;
    await forEachLimit(due, opts.concurrency ?? 8, async (c) => {
      const taken = await takeForCheck(deps, 'payment_cancels', { column: 'cancellation_id', value: c.cancellation_id }, Number(c.check_count ?? 0));
      // one inquiry per payment per pass: its other open refunds are settled with it
      if (!taken || seen.has(c.imp_uid)) return;
      seen.add(c.imp_uid);
      try {
        Object.assign(outcome, await settleRefundsOf(deps, c.imp_uid, opts.graceSeconds));
      } catch (err) {
        deps.logger.warn({ imp_uid: c.imp_uid, err: (err as Error).message }, 'reconciliation: refund inquiry failed; will retry after its backoff');
      }
    });
  }
  return outcome;
}

async function settleRefundsOf(deps: Deps, impUid: string, graceSeconds: number): Promise<Record<string, 'succeeded' | 'failed'>> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').select(['imp_uid', 'pg_tid', 'started_at', 'channel_id']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  const channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
  if (!channel) return {};
  const before = await cancelSnapshot(deps, impUid, graceSeconds);
  if (before.rows.some((r) => r.state === 'pending' && r.fresh)) return {}; // a refund is on its way to the PG right now
  const found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: Number(p.started_at) * 1000 });
  const after = await cancelSnapshot(deps, impUid, graceSeconds);
  if (!sameSnapshot(before, after)) {
    deps.logger.info({ imp_uid: impUid }, 'reconciliation: refunds changed during the inquiry; asking again later');
    return {};
  }
  const open = after.rows.filter((r) => r.state === 'pending' || r.state === 'in_doubt');
  const refundedBeyondPier = (found.found ? found.cancelledAmount : 0) - after.cancelAmount;
  const refunded = refundedBeyondPier < 0 ? null : refundsMakingUp(open, refundedBeyondPier);
  if (!refunded) {
    deps.logger.error({ imp_uid: impUid, pg_refunded_beyond_pier: refundedBeyondPier }, 'reconciliation: no combination of open refunds makes up what the PG refunded; left for an operator');
    return {};
  }
  const outcome: Record<string, 'succeeded' | 'failed'> = {};
  for (const c of open) {
    if (refunded.includes(c)) {
      await recordRefund(deps, impUid, c.cancellation_id, c.amount, null, 0, c.reason);
      outcome[c.cancellation_id] = 'succeeded';
    } else {
      await releaseCancel(deps, impUid, c.cancellation_id, c.amount, '[PG_NO_RECORD] PG사에 취소 기록이 없습니다. (no refund at the PG after a timeout)');
      outcome[c.cancellation_id] = 'failed';
    }
  }
  deps.logger.info({ imp_uid: impUid, outcome }, 'reconciliation: refunds settled');
  return outcome;
}
