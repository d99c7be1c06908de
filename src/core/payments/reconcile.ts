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
 * others again. One pass takes rows until nothing is due, so it always finishes and reaches
 * every due row, merchants taking turns with at most half the inquiries each, so one merchant's
 * flood or hanging PG never holds back another's rows. See docs/decisions/0009-reconciliation-and-time.md
 * and 0065-reconciliation-turns-per-merchant.md.
 */
import { sql, type RawBuilder } from 'kysely';
import { unixSeconds, type Clock } from '../../lib/clock.js';
import { statusAfterRefund } from '../../domain/payment.js';
import { dbNow } from '../../store/db-clock.js';
import { tableIndexedBy } from '../../store/indexed-by.js';
import { channelById, PG_LEFT_OUT_WAIT_SECONDS, PgNotConfiguredError } from '../merchants/channels.js';
import { noteLeftOutWait } from '../merchants/left-out-waits.js';
import type { Deps } from '../deps.js';
import type { PaymentsTable } from '../../store/types.js';
import { approvalOf, approveAttemptWith, recordApproval, recordFailure, recordIssuedVbank } from './record-outcome.js';
import { mirrorPgRefund, pgRefundOfApproval, recordRefund, REFUNDED_AT_PG, releaseCancel } from './cancel.js';
import { isBillingWindowBeforeCharge, isWindowAttempt, recordWindowVbank, settleWindowAttempt } from '../checkout/window-settlement.js';
import { windowNowMs } from '../checkout/window-confirms.js';

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
 * The grace for the configured PGs: the slowest one's whole operation, each of its calls ending by
 * its connect + read timeout however its answer trickles (decision 0061). The read timeout alone
 * left a call whose connect took more than 30 s in flight when reconciliation asked about its row;
 * one call alone, the charge of a NICE key-in after its slow registration (decision 0099).
 */
