import { sql } from 'kysely';
import { ApiError } from '../api/errors.js';
import type { Deps } from '../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../lib/clock.js';
import { newId } from '../lib/ids.js';
import { claimRows } from '../jobs/claim.js';
import { dbNow } from '../store/db-clock.js';
import type { Store } from '../store/db.js';
import type { WebhookAttemptsTable, WebhookDeliveriesTable, WebhookEventsTable } from '../store/types.js';
import { encodeBody, signatureHeaders, webhookBody } from './payload.js';
import type { SendResult, WebhookSender } from './sender.js';
import { webhookSettings } from './settings.js';

export type DeliveryRow = WebhookDeliveriesTable;

/** Exponential backoff with jitter: attempt n waits about base·2^(n−1), capped, ±25 %. */
export interface RetryPolicy {
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

/** 30 s, 1 min, 2 min … capped at 1 h: ten tries span about three hours. */
export const DEFAULT_RETRY: RetryPolicy = { baseDelaySeconds: 30, maxDelaySeconds: 3600 };

/** Seconds to wait after the `failures`-th failed attempt. */
export function backoffSeconds(failures: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelaySeconds, policy.baseDelaySeconds * 2 ** Math.max(0, failures - 1));
  return Math.max(1, Math.round(exp * (0.75 + random() * 0.5)));
}

/**
 * Leases due deliveries to `owner`: pending ones whose time has come, and ones left `sending` by
 * a worker whose lease ran out (it died mid-send: at-least-once, so they go again). PostgreSQL
 * skips rows another worker is claiming (`FOR UPDATE SKIP LOCKED`); SQLite serialises writers.
 * `listenerId` null takes URL deliveries (the webhook worker); a listener id takes that
 * `pier listen` session's. `skipUrls` leaves the deliveries to those URLs for later.
 */
