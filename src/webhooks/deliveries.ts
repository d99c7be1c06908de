import { sql } from 'kysely';
import { PierError } from '../core/errors.js';
import type { Deps } from '../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../lib/clock.js';
import { newId } from '../lib/ids.js';
import { claimRows } from '../jobs/claim.js';
import { dbNow } from '../store/db-clock.js';
import type { Store } from '../store/db.js';
import { byIndexOnly } from '../store/index-only.js';
import { pageOfWalk, type Walk } from '../store/walk.js';
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
 * `listenerId` null takes URL deliveries; a listener id takes that `pier listen` session's.
 * The webhook worker claims with claimForReceivers.
 */
export async function claimDeliveries(
  store: Store,
  opts: { now: number; owner: string; leaseSeconds: number; limit: number; listenerId: string | null },
): Promise<DeliveryRow[]> {
  const { whose, due, set } = claimTerms(store, opts);
  const whoseAndDue = due.map((d) => (eb: any) => eb.and([whose(eb), d(eb)]));
  return claimRows(store, 'webhook_deliveries', { due: whoseAndDue, set, orderBy: 'next_attempt_at', limit: opts.limit });
}

/**
 * The webhook worker's claim: URL deliveries within each receiver's room (claimWithinRoom), each
 * with its event and its merchant's signing secret, ready to send. `skipUrls` leaves the
 * deliveries to those URLs for later. A batch that cannot be made ready (the database failed) is
 * given back, due now and uncounted, rather than left leased until its leases run out.
 */
export async function claimForReceivers(
  deps: Deps,
  opts: { now: number; owner: string; leaseSeconds: number; limit: number; skipUrls?: string[]; skipMerchants?: string[]; receivers: ReceiverRoom },
): Promise<LeasedDelivery[]> {
  const { whose, due, set } = claimTerms(deps.store, { ...opts, listenerId: null });
  const claimed = await claimWithinRoom(deps.store, { whose, due }, set, opts.limit, opts.receivers);
  try {
    return await leasedOf(deps, claimed.rows, claimed.joined);
  } catch (err) {
    for (const d of claimed.rows) await releaseDelivery(deps.store, d, opts.owner, opts.now).catch(() => undefined);
    throw err;
  }
}

/** Which deliveries a claim takes (whose, and due by which clock) and how it leases them. */
function claimTerms(store: Store, o: { now: number; owner: string; leaseSeconds: number; listenerId: string | null; skipUrls?: string[]; skipMerchants?: string[] }) {
  const skipUrls = o.skipUrls ?? [];
  const skipMerchants = o.skipMerchants ?? [];
  const whose = (eb: any) =>
    eb.and([
      o.listenerId === null ? eb('listener_id', 'is', null) : eb('listener_id', '=', o.listenerId),
      // receivers that already have as many attempts in flight as they may (webhookQueue)
      ...(skipUrls.length > 0 ? [eb('url', 'not in', skipUrls)] : []),
      // merchants that already have as many attempts in flight as they may, whatever their URLs
      ...(skipMerchants.length > 0 ? [eb('merchant_id', 'not in', skipMerchants)] : []),
    ]);
  // a row is due by either: retries fall due on the worker's clock (the sandbox clock in sandbox
  // mode); a lease runs out on the database's, so moving the sandbox clock never makes a delivery
  // being sent look abandoned. The states are literals: each walk's index is partial on its state
  // (migration 027), and a partial index serves only a statement whose WHERE states its predicate.
  const due: DueBy = [
    (eb: any) => eb.and([sql<boolean>`state = 'pending'`, eb('next_attempt_at', '<=', o.now)]),
    (eb: any) => eb.and([sql<boolean>`state = 'sending'`, eb('lease_until', '<=', dbNow(store))]),
  ];
  const set = { state: 'sending', lease_owner: o.owner, lease_until: sql`${dbNow(store)} + ${o.leaseSeconds}` };
  return { whose, due, set };
}

/** When a delivery is due: waiting for its next attempt, or leased by a worker whose lease ran out. */
type DueBy = [waiting: (eb: any) => any, abandoned: (eb: any) => any];

/**
 * How many more attempts each receiver URL may take: `cap` minus what is in flight to it; and each
 * merchant, whatever its URLs: `merchantCap` minus what is in flight for it (no limit if absent).
 */