export const reconcileGraceSeconds = (connectors: { maxOperationMs(): number }): number => inFlightGraceSeconds(connectors.maxOperationMs());

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
 * Holds an attempt for reconciliation's net-cancel (NICE's by order id, which reverses whatever the
 * order holds): `calling` (Pier's own PG call in flight), conditional on the row as read, still
 * open, its tid unchanged. A result post claims only an attempt in the window or in doubt without
 * a tid (sessions.ts approveAuthenticated), so a held attempt is not claimed: the post is answered
 * "being confirmed" and Pier approves nothing the net-cancel could reverse. False when the row
 * changed since it was read (claimed, recorded or failed): then no net-cancel is sent. Crash-safe:
 * a held attempt is open (`calling`), so a later pass, past the backoff step and grace its check
 * set, asks about it again (decision 0110).
 */
async function holdForNetCancel(deps: Deps, p: PaymentsTable): Promise<boolean> {
  const res = await deps.store.db
    .updateTable('payments')
    .set({ pg_state: 'calling', updated_at: unixSeconds(deps.clock) })
    .where('imp_uid', '=', p.imp_uid)
    .where('status', '=', 'ready')
    .where('pg_state', '=', p.pg_state)
    .where((eb) => (p.pg_tid === null ? eb('pg_tid', 'is', null) : eb('pg_tid', '=', p.pg_tid)))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The net-cancel was not answered: the attempt goes back to how it was read (a post may claim it again). */
async function releaseNetCancelHold(deps: Deps, p: PaymentsTable): Promise<void> {
  if (p.pg_state === 'calling') return;
  await deps.store.db
    .updateTable('payments')
    .set({ pg_state: p.pg_state, updated_at: unixSeconds(deps.clock) })
    .where('imp_uid', '=', p.imp_uid)
    .where('status', '=', 'ready')
    .where('pg_state', '=', 'calling')
    .where((eb) => (p.pg_tid === null ? eb('pg_tid', 'is', null) : eb('pg_tid', '=', p.pg_tid)))
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
  // the window's clock: the real time for a live channel (decision 0121, amended)
  const askedAtMs = windowNowMs(deps, channel);
  let found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 });
  if (!found.found && opts.giveUpIfUnknown && channel.connector.voidUnknownAttempt) {
    // the merchant_uid is about to be freed: a late approval of this attempt must not stand (NICE
    // net-cancel, by order id). Held first, on the row as read: a result post claiming it for
    // Pier's approve since would have that approval reversed by the net-cancel (decision 0110)
    if (!(await holdForNetCancel(deps, p))) {
      deps.logger.info({ imp_uid: impUid }, 'reconciliation: the attempt changed since it was read; no net-cancel, asked about again later');
      return 'unknown';
    }
    let voided: Awaited<ReturnType<NonNullable<typeof channel.connector.voidUnknownAttempt>>>;
    try {
      voided = await channel.connector.voidUnknownAttempt(channel.credentials, { moid: p.imp_uid });
    } catch (err) {
      await releaseNetCancelHold(deps, p);
      throw err;
    }
    if (voided !== 'nothing') {
      // the PG had approved the attempt after all (late), and reversed it now: that approval, as
      // the PG's signed answer reports it, is recorded with its refund like any approval the PG
      // net-cancelled, not failed as "no record" (decision 0110)
      deps.logger.warn({ imp_uid: impUid }, 'reconciliation: the PG had approved an attempt it first had no record of; reversed, recorded with its refund');
      found = voided.voided;
    }
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
  // and a billing-key window's attempt before Pier's own charge: an approval is the window's (refunded)
  if (isWindowAttempt(p) || isBillingWindowBeforeCharge(p)) return settleWindowAttempt(deps, p, opts, { channel, found, askedAtMs });
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
  /** rows read at once (default 100) */
  limit?: number;
  /** stop taking new rows after this many ms of deps.clock (default 5 minutes); the rest waits for the next pass */
  budgetMs?: number;
  /** rows checked at once (default 8) */
  concurrency?: number;
  /**
   * rows of one merchant checked at once (default half of `concurrency`): a merchant whose PG
   * answers each inquiry only at its timeout, or whose rows outnumber a pass, never holds the whole
   * pass (decision 0065)
   */
  perMerchant?: number;
  /**
   * check every open row past its grace now, whatever its backoff (`pier reconcile`: an operator
   * asking explicitly); the pass then goes through the rows once, in key order
   */
  ignoreBackoff?: boolean;
  /**
   * aborted when the process stops: the pass starts no further row, and the rows under way finish
   * their record-call-record, so that the stop can wait for them before it closes the connectors and
   * the store (decision 0113)
   */
  signal?: AbortSignal;
}

/**
 * Takes one due row for checking: moves its next_check_at back by its backoff step and counts the
 * check, conditional on nobody else having taken it since it was read. True if this caller has it.
 */
async function takeForCheck(deps: Deps, table: 'payments' | 'payment_cancels', key: { column: 'imp_uid' | 'cancellation_id'; value: string }, checkCount: number): Promise<boolean> {
  // a row read a while ago (it waited for its merchant's turn) may have been settled since
  const open = table === 'payments' ? sql<boolean>`pg_state IN ('calling', 'in_doubt')` : sql<boolean>`state IN ('pending', 'in_doubt')`;
  const res = await deps.store.db
    .updateTable(table as 'payments')
    .set({ next_check_at: sql`${dbNow(deps.store)} + ${recheckDelaySeconds(checkCount)}`, check_count: checkCount + 1 })
    .where(key.column as 'imp_uid', '=', key.value)
    .where('check_count', '=', checkCount)
    .where(open)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A row taken for a check (takeForCheck) whose PG this process leaves out (decision 0080): its
 * check is given back (its backoff step as before) and it is due again after
 * PG_LEFT_OUT_WAIT_SECONDS, so it is neither asked about on every pass nor pushed towards a
 * day-long step while nobody can ask; once a process with the PG's settings runs, it is settled
 * within minutes. Fenced on the check this caller took.
 */
async function waitForLeftOutPg(deps: Deps, table: 'payments' | 'payment_cancels', key: { column: 'imp_uid' | 'cancellation_id'; value: string }, checkCount: number, err: PgNotConfiguredError): Promise<void> {
  const handedBack = await handBackCheck(deps, table, key, checkCount);
  // one summary line per PG a sweep at info, this row at debug (decision 0087)
  noteLeftOutWait(
    deps,
    err.provider,
    { kind: table === 'payments' ? 'payment' : 'refund', key: key.value, since: Number(handedBack?.since ?? unixSeconds(deps.clock)) },
    { [key.column]: key.value, retry_in_s: PG_LEFT_OUT_WAIT_SECONDS, err: err.message },
    'reconciliation: the PG is not configured in this process; the row waits for it',
  );
}

/** The write of waitForLeftOutPg: the check given back, due again after PG_LEFT_OUT_WAIT_SECONDS; since when the row waits. */
async function handBackCheck(deps: Deps, table: 'payments' | 'payment_cancels', key: { column: 'imp_uid' | 'cancellation_id'; value: string }, checkCount: number): Promise<{ since: number } | undefined> {
  return deps.store.db
    .updateTable(table as 'payments')
    .set({ next_check_at: sql`${dbNow(deps.store)} + ${PG_LEFT_OUT_WAIT_SECONDS}`, check_count: checkCount })
    .where(key.column as 'imp_uid', '=', key.value)
    .where('check_count', '=', checkCount + 1)
    // since when it waits, for the summary line: the attempt's start, the refund's request
    .returning(sql<number>`${sql.ref(table === 'payments' ? 'started_at' : 'requested_at')}`.as('since'))
    .executeTakeFirst();
}

/**
 * Checks one attempt whose outcome Pier does not know, as every settler of it must: first takes it
 * for the check (takeForCheck: its next check moved back by its backoff step, fenced on the
 * `check_count` it was read with), then asks the PG (settleAttempt, giving it up when the PG has
 * nothing). Null when another settler took it since it was read (a reconciliation pass of this or
 * another process, a schedule worker judging its own attempt): that one asks the PG and records
 * what it says, so the PG is asked once and sent one net-cancel, and this caller waits for its
 * record (decision 0115). A PgNotConfiguredError leaves the check taken: the caller gives it back
 * (handBackAttemptCheck) and says so in its own words.
 */
export async function checkAttempt(deps: Deps, impUid: string, checkCount: number): Promise<Settlement | null> {
  if (!(await takeForCheck(deps, 'payments', { column: 'imp_uid', value: impUid }, checkCount))) return null;
  return settleAttempt(deps, impUid, { giveUpIfUnknown: true });
}

/** An attempt checkAttempt took, whose PG this process leaves out: its check given back, due again after PG_LEFT_OUT_WAIT_SECONDS (decision 0080). */
export async function handBackAttemptCheck(deps: Deps, impUid: string, checkCount: number): Promise<void> {
  await handBackCheck(deps, 'payments', { column: 'imp_uid', value: impUid }, checkCount);
}

/** How often a pass whose merchants are all at their share looks for rows of other merchants that fell due. */
const REFRESH_MS = 1_000;

/**
 * Runs `check` on the rows `read` finds due, at most `concurrency` at once and `perMerchant` of one
 * merchant at once, merchants taking turns (decision 0065). `read` returns due rows oldest first
 * within each merchant, merchants interleaved (every merchant's oldest, then every merchant's
 * second, …), leaving out the merchants it is given: those whose rows are already waiting here or
 * that are at their share. Reads are rare: one when nothing read is left, and at most one a
 * second (REFRESH_MS) while rows wait only for their merchant's share, to find other merchants'
 * rows that fell due. With `ignoreBackoff` the rows come in key order after the last one read, so
 * a read leaves none out and waits until everything read has started.
 * Stops starting rows once the budget has run out on `clock` (deps.clock, as every other deadline
 * of Pier's: a test or the sandbox moves it), or once `opts.signal` is aborted (the process
 * stops); the rows under way finish. The once-a-second read
 * paces database reads, not a deadline, and is timed on the process's own monotonic time with the
 * timer that waits for it, so a clock nobody moves does not stop it.
 */
async function fairPass<R extends { merchant_id: string }>(
  clock: Clock,
  opts: PassOptions,
  read: (q: { excluded: string[]; after: R | null; limit: number }) => Promise<R[]>,
  check: (row: R) => Promise<void>,
): Promise<void> {
  const deadline = clock.now() + (opts.budgetMs ?? 300_000);
  const concurrency = opts.concurrency ?? 8;
  const perMerchant = opts.perMerchant ?? Math.max(1, Math.floor(concurrency / 2));
  const waiting = new Map<string, R[]>(); // merchant → rows read and not started, oldest first; Map order is the turn
  const running = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let last: R | null = null;
  let readAt = Number.NEGATIVE_INFINITY;
  let failed: { err: unknown } | undefined;

  const next = (): R | undefined => {
    for (const [merchant, rows] of waiting) {
      if ((running.get(merchant) ?? 0) >= perMerchant) continue;
      const row = rows.shift()!;
      waiting.delete(merchant);
      if (rows.length > 0) waiting.set(merchant, rows); // to the back of the turn
      return row;
    }
    return undefined;
  };
  const start = (row: R) => {
    running.set(row.merchant_id, (running.get(row.merchant_id) ?? 0) + 1);
    // a failure (the database's) ends the pass once the rows under way have ended, as a read's does
    const done: Promise<void> = check(row).catch((err: unknown) => void (failed ??= { err })).finally(() => {
      inFlight.delete(done);
      const n = running.get(row.merchant_id)! - 1;
      if (n === 0) running.delete(row.merchant_id);
      else running.set(row.merchant_id, n);
    });
    inFlight.add(done);
  };
  const mayRead = () => waiting.size === 0 || (!opts.ignoreBackoff && performance.now() - readAt >= REFRESH_MS);

  try {
    await passLoop();
  } catch (err) {
    failed ??= { err };
  }
  await Promise.all(inFlight);
  if (failed) throw failed.err;

  async function passLoop() {
    while (clock.now() < deadline && !failed && !opts.signal?.aborted) {
      if (inFlight.size < concurrency) {
        const row = next();
        if (row) {
          start(row);
          continue;
        }
        if (mayRead()) {
          readAt = performance.now();
          const full = opts.ignoreBackoff ? [] : [...running].filter(([, n]) => n >= perMerchant).map(([m]) => m);
          const excluded = opts.ignoreBackoff ? [] : [...new Set([...waiting.keys(), ...full])];
          const rows = await read({ excluded, after: last, limit: opts.limit ?? 100 });
          if (rows.length > 0) last = rows[rows.length - 1]!;
          for (const r of rows) waiting.set(r.merchant_id, [...(waiting.get(r.merchant_id) ?? []), r]);
          if (rows.length > 0) continue;
          // every due row has been started: only a read that left no merchant out can tell
          if (excluded.length === 0 && waiting.size === 0 && inFlight.size === 0) break;
        }
      }
      // the merchants left out of the last read may have finished meanwhile: read again
      if (inFlight.size === 0) continue;
      let timer: NodeJS.Timeout | undefined;
      const refresh = waiting.size > 0 && !opts.ignoreBackoff ? new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, readAt + REFRESH_MS - performance.now())))) : undefined;
      await Promise.race(refresh ? [...inFlight, refresh] : [...inFlight]);
      clearTimeout(timer);
    }
  }
}

