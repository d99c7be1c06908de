/**
 * Acknowledging window results to the PG (tPay `resultConfirm`) as durable jobs (issue #9 item 3).
 *
 * A PG net-cancels an approval it never hears back about, so a lost acknowledgement means a buyer
 * refunded behind Pier's back. Each acknowledgement is a `window_confirms` row written before the
 * approval is recorded; it is sent at once on the request path and, when that fails or the process
 * dies, by the job queue (jobs/handlers/window-confirms.ts), retried with backoff. A confirm that
 * keeps failing is settled by asking the PG: if it refunded the approval meanwhile (net-cancel),
 * Pier records that refund (with its `cancelled` webhook) so both books agree.
 *
 * This module only acknowledges approvals Pier has recorded. A row whose approval is not recorded
 * yet (the process died between the row and the record, or a recheck) is settled first by the job
 * (window-confirm-job.ts), which asks the PG through window-settlement.ts; that settlement in turn
 * writes rows here and acknowledges inline, so the job is the one module that needs both.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Deps } from '../deps.js';
import { unixSeconds } from '../../lib/clock.js';
import { claimRows, leaseSecondsCovering } from '../../jobs/claim.js';
import { dbNow } from '../../store/db-clock.js';
import { realNowMs, SandboxClock } from '../sandbox/clock.js';
import { channelById, type PgNotConfiguredError, type ResolvedChannel } from '../merchants/channels.js';
import { noteLeftOutWait } from '../merchants/left-out-waits.js';
import { mirrorPgRefund } from '../payments/cancel.js';
import type { PaymentsTable, WindowConfirmsTable } from '../../store/types.js';

export interface ConfirmRetryPolicy {
  /** delay before the second try; doubled after each failure */
  firstDelaySeconds: number;
  maxDelaySeconds: number;
  /** tries before the row is given up (`failed`, logged as an error) */
  maxAttempts: number;
}

export const DEFAULT_CONFIRM_RETRY: ConfirmRetryPolicy = { firstDelaySeconds: 5, maxDelaySeconds: 300, maxAttempts: 20 };

/** The lease with the default PG timeouts: the least a lease lasts. */
export const CONFIRM_LEASE_SECONDS = 120;

/**
 * PG calls one run may wait on, one after another: settling an approval not recorded yet (an
 * inquiry, then the refund of a late approval, window-settlement.ts), its resultConfirm, and an
 * inquiry when that fails.
 */
const PG_CALLS_PER_RUN = 4;

/**
 * How long a worker (or the request path) holds a row: past a run's PG calls at the configured
 * timeouts, so no second worker confirms, asks about or refunds an approval while the first one's
 * call may still be answered (a fixed 120 s did not, with a read timeout past about 20 s: decision 0056).
 */
export const confirmLeaseSeconds = (deps: Pick<Deps, 'connectors'>): number =>
  leaseSecondsCovering(deps.connectors.maxCallMs(), PG_CALLS_PER_RUN, CONFIRM_LEASE_SECONDS);

/** Writes the acknowledgement job of a PG result; idempotent per (imp_uid, tid). */
export async function enqueueWindowConfirm(deps: Deps, impUid: string, channelId: string, pgTid: string): Promise<void> {
  const now = unixSeconds(deps.clock);
  await deps.store.db
    .insertInto('window_confirms')
    .values({
      id: `wc_${randomBytes(12).toString('hex')}`,
      imp_uid: impUid,
      channel_id: channelId,
      pg_tid: pgTid,
      state: 'pending',
      attempts: 0,
      due_at: now,
      lease_owner: null,
      lease_until: 0,
      last_error: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['imp_uid', 'pg_tid']).doNothing())
    .execute();
}

/**
 * A recheck of an attempt closed while its PG window may still have been open (the buyer closed
 * Pier's overlay, the PG approved a moment later, and its result never reached Pier): a row with no
 * tid, due (`dueAt`, UNIX seconds on deps.clock) once the PG window can no longer be submitted. It
 * asks the PG, and an approval found then is recorded or refunded like any late approval (then
 * acknowledged through its own row).
 *
 * A live channel's window (`sandbox = 0`) is open on the real time, whatever the sandbox clock
 * says: anyone's token moves that clock (the public demo key too), and a recheck it made due asked
 * the PG while the buyer could still pay, its "nothing" taken as the last word. On the sandbox
 * clock such a row is also held (`lease_until`, the database's clock, which no advance or reset
 * moves) until `realDueAtMs`, the window's end on the real time (default: `dueAt` taken as the
 * real time, which is never early: decision 0121, amended).
 */
