import { PierError } from '../errors.js';
import { PG_LEFT_OUT_WAIT_SECONDS, PgNotConfiguredError } from '../merchants/channels.js';
import { noteLeftOutWait } from '../merchants/left-out-waits.js';
import { unixSeconds } from '../../lib/clock.js';
import { claimRows, leaseSecondsCovering } from '../../jobs/claim.js';
import type { Store } from '../../store/db.js';
import { sql, type ExpressionBuilder, type UpdateObject } from 'kysely';
import type { Database, PaymentSchedulesTable } from '../../store/types.js';
import { backoffSeconds, type RetryPolicy } from '../../webhooks/deliveries.js';
import { findBillingKey, findBillingKeyWithChannel } from '../billing-keys/billing-keys.js';
import { SandboxClock } from '../sandbox/clock.js';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE, type ChargeOrder } from '../payments/charge.js';
import type { Deps } from '../deps.js';
import { recordPaymentEvent } from '../payments/events.js';
import { payAgain } from '../payments/pay.js';
import { checkAttempt, handBackAttemptCheck, inFlightGraceSeconds, reconcileGraceSeconds } from '../payments/reconcile.js';
import { AttemptFenceLostError, ImpUidTakenError, PaymentOutcomeUnknownError } from '../payments/errors.js';
import { withNewImpUid, type AttemptFence } from '../payments/attempts.js';
import { dbNow } from '../../store/db-clock.js';
import { tableIndexedBy } from '../../store/indexed-by.js';
import { isPrimaryKeyViolation } from '../../store/db.js';

export type ScheduleRow = PaymentSchedulesTable;

/** How scheduled charges are run. Times in seconds of the (sandbox) clock. */
export interface ScheduleRunPolicy {
  /** how long a worker holds a schedule; must exceed a run's PG calls (schedulePolicyFor) */
  leaseSeconds: number;
  /** charge attempts before a schedule whose attempts failed for technical reasons is given up */
  maxAttempts: number;
  /** backoff between attempts after a technical failure */
  retry: RetryPolicy;
  /** how long to wait before looking at an attempt whose PG outcome is unknown again */
  inDoubtWaitSeconds: number;
  /**
   * an attempt in doubt for this long (database clock) is settled by asking the PG (the
   * reconciliation step); schedulePolicyFor derives it from the PG timeouts (reconcile.ts reconcileGraceSeconds)
   */
  reconcileGraceSeconds: number;
}

export const DEFAULT_SCHEDULE_POLICY: ScheduleRunPolicy = {
  leaseSeconds: 300,
  maxAttempts: 5,
  retry: { baseDelaySeconds: 60, maxDelaySeconds: 3600 },
  inDoubtWaitSeconds: 60,
  // a call of the default read timeout (30 s) + margin; schedulePolicyFor takes the configured PGs' whole call (connect + read)
  reconcileGraceSeconds: inFlightGraceSeconds(30_000),
};

/**
 * PG calls one run of a schedule may wait on, one after another: taking over an attempt in doubt
 * asks the PG (an inquiry, then a void of an attempt it does not know, reconcile.ts checkAttempt);
 * a run charges once. Counted high: a lease too long only delays taking over a dead worker's row.
 */
const PG_CALLS_PER_RUN = 3;

/**
 * The policy for the configured PG timeouts (the job queue's and the retry API's): the lease lasts
 * past a run's PG calls, so a second worker never takes a schedule whose charge may still be
 * answered (the fixed 300 s did not, with a read timeout past about 4 minutes: decision 0056), and
 * the reconciliation grace past one call in flight.
 */
export function schedulePolicyFor(deps: Pick<Deps, 'connectors'>): ScheduleRunPolicy {
  return {
    ...DEFAULT_SCHEDULE_POLICY,
    leaseSeconds: leaseSecondsCovering(deps.connectors.maxCallMs(), PG_CALLS_PER_RUN, DEFAULT_SCHEDULE_POLICY.leaseSeconds),
    reconcileGraceSeconds: reconcileGraceSeconds(deps.connectors),
  };
}