/** What a pass asks of a read (fairPass): merchants to leave out, the last row read (`ignoreBackoff`), how many. */
export interface DueRead<R> {
  excluded: string[];
  after: R | null;
  limit: number;
}

export type DueAttempt = { imp_uid: string; check_count: number | undefined; merchant_id: string };
export type DueRefund = { imp_uid: string; cancellation_id: string; check_count: number | undefined; merchant_id: string };

/**
 * The payment attempts due for a check, in the order fairPass takes them: every merchant's oldest
 * (by next_check_at, then imp_uid), then every merchant's second, …, without the `excluded`
 * merchants; with `ignoreBackoff`, every open row past its grace or checked before, in key order.
 */
export async function dueAttempts(deps: Deps, opts: Pick<PassOptions, 'graceSeconds' | 'ignoreBackoff'>, { excluded, after, limit }: DueRead<DueAttempt>): Promise<DueAttempt[]> {
  if (opts.ignoreBackoff) {
    // read in payments_reconcile_merchant, which holds the open attempts, its predicate a literal
    // as written there (migration 023): a bound state takes no partial index in a PostgreSQL
    // generic plan, and SQLite walked every payment by imp_uid. A row checked before was past its
    // grace then: only its backoff holds it back
    const rows = await sql<DueAttempt>`SELECT p.imp_uid, p.check_count, p.merchant_id FROM ${tableIndexedBy(deps.store.dialect, 'payments', 'p', 'payments_reconcile_merchant')}
      WHERE p.pg_state IN ('calling', 'in_doubt') AND (p.next_check_at <= ${dbNow(deps.store)} - ${opts.graceSeconds} OR p.check_count > 0)${after !== null ? sql` AND p.imp_uid > ${after.imp_uid}` : sql``}
      ORDER BY p.imp_uid LIMIT ${limit}`.execute(deps.store.db);
    return rows.rows;
  }
  return readInTurns<DueAttempt>(deps, {
    table: 'payments',
    key: 'imp_uid',
    index: 'payments_reconcile_merchant',
    // the predicate of payments_reconcile_merchant, as literals (migration 023)
    open: sql`pg_state IN ('calling', 'in_doubt')`,
    columns: ['imp_uid', 'check_count', 'merchant_id'],
    dueBy: sql<number>`${dbNow(deps.store)} - ${opts.graceSeconds}`,
    excluded,
    limit,
  });
}

