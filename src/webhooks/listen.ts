import { PierError } from '../core/errors.js';
import type { Deps } from '../core/deps.js';
import { LISTENER_TTL_SECONDS } from '../core/payments/events.js';
import { systemClock, unixSeconds, type Clock } from '../lib/clock.js';
import { newId } from '../lib/ids.js';
import { buildRequest, claimDeliveries, recordAttempt, type RetryPolicy } from './deliveries.js';
import type { SendResult, WebhookSender } from './sender.js';
import { checkWebhookUrl, webhookSettings } from './settings.js';

/**
 * `pier listen --forward-to http://localhost:3000/webhook`, like `stripe listen`: while a listen
 * session polls, every new payment event of the merchant also gets a delivery addressed to the
 * session (written in the same transaction as the event, so none is missed). The CLI claims those
 * deliveries, POSTs them to the local URL itself, signed with the merchant's secret, and reports
 * each attempt back. Pier never connects to the developer's machine: no tunnel is needed.
 * The CLI reaches them either through the database (as every CLI command does) or, for a Pier it
 * cannot open the database of, through the authenticated `/pier/webhooks/listeners` API.
 */

/** A delivery handed to a listen session, ready to be sent. */
export interface ListenDelivery {
  delivery_id: string;
  event_id: string;
  imp_uid: string;
  merchant_uid: string;
  status: string;
  cancellation_id: string | null;
  attempt: number;
  payload: string;
  headers: Record<string, string>;
}

/** Listen sessions retry quickly: the developer's server is usually just restarting. */
export const LISTEN_RETRY: RetryPolicy = { baseDelaySeconds: 2, maxDelaySeconds: 30 };
const LISTEN_LEASE_SECONDS = 60;
/**
 * Live listen sessions one merchant may have at once. Each gets a delivery of every event of the
 * merchant, written in the payment's own transaction: unbounded, a merchant that opened ~1,900
 * sessions made each of its approvals unrecordable on SQLite (one INSERT past the 32,766 bound
 * parameters; the PG approved, Pier answered 500) and every payment write thousands of rows.
 */
export const MAX_LIVE_LISTENERS = 10;
const wallSeconds = () => Math.floor(Date.now() / 1000);
const ownerOf = (listenerId: string) => `listen:${listenerId}`;
export const TOO_MANY_LISTENERS = `listen 세션은 가맹점당 동시에 ${MAX_LIVE_LISTENERS}개까지 열 수 있습니다. (at most ${MAX_LIVE_LISTENERS} pier listen sessions at once: close one, or wait ${LISTENER_TTL_SECONDS} s for a silent one to lapse)`;
export const LISTENER_NOT_FOUND = '존재하지 않거나 종료된 listen 세션입니다. (no such listen session)';

export async function openListener(deps: Deps, merchantId: string, forwardTo: string) {
  const url = checkWebhookUrl(forwardTo);
  const settings = await webhookSettings(deps, merchantId);
  const id = newId('lsn');
  const now = wallSeconds();
  const opened = await deps.store.db.transaction().execute(async (trx) => {
    // the merchant's settings row, locked, so that opens racing each other count one after the
    // other (SQLite serialises writers already)
    if (deps.store.dialect === 'postgres') await trx.selectFrom('webhook_settings').select('merchant_id').where('merchant_id', '=', merchantId).forUpdate().execute();
    const live = await trx
      .selectFrom('webhook_listeners')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('merchant_id', '=', merchantId)
      .where('closed_at', '=', 0)
      .where('last_seen_at', '>=', now - LISTENER_TTL_SECONDS)
      .executeTakeFirstOrThrow();
    if (Number(live.n) >= MAX_LIVE_LISTENERS) return false;
    await trx.insertInto('webhook_listeners').values({ id, merchant_id: merchantId, forward_to: url, created_at: now, last_seen_at: now, closed_at: 0 }).execute();
    return true;
  });
  if (!opened) throw new PierError('refused', TOO_MANY_LISTENERS);
  return { listener_id: id, secret: settings.secret, content_type: settings.contentType, ttl_seconds: LISTENER_TTL_SECONDS };
}