export interface ReceiverRoom {
  cap: number;
  inFlight: ReadonlyMap<string, number>;
  merchantCap?: number;
  merchantsInFlight?: ReadonlyMap<string, number>;
}

/** Due rows looked at per claim, as a multiple of the rows wanted: enough to reach past one busy receiver's. */
const CANDIDATES_PER_ROW = 4;

/**
 * claimRows with a per-receiver cap in the statement: of the first due rows (a window of
 * CANDIDATES_PER_ROW × `limit`), at most `cap − in flight` per URL are leased, and of those at most
 * `merchantCap − in flight` per merchant (decision 0044), so no row is leased
 * only to be given back (before, a claim of 24 rows for a receiver with 1 free slot leased 24 and
 * released 23, one UPDATE each). PostgreSQL reads the window without locking it and locks only
 * the rows picked, `FOR UPDATE SKIP LOCKED` with the due condition checked again (a row another
 * worker claimed meanwhile is left out), then updates them by primary key (decision 0024).
 * SQLite: one conditional UPDATE, atomic.
 *
 * PostgreSQL returns each row's event and its merchant's sealed secret with it (`joined`), the
 * statement planned byIndexOnly: the reads that followed cost a round trip, and their generic
 * plans, made while the tables were small (at install), scanned every event for each batch until
 * autovacuum analysed the table (5 ms a batch with 10,000 events).
 *
 * The window is two index walks that stop at their LIMIT: pending rows in `next_attempt_at` order
 * (index `webhook_deliveries_due`) and rows whose lease ran out (`webhook_deliveries_lease`). One
 * `WHERE (pending AND due) OR (sending AND expired) ORDER BY next_attempt_at` makes both databases
 * collect and sort every due row first: with 10,000 queued, a claim of 22 rows took 3.4 ms on
 * SQLite and 4.7 ms on PostgreSQL that way, 1.3 and 2.9 ms as two walks.
 */
async function claimWithinRoom(
  store: Store,
  rows: { whose: (eb: any) => any; due: DueBy },
  set: Record<string, unknown>,
  limit: number,
  receivers: ReceiverRoom,
): Promise<{ rows: DeliveryRow[]; joined?: Joined }> {
  const db = store.db;
  const window = Math.min(1000, limit * CANDIDATES_PER_ROW);
  const cols = ['id', 'url', 'merchant_id', 'next_attempt_at'] as const;
  const [waiting, abandoned] = rows.due;
  const pending = db.selectFrom('webhook_deliveries').select(cols).where(waiting).where(rows.whose).orderBy('next_attempt_at').limit(window);
  const expired = db.selectFrom('webhook_deliveries').select(cols).where(abandoned).where(rows.whose).limit(window);
  const candidates = sql`(SELECT * FROM ${pending} AS p UNION ALL SELECT * FROM ${expired} AS x)`;
  const room = roomLeft('r.url', receivers.cap, receivers.inFlight);
  // a merchant's room counts only its rows within their URL's room (a row a full URL leaves out takes none of it)
  const merchantRoom = roomLeft('m.merchant_id', receivers.merchantCap ?? limit, receivers.merchantsInFlight ?? new Map());
  const picked = sql`SELECT m.id FROM (
      SELECT r.id, r.next_attempt_at, r.merchant_id, row_number() OVER (PARTITION BY r.merchant_id ORDER BY r.next_attempt_at, r.id) AS mrn
      FROM (SELECT c.id, c.url, c.merchant_id, c.next_attempt_at, row_number() OVER (PARTITION BY c.url ORDER BY c.next_attempt_at, c.id) AS rn FROM cand c) r
      WHERE r.rn <= ${room}) m
    WHERE m.mrn <= ${merchantRoom} ORDER BY m.next_attempt_at LIMIT ${limit}`;
  const assignments = sql.join(Object.entries(set).map(([col, v]) => sql`${sql.ref(col)} = ${v}`));
  if (store.dialect === 'postgres') {
    // only the picked rows are locked, and only if still due when locked (a row another worker
    // claimed and committed meanwhile is checked again on its new version and left out)
    const stillDue = db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where(sql<boolean>`id IN (SELECT id FROM picked)`)
      .where((eb) => eb.or([waiting(eb), abandoned(eb)]))
      .forUpdate()
      .skipLocked();
    // `id = ANY(ARRAY(…))`: the locked ids as one parameter-like array, so the update finds them by
    // primary key; `FROM locked` was planned as a hash join over a scan of the whole table
    // (3 of a claim's 3.6 ms with 10,000 rows queued). A whole-row reference to the outer side of
    // a join that found nothing is NULL: a missing event or setting comes back as NULL.
    const claim = sql<DeliveryRow & JoinedColumns>`WITH cand AS MATERIALIZED ${candidates}, picked AS (${picked}), locked AS MATERIALIZED ${stillDue},
      claimed AS (UPDATE webhook_deliveries SET ${assignments} WHERE id = ANY(ARRAY(SELECT id FROM locked)) RETURNING *)
      SELECT c.*, row_to_json(e) AS joined_event, s.secret_sealed AS joined_secret_sealed
      FROM claimed c LEFT JOIN webhook_events e ON e.id = c.event_id LEFT JOIN webhook_settings s ON s.merchant_id = c.merchant_id`;
    const found = await byIndexOnly(store, async (claimDb) => (await claim.execute(claimDb)).rows);
    const joined: Joined = { events: [], sealedSecrets: new Map() };
    const claimedRows = found.map(({ joined_event, joined_secret_sealed, ...row }) => {
      if (joined_event) joined.events.push(joined_event);
      if (joined_secret_sealed !== null) joined.sealedSecrets.set(row.merchant_id, joined_secret_sealed);
      return row;
    });
    return { rows: claimedRows, joined };
  }
  const r = await sql<DeliveryRow>`WITH cand AS ${candidates}
    UPDATE webhook_deliveries SET ${assignments} WHERE id IN (${picked}) RETURNING *`.execute(db);
  return { rows: r.rows };
}