export async function claimDeliveries(
  store: Store,
  opts: { now: number; owner: string; leaseSeconds: number; limit: number; listenerId: string | null; skipUrls?: string[] },
): Promise<DeliveryRow[]> {
  const { now, owner, leaseSeconds, limit, listenerId } = opts;
  const skipUrls = opts.skipUrls ?? [];
  const due = (eb: any) =>
    eb.and([
      listenerId === null ? eb('listener_id', 'is', null) : eb('listener_id', '=', listenerId),
      // receivers that already have as many attempts in flight as they may (webhookQueue)
      ...(skipUrls.length > 0 ? [eb('url', 'not in', skipUrls)] : []),
      // retries fall due on the worker's clock (the sandbox clock in sandbox mode); a lease runs out on
      // the database's, so moving the sandbox clock never makes a delivery being sent look abandoned
      eb.or([eb.and([eb('state', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('state', '=', 'sending'), eb('lease_until', '<=', dbNow(store))])]),
    ]);
  return claimRows(store, 'webhook_deliveries', {
    due,
    set: { state: 'sending', lease_owner: owner, lease_until: sql`${dbNow(store)} + ${leaseSeconds}` },
    orderBy: 'next_attempt_at',
    limit,
  });
}

export interface AttemptOptions {
  owner: string;
  sender: WebhookSender;
  /** the worker's clock: when the next try is due */
  clock: Clock;
  /** the real time, for `webhook-timestamp` (receivers check it against theirs) */
  signClock?: Clock;
  retry?: RetryPolicy;
  /** aborts the attempt (shutdown): the delivery is then released, not counted */
  signal?: AbortSignal;
}

/** The request a delivery makes: body, Content-Type and the signed Standard Webhooks headers. */
export async function buildRequest(deps: Deps, event: WebhookEventsTable, contentType: string, at: Date) {
  const settings = await webhookSettings(deps, event.merchant_id);
  const { payload, contentType: header } = encodeBody(webhookBody(event), contentType);
  return { payload, headers: { 'content-type': header, ...signatureHeaders(settings.secret, event.id, payload, at) } };
}

/**
 * Sends one leased delivery once and records the attempt. A 2xx ends it; anything else (network
 * error, timeout, non-2xx) schedules the next try with backoff until `max_attempts`, then it is
 * given up (`failed`) and can still be sent again with `pier webhooks redeliver`.
 */
export async function attemptDelivery(deps: Deps, d: DeliveryRow, opts: AttemptOptions): Promise<{ result: SendResult; state: string }> {
  const { db } = deps.store;
  const event = await db.selectFrom('webhook_events').selectAll().where('id', '=', d.event_id).executeTakeFirstOrThrow();
  const startedAt = (opts.signClock ?? systemClock).now();
  const req = await buildRequest(deps, event, d.content_type, new Date(startedAt));
  const result = await opts.sender.send(d.url, req.payload, req.headers, opts.signal);
  if (result.aborted) {
    await releaseDelivery(deps.store, d, opts.owner, unixSeconds(opts.clock));
    return { result, state: 'released' };
  }
  const state = await recordAttempt(deps.store, d, result, { owner: opts.owner, now: unixSeconds(opts.clock), startedAt: Math.floor(startedAt / 1000), retry: opts.retry });
  return { result, state };
}

/**
 * Gives a leased delivery back, due now, without counting an attempt (its sender was stopped by a
 * shutdown, not answered by the receiver), so another worker sends it at once instead of after
 * the lease. Fenced by the lease like every move.
 */
export async function releaseDelivery(store: Store, d: DeliveryRow, owner: string, now: number): Promise<void> {
  await store.db
    .updateTable('webhook_deliveries')
    .set({ state: 'pending', next_attempt_at: now, lease_owner: null, lease_until: 0, updated_at: now })
    .where('id', '=', d.id)
    .where('lease_owner', '=', owner)
    .where('state', '=', 'sending')
    .execute();
}

/** Logs an attempt and moves the delivery on; the move is fenced by the lease. */
export async function recordAttempt(
  store: Store,
  d: DeliveryRow,
  result: SendResult,
  o: { owner: string; now: number; startedAt: number; retry?: RetryPolicy },
): Promise<string> {
  const attempt = d.attempts + 1;
  const state = result.ok ? 'delivered' : attempt >= d.max_attempts ? 'failed' : 'pending';
  await store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhook_attempts')
      .values({
        delivery_id: d.id,
        attempt,
        started_at: o.startedAt,
        duration_ms: result.durationMs,
        status_code: result.statusCode,
        error: result.error?.slice(0, 500) ?? null,
        response_excerpt: result.excerpt?.slice(0, 500) ?? null,
      })
      .execute();
    await trx
      .updateTable('webhook_deliveries')
      .set({
        state,
        attempts: attempt,
        next_attempt_at: state === 'pending' ? o.now + backoffSeconds(attempt, o.retry) : 0,
        lease_owner: null,
        lease_until: 0,
        last_status_code: result.statusCode,
        last_error: result.error?.slice(0, 500) ?? null,
        updated_at: o.now,
        delivered_at: result.ok ? o.now : 0,
      })
      .where('id', '=', d.id)
      .where('lease_owner', '=', o.owner)
      .where('state', '=', 'sending')
      .execute();
  });
  return state;
}

// ---- the delivery log (CLI and API) ---------------------------------------------------------

export interface DeliveryFilter {
  merchantId?: string;
  impUid?: string;
  merchantUid?: string;
  state?: string;
  limit?: number;
  offset?: number;
}

export function toDeliveryJson(d: DeliveryRow, e: Pick<WebhookEventsTable, 'imp_uid' | 'merchant_uid' | 'status' | 'cancellation_id' | 'cause'>) {
  return {
    id: d.id,
    event_id: d.event_id,
    imp_uid: e.imp_uid,
    merchant_uid: e.merchant_uid,
    status: e.status,
    cancellation_id: e.cancellation_id,
    cause: e.cause,
    url: d.url,
    listener_id: d.listener_id,
    content_type: d.content_type,
    state: d.state,
    attempts: d.attempts,
    max_attempts: d.max_attempts,
    next_attempt_at: d.state === 'pending' ? d.next_attempt_at : 0,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    created_at: d.created_at,
    delivered_at: d.delivered_at,
  };
}

export function toAttemptJson(a: Omit<WebhookAttemptsTable, 'id'>) {
  return {
    attempt: a.attempt,
    started_at: a.started_at,
    duration_ms: a.duration_ms,
    status_code: a.status_code,
    error: a.error,
    response_excerpt: a.response_excerpt,
  };
}