export async function enqueueWindowRecheck(deps: Deps, impUid: string, channelId: string, dueAt: number, realDueAtMs = dueAt * 1000): Promise<void> {
  const now = unixSeconds(deps.clock);
  const { db } = deps.store;
  // production's clock is the real time: no hold there
  const holdSeconds = deps.clock instanceof SandboxClock ? Math.max(0, Math.ceil((realDueAtMs - realNowMs(deps.clock)) / 1000)) : 0;
  const liveChannel = sql<boolean>`(SELECT sandbox FROM pg_channels WHERE id = ${channelId}) = 0`;
  await db
    .insertInto('window_confirms')
    .values({
      id: `wc_${randomBytes(12).toString('hex')}`,
      imp_uid: impUid,
      channel_id: channelId,
      pg_tid: RECHECK_TID,
      state: 'pending',
      attempts: 0,
      due_at: dueAt,
      lease_owner: null,
      lease_until: holdSeconds === 0 ? 0 : sql<number>`CASE WHEN ${liveChannel} THEN ${dbNow(deps.store)} + ${holdSeconds} ELSE 0 END`,
      last_error: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['imp_uid', 'pg_tid']).doNothing())
    .execute();
}

/**
 * How long a PG window opened from a checkout may still be submitted (Pier's session lifetime,
 * sessions.ts SESSION_TTL_SECONDS; the simulators' windows live as long): a recheck written when
 * an attempt is failed waits this long, so it asks the PG once no result can come any more.
 */
export const PG_WINDOW_LIFETIME_SECONDS = 30 * 60;

/**
 * When an attempt's PG window can give no result any more (ms, deps.clock): its lifetime from
 * when Pier opened it, plus the longest a PG call lasts and 30 s, as the reconciliation grace
 * counts them (reconcile.ts inFlightGraceSeconds): the buyer's browser posts the window's form to
 * the PG at once, and a card submitted in the window's last second is approved, or not, within a
 * PG call. What the PG answers an inquiry sent from then on is its last word on the attempt, so no
 * recheck follows it (decision 0069).
 */
export const windowOverAtMs = (deps: Pick<Deps, 'connectors'>, startedAt: number): number => (startedAt + PG_WINDOW_LIFETIME_SECONDS + 30) * 1000 + deps.connectors.maxCallMs();

/**
 * Now (ms) as `channel`'s PG window runs: the real time for a live channel (`sandbox = 0`), Pier's
 * clock for a sandbox one. The sandbox clock is global and any merchant's token moves it, the
 * public demo key included; a live PG's window is open on the real time however far it is moved,
 * so a PG answer asked about it by the sandbox clock is not its last word (decision 0121, amended).
 */
export const windowNowMs = (deps: Pick<Deps, 'clock'>, channel: { row: Pick<ResolvedChannel['row'], 'sandbox'> }): number =>
  channel.row.sandbox === 1 ? deps.clock.now() : realNowMs(deps.clock);

/** The `pg_tid` of a recheck row: the approval, if any, is not known yet. */
export const RECHECK_TID = '';

/** A leased acknowledgement, with the merchant whose channel it goes through (null: the channel is gone). */
export type ClaimedWindowConfirm = WindowConfirmsTable & { merchantId: string | null };

/**
 * Leases up to `limit` due acknowledgements (a lease that ran out makes a row due again). Rows fall
 * due on Pier's clock; a lease runs out on the database's, as schedules' and deliveries' do
 * (decision 0009): on Pier's, `pier sandbox clock advance` (or a process whose clock runs ahead)
 * made a row being confirmed look abandoned, and a second worker confirmed it at the same time.
 *
 * `skipMerchants`: merchants whose rows are not taken now (their room in the lane is full,
 * jobs/handlers/window-confirms.ts, decision 0107). A row names its channel, not its merchant: the
 * claim leaves out those merchants' channels, and the claimed rows' merchants are read after it
 * (pg_channels by primary key), so the lane can count them.
 */