/**
 * How late a schedule whose PG this process leaves out may still be charged (decision 0080): until
 * then it waits, no attempt counted and no payment recorded, for a process with the PG's settings
 * (a deploy that forgot the PG's URL, put right the same day); past it, it fails with
 * PG_NOT_CONFIGURED and its `failed` webhook, rather than charge the buyer a day or more after
 * the date they agreed to.
 */
export const PG_LEFT_OUT_SCHEDULE_LATENESS_SECONDS = 24 * 3600;

/** A technical failure: the PG never saw the charge, so trying again cannot charge twice. */
const TECHNICAL = /^\[(PG_UNREACHABLE|PG_NO_RECORD|PIER_ERROR)\]/;

// due_at follows Pier's clock (the sandbox clock can make a schedule due); a lease runs out on the
// database's clock, so moving the sandbox clock never makes a running schedule look abandoned.
// The states are literals: payment_schedules_due is partial on `state = 'scheduled'` (migration
// 028), payment_schedules_lease on `state = 'running'` (024), and a partial index serves only a
// statement whose WHERE states its predicate (not a bound parameter in a PostgreSQL generic plan)
const dueConditions = (now: number, store: Store) => [
  (eb: any) => eb.and([sql<boolean>`state = 'scheduled'`, eb('due_at', '<=', now)]),
  (eb: any) => eb.and([sql<boolean>`state = 'running'`, eb('lease_until', '<=', dbNow(store))]),
];

/**
 * Leases due schedules to `owner` (state `running`): those whose time has come, and those whose
 * worker's lease ran out (it died). One conditional UPDATE; on PostgreSQL the candidate rows are
 * locked with `FOR UPDATE SKIP LOCKED`, so three Pier processes claiming at once split the rows
 * between them. It is conditional on `state`, as revoking is: a schedule is either claimed or
 * revoked, never both. `skipMerchants`: merchants whose schedules are not taken now (their room in
 * the lane is full, jobs/handlers/schedules.ts).
 */
export async function claimDueSchedules(store: Store, o: { now: number; owner: string; leaseSeconds: number; limit: number; skipMerchants?: string[] }): Promise<ScheduleRow[]> {
  const skip = o.skipMerchants ?? [];
  const [waiting, leaseRanOut] = dueConditions(o.now, store);
  let due: ((eb: any) => any)[] = [waiting!, leaseRanOut!];
  if (skip.length > 0) {
    // the `due_at` walk would read past every due schedule of the merchants left out (decision 0076)
    const ids = await dueOfOthers(store, o.now, skip, o.limit);
    const others = (eb: any) => eb('merchant_id', 'not in', skip);
    due = [
      // still waiting and due, checked as an expression no index can take: without statistics both
      // databases found the few ids by walking every waiting schedule (state, …) and checking its id
      ...(ids.length > 0 ? [(eb: any) => eb.and([eb('id', 'in', ids), sql<boolean>`(CASE WHEN state = 'scheduled' AND due_at <= ${o.now} THEN 1 ELSE 0 END) = 1`])] : []),
      (eb: any) => eb.and([leaseRanOut!(eb), others(eb)]),
    ];
  }
  return claimRows(store, 'payment_schedules', {
    due,
    set: { state: 'running', lease_owner: o.owner, lease_until: sql`${dbNow(store)} + ${o.leaseSeconds}`, updated_at: o.now },
    orderBy: 'due_at',
    limit: o.limit,
  });
}

/** Due schedules a claim that leaves merchants out first looks among, before walking merchant by merchant. */
const OTHERS_WINDOW = 64;

/**
 * The ids of the oldest `limit` waiting schedules due at `now` of merchants other than `skip`, at a
 * cost that does not grow with the left-out merchants' due schedules (decision 0076): first among
 * the oldest OTHERS_WINDOW due schedules of all merchants (as cheap as the claim's own walk); when
 * those are mostly the left-out merchants', each other merchant's oldest `limit` are walked in
 * `payment_schedules_merchant_due` (a recursive "loose index scan" over the merchants with waiting
 * schedules, one seek each), and the oldest `limit` of those taken. Read without a lock: the claim
 * takes them only if they are still waiting and due.
 */