/** Deliveries, newest first, with their event. */
export async function listDeliveries(store: Store, f: DeliveryFilter) {
  let q = store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .selectAll('d')
    .select(['e.imp_uid', 'e.merchant_uid', 'e.status', 'e.cancellation_id', 'e.cause']);
  if (f.merchantId) q = q.where('d.merchant_id', '=', f.merchantId);
  if (f.impUid) q = q.where('e.imp_uid', '=', f.impUid);
  if (f.merchantUid) q = q.where('e.merchant_uid', '=', f.merchantUid);
  if (f.state) q = q.where('d.state', '=', f.state);
  let count = store.db.selectFrom('webhook_deliveries as d').innerJoin('webhook_events as e', 'e.id', 'd.event_id').select((eb) => eb.fn.countAll<number>().as('n'));
  if (f.merchantId) count = count.where('d.merchant_id', '=', f.merchantId);
  if (f.impUid) count = count.where('e.imp_uid', '=', f.impUid);
  if (f.merchantUid) count = count.where('e.merchant_uid', '=', f.merchantUid);
  if (f.state) count = count.where('d.state', '=', f.state);
  const rows = await q
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .limit(f.limit ?? 20)
    .offset(f.offset ?? 0)
    .execute();
  const total = Number((await count.executeTakeFirstOrThrow()).n);
  return { total, list: rows.map((r) => toDeliveryJson(r as DeliveryRow, r)) };
}

/** One delivery with its event and every attempt. */
export async function getDelivery(store: Store, id: string, merchantId?: string) {
  let q = store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .selectAll('d')
    .select(['e.imp_uid', 'e.merchant_uid', 'e.status', 'e.cancellation_id', 'e.cause'])
    .where('d.id', '=', id);
  if (merchantId) q = q.where('d.merchant_id', '=', merchantId);
  const row = await q.executeTakeFirst();
  if (!row) return undefined;
  const attempts = await store.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', id).orderBy('attempt').orderBy('id').execute();
  return { ...toDeliveryJson(row as DeliveryRow, row), attempt_log: attempts.map(toAttemptJson) };
}

export const DELIVERY_NOT_FOUND = '존재하지 않는 웹훅 전송 기록입니다. (no such webhook delivery)';

/**
 * Sends a delivery again (V1 console 재발송): a new delivery of the same event to the same URL
 * (after a URL change, re-sends still go to the old URL, as on V1), due at once. Given an event
 * id, re-sends each of its URL deliveries.
 */
export async function redeliver(deps: Deps, id: string, merchantId?: string, now = unixSeconds(deps.clock)) {
  const { db } = deps.store;
  let q = db.selectFrom('webhook_deliveries').selectAll().where((eb) => eb.or([eb('id', '=', id), eb('event_id', '=', id)]));
  if (merchantId) q = q.where('merchant_id', '=', merchantId);
  const found = (await q.orderBy('created_at').execute()).filter((d) => d.listener_id === null);
  if (found.length === 0) throw new ApiError('not_found', DELIVERY_NOT_FOUND);
  // one new delivery per distinct URL of the event
  const byUrl = new Map(found.map((d) => [`${d.event_id} ${d.url}`, d]));
  const created: string[] = [];
  for (const d of byUrl.values()) {
    const newIdValue = newId('whd');
    await db
      .insertInto('webhook_deliveries')
      .values({
        id: newIdValue,
        event_id: d.event_id,
        merchant_id: d.merchant_id,
        url: d.url,
        listener_id: null,
        content_type: d.content_type,
        state: 'pending',
        attempts: 0,
        max_attempts: d.max_attempts,
        next_attempt_at: 0,
        lease_owner: null,
        lease_until: 0,
        last_status_code: null,
        last_error: null,
        request_id: d.request_id ?? null,
        created_at: now,
        updated_at: now,
        delivered_at: 0,
      })
      .execute();
    created.push(newIdValue);
  }
  return created;
}

/** Counts by state, for `pier webhooks list` and health checks. */
export async function deliveryCounts(store: Store, merchantId?: string) {
  let q = store.db.selectFrom('webhook_deliveries').select(['state', sql<number>`count(*)`.as('n')]).groupBy('state');
  if (merchantId) q = q.where('merchant_id', '=', merchantId);
  const rows = await q.execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}