/** Marks the session alive; throws when it is unknown, closed, or another merchant's. */
async function touch(deps: Deps, merchantId: string, listenerId: string) {
  const res = await deps.store.db
    .updateTable('webhook_listeners')
    .set({ last_seen_at: wallSeconds() })
    .where('id', '=', listenerId)
    .where('merchant_id', '=', merchantId)
    .where('closed_at', '=', 0)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new PierError('not_found', LISTENER_NOT_FOUND);
}

/**
 * Closes the merchant's own session (again is fine) and drops what it never got. Throws not_found
 * for a session that is unknown or another merchant's: their deliveries are never touched.
 */
export async function closeListener(deps: Deps, merchantId: string, listenerId: string) {
  const { db } = deps.store;
  const now = wallSeconds();
  const mine = await db.selectFrom('webhook_listeners').select('id').where('id', '=', listenerId).where('merchant_id', '=', merchantId).executeTakeFirst();
  if (!mine) throw new PierError('not_found', LISTENER_NOT_FOUND);
  await db.updateTable('webhook_listeners').set({ closed_at: now }).where('id', '=', listenerId).where('merchant_id', '=', merchantId).where('closed_at', '=', 0).execute();
  // what the session never got is dropped, so it does not sit in the log as pending forever
  await db
    .updateTable('webhook_deliveries')
    .set({ state: 'failed', last_error: 'listen session closed', lease_owner: null, lease_until: 0, updated_at: now })
    .where('listener_id', '=', listenerId)
    .where('merchant_id', '=', merchantId)
    .where('state', 'in', ['pending', 'sending'])
    .execute();
}

/**
 * Claims the session's due deliveries and signs them (with the real time). `clock` times the
 * retries (the real time; tests move it).
 */
export async function pollListener(deps: Deps, merchantId: string, listenerId: string, limit = 20, clock: Clock = systemClock): Promise<ListenDelivery[]> {
  await touch(deps, merchantId, listenerId);
  const claimed = await claimDeliveries(deps.store, { now: unixSeconds(clock), owner: ownerOf(listenerId), leaseSeconds: LISTEN_LEASE_SECONDS, limit, listenerId });
  const out: ListenDelivery[] = [];
  for (const d of claimed) {
    const e = await deps.store.db.selectFrom('webhook_events').selectAll().where('id', '=', d.event_id).executeTakeFirstOrThrow();
    const req = await buildRequest(deps, e, d.content_type, new Date());
    out.push({
      delivery_id: d.id,
      event_id: e.id,
      imp_uid: e.imp_uid,
      merchant_uid: e.merchant_uid,
      status: e.status,
      cancellation_id: e.cancellation_id,
      attempt: d.attempts + 1,
      payload: req.payload,
      headers: req.headers,
    });
  }
  return out;
}

/** Records what the local endpoint answered (the CLI did the HTTP call). */
export async function reportListenerResult(deps: Deps, merchantId: string, listenerId: string, deliveryId: string, result: SendResult, clock: Clock = systemClock) {
  const d = await deps.store.db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', deliveryId)
    .where('listener_id', '=', listenerId)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst();
  if (!d) throw new PierError('not_found', LISTENER_NOT_FOUND);
  // a delivery the session no longer holds (reported already, or the session closed): its attempt
  // was recorded, or dropped with the session; logging another would count an attempt twice and
  // answer a state the delivery is not in
  if (d.state !== 'sending' || d.lease_owner !== ownerOf(listenerId)) return d.state;
  const now = unixSeconds(clock);
  return recordAttempt(deps.store, d, result, { owner: ownerOf(listenerId), now, startedAt: wallSeconds(), retry: LISTEN_RETRY });
}

/** Where a listen session gets its deliveries: the database, or a Pier's API. */
export interface ListenSource {
  open(forwardTo: string): Promise<{ listenerId: string; secret: string; contentType: string }>;
  poll(): Promise<ListenDelivery[]>;
  report(deliveryId: string, result: SendResult): Promise<void>;
  close(): Promise<void>;
}

/** The session through the database (what `pier listen` does by default, like every CLI command). */
export class DbListenSource implements ListenSource {
  private listenerId = '';
  constructor(
    private readonly deps: Deps,
    private readonly merchantId: string,
    /** times retries to the local URL (default the real time) */
    private readonly clock: Clock = systemClock,
  ) {}
  async open(forwardTo: string) {
    const l = await openListener(this.deps, this.merchantId, forwardTo);
    this.listenerId = l.listener_id;
    return { listenerId: l.listener_id, secret: l.secret, contentType: l.content_type };
  }
  poll() {
    return pollListener(this.deps, this.merchantId, this.listenerId, 20, this.clock);
  }
  async report(deliveryId: string, result: SendResult) {
    await reportListenerResult(this.deps, this.merchantId, this.listenerId, deliveryId, result, this.clock);
  }
  close() {
    return closeListener(this.deps, this.merchantId, this.listenerId);
  }
}