export async function dueOfOthers(store: Store, now: number, skip: string[], limit: number): Promise<string[]> {
  // the predicate of payment_schedules_due and payment_schedules_merchant_due, as written there (migrations 028, 023)
  const waiting = sql<boolean>`state = 'scheduled'`;
  const head = await store.db
    .selectFrom('payment_schedules')
    .select(['id', 'merchant_id'])
    .where(waiting)
    .where('due_at', '<=', now)
    .orderBy('due_at')
    .limit(OTHERS_WINDOW)
    .execute();
  const others = head.filter((r) => !skip.includes(r.merchant_id));
  if (others.length >= limit || head.length < OTHERS_WINDOW) return others.slice(0, limit).map((r) => r.id);
  const sqlite = store.dialect === 'sqlite';
  // SQLite, which has no statistics here, is told the index to walk
  const walk = (alias: string) => tableIndexedBy(store.dialect, 'payment_schedules', alias, 'payment_schedules_merchant_due');
  const oldest = sql`SELECT s.id, s.due_at FROM ${walk('s')} WHERE s.merchant_id = m.merchant_id AND ${waiting} AND s.due_at <= ${now} ORDER BY s.due_at LIMIT ${sql.lit(limit)}`;
  const rows = await sql<{ id: string }>`
    WITH RECURSIVE merchants(merchant_id) AS (
      SELECT (SELECT s.merchant_id FROM ${walk('s')} WHERE ${waiting} ORDER BY s.merchant_id LIMIT 1)
      UNION ALL
      SELECT (SELECT s.merchant_id FROM ${walk('s')} WHERE ${waiting} AND s.merchant_id > m.merchant_id ORDER BY s.merchant_id LIMIT 1) FROM merchants m WHERE m.merchant_id IS NOT NULL
    )
    SELECT w.id FROM merchants m ${
      sqlite
        ? // no LATERAL: the walk is a correlated list, its rows found again by key
          sql`JOIN payment_schedules w ON w.id IN (SELECT id FROM (${oldest}))`
        : sql`CROSS JOIN LATERAL (${oldest}) AS w`
    }
    WHERE m.merchant_id IS NOT NULL AND m.merchant_id NOT IN (${sql.join(skip)})
    ORDER BY w.due_at LIMIT ${sql.lit(limit)}`.execute(store.db);
  return rows.rows.map((r) => r.id);
}

export type RunOutcome = 'paid' | 'failed' | 'retry' | 'waiting' | 'lost';
/** `left_out`: the attempt is open and its PG left out of this process, so nobody here can settle it (decision 0080) */
type Verdict = 'paid' | 'declined' | 'technical' | 'open' | 'left_out' | 'missing';

function orderOf(s: ScheduleRow, impUid: string): ChargeOrder & { customerUid: string } {
  return {
    merchantId: s.merchant_id,
    merchantUid: s.merchant_uid,
    amount: s.amount,
    taxFree: s.tax_free,
    vatAmount: s.vat_amount,
    name: s.name,
    buyer: { name: s.buyer_name, email: s.buyer_email, tel: s.buyer_tel, addr: s.buyer_addr, postcode: s.buyer_postcode },
    cardQuota: s.card_quota,
    customData: s.custom_data,
    noticeUrl: s.notice_url,
    customerUid: s.customer_uid,
    customerUidUsage: 'payment.scheduled',
    userAgent: null,
    impUid,
  };
}

/**
 * Runs one leased schedule: charges it with its billing key (payAgain, `payment.scheduled`) and
 * records the result. Every write is fenced by the lease, and the charge by the merchant_uid lock,
 * so a worker that lost its lease can never charge a schedule a second time. The schedule takes
 * the attempt's imp_uid in the attempt's own commit, fenced there (leaseStamp).
 *  - approved → `executed`, payment `paid`, in the approval's commit with its `paid` webhook
 *    (executed.ts): a paid schedule costs the attempt's two commits and nothing more;
 *  - declined → `executed`, payment `failed`, a `failed` webhook; never retried;
 *  - technical failure (PG unreachable) → back to `scheduled`, due again after a backoff, until
 *    `maxAttempts`; `retryTechnical: false` (the retry API) concludes it as failed at once;
 *  - PG outcome unknown → stays leased; looked at again after `inDoubtWaitSeconds`, and once it
 *    is older than the reconciliation grace, settled by asking the PG.
 */