interface TurnsRead {
  table: 'payments' | 'payment_cancels';
  key: string;
  /** the index of open rows by merchant, next_check_at and key, partial on `open` */
  index: string;
  open: RawBuilder<unknown>;
  columns: string[];
  dueBy: RawBuilder<number>;
  excluded: string[];
  limit: number;
}

/**
 * Due rows in turns (every merchant's oldest by `next_check_at, key`, then every merchant's second,
 * …), without the `excluded` merchants, at a cost bounded by what the read returns, not by the
 * backlog (decision 0076): numbering every due row cost 0.1-1 s at 100,000 in doubt, and on SQLite
 * that stalls every request of the process. One statement walks an index of the open rows by
 * merchant (`open` must be its predicate, as written there):
 * - the merchants with open rows, one index seek each (a recursive "loose index scan"), those
 *   with a due row kept, the excluded left out;
 * - each of those merchants' oldest `share` due rows, a walk of its own that stops there;
 * - numbered and ordered in turns, as before, among those rows only.
 * Every row of turn `share` or below is read, so the first `limit` of them are the first `limit`
 * of all due rows, unless fewer were read and some merchant reached its share (it may have more):
 * then the share doubles and the read runs again. The first share is `limit` shared among the
 * merchants, so a read takes one statement whenever merchants' backlogs are alike; its last
 * statement reads at most twice the rows it needs (plus one per merchant for the last turn), and
 * those before it no more together, besides one seek per merchant with open rows.
 */