export async function claimWindowConfirms(deps: Deps, o: { owner: string; limit: number; leaseSeconds?: number; skipMerchants?: string[] }): Promise<ClaimedWindowConfirm[]> {
  const { db } = deps.store;
  const now = unixSeconds(deps.clock);
  const skip = o.skipMerchants ?? [];
  // a merchant's channels (pg_channels_merchant_kind_provider_mid leads with merchant_id): a few each
  const skipChannels = skip.length === 0 ? [] : (await db.selectFrom('pg_channels').select('id').where('merchant_id', 'in', skip).execute()).map((c) => c.id);
  const rows = await claimRows(deps.store, 'window_confirms', {
    // `state = 'pending'` a literal: window_confirms_due is partial on it (migration 028), and a
    // bound state takes no partial index in a PostgreSQL generic plan
    due: (eb) =>
      eb.and([
        sql<boolean>`state = 'pending'`,
        eb('due_at', '<=', now),
        eb('lease_until', '<=', dbNow(deps.store)),
        ...(skipChannels.length > 0 ? [eb('channel_id', 'not in', skipChannels)] : []),
      ]),
    set: { lease_owner: o.owner, lease_until: sql`${dbNow(deps.store)} + ${o.leaseSeconds ?? confirmLeaseSeconds(deps)}` },
    orderBy: 'due_at',
    limit: o.limit,
  });
  if (rows.length === 0) return [];
  const channels = await db
    .selectFrom('pg_channels')
    .select(['id', 'merchant_id'])
    .where('id', 'in', [...new Set(rows.map((r) => r.channel_id))])
    .execute();
  const merchantOf = new Map(channels.map((c) => [c.id, c.merchant_id]));
  return rows.map((r) => ({ ...r, merchantId: merchantOf.get(r.channel_id) ?? null }));
}

/**
 * Whether `payment` holds the approval `pgTid` as recorded (only a recorded approval is acknowledged).
 * A late approval held for a merchant_uid another payment has paid is recorded only once its refund
 * is under way (window-settlement.ts owesLateRefund): until then its row stays, so the job refunds it.
 */
export const recordsApproval = (payment: PaymentsTable, pgTid: string): boolean =>
  payment.pg_tid === pgTid && payment.pg_state === 'done' && payment.status !== 'failed' && !owesLateRefund(payment);

/**
 * A late window approval recorded without its merchant_uid (another payment had paid it meanwhile:
 * adoptLateApproval's held case) and not refunded, nor being refunded, yet.
 */
export const owesLateRefund = (p: Pick<PaymentsTable, 'status' | 'merchant_uid_lock' | 'amount' | 'cancel_amount' | 'cancel_pending_amount'>): boolean =>
  p.status === 'paid' && p.merchant_uid_lock === null && Number(p.cancel_amount) + Number(p.cancel_pending_amount) < Number(p.amount);

/**
 * The ways a leased row ends a run: done or given up; due again after a backoff, the try counted;
 * or due again after `seconds`, no try counted (its PG is left out of this process: decision 0080).
 */
export interface LeasedConfirm {
  job: WindowConfirmsTable;
  finish(state: 'done' | 'failed', lastError: string | null): Promise<void>;
  retry(error: string): Promise<void>;
  /** due again after `seconds`, no try counted: `err`'s PG is left out of this process */
  wait(err: PgNotConfiguredError, seconds: number): Promise<void>;
}