export async function runClaimedSchedule(
  deps: Deps,
  s: ScheduleRow,
  owner: string,
  policy: ScheduleRunPolicy = DEFAULT_SCHEDULE_POLICY,
  opts: { retryTechnical: boolean } = { retryTechnical: true },
): Promise<{ outcome: RunOutcome; impUid: string | null }> {
  const impUid = s.imp_uid;
  if (impUid) {
    // taken over from a worker whose lease ran out: look at what its attempt came to
    const verdict = await judgeAttempt(deps, impUid, policy);
    if (verdict !== 'missing') return conclude(deps, s, owner, impUid, verdict, s.attempts, policy, opts);
    // it died before recording the attempt; make it now under the same imp_uid
    return chargeScheduled(deps, s, owner, impUid, s.attempts, policy, opts);
  }
  if (opts.retryTechnical && (await liveChannelScheduleAheadOfRealTime(deps, s))) return waitForRealTime(deps, s, owner);
  return withNewImpUid(deps, (id) => chargeScheduled(deps, s, owner, id, s.attempts + 1, policy, opts));
}

/**
 * True when only the sandbox clock made `s` due and its billing key is a live channel's (decision
 * 0121). The sandbox clock is global and any merchant's REST token moves it, the public demo key
 * included: a live channel's schedule falls due on the real time only, or whoever advanced the
 * clock charged a real card a month early. A sandbox channel's keeps following the sandbox clock.
 * Costs a query only for a schedule not yet due on the real time, before a first attempt (a
 * retry's schedule_at has passed); the retry API is a merchant charging now, not the clock.
 */
async function liveChannelScheduleAheadOfRealTime(deps: Deps, s: ScheduleRow): Promise<boolean> {
  const clock = deps.clock;
  if (!(clock instanceof SandboxClock)) return false;
  // the real time whatever the offset is now: a reset refreshed in after the claim must not let it through
  const realNow = Math.floor((clock.now() - clock.offsetMs) / 1000);
  if (s.schedule_at <= realNow) return false;
  const found = await findBillingKeyWithChannel(deps, s.merchant_id, s.customer_uid);
  // no key or no channel: the charge refuses it as it always has, before any PG call
  return found?.channel !== undefined && found.channel.sandbox !== 1;
}

/**
 * Hands a live channel's schedule back, due when the real time reaches its schedule_at as seen on
 * the sandbox clock (schedule_at + the offset), no attempt counted. The offset is read in the
 * UPDATE itself, so a reset committed meanwhile leaves it due at schedule_at, not stranded; a reset
 * afterwards moves it back to schedule_at (due_at > schedule_at, decision 0118), and a further
 * advance makes it due again only to be handed back once more.
 */
async function waitForRealTime(deps: Deps, s: ScheduleRow, owner: string): Promise<{ outcome: RunOutcome; impUid: string | null }> {
  deps.logger.debug({ merchant_uid: s.merchant_uid, schedule_at: s.schedule_at }, 'live channel: the scheduled charge waits for its date on the real time, not the sandbox clock');
  const offsetSeconds = sql<number>`(SELECT clock_offset_ms FROM sandbox_settings WHERE id = 1) / 1000`;
  const ok = await fenced(deps, s, owner, {
    state: 'scheduled',
    due_at: sql<number>`${s.schedule_at} + COALESCE(${offsetSeconds}, 0)`,
    imp_uid: null,
    lease_owner: null,
    lease_until: 0,
  });
  return { outcome: ok ? 'waiting' : 'lost', impUid: null };
}