/** The session through a running Pier's `/pier/webhooks/listeners` API, with the merchant's REST key. */
export class HttpListenSource implements ListenSource {
  private token = '';
  private listenerId = '';
  constructor(
    private readonly baseUrl: string,
    private readonly impKey: string,
    private readonly impSecret: string,
  ) {}

  private async call(method: string, path: string, body?: unknown, retried = false): Promise<any> {
    if (!this.token) await this.signIn();
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401 && !retried) {
      this.token = '';
      return this.call(method, path, body, true);
    }
    const json = (await res.json().catch(() => null)) as { code: number; message: string | null; response: unknown } | null;
    if (!json || json.code !== 0) throw new Error(`${method} ${path}: HTTP ${res.status} ${json?.message ?? ''}`.trim());
    return json.response;
  }

  private async signIn() {
    const res = await fetch(new URL('/users/getToken', this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ imp_key: this.impKey, imp_secret: this.impSecret }),
    });
    const json = (await res.json().catch(() => null)) as { code: number; message: string | null; response: { access_token: string } | null } | null;
    if (!json || json.code !== 0 || !json.response) throw new Error(`sign-in failed: ${json?.message ?? `HTTP ${res.status}`}`);
    this.token = json.response.access_token;
  }

  async open(forwardTo: string) {
    const r = await this.call('POST', '/pier/webhooks/listeners', { forward_to: forwardTo });
    this.listenerId = r.listener_id;
    return { listenerId: r.listener_id as string, secret: r.secret as string, contentType: r.content_type as string };
  }
  poll(): Promise<ListenDelivery[]> {
    return this.call('POST', `/pier/webhooks/listeners/${this.listenerId}/poll`, {});
  }
  async report(deliveryId: string, result: SendResult) {
    await this.call('POST', `/pier/webhooks/listeners/${this.listenerId}/deliveries/${deliveryId}/result`, {
      status_code: result.statusCode,
      error: result.error,
      duration_ms: result.durationMs,
      excerpt: result.excerpt,
    });
  }
  async close() {
    await this.call('DELETE', `/pier/webhooks/listeners/${this.listenerId}`);
  }
}

export interface ListenOptions {
  sender: WebhookSender;
  /** one line per forwarded delivery */
  onLine?: (line: string) => void;
  /** pause between polls when nothing came (default 1 s) */
  intervalMs?: number;
  /** stop after this many deliveries were forwarded (tests, `--max-events`) */
  maxDeliveries?: number;
  signal?: AbortSignal;
}

/** One poll: forwards what is due and reports it. Returns how many were forwarded. */
export async function forwardOnce(source: ListenSource, forwardTo: string, o: ListenOptions): Promise<number> {
  const due = await source.poll();
  for (const d of due) {
    const result = await o.sender.send(forwardTo, d.payload, d.headers);
    await source.report(d.delivery_id, result);
    const time = new Date().toISOString().slice(11, 19);
    const outcome = result.statusCode !== null ? `[${result.statusCode}]` : `[ERR ${result.error}]`;
    o.onLine?.(`${time}  --> ${d.status.padEnd(9)} ${d.imp_uid} (${d.merchant_uid}${d.cancellation_id ? `, ${d.cancellation_id}` : ''})  ${outcome} ${result.durationMs}ms  ${d.event_id}`);
  }
  return due.length;
}

/** Polls and forwards until aborted (or `maxDeliveries`); closes the session at the end. */
export async function runListen(source: ListenSource, forwardTo: string, o: ListenOptions): Promise<number> {
  let forwarded = 0;
  try {
    while (!o.signal?.aborted && (o.maxDeliveries === undefined || forwarded < o.maxDeliveries)) {
      const n = await forwardOnce(source, forwardTo, o);
      forwarded += n;
      if (n === 0 && !o.signal?.aborted) await pause(o.intervalMs ?? 1000, o.signal);
    }
  } finally {
    await source.close().catch(() => undefined);
  }
  return forwarded;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