/** `cap` minus what `inFlight` counts for the value of `column`, as SQL. */
function roomLeft(column: string, cap: number, inFlight: ReadonlyMap<string, number>) {
  const busy = [...inFlight].filter(([, n]) => n > 0);
  if (busy.length === 0) return sql`CAST(${cap} AS INTEGER)`;
  return sql`CAST(${cap} AS INTEGER) - CASE ${sql.ref(column)} ${sql.join(busy.map(([key, n]) => sql`WHEN ${key} THEN CAST(${n} AS INTEGER)`), sql` `)} ELSE 0 END`;
}

/** What PostgreSQL's claim returns beside each delivery's columns. */
interface JoinedColumns {
  joined_event: WebhookEventsTable | null;
  joined_secret_sealed: string | null;
}

/** The events and sealed secrets of claimed rows, read with the claim. */
interface Joined {
  events: WebhookEventsTable[];
  /** by merchant id; a merchant without settings is absent */
  sealedSecrets: Map<string, string>;
}

/** A leased delivery with what sending it needs: its event and the merchant's signing secret. */
export interface LeasedDelivery {
  row: DeliveryRow;
  event: WebhookEventsTable;
  /** the secret, or why it could not be had (that merchant's rows only: the rest of the batch goes on) */
  secret: string | Error;
}

/**
 * Leased deliveries with their events and signing secrets: read with the claim (`joined`), or
 * here in two queries however many rows (before: two per delivery, and a vault decryption per
 * delivery). Secrets are read at each claim, so a rotation applies from the next batch on.
 */
async function leasedOf(deps: Deps, rows: DeliveryRow[], joined?: Joined): Promise<LeasedDelivery[]> {
  if (rows.length === 0) return [];
  const { db } = deps.store;
  const eventIds = [...new Set(rows.map((d) => d.event_id))];
  const merchantIds = [...new Set(rows.map((d) => d.merchant_id))];
  const { events, sealedSecrets }: Joined = joined ?? (await readJoined(deps.store, eventIds, merchantIds));
  const eventById = new Map(events.map((e) => [e.id, e]));
  // one merchant's secret that cannot be opened (its vault key retired) fails that merchant's rows, not the batch
  const secrets = new Map<string, string | Error>();
  for (const [merchantId, sealed] of sealedSecrets) {
    try {
      secrets.set(merchantId, deps.vault.open(sealed));
    } catch (err) {
      secrets.set(merchantId, err as Error);
    }
  }
  // a merchant that never opened its settings gets its secret made now (as buildRequest does)
  for (const m of merchantIds) if (!secrets.has(m)) secrets.set(m, (await webhookSettings(deps, m)).secret);
  return rows.map((row) => {
    const event = eventById.get(row.event_id);
    if (!event) throw new Error(`webhook delivery ${row.id}: its event ${row.event_id} is missing`);
    return { row, event, secret: secrets.get(row.merchant_id)! };
  });
}