async function readInTurns<R extends { merchant_id: string }>(
  deps: Deps,
  o: TurnsRead,
): Promise<R[]> {
  let share: number | null = null;
  for (;;) {
    const got = (await turnsStatement(deps.store.dialect, o, share).execute(deps.store.db)).rows as (Record<string, unknown> & { turn: number | string; share: number | string })[];
    const used = Number(got[0]?.share ?? share ?? 1);
    // fewer rows than asked, and a merchant that reached its share may have more of the next turns
    const cut = got.length < o.limit && got.some((r) => Number(r.turn) === used);
    if (!cut || used >= o.limit) return got.map((r) => Object.fromEntries(o.columns.map((c) => [c, r[c]])) as R);
    share = Math.min(o.limit, used * 2);
  }
}

/**
 * readInTurns' statement. `open` and the due bound are written unqualified in each subquery (whose
 * own table they then name); `share` null: `limit` shared among the merchants with due rows.
 */
function turnsStatement(
  dialect: 'sqlite' | 'postgres',
  o: TurnsRead,
  share: number | null,
) {
  // SQLite without statistics (Pier runs no ANALYZE) sorted every open row for each merchant seek
  // (in `payments_reconcile (pg_state, …)`, dropped by migration 028): its walks are named.
  // PostgreSQL picks them by cost.
  const t = sql.table(o.table);
  const walk = (alias: string) => tableIndexedBy(dialect, o.table, alias, o.index);
  const key = sql.ref(o.key);
  const cols = (alias: string) => sql.join([...new Set([...o.columns, 'next_check_at', o.key])].map((c) => sql.ref(`${alias}.${c}`)));
  const excluded = o.excluded.length > 0 ? sql`AND m.merchant_id NOT IN (${sql.join(o.excluded)})` : sql``;
  const greatest = dialect === 'postgres' ? sql.raw('greatest') : sql.raw('max');
  // a merchant's oldest `share` due rows, by its own index walk
  const oldest = (alias: string) =>
    sql`SELECT ${cols(alias)} FROM ${walk(alias)} WHERE ${sql.ref(`${alias}.merchant_id`)} = d.merchant_id AND ${o.open} AND next_check_at <= ${o.dueBy} ORDER BY next_check_at, ${key} LIMIT (SELECT n FROM share)`;
  const taken =
    dialect === 'postgres'
      ? sql`SELECT w.* FROM due_merchants d CROSS JOIN LATERAL (${oldest('p')}) AS w`
      : // SQLite has no LATERAL: the walk is a correlated list, its rows found again by key
        sql`SELECT ${cols('r')} FROM due_merchants d JOIN ${t} AS r ON ${sql.ref(`r.${o.key}`)} IN (SELECT ${key} FROM (${oldest('p')}))`;
  // the CASTs: better-sqlite3 may bind a number as REAL, and SQLite's LIMIT takes integers only.
  // `merchant_id IS NOT NULL` in the first merchant's seek: a refund a process of the version before
  // migration 023 writes between dueRefunds' fix-up and this statement has none, and SQLite sorts
  // NULL first (PostgreSQL last): the walk of merchants ended there and read nothing
  return sql<Record<string, unknown>>`
    WITH RECURSIVE merchants(merchant_id) AS (
      SELECT (SELECT p.merchant_id FROM ${walk('p')} WHERE ${o.open} AND p.merchant_id IS NOT NULL ORDER BY p.merchant_id LIMIT 1)
      UNION ALL
      SELECT (SELECT p.merchant_id FROM ${walk('p')} WHERE ${o.open} AND p.merchant_id > m.merchant_id ORDER BY p.merchant_id LIMIT 1) FROM merchants m WHERE m.merchant_id IS NOT NULL
    ),
    due_merchants AS (
      SELECT m.merchant_id FROM merchants m
      WHERE m.merchant_id IS NOT NULL ${excluded} AND EXISTS (SELECT 1 FROM ${walk('p')} WHERE p.merchant_id = m.merchant_id AND ${o.open} AND next_check_at <= ${o.dueBy})
    ),
    share(n) AS (SELECT COALESCE(CAST(${share} AS INTEGER), (CAST(${o.limit} AS INTEGER) + count(*) - 1) / ${greatest}(count(*), 1)) FROM due_merchants),
    taken AS (${taken})
    SELECT due.*, (SELECT n FROM share) AS share FROM (
      SELECT taken.*, row_number() OVER (PARTITION BY taken.merchant_id ORDER BY taken.next_check_at, ${sql.ref(`taken.${o.key}`)}) AS turn FROM taken
    ) AS due
    ORDER BY turn, next_check_at, ${key} LIMIT ${o.limit}`;
}