/** A schedule's charge as `impUid` and what it came to (ImpUidTakenError: nothing recorded, draw another). */
async function chargeScheduled(
  deps: Deps,
  s: ScheduleRow,
  owner: string,
  impUid: string,
  attempts: number,
  policy: ScheduleRunPolicy,
  opts: { retryTechnical: boolean },
): Promise<{ outcome: RunOutcome; impUid: string | null }> {
  let charged: { status: string; fail_reason: string | null };
  try {
    // the schedule takes the attempt in the attempt's own commit, which records nothing once the lease is lost
    charged = await payAgain(deps, { ...orderOf(s, impUid), fence: leaseStamp(deps, s, owner, impUid, attempts) });
  } catch (err) {
    if (err instanceof ImpUidTakenError) throw err;
    if (err instanceof AttemptFenceLostError) return { outcome: 'lost', impUid: null };
    // the PG's answer was lost: the attempt exists, in doubt; judge it like any open attempt
    if (err instanceof PaymentOutcomeUnknownError) return conclude(deps, s, owner, impUid, await judgeAttempt(deps, impUid, policy), attempts, policy, opts);
    if (err instanceof PierError && (err.message === ALREADY_PAID_MESSAGE || err.message === IN_PROGRESS_MESSAGE)) {
      const holder = await deps.store.db
        .selectFrom('payments')
        .select(['imp_uid', 'customer_uid', 'customer_uid_usage'])
        .where('merchant_id', '=', s.merchant_id)
        .where('merchant_uid_lock', '=', s.merchant_uid)
        .executeTakeFirst();
      if (holder && holder.customer_uid_usage === 'payment.scheduled' && holder.customer_uid === s.customer_uid) {
        // an attempt of this very schedule by a worker that lost its lease: follow that one
        if (!(await fenced(deps, s, owner, { imp_uid: holder.imp_uid }))) return { outcome: 'lost', impUid: null };
        return conclude(deps, s, owner, holder.imp_uid, await judgeAttempt(deps, holder.imp_uid, policy), attempts, policy, opts);
      }
      if (holder) {
        // the merchant paid this merchant_uid some other way: it is never charged twice
        await recordRefusedAttempt(deps, s, impUid, `[ALREADY_PAID] ${ALREADY_PAID_MESSAGE}`);
        return conclude(deps, s, owner, impUid, 'declined', attempts, policy, opts);
      }
      // the holder settled in between: try again shortly
      await recordRefusedAttempt(deps, s, impUid, `[PIER_ERROR] ${err.message}`);
      return conclude(deps, s, owner, impUid, 'technical', attempts, policy, opts);
    }
    if (err instanceof PgNotConfiguredError) return waitForLeftOutPg(deps, s, owner, impUid, attempts, policy, opts, err);
    if (err instanceof PierError && err.kind !== 'internal' && err.kind !== 'pg_unavailable') {
      // the billing key was deleted, its channel removed, the PG cannot do it: a definitive failure
      await recordRefusedAttempt(deps, s, impUid, err.message);
      return conclude(deps, s, owner, impUid, 'declined', attempts, policy, opts);
    }
    deps.logger.warn({ merchant_uid: s.merchant_uid, err: (err as Error).message }, 'scheduled charge could not be made; will retry');
    await recordRefusedAttempt(deps, s, impUid, `[PIER_ERROR] 예약결제를 실행하지 못했습니다: ${(err as Error).message}`);
    return conclude(deps, s, owner, impUid, 'technical', attempts, policy, opts);
  }
  // the charge answered with the payment it recorded: no need to read it back
  const verdict = verdictOf(charged) ?? (await judgeAttempt(deps, impUid, policy));
  // the approval executed the schedule in its own commit (executed.ts)
  if (verdict === 'paid') return { outcome: 'paid', impUid };
  return conclude(deps, s, owner, impUid, verdict, attempts, policy, opts);
}

/**
 * A schedule whose charge was refused before any PG call because this process leaves its PG out
 * (no attempt recorded: billingKeyChoice finds only configured PGs' keys). The job hands it back,
 * due again after PG_LEFT_OUT_WAIT_SECONDS with its attempts as they were, until it is
 * PG_LEFT_OUT_SCHEDULE_LATENESS_SECONDS past its schedule_at; then, or at once for the retry API
 * (a merchant asking now), it fails with the reason (decision 0080).
 */