/** The events and sealed secrets of a batch, read after its claim (SQLite: PostgreSQL's claim returns them). */
async function readJoined(store: Store, eventIds: string[], merchantIds: string[]): Promise<Joined> {
  const [events, settings] = await Promise.all([
    store.db.selectFrom('webhook_events').selectAll().where('id', 'in', eventIds).execute(),
    store.db.selectFrom('webhook_settings').select(['merchant_id', 'secret_sealed']).where('merchant_id', 'in', merchantIds).execute(),
  ]);
  return { events, sealedSecrets: new Map(settings.map((s) => [s.merchant_id, s.secret_sealed])) };
}

/** The request of a leased delivery, signed now (`at`: the real time). */
export function leasedRequest(l: LeasedDelivery, at: Date) {
  if (l.secret instanceof Error) throw l.secret;
  const { payload, contentType } = encodeBody(webhookBody(l.event), l.row.content_type);
  return { payload, headers: { 'content-type': contentType, ...signatureHeaders(l.secret, l.event.id, payload, at) } };
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
  const [state] = await recordAttempts(store, [{ d, result, startedAt: o.startedAt }], o);
  return state;
}

/** One finished attempt, to record. */
export interface FinishedAttempt {
  d: DeliveryRow;
  result: SendResult;
  /** UNIX seconds, real time */
  startedAt: number;
}

/**
 * Logs a batch of attempts and moves each delivery on (delivered, due again with backoff, or
 * given up), atomically, each move fenced by the lease as in recordAttempt. Returns each
 * delivery's new state. PostgreSQL: one statement (a VALUES list, an UPDATE … FROM it and the
 * INSERT into the log), so one round trip and one commit for the whole batch; SQLite: one
 * synchronous transaction.
 */