/** The refunds due for a check, as dueAttempts (by their payment's merchant, then next_check_at, then cancellation_id). */
export async function dueRefunds(deps: Deps, opts: Pick<PassOptions, 'graceSeconds' | 'ignoreBackoff'>, { excluded, after, limit }: DueRead<DueRefund>): Promise<DueRefund[]> {
  const { db } = deps.store;
  if (opts.ignoreBackoff) {
    // as dueAttempts': read in payment_cancels_reconcile_merchant, which holds the open refunds
    const rows = await sql<DueRefund>`SELECT c.imp_uid, c.cancellation_id, c.check_count, p.merchant_id
      FROM ${tableIndexedBy(deps.store.dialect, 'payment_cancels', 'c', 'payment_cancels_reconcile_merchant')} JOIN payments AS p ON p.imp_uid = c.imp_uid
      WHERE c.state IN ('pending', 'in_doubt') AND (c.next_check_at <= ${dbNow(deps.store)} - ${opts.graceSeconds} OR c.check_count > 0)${after !== null ? sql` AND c.cancellation_id > ${after.cancellation_id}` : sql``}
      ORDER BY c.cancellation_id LIMIT ${limit}`.execute(db);
    return rows.rows;
  }
  // a refund written by a process of the version before migration 023 (during an upgrade) has no
  // merchant yet: it is given its payment's here, so the walk by merchant finds it. Looked for in
  // an index of such refunds only, empty but then: PostgreSQL read the whole table otherwise
  const openRefund = sql<boolean>`state IN ('pending', 'in_doubt')`;
  const withoutMerchant = sql`payment_cancels${deps.store.dialect === 'sqlite' ? sql` INDEXED BY payment_cancels_without_merchant` : sql``}`;
  const unowned = await sql`SELECT id FROM ${withoutMerchant} WHERE merchant_id IS NULL AND ${openRefund} LIMIT 1`.execute(db);
  if (unowned.rows.length > 0) {
    await db
      .updateTable('payment_cancels')
      .set({ merchant_id: sql<string>`(SELECT p.merchant_id FROM payments p WHERE p.imp_uid = payment_cancels.imp_uid)` })
      .where('merchant_id', 'is', null)
      .where(openRefund)
      .execute();
  }
  return readInTurns<DueRefund>(deps, {
    table: 'payment_cancels',
    key: 'cancellation_id',
    index: 'payment_cancels_reconcile_merchant',
    open: openRefund,
    columns: ['imp_uid', 'cancellation_id', 'check_count', 'merchant_id'],
    dueBy: sql<number>`${dbNow(deps.store)} - ${opts.graceSeconds}`,
    excluded,
    limit,
  });
}

/**
 * The reconciliation step for payment attempts: settles every attempt in doubt (or stuck
 * `calling`, i.e. its process died) whose grace has passed, in one pass that always finishes.
 */