/** The row `job`, leased by `owner`; every write is fenced on the lease. */
export function leasedConfirm(deps: Deps, job: WindowConfirmsTable, owner: string, policy: ConfirmRetryPolicy): LeasedConfirm {
  const { db } = deps.store;
  const finish = async (state: 'done' | 'failed', lastError: string | null) => {
    await db
      .updateTable('window_confirms')
      .set({ state, last_error: lastError?.slice(0, 500) ?? null, lease_owner: null, lease_until: 0, attempts: job.attempts + 1, updated_at: unixSeconds(deps.clock) })
      .where('id', '=', job.id)
      .where('lease_owner', '=', owner)
      .execute();
  };
  const retry = async (error: string) => {
    const attempts = job.attempts + 1;
    if (attempts >= policy.maxAttempts) {
      deps.logger.error({ imp_uid: job.imp_uid, tid: job.pg_tid, attempts, err: error }, 'window result confirmation given up');
      return finish('failed', error);
    }
    const delay = Math.min(policy.maxDelaySeconds, policy.firstDelaySeconds * 2 ** (attempts - 1));
    const now = unixSeconds(deps.clock);
    deps.logger.info({ imp_uid: job.imp_uid, tid: job.pg_tid, attempts, retry_in_s: delay, err: error }, 'window result confirmation failed; will retry');
    await db
      .updateTable('window_confirms')
      .set({ attempts, due_at: now + delay, last_error: error.slice(0, 500), lease_owner: null, lease_until: 0, updated_at: now })
      .where('id', '=', job.id)
      .where('lease_owner', '=', owner)
      .execute();
  };
  const wait = async (err: PgNotConfiguredError, seconds: number) => {
    const now = unixSeconds(deps.clock);
    const reason = err.message;
    // one summary line per PG a sweep at info, this row at debug (decision 0087)
    noteLeftOutWait(
      deps,
      err.provider,
      { kind: 'window_confirm', key: job.imp_uid, since: Number(job.created_at) },
      { imp_uid: job.imp_uid, tid: job.pg_tid, attempts: job.attempts, retry_in_s: seconds, err: reason },
      'window result confirmation waits for its PG to be configured',
    );
    await db
      .updateTable('window_confirms')
      .set({ due_at: now + seconds, last_error: reason.slice(0, 500), lease_owner: null, lease_until: 0, updated_at: now })
      .where('id', '=', job.id)
      .where('lease_owner', '=', owner)
      .execute();
  };
  return { job, finish, retry, wait };
}

/**
 * Sends resultConfirm for an approval Pier has recorded. When it fails, settles by inquiry: an
 * approval the PG refunded meanwhile (net-cancel) needs no confirm any more, only Pier's record of
 * the refund; one the PG does not hold is given up; otherwise the row is retried later.
 */
export async function acknowledgeApproval(deps: Deps, lease: LeasedConfirm, channel: ResolvedChannel, payment: PaymentsTable): Promise<void> {
  const { job } = lease;
  try {
    await channel.connector.window!.confirmWindowResult(channel.credentials, job.pg_tid);
    await lease.finish('done', null);
    return;
  } catch (err) {
    const error = (err as Error).message;
    try {
      const found = await channel.connector.inquire(channel.credentials, { moid: job.imp_uid, pgTid: job.pg_tid, aroundMs: payment.started_at * 1000 });
      if (found.found && found.cancelledAmount >= found.amount) {
        await mirrorPgRefund(deps, job.imp_uid, found.cancelledAmount, 'PG사 망취소 (the PG net-cancelled an unconfirmed approval)');
        return void (await lease.finish('done', `refunded at the PG: ${error}`));
      }
      if (!found.found || found.state === 'failed') return void (await lease.finish('failed', `the PG has no approval for it: ${error}`));
    } catch {
      /* the PG is unreachable: retry the whole job later */
    }
    await lease.retry(error);
  }
}

/**
 * Sends one acknowledgement now, on the request path that has just recorded its approval, unless
 * a worker holds the row. Never throws: a failure, or an approval not recorded after all, leaves
 * the row to the job queue.
 */
export async function confirmNow(deps: Deps, impUid: string, pgTid: string): Promise<void> {
  // once stopping, no PG call after the one that found the approval: its row is the queue's, which
  // the next process runs (decision 0130)
  if (deps.stopping?.aborted) return;
  const owner = `inline:${randomBytes(6).toString('hex')}`;
  const { db } = deps.store;
  try {
    // leased on the database's clock, as the job queue leases (claimWindowConfirms)
    const job = await db
      .updateTable('window_confirms')
      .set({ lease_owner: owner, lease_until: sql`${dbNow(deps.store)} + ${confirmLeaseSeconds(deps)}` })
      .where('imp_uid', '=', impUid)
      .where('pg_tid', '=', pgTid)
      .where('state', '=', 'pending')
      .where('lease_until', '<=', dbNow(deps.store))
      .returningAll()
      .executeTakeFirst();
    if (!job) return;
    const lease = leasedConfirm(deps, job, owner, DEFAULT_CONFIRM_RETRY);
    const channel = await channelById(deps, job.channel_id);
    const payment = await db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirst();
    if (channel?.connector.window && payment && recordsApproval(payment, pgTid)) return void (await acknowledgeApproval(deps, lease, channel, payment));
    // not this request's to settle: hand the row back to the queue, due now
    await db.updateTable('window_confirms').set({ lease_owner: null, lease_until: 0 }).where('id', '=', job.id).where('lease_owner', '=', owner).execute();
  } catch (err) {
    deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'window result confirmation deferred to the job queue');
  }
}