export async function recordAttempts(store: Store, done: FinishedAttempt[], o: { owner: string; now: number; retry?: RetryPolicy }): Promise<string[]> {
  if (done.length === 0) return [];
  const moves = done.map(({ d, result, startedAt }) => {
    const attempt = d.attempts + 1;
    const state = result.ok ? 'delivered' : attempt >= d.max_attempts ? 'failed' : 'pending';
    return {
      id: d.id,
      attempt,
      state,
      next_attempt_at: state === 'pending' ? o.now + backoffSeconds(attempt, o.retry) : 0,
      status_code: result.statusCode,
      error: result.error?.slice(0, 500) ?? null,
      excerpt: result.excerpt?.slice(0, 500) ?? null,
      started_at: startedAt,
      duration_ms: result.durationMs,
      delivered_at: result.ok ? o.now : 0,
    };
  });
  const logRow = (m: (typeof moves)[number]) => ({
    delivery_id: m.id,
    attempt: m.attempt,
    started_at: m.started_at,
    duration_ms: m.duration_ms,
    status_code: m.status_code,
    error: m.error,
    response_excerpt: m.excerpt,
  });
  // the moves as a VALUES list, so each database moves the whole batch in one UPDATE … FROM
  const values = sql.join(
    moves.map(
      (m) =>
        sql`(CAST(${m.id} AS VARCHAR), CAST(${m.attempt} AS INTEGER), CAST(${m.state} AS VARCHAR), CAST(${m.next_attempt_at} AS BIGINT), CAST(${m.status_code} AS INTEGER),
             CAST(${m.error} AS VARCHAR), CAST(${m.excerpt} AS VARCHAR), CAST(${m.started_at} AS BIGINT), CAST(${m.duration_ms} AS INTEGER), CAST(${m.delivered_at} AS BIGINT))`,
    ),
  );
  const v = sql`v (id, attempt, state, next_attempt_at, status_code, error, excerpt, started_at, duration_ms, delivered_at) AS (VALUES ${values})`;
  // Fenced by the lease owner alone: every move out of 'sending' clears it, so it implies the state
  // (a fence on the state too was planned as a walk of every delivery being sent, webhook_deliveries_lease).
  // PostgreSQL: the ids as an index condition, so each is a primary-key probe (a join on v.id
  // alone was planned as a walk of the whole primary key with v.id as a filter)
  const probes = store.dialect === 'postgres' ? sql` AND webhook_deliveries.id = ANY(ARRAY(SELECT id FROM v))` : sql``;
  const move = sql`UPDATE webhook_deliveries SET state = v.state, attempts = v.attempt, next_attempt_at = v.next_attempt_at, lease_owner = NULL, lease_until = 0,
      last_status_code = v.status_code, last_error = v.error, updated_at = ${o.now}, delivered_at = v.delivered_at
    FROM v WHERE webhook_deliveries.id = v.id AND webhook_deliveries.lease_owner = ${o.owner}${probes}`;
  if (store.syncTransaction) {
    // SQLite has no data-modifying CTE: the log and the move are two statements of one transaction
    await store.syncTransaction((run) => {
      run(store.db.insertInto('webhook_attempts').values(moves.map(logRow)));
      const moveAll = sql`WITH ${v} ${move}`.compile(store.db);
      run({ compile: () => moveAll });
    });
  } else if (store.dialect === 'postgres') {
    // byIndexOnly: a generic plan made on near-empty tables hashed the batch against a scan of the
    // table (or, fenced on the state too, of every delivery being sent); each id is a primary-key probe
    await byIndexOnly(store, (db) =>
      sql`WITH ${v}, moved AS (${move} RETURNING webhook_deliveries.id)
        INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
        SELECT id, attempt, started_at, duration_ms, status_code, error, excerpt FROM v`.execute(db),
    );
  } else {
    await store.db.transaction().execute(async (trx) => {
      await trx.insertInto('webhook_attempts').values(moves.map(logRow)).execute();
      await sql`WITH ${v} ${move}`.execute(trx);
    });
  }
  return moves.map((m) => m.state);
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

/**
 * Deliveries, newest first, with their event. `offset` is a multiple of `limit` (a page). For one
 * merchant's whole log, `total` counts up to COUNT_CAP (`capped` when there are more) and a page
 * past the last is the last (`page` says which was shown).
 *
 * One merchant's whole log is walked a window at a time (store/walk.ts, decision 0034): it grows
 * with every payment, and counting it in one statement blocked SQLite's event loop 115-125 ms at
 * 200,000 deliveries. A payment's or an order's deliveries are few and found through the event's
 * indexes in one statement; so are every merchant's at once (the CLI without `--merchant`).
 */
export async function listDeliveries(store: Store, f: DeliveryFilter): Promise<{ total: number; capped: boolean; page: number; list: ReturnType<typeof toDeliveryJson>[] }> {
  const limit = f.limit ?? 20;
  const joined = () =>
    store.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
      .selectAll('d')
      .select(['e.imp_uid', 'e.merchant_uid', 'e.status', 'e.cancellation_id', 'e.cause']);
  if (f.merchantId && !f.impUid && !f.merchantUid) {
    const merchantId = f.merchantId;
    const walk: Walk<ReturnType<typeof deliveriesOf>> = { at: 'created_at', id: 'id', base: () => deliveriesOf(store).where('merchant_id', '=', merchantId) };
    const found = await pageOfWalk(walk, f.state ? (q) => q.where('state', '=', f.state!) : null, { page: Math.floor((f.offset ?? 0) / limit) + 1, limit });
    const rows = found.ids.length === 0 ? [] : await joined().where('d.id', 'in', found.ids).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return { total: found.total, capped: found.capped, page: found.page, list: found.ids.flatMap((id) => byId.get(id) ?? []).map((r) => toDeliveryJson(r as DeliveryRow, r)) };
  }
  let q = joined();
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
    .limit(limit)
    .offset(f.offset ?? 0)
    .execute();
  const total = Number((await count.executeTakeFirstOrThrow()).n);
  return { total, capped: false, page: Math.floor((f.offset ?? 0) / limit) + 1, list: rows.map((r) => toDeliveryJson(r as DeliveryRow, r)) };
}

function deliveriesOf(store: Store) {
  return store.db.selectFrom('webhook_deliveries');
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
  if (found.length === 0) throw new PierError('not_found', DELIVERY_NOT_FOUND);
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