export async function reconcileInDoubt(deps: Deps, opts: PassOptions) {
  const outcome: Record<string, Settlement> = {};
  const started = new Set<string>();
  const read = (q: DueRead<DueAttempt>) => dueAttempts(deps, opts, q);
  await fairPass(deps.clock, opts, read, async ({ imp_uid, check_count }) => {
    // once a pass: a read while the row's first check was starting lists it again, and a row handed
    // back to wait for its left-out PG has its check_count as read, so the fence would let it through
    if (started.has(imp_uid)) return;
    started.add(imp_uid);
    try {
      const settled = await checkAttempt(deps, imp_uid, Number(check_count ?? 0));
      if (settled === null) return;
      outcome[imp_uid] = settled;
    } catch (err) {
      outcome[imp_uid] = 'unknown';
      if (err instanceof PgNotConfiguredError) return waitForLeftOutPg(deps, 'payments', { column: 'imp_uid', value: imp_uid }, Number(check_count ?? 0), err);
      deps.logger.warn({ imp_uid, err: (err as Error).message }, 'reconciliation: PG inquiry failed; will retry after its backoff');
      outcome[imp_uid] = 'unknown';
    }
  });
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
 * refund is still inside its grace (pending: being sent; in doubt: its answer just lost, the PG may
 * still act on it), the payment waits for its next check. So does a payment the PG's answer does
 * not report (no such payment, failed, another tid or amount): nothing is released on it.
 */
export async function reconcileInDoubtCancels(deps: Deps, opts: PassOptions) {
  const outcome: Record<string, 'succeeded' | 'failed'> = {};
  const seen = new Set<string>();
  const started = new Set<string>();
  const read = (q: DueRead<DueRefund>) => dueRefunds(deps, opts, q);
  await fairPass(deps.clock, opts, read, async (c) => {
    // once a pass, as reconcileInDoubt's rows
    if (started.has(c.cancellation_id)) return;
    started.add(c.cancellation_id);
    const taken = await takeForCheck(deps, 'payment_cancels', { column: 'cancellation_id', value: c.cancellation_id }, Number(c.check_count ?? 0));
    // one inquiry per payment per pass: its other open refunds are settled with it
    if (!taken || seen.has(c.imp_uid)) return;
    seen.add(c.imp_uid);
    try {
      Object.assign(outcome, await settleRefundsOf(deps, c.imp_uid, opts.graceSeconds, opts.signal));
    } catch (err) {
      if (err instanceof PgNotConfiguredError) return waitForLeftOutPg(deps, 'payment_cancels', { column: 'cancellation_id', value: c.cancellation_id }, Number(c.check_count ?? 0), err);
      deps.logger.warn({ imp_uid: c.imp_uid, err: (err as Error).message }, 'reconciliation: refund inquiry failed; will retry after its backoff');
    }
  });
  return outcome;
}

async function settleRefundsOf(deps: Deps, impUid: string, graceSeconds: number, stopping: AbortSignal | undefined, followUp = true): Promise<Record<string, 'succeeded' | 'failed'>> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').select(['imp_uid', 'pg_tid', 'amount', 'started_at', 'channel_id']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  const channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
  if (!channel) return {};
  const before = await cancelSnapshot(deps, impUid, graceSeconds);
  // a refund is on its way to the PG right now, or its answer was lost so recently that the PG may
  // still make it (a timed-out request it has yet to act on): its absence from the PG's total would
  // not mean it failed, and it is settled with the others once past its own grace. A PG refund to
  // measure (amount 0) is no request of Pier's: nothing of it can be on its way.
  if (before.rows.some((r) => isOpenRefund(r) && r.amount > 0 && r.fresh)) return {};
  const found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: Number(p.started_at) * 1000 });
  const after = await cancelSnapshot(deps, impUid, graceSeconds);
  if (!sameSnapshot(before, after)) {
    deps.logger.info({ imp_uid: impUid }, 'reconciliation: refunds changed during the inquiry; asking again later');
    return {};
  }
  // Only the PG's word on the payment Pier recorded (its tid, its amount) says what was refunded of
  // it. "No such payment" (NICE's no-data codes), a failed one or another one says nothing of its
  // refunds: read as "nothing refunded", it released a refund the PG had made, and the merchant could
  // refund the same amount again (decision 0101). Asked again after the backoff.
  if (!found.found || found.state === 'failed' || (p.pg_tid && found.pgTid !== p.pg_tid) || found.amount !== Number(p.amount)) {
    deps.logger.warn({ imp_uid: impUid, found: found.found }, 'reconciliation: the PG did not report the payment whose refunds are open; asking again later');
    return {};
  }
  const open = after.rows.filter((r) => isOpenRefund(r) && r.amount > 0);
  // refunds the PG made on its own while one of Pier's was open (cancel.ts leavePgRefundToMeasure)
  const toMeasure = after.rows.filter((r) => isOpenRefund(r) && r.amount === 0);
  const refundedBeyondPier = found.cancelledAmount - after.cancelAmount;
  if (open.length === 0) return measurePgRefunds(deps, impUid, toMeasure, refundedBeyondPier, after.cancelAmount, found.cancelledAmount);
  const refunded = refundedBeyondPier < 0 ? null : refundsMakingUp(open, refundedBeyondPier);
  if (!refunded) {
    deps.logger.error({ imp_uid: impUid, pg_refunded_beyond_pier: refundedBeyondPier }, 'reconciliation: no combination of open refunds makes up what the PG refunded; left for an operator');
    return {};
  }
  // the pass reports (the `pier reconcile` table, this log line) only what it wrote: a refund settled
  // since the read after the inquiry (another settler of the same payment, through another of its
  // refunds, or its own late answer) was recorded or released by that one, not here (decision 0115)
  const outcome: Record<string, 'succeeded' | 'failed'> = {};
  const settledElsewhere: string[] = [];
  for (const c of open) {
    const written = refunded.includes(c)
      ? (await recordRefund(deps, impUid, c.cancellation_id, c.amount, null, 0, c.reason)) && 'succeeded'
      : (await releaseCancel(deps, impUid, c.cancellation_id, c.amount, '[PG_NO_RECORD] PG사에 취소 기록이 없습니다. (no refund at the PG after a timeout)')) && 'failed';
    if (written) outcome[c.cancellation_id] = written;
    else settledElsewhere.push(c.cancellation_id);
  }
  if (settledElsewhere.length > 0) deps.logger.info({ imp_uid: impUid, cancellation_ids: settledElsewhere }, 'reconciliation: refunds settled elsewhere meanwhile; not reported here');
  if (Object.keys(outcome).length > 0) deps.logger.info({ imp_uid: impUid, outcome }, 'reconciliation: refunds settled');
  // none of Pier's is open now: the PG's own refund is measured by a fresh inquiry, not left to its
  // backoff; unless the process stops, which waits for this row: a call more than one operation,
  // and the next pass measures it (decision 0113)
  if (toMeasure.length > 0 && followUp && !stopping?.aborted) Object.assign(outcome, await settleRefundsOf(deps, impUid, graceSeconds, stopping, false));
  return outcome;
}