async function waitForLeftOutPg(
  deps: Deps,
  s: ScheduleRow,
  owner: string,
  impUid: string,
  attempts: number,
  policy: ScheduleRunPolicy,
  opts: { retryTechnical: boolean },
  err: PgNotConfiguredError,
): Promise<{ outcome: RunOutcome; impUid: string | null }> {
  const now = unixSeconds(deps.clock);
  if (opts.retryTechnical && now - s.schedule_at < PG_LEFT_OUT_SCHEDULE_LATENESS_SECONDS) {
    // one summary line per PG a sweep at info, this row at debug (decision 0087)
    noteLeftOutWait(deps, err.provider, { kind: 'schedule', key: s.merchant_uid, since: s.schedule_at }, { merchant_uid: s.merchant_uid, retry_in_s: PG_LEFT_OUT_WAIT_SECONDS }, 'scheduled charge waits for its PG to be configured');
    const ok = await fenced(deps, s, owner, {
      state: 'scheduled',
      due_at: now + PG_LEFT_OUT_WAIT_SECONDS,
      attempts: s.attempts,
      imp_uid: null,
      lease_owner: null,
      lease_until: 0,
      fail_reason: `[PG_NOT_CONFIGURED] ${err.message}`,
    });
    return { outcome: ok ? 'waiting' : 'lost', impUid: null };
  }
  const late = opts.retryTechnical ? ` (waited ${Math.floor((now - s.schedule_at) / 3600)} h past its schedule_at for a Pier with its settings)` : '';
  await recordRefusedAttempt(deps, s, impUid, `[PG_NOT_CONFIGURED] ${err.message}${late}`);
  return conclude(deps, s, owner, impUid, 'declined', attempts, policy, opts);
}

/**
 * The attempt's fence (payments/attempts.ts AttemptFence): the schedule, still leased to `owner`,
 * takes the attempt's imp_uid and count in the attempt's own commit.
 */
function leaseStamp(deps: Deps, s: ScheduleRow, owner: string, impUid: string, attempts: number): AttemptFence {
  const { db } = deps.store;
  return {
    key: 'schedule-lease',
    values: { fenceId: s.id, fenceOwner: owner, fenceImpUid: impUid, fenceAttempts: attempts, fenceNow: unixSeconds(deps.clock) },
    build: (p) =>
      db
        .updateTable('payment_schedules')
        .set({ imp_uid: p.fenceImpUid, attempts: p.fenceAttempts, updated_at: p.fenceNow })
        .where(heldBy(p.fenceId, p.fenceOwner)),
  };
}

/** The verdict on a payment the charge answered with, when it is settled (paid or failed). */
function verdictOf(p: { status: string; fail_reason: string | null }): Verdict | null {
  if (p.status === 'paid' || p.status === 'cancelled') return 'paid';
  if (p.status === 'failed') return TECHNICAL.test(p.fail_reason ?? '') ? 'technical' : 'declined';
  return null;
}

/**
 * How long a worker waits on an attempt in doubt whose PG this process leaves out: until the check
 * it gave back (handBackAttemptCheck: due after PG_LEFT_OUT_WAIT_SECONDS and the grace, as for a
 * reconciliation pass) is due again, so its next look asks, not finds it held (decision 0115).
 */
const leftOutWaitSeconds = (policy: ScheduleRunPolicy) => Math.max(policy.inDoubtWaitSeconds, PG_LEFT_OUT_WAIT_SECONDS + policy.reconcileGraceSeconds);

