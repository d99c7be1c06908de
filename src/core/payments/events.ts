import { sql, type Compilable, type Kysely, type RawBuilder } from 'kysely';
import { unixSeconds, type Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import type { RunSync } from '../../store/db.js';
import { fromTemplate } from '../../store/statement-template.js';
import type { Database } from '../../store/types.js';
import { newMessageId } from '../../webhooks/payload.js';

/** V1 webhook statuses (spec/api-v1.md §13). */
export type PaymentEventStatus = 'paid' | 'ready' | 'failed' | 'cancelled';

/** What happened to a payment, for webhook delivery. */
export interface PaymentEvent {
  merchantId: string;
  impUid: string;
  merchantUid: string;
  status: PaymentEventStatus;
  /** set on cancels */
  cancellationId?: string | null;
  /** the payment's own notice_url(s), space-separated; null = the merchant's webhook URL */
  noticeUrl: string | null;
  /** why: decides whether V1 sends a webhook at all */
  /** `reconciled`: a charge answered as "being confirmed" that reconciliation settled */
  cause: 'charge' | 'window' | 'vbank_issued' | 'vbank_deposit' | 'schedule' | 'api_cancel' | 'console_cancel' | 'reconciled';
}

/** Who writes an event: the time it happened, and the HTTP request that caused it (absent in background work). */
export interface EventContext {
  clock: Clock;
  requestId?: string;
}

/** A row of recordPaymentEvent's target query: the merchant's settings (listener_id null) or a live listener. */
type WebhookTarget = { listener_id: string | null; url: string | null; content_type: string | null };

/** How many times a delivery is tried before it is given up (the first try included). */
export const DEFAULT_MAX_ATTEMPTS = 10;

/** A `pier listen` session that has not polled for this long gets no new deliveries. */
export const LISTENER_TTL_SECONDS = 60;

/**
 * V1 sends a webhook for an approval, a virtual account issued or paid, a scheduled payment's
 * result (paid or failed) and a refund (console, or API with enable_webhook), never for an
 * ordinary failed payment (spec §13). The one place that rule lives.
 */
export function v1SendsWebhook(e: Pick<PaymentEvent, 'status' | 'cause'>): boolean {
  // and, beyond V1, a charge Pier answered as "being confirmed": its end must reach the merchant
  if (e.status === 'failed') return e.cause === 'schedule' || e.cause === 'reconciled';
  return true;
}

/** `notice_url` as stored (space-separated) or as given (string or list) → distinct URLs. */
export function noticeUrls(noticeUrl: string | string[] | null | undefined): string[] {
  if (!noticeUrl) return [];
  const list = Array.isArray(noticeUrl) ? noticeUrl : noticeUrl.split(/\s+/);
  return [...new Set(list.map((u) => u.trim()).filter(Boolean))];
}

/**
 * Records a payment event for webhook delivery. Call it with the transaction that changes the
 * payment, so that the event exists if and only if the change does (an outbox).
 *
 * It writes the event (`webhook_events`, whose id is the Standard Webhooks `webhook-id`) and one
 * delivery per target: the payment's notice_url(s), which replace the merchant's webhook URL as
 * on V1, and every live `pier listen` session of the merchant. The webhook worker sends them.
 *
 * @example
 *   await db.transaction().execute(async (trx) => {
 *     await trx.updateTable('payments').set({ status: 'paid' }).where('imp_uid', '=', impUid).execute();
 *     await recordPaymentEvent(trx, deps, { merchantId, impUid, merchantUid, status: 'paid', noticeUrl: null, cause: 'charge' });
 *   });
 */
export async function recordPaymentEvent(db: Kysely<Database>, by: EventContext, event: PaymentEvent): Promise<void> {
  const steps = paymentEventSteps(db, by, event);
  for (let step = steps.next(); !step.done; ) step = steps.next((await db.executeQuery(step.value.compile())).rows);
}

/** recordPaymentEvent inside Store.syncTransaction (SQLite): the same statements, run synchronously. */
export function recordPaymentEventNow(run: RunSync, db: Kysely<Database>, by: EventContext, event: PaymentEvent): void {
  const steps = paymentEventSteps(db, by, event);
  for (let step = steps.next(); !step.done; ) step = steps.next(run(step.value));
}

/** recordPaymentEvent's statements in order: each step yields a query and is given back its rows. */
function* paymentEventSteps(db: Kysely<Database>, by: EventContext, event: PaymentEvent): Generator<Compilable<unknown>, void, unknown[]> {
  if (!v1SendsWebhook(event)) return;
  const { eventId: id, now, requestId, liveSince } = newEventValues(by);
  // statement templates (store/statement-template.ts): every payment writes an event
  yield fromTemplate(
    db,
    'event',
    {
      id,
      merchant_id: event.merchantId,
      imp_uid: event.impUid,
      merchant_uid: event.merchantUid,
      status: event.status,
      cancellation_id: event.cancellationId ?? null,
      cause: event.cause,
      created_at: now,
      request_id: requestId,
    },
    (p) =>
      db.insertInto('webhook_events').values({
        id: p.id,
        merchant_id: p.merchant_id,
        imp_uid: p.imp_uid,
        merchant_uid: p.merchant_uid,
        status: p.status,
        cancellation_id: p.cancellation_id,
        cause: p.cause,
        created_at: p.created_at,
        request_id: p.request_id,
      }),
  );

  // the merchant's webhook settings and its live `pier listen` sessions, in one round trip
  const targets = (yield fromTemplate(db, 'event-targets', { merchantId: event.merchantId, liveSince }, (p) =>
    db
      .selectFrom('webhook_settings')
      .select([sql<string | null>`null`.as('listener_id'), 'url', 'content_type'])
      .where('merchant_id', '=', p.merchantId)
      .$castTo<WebhookTarget>()
      .unionAll(
        db
          .selectFrom('webhook_listeners')
          .select(['id as listener_id', 'forward_to as url', sql<string | null>`null`.as('content_type')])
          .where('merchant_id', '=', p.merchantId)
          .where('closed_at', '=', 0)
          .where('last_seen_at', '>=', p.liveSince)
          .$castTo<WebhookTarget>(),
      ),
  )) as WebhookTarget[];
  const settings = targets.find((t) => t.listener_id === null);
  const listeners = targets.filter((t) => t.listener_id !== null).map((t) => ({ id: t.listener_id!, forward_to: t.url! }));
  const given = noticeUrls(event.noticeUrl as string | string[] | null);
  const urls = given.length > 0 ? given : settings?.url ? [settings.url] : [];
  const contentType = settings?.content_type ?? 'json';

  const rows = [
    ...urls.map((url) => ({ url, listener_id: null as string | null })),
    ...listeners.map((l) => ({ url: l.forward_to, listener_id: l.id as string | null })),
  ].map((t) => ({ id: newId('whd'), event_id: id, merchant_id: event.merchantId, url: t.url, listener_id: t.listener_id, content_type: contentType, ...newDelivery(now, requestId) }));
  if (rows.length > 0) yield db.insertInto('webhook_deliveries').values(rows);
}

/** The values a new event is written with: its id (the Standard Webhooks `webhook-id`), time, request, and since when a listener counts as live. */
export function newEventValues(by: EventContext) {
  return { eventId: newMessageId(), now: unixSeconds(by.clock), requestId: by.requestId ?? null, liveSince: liveListenerSince() };
}

/** listener liveness is operational, not business time: the wall clock, like the listener's heartbeat */
const liveListenerSince = () => Math.floor(Date.now() / 1000) - LISTENER_TTL_SECONDS;

/** The state every new delivery starts in. */
const newDelivery = (now: number, requestId: string | null) => ({
  state: 'pending',
  attempts: 0,
  max_attempts: DEFAULT_MAX_ATTEMPTS,
  // due at once: 0 is before any clock, so no process's clock (sandbox or wall) delays it
  next_attempt_at: 0,
  lease_owner: null,
  lease_until: 0,
  last_status_code: null,
  last_error: null,
  created_at: now,
  updated_at: now,
  delivered_at: 0,
  request_id: requestId,
});

/**
 * recordPaymentEvent as common table expressions of one PostgreSQL statement (`ev`, `dl`), for
 * the payment row that the statement's earlier CTE `changed` returns (none: no event). The same
 * targets as recordPaymentEvent: the payment's notice_url(s), else the merchant's webhook URL,
 * plus live listeners. The caller has decided that V1 sends this event (v1SendsWebhook); `cause`
 * is an SQL expression over `changed` when the row decides it. `v` is newEventValues(deps), or
 * its placeholders in a statement template.
 *
 * @example
 *   sql`WITH changed AS (${update.returningAll()}), ${paymentEventCtes(newEventValues(deps), 'paid', sql`'charge'`)} SELECT * FROM changed`
 */
export function paymentEventCtes(v: ReturnType<typeof newEventValues>, status: PaymentEventStatus, cause: RawBuilder<string>): RawBuilder<unknown> {
  const d = newDelivery(v.now, v.requestId);
  return sql`ev AS (
    INSERT INTO webhook_events (id, merchant_id, imp_uid, merchant_uid, status, cancellation_id, cause, created_at, request_id)
    SELECT ${v.eventId}, merchant_id, imp_uid, merchant_uid, ${status}, NULL, ${cause}, ${v.now}, ${v.requestId} FROM changed
    RETURNING id, merchant_id
  ), dl AS (
    INSERT INTO webhook_deliveries (id, event_id, merchant_id, url, listener_id, content_type, state, attempts, max_attempts,
      next_attempt_at, lease_owner, lease_until, last_status_code, last_error, created_at, updated_at, delivered_at, request_id)
    SELECT 'whd_' || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(replace(gen_random_uuid()::text, '-', ''), 13), ev.id, ev.merchant_id, t.url, t.listener_id, coalesce(s.content_type, 'json'),
      ${d.state}, ${d.attempts}, ${d.max_attempts}, ${d.next_attempt_at}, NULL, ${d.lease_until}, NULL, NULL, ${v.now}, ${v.now}, ${d.delivered_at}, ${v.requestId}
    FROM ev
    CROSS JOIN changed
    LEFT JOIN webhook_settings s ON s.merchant_id = ev.merchant_id
    CROSS JOIN LATERAL (
      SELECT DISTINCT u AS url, NULL::varchar AS listener_id FROM regexp_split_to_table(coalesce(changed.notice_url, ''), '\\s+') u WHERE u <> ''
      UNION ALL
      SELECT s.url, NULL FROM (SELECT 1) one WHERE coalesce(s.url, '') <> '' AND coalesce(changed.notice_url, '') !~ '\\S'
      UNION ALL
      SELECT l.forward_to, l.id FROM webhook_listeners l
      WHERE l.merchant_id = ev.merchant_id AND l.closed_at = 0 AND l.last_seen_at >= ${v.liveSince}
    ) t
  )`;
}