const isOpenRefund = (r: { state: string }) => r.state === 'pending' || r.state === 'in_doubt';

/**
 * With no refund of Pier's open, what the PG refunded beyond Pier's refunds (`refundedBeyondPier`,
 * read after they were all settled) is the PG's own: recorded as a refund made at the PG, guarded on
 * Pier's refunds being what it was compared with (mirrorPgRefund). Then the rows that waited for it
 * are removed: they were markers, never refunds. Decision 0102.
 */
async function measurePgRefunds(
  deps: Deps,
  impUid: string,
  toMeasure: CancelSnapshot['rows'],
  refundedBeyondPier: number,
  cancelAmount: number,
  pgCancelledTotal: number,
): Promise<Record<string, 'succeeded' | 'failed'>> {
  if (toMeasure.length === 0) return {};
  if (refundedBeyondPier > 0) {
    const recorded = await mirrorPgRefund(deps, impUid, pgCancelledTotal, toMeasure[0]!.reason ?? REFUNDED_AT_PG, { cancelAmount, pendingAmount: 0 });
    // Pier's refunds changed since they were read (a refund through Pier): measured again at the next check
    if (!recorded) return {};
  }
  await deps.store.db
    .deleteFrom('payment_cancels')
    .where('cancellation_id', 'in', toMeasure.map((r) => r.cancellation_id))
    .where('amount', '=', 0)
    .where('state', 'in', ['pending', 'in_doubt'])
    .execute();
  const outcome = refundedBeyondPier > 0 ? 'succeeded' : 'failed';
  deps.logger.info({ imp_uid: impUid, pg_refunded_beyond_pier: refundedBeyondPier }, 'reconciliation: the PG\'s own refund measured once no refund through Pier was open');
  return Object.fromEntries(toMeasure.map((r) => [r.cancellation_id, outcome]));
}