/** What an attempt came to, settling it with the PG once it has been in doubt long enough. */
async function judgeAttempt(deps: Deps, impUid: string, policy: ScheduleRunPolicy): Promise<Verdict> {
  // past its grace on the database's clock (the grace counts from its last PG call, see reconcile.ts)
  const load = () =>
    deps.store.db
      .selectFrom('payments')
      .select(['status', 'pg_state', 'fail_reason', 'started_at', 'check_count', sql<number>`CASE WHEN next_check_at <= ${dbNow(deps.store)} - ${policy.reconcileGraceSeconds} THEN 1 ELSE 0 END`.as('past_grace')])
      .where('imp_uid', '=', impUid)
      .executeTakeFirst();
  let p = await load();
  if (!p) return 'missing';
  if (p.pg_state === 'calling' || p.pg_state === 'in_doubt') {
    if (Number(p.past_grace) === 1) {
      const checkCount = Number(p.check_count ?? 0);
      try {
        // taken for the check as reconciliation takes it: a pass (every 30 s, or another Pier's)
        // may be settling it right now, and two settlers both asked the PG and, on its "nothing",
        // both net-cancelled. Taken by the other, it is left to it: judged again after the wait,
        // on what it recorded (decision 0115)
        if ((await checkAttempt(deps, impUid, checkCount)) === null) {
          deps.logger.debug({ imp_uid: impUid }, 'scheduled charge in doubt: another settler is asking the PG; waiting for its record');
        }
      } catch (err) {
        if (err instanceof PgNotConfiguredError) {
          await handBackAttemptCheck(deps, impUid, checkCount);
          // one summary line per PG a sweep at info, this row at debug (decision 0087)
          const waitS = leftOutWaitSeconds(policy);
          noteLeftOutWait(deps, err.provider, { kind: 'scheduled_payment', key: impUid, since: Number(p.started_at) }, { imp_uid: impUid, retry_in_s: waitS, err: err.message }, 'scheduled charge in doubt waits for its PG to be configured');
          return 'left_out';
        }
        deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'scheduled charge in doubt: PG inquiry failed; will ask again');
      }
      p = (await load())!;
    }
    if (p.pg_state === 'calling' || p.pg_state === 'in_doubt') return 'open';
  }
  return verdictOf(p) ?? 'open';
}

async function conclude(
  deps: Deps,
  s: ScheduleRow,
  owner: string,
  impUid: string,
  verdict: Verdict,
  attempts: number,
  policy: ScheduleRunPolicy,
  opts: { retryTechnical: boolean },
): Promise<{ outcome: RunOutcome; impUid: string | null }> {
  const now = unixSeconds(deps.clock);
  if (verdict === 'open' || verdict === 'missing' || verdict === 'left_out') {
    // an attempt in doubt is never given up: its PG left out of this process, it waits longer (decision 0080)
    const wait = verdict === 'left_out' ? leftOutWaitSeconds(policy) : policy.inDoubtWaitSeconds;
    const kept = await fenced(deps, s, owner, { lease_until: sql`${dbNow(deps.store)} + ${wait}` });
    return { outcome: kept ? 'waiting' : 'lost', impUid };
  }
  if (verdict === 'technical' && opts.retryTechnical && attempts < policy.maxAttempts) {
    const reason = (await failReasonOf(deps, impUid)) ?? null;
    const ok = await fenced(deps, s, owner, {
      state: 'scheduled',
      due_at: now + backoffSeconds(attempts, policy.retry),
      // (also when the attempt's commit, which counts it, never happened)
      attempts,
      imp_uid: null,
      lease_owner: null,
      lease_until: 0,
      fail_reason: reason,
    });
    return { outcome: ok ? 'retry' : 'lost', impUid };
  }
  if (verdict === 'paid') {
    // the approval executes its schedule itself (executed.ts), also when reconciliation made it
    // while this worker was looking; this update is for an approval an older Pier recorded
    const executed = await fenced(deps, s, owner, { state: 'executed', executed_at: now, imp_uid: impUid, fail_reason: null, lease_owner: null, lease_until: 0 });
    return { outcome: executed || (await executedWith(deps, s, impUid)) ? 'paid' : 'lost', impUid };
  }
  // declined, or given up after technical failures: executed as failed, with its `failed` webhook
  const reason = (await failReasonOf(deps, impUid)) ?? '예약결제에 실패하였습니다.';
  const done = await deps.store.db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('payment_schedules')
      .set({ state: 'executed', executed_at: now, imp_uid: impUid, attempts, fail_reason: reason, lease_owner: null, lease_until: 0, updated_at: now })
      .where(heldBy(s.id, owner))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    // V1 reports every scheduled attempt (spec §13)
    await recordPaymentEvent(trx, deps, {
      merchantId: s.merchant_id,
      impUid,
      merchantUid: s.merchant_uid,
      status: 'failed',
      noticeUrl: s.notice_url,
      cause: 'schedule',
    });
    return true;
  });
  return { outcome: done ? 'failed' : 'lost', impUid };
}

/** Whether the schedule was executed with this attempt (by its approval). */
async function executedWith(deps: Deps, s: ScheduleRow, impUid: string): Promise<boolean> {
  const row = await deps.store.db.selectFrom('payment_schedules').select(['state', 'imp_uid']).where('id', '=', s.id).executeTakeFirst();
  return row?.state === 'executed' && row.imp_uid === impUid;
}

async function failReasonOf(deps: Deps, impUid: string): Promise<string | null> {
  const p = await deps.store.db.selectFrom('payments').select('fail_reason').where('imp_uid', '=', impUid).executeTakeFirst();
  return p?.fail_reason ?? null;
}

/** The schedule `id`, still leased to `owner`: the condition of every write a worker makes to it. */
const heldBy = (id: string, owner: string) => (eb: ExpressionBuilder<Database, 'payment_schedules'>) =>
  eb.and([eb('id', '=', id), eb('lease_owner', '=', owner), eb('state', '=', 'running')]);

/** An update of a schedule this worker still holds; false when its lease was taken over. */
async function fenced(deps: Deps, s: ScheduleRow, owner: string, set: UpdateObject<Database, 'payment_schedules'>): Promise<boolean> {
  const res = await deps.store.db
    .updateTable('payment_schedules')
    .set({ ...set, updated_at: unixSeconds(deps.clock) })
    .where(heldBy(s.id, owner))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A scheduled attempt refused before any PG call (billing key deleted, merchant_uid paid some other
 * way): recorded as a failed Payment so the schedule and its webhook have an imp_uid, as V1's do.
 * An imp_uid that is another payment's already throws ImpUidTakenError with nothing written (before,
 * the schedule and its `failed` webhook took that payment's imp_uid, decision 0039).
 */
async function recordRefusedAttempt(deps: Deps, s: ScheduleRow, impUid: string, reason: string): Promise<void> {
  const now = unixSeconds(deps.clock);
  const key = await findBillingKey(deps, s.merchant_id, s.customer_uid);
  try {
    await deps.store.db
      .insertInto('payments')
      .values({
        imp_uid: impUid,
        merchant_id: s.merchant_id,
        merchant_uid: s.merchant_uid,
        merchant_uid_lock: null,
        channel_id: key?.channel_id ?? null,
        pg_provider: key?.pg_provider ?? s.pg_provider,
        pg_id: key?.pg_id ?? s.pg_id,
        pay_method: 'card',
        channel: 'api',
        status: 'failed',
        pg_state: 'done',
        amount: s.amount,
        cancel_amount: 0,
        cancel_pending_amount: 0,
        tax_free: s.tax_free,
        vat_amount: s.vat_amount,
        currency: s.currency,
        name: s.name,
        buyer_name: s.buyer_name,
        buyer_email: s.buyer_email,
        buyer_tel: s.buyer_tel,
        buyer_addr: s.buyer_addr,
        buyer_postcode: s.buyer_postcode,
        custom_data: s.custom_data,
        notice_url: s.notice_url,
        user_agent: null,
        card_code: key?.card_code ?? null,
        card_name: key?.card_name ?? null,
        card_number: key?.card_number ?? null,
        card_type: key?.card_type ?? null,
        card_quota: s.card_quota,
        apply_num: null,
        pg_tid: null,
        receipt_url: null,
        bank_code: null,
        bank_name: null,
        customer_uid: s.customer_uid,
        customer_uid_usage: 'payment.scheduled',
        fail_reason: reason.slice(0, 500),
        cancel_reason: null,
        sandbox: key?.sandbox ?? (deps.mode === 'sandbox' ? 1 : 0),
        started_at: now,
        paid_at: 0,
        failed_at: now,
        cancelled_at: 0,
        updated_at: now,
      })
      .execute();
  } catch (err) {
    if (!isPrimaryKeyViolation(err, 'payments')) throw err;
    // this schedule's refusal, recorded already by a worker racing this one: its row stands
    const recorded = await deps.store.db
      .selectFrom('payments')
      .select(['merchant_id', 'merchant_uid', 'customer_uid_usage'])
      .where('imp_uid', '=', impUid)
      .executeTakeFirst();
    if (recorded?.merchant_id === s.merchant_id && recorded.merchant_uid === s.merchant_uid && recorded.customer_uid_usage === 'payment.scheduled') return;
    // another payment's imp_uid, drawn again: nothing was written; withNewImpUid draws another
    throw new ImpUidTakenError(impUid);
  }
}
