/**
 * A new payment attempt and the merchant_uid lock it takes, shared by the API charges (charge.ts)
 * and the payment window (checkout.ts).
 *
 * The lock is the unique index on (merchant_id, merchant_uid_lock): one in-flight, paid or issued
 * (virtual account) attempt per merchant_uid. An API charge takes it when it is first recorded, before
 * its call. A payment-window attempt takes it only once the PG has approved it (or issued its
 * account, or Pier is about to call the PG itself): anyone holding the public merchant code can open
 * a checkout, and a window that held the merchant_uid while open would let them keep a buyer's order
 * from being paid (decision 0058). A virtual account past its vbank_date can no longer
 * be paid, so it does not hold the lock for ever: the first attempt that collides with it releases
 * it (the account itself stays `ready`, see docs/decisions/0006-virtual-accounts.md) and goes on.
 */
import { sql, type ExpressionBuilder, type Kysely, type RawBuilder, type Transaction, type UpdateQueryBuilder } from 'kysely';
import { unixSeconds } from '../../lib/clock.js';
import { newImpUid } from '../../lib/ids.js';
import { isPrimaryKeyViolation, isUniqueViolation } from '../../store/db.js';
import { dbNow, dbNowShape } from '../../store/db-clock.js';
import { fromTemplate, runTemplate, type TemplateValue } from '../../store/statement-template.js';
import type { Database, PaymentsTable } from '../../store/types.js';
import type { ChannelColumns, ChannelSource, ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { ClientGoneError, ImpUidTakenError } from './errors.js';
import { depositAtPgOfOverdueVbank } from '../virtual-accounts/deposit.js';
import { releasingMerchantUid } from './merchant-uid-handback.js';

export interface NewAttempt {
  impUid: string;
  merchantId: string;
  merchantUid: string;
  channel: { row: Pick<ResolvedChannel['row'], 'id' | 'provider' | 'mid' | 'sandbox'> };
  payMethod: string;
  /** V1 `channel`: `api`, `pc` or `mobile` */
  via: string;
  /** `calling` (API charge) or `window` (the buyer is in the PG window) */
  pgState: 'calling' | 'window';
  amount: number;
  taxFree: number;
  vatAmount: number | null;
  name: string | null;
  buyer: { name: string | null; email: string | null; tel: string | null; addr: string | null; postcode: string | null };
  customData: string | null;
  noticeUrl: string | null;
  userAgent: string | null;
  cardCode?: string | null;
  cardQuota: number;
  customerUid: string | null;
  customerUidUsage: string | null;
}

/**
 * The payments row of a new attempt: `ready`, nothing from the PG yet; an API charge holds the
 * merchant_uid lock, a window attempt does not yet (see above).
 */
export function attemptRow(a: NewAttempt, now: number): PaymentsTable {
  return {
    imp_uid: a.impUid,
    merchant_id: a.merchantId,
    merchant_uid: a.merchantUid,
    merchant_uid_lock: a.pgState === 'window' ? null : a.merchantUid,
    channel_id: a.channel.row.id,
    pg_provider: a.channel.row.provider,
    pg_id: a.channel.row.mid,
    pay_method: a.payMethod,
    channel: a.via,
    status: 'ready',
    pg_state: a.pgState,
    amount: a.amount,
    cancel_amount: 0,
    cancel_pending_amount: 0,
    tax_free: a.taxFree,
    vat_amount: a.vatAmount,
    currency: 'KRW',
    name: a.name,
    buyer_name: a.buyer.name,
    buyer_email: a.buyer.email,
    buyer_tel: a.buyer.tel,
    buyer_addr: a.buyer.addr,
    buyer_postcode: a.buyer.postcode,
    custom_data: a.customData,
    notice_url: a.noticeUrl,
    user_agent: a.userAgent,
    card_code: a.cardCode ?? null,
    card_name: null,
    card_number: null,
    card_type: null,
    card_quota: a.cardQuota,
    apply_num: null,
    pg_tid: null,
    receipt_url: null,
    bank_code: null,
    bank_name: null,
    customer_uid: a.customerUid,
    customer_uid_usage: a.customerUidUsage,
    fail_reason: null,
    cancel_reason: null,
    sandbox: a.channel.row.sandbox,
    started_at: now,
    paid_at: 0,
    failed_at: 0,
    cancelled_at: 0,
    updated_at: now,
  };
}

export interface LockHolder {
  imp_uid: string;
  status: string;
  pg_state: string;
  pay_method: string;
  /** V1 `channel`: `api` for an API charge, `pc`/`mobile` for the payment window */
  channel: string;
}

/**
 * An unpaid virtual account issued in the payment window. Issuing one costs nothing, and anyone with
 * the public merchant code can open a window: such an account gives its merchant_uid up to a window
 * approval (closed at the PG first: checkout/window-settlement.ts), rather than holding the order
 * until its due date, which the one who opened it chose (decision 0058).
 */
export const yieldsToWindowApproval = (h: LockHolder) => h.pay_method === 'vbank' && h.status === 'ready' && h.pg_state === 'done' && h.channel !== 'api';

/**
 * Releases the merchant_uid lock of a virtual account whose deposit deadline has passed (by
 * deps.clock) once the PG confirms it holds no deposit: a deposit made in time whose notice never
 * reached Pier (Pier was down, the notice was lost; the PG sends it again later) is recorded now
 * instead, and the account keeps its merchant_uid, paid. A PG that cannot tell keeps the lock too.
 * Past the deadline no deposit can come (the PG refuses it, and so does Pier's notice handler);
 * the account stays `ready`. Conditional, so concurrent callers are safe. True if released.
 */
export async function releaseOverdueVbankLock(deps: Deps, merchantId: string, merchantUid: string): Promise<boolean> {
  const account = await deps.store.db.selectFrom('payments').select('imp_uid').where(overdueHolder(merchantId, merchantUid, unixSeconds(deps.clock))).executeTakeFirst();
  if (!account) return false;
  if ((await depositAtPgOfOverdueVbank(deps, account.imp_uid)) !== 'unpaid') return false;
  return releaseUnpaidOverdueLock(deps, account.imp_uid, merchantId, merchantUid);
}

/** A virtual account holding merchantUid, unpaid and past its deposit deadline at `now`. */
const overdueHolder = (merchantId: string, merchantUid: string, now: number) => (eb: ExpressionBuilder<Database, 'payments'>) =>
  eb.and([
    eb('merchant_id', '=', merchantId),
    eb('merchant_uid_lock', '=', merchantUid),
    eb('pay_method', '=', 'vbank'),
    eb('status', '=', 'ready'),
    eb('pg_state', '=', 'done'),
    eb('vbank_date', '>', 0),
    eb('vbank_date', '<', now),
  ]);

/**
 * Releases the merchant_uid lock of virtual account `impUid`, past its deadline, for which the PG
 * has just said it holds no deposit (depositAtPgOfOverdueVbank answered `unpaid`). Conditional on
 * the account still holding it, unpaid and overdue. True if released.
 */
export async function releaseUnpaidOverdueLock(deps: Deps, impUid: string, merchantId: string, merchantUid: string): Promise<boolean> {
  const now = unixSeconds(deps.clock);
  // the order's payment paid without the merchant_uid, if any, takes it instead (decision 0073)
  const res = await releasingMerchantUid(deps.store, impUid, now, (trx) =>
    trx.updateTable('payments').set({ merchant_uid_lock: null, updated_at: now }).where('imp_uid', '=', impUid).where(overdueHolder(merchantId, merchantUid, now)).executeTakeFirst(),
  );
  const released = Number(res.numUpdatedRows) > 0;
  if (released) deps.logger.info({ merchant_uid: merchantUid, imp_uid: impUid }, 'merchant_uid released by a virtual account past its deposit deadline (the PG holds no deposit)');
  return released;
}

const findHolder = (db: Kysely<Database>, merchantId: string, merchantUid: string): Promise<LockHolder | undefined> =>
  db
    .selectFrom('payments')
    .select(['imp_uid', 'status', 'pg_state', 'pay_method', 'channel'])
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid_lock', '=', merchantUid)
    .executeTakeFirst();

const mayBeOverdueVbank = (h: LockHolder | undefined) => h?.pay_method === 'vbank' && h.status === 'ready';

/**
 * The attempt holding a merchant_uid, if any; a virtual account past its deadline is released
 * first and holds nothing (or, paid after all, holds it: read again either way).
 */
export async function lockHolder(deps: Deps, merchantId: string, merchantUid: string): Promise<LockHolder | undefined> {
  const holder = await findHolder(deps.store.db, merchantId, merchantUid);
  if (!mayBeOverdueVbank(holder)) return holder;
  await releaseOverdueVbankLock(deps, merchantId, merchantUid);
  return findHolder(deps.store.db, merchantId, merchantUid);
}

/** A new attempt's imp_uid: Deps.newImpUid when given (tests), else 12 random digits (lib/ids). */
const drawImpUid = (deps: Deps): string => (deps.newImpUid ?? newImpUid)();

/**
 * `record` (an attempt's first record) under a new imp_uid, and again under another while the one
 * drawn is a payment's already (ImpUidTakenError: nothing was written). Three draws: a second
 * taken one in a row is as likely as a billionth payment's id repeating twice.
 */
export async function withNewImpUid<T>(deps: Deps, record: (impUid: string) => Promise<T>): Promise<T> {
  for (let draws = 1; ; draws++) {
    const impUid = drawImpUid(deps);
    try {
      return await record(impUid);
    } catch (err) {
      if (!(err instanceof ImpUidTakenError) || draws === 3) throw err;
      deps.logger.warn({ imp_uid: impUid }, 'new imp_uid already used; drawing another');
    }
  }
}

/**
 * Inserts a new attempt, taking its merchant_uid lock, and commits. `alongside` runs first in the
 * same transaction (the checkout marks its session started). When the lock is taken by a virtual
 * account past its deadline, that lock is released and the insert tried once more. An imp_uid
 * already used throws ImpUidTakenError, with nothing written.
 */
export async function insertAttempt(
  deps: Deps,
  row: PaymentsTable,
  alongside?: (trx: Transaction<Database>) => Promise<void>,
): Promise<{ ok: true } | { ok: false; holder: LockHolder | undefined }> {
  const { db } = deps.store;
  // reconciliation counts its grace from the database's clock (src/store/db-clock.ts)
  const stampedAt = dbNow(deps.store);
  const write = (): Promise<unknown> =>
    alongside
      ? db.transaction().execute(async (trx) => {
          await alongside(trx);
          await insert(trx, row, stampedAt);
        })
      : insert(db, row, stampedAt);
  for (let retried = false; ; retried = true) {
    try {
      await write();
      return { ok: true };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (isPrimaryKeyViolation(err, 'payments')) throw new ImpUidTakenError(row.imp_uid);
    }
    let holder = await findHolder(db, row.merchant_id, row.merchant_uid);
    if (!retried && mayBeOverdueVbank(holder)) {
      if (await releaseOverdueVbankLock(deps, row.merchant_id, row.merchant_uid)) continue;
      // not released: still awaiting its deposit per the PG, or paid after all (recorded just now)
      holder = await findHolder(db, row.merchant_id, row.merchant_uid);
    }
    return { ok: false, holder };
  }
}

const insert = (db: Kysely<Database>, row: PaymentsTable, stampedAt: RawBuilder<number>) => db.insertInto('payments').values({ ...row, next_check_at: stampedAt }).execute();

/** The columns of an attempt row that come from the channel it is charged through. */
const CHANNEL_FIELDS = { channel_id: 'ch_id', pg_provider: 'ch_provider', pg_id: 'ch_mid', sandbox: 'ch_sandbox' } as const;

/** An attempt row charged through the channel of `found` (a row selected with channelColumns). */
export function throughChannel(row: PaymentsTable, found: ChannelColumns): PaymentsTable {
  return { ...row, channel_id: found.ch_id, pg_provider: found.ch_provider, pg_id: found.ch_mid, sandbox: found.ch_sandbox };
}

/**
 * A write the attempt is recorded with, in its own commit, that must change exactly one row or
 * nothing is recorded: a scheduled charge stamps the schedule it holds the lease of with the
 * attempt (schedules/run.ts), so a worker whose lease was taken over neither records nor charges,
 * and holding the lease costs no commit of its own. A statement template like ChannelSource: `key`
 * names its shape, `values` (named `fence…`) its values, `build` an UPDATE without RETURNING.
 */
export interface AttemptFence {
  key: string;
  values: Record<string, TemplateValue>;
  // placeholders stand for `values` (statement-template.ts); typed loosely, as Kysely sees them
  build: (p: Record<string, any>) => UpdateQueryBuilder<Database, any, any, any>;
}

/** The fence's update, answering one row per row it changed (module level: see approvalUpdate in record-outcome.ts). */
function fenceStatement(fence: AttemptFence, p: Record<string, any>) {
  return fence.build(p).returning(sql<number>`1`.as('fenced'));
}

/**
 * The first record of an API charge in one round trip and one commit: `source` (a select of at
 * most one row, channelColumns and whatever else the charge needs) finds the channel, and the
 * attempt `row` is inserted through it (throughChannel) unless its merchant_uid lock is taken.
 * On PostgreSQL one statement (a data-modifying CTE); on SQLite one synchronous transaction. Both
 * are statement templates, built and compiled once per source shape (store/statement-template.ts).
 * `found` undefined: the source found nothing, and nothing was inserted. `inserted` false: the lock
 * is taken (insertAttempt then says by whom, releasing an overdue virtual account's). `fenced`
 * false: the `fence` changed no row, and nothing was inserted (true without a fence). Only the
 * lock's conflict is `inserted` false: an imp_uid already used fails the whole statement (the fence
 * included) and throws ImpUidTakenError.
 */
export async function insertAttemptFrom<S extends ChannelColumns>(
  deps: Deps,
  source: ChannelSource<S>,
  row: PaymentsTable,
  fence?: AttemptFence,
): Promise<{ found: S | undefined; inserted: boolean; fenced: boolean }> {
  try {
    return await insertAttemptOnce(deps, source, row, fence);
  } catch (err) {
    if (isPrimaryKeyViolation(err, 'payments')) throw new ImpUidTakenError(row.imp_uid);
    throw err;
  }
}

/**
 * The check a charge's first record runs once it holds the database (see insertAttemptOnce). Made
 * here so that no function made per payment has a name to keep (decision 0030).
 */
function refusedIfClientGone(clientGone: Deps['clientGone'], impUid: string): () => void {
  return () => {
    if (clientGone?.()) throw new ClientGoneError(impUid);
  };
}

async function insertAttemptOnce<S extends ChannelColumns>(
  deps: Deps,
  source: ChannelSource<S>,
  row: PaymentsTable,
  fence: AttemptFence | undefined,
): Promise<{ found: S | undefined; inserted: boolean; fenced: boolean }> {
  const { db, syncTransaction } = deps.store;
  const columns = Object.keys(row) as Array<keyof PaymentsTable>;
  const shape = `${columns.join(',')}:${dbNowShape()}`;
  // The first record opens new work: on PostgreSQL it waits for a connection behind the work under
  // way (decision 0038), and the client is checked once it holds one: the wait for a connection is
  // where an overloaded Pier queues (decision 0037). On SQLite it is checked once the write lock is
  // held: another process's lock is waited for off the event loop (store/sqlite-write-lock.ts)
  const opening = refusedIfClientGone(deps.clientGone, row.imp_uid);
  if (syncTransaction) {
    return syncTransaction((run) => {
      opening();
      if (fence && run(fromTemplate(db, `fence:${fence.key}`, fence.values, (p) => fenceStatement(fence, p))).length !== 1) return { found: undefined, inserted: false, fenced: false };
      const [found] = run(fromTemplate(db, `source:${source.key}`, source.values, source.build));
      if (!found) return { found: undefined, inserted: false, fenced: true };
      const inserted = run(
        fromTemplate(db, `attempt:${shape}`, throughChannel(row, found) as unknown as Record<string, TemplateValue>, (p) =>
          db
            .insertInto('payments')
            .values({ ...(Object.fromEntries(columns.map((c) => [c, p[c]])) as unknown as PaymentsTable), next_check_at: dbNow(deps.store) })
            .onConflict((oc) => oc.columns(['merchant_id', 'merchant_uid_lock']).doNothing())
            .returning('imp_uid'),
        ),
      );
      return { found, inserted: inserted.length > 0, fenced: true };
    });
  }
  // Object.assign, not `{ ...source.values, ...row }`: Node 20 adds each key after a leading spread
  // on a slow path, and this was 70 µs of a payment's CPU (docs/performance.md)
  const values: Record<string, TemplateValue> = Object.assign({}, source.values, fence?.values, row);
  const key = `attempt-from:${source.key}:${fence ? `fence:${fence.key}:` : ''}${shape}`;
  const statement = fromTemplate(db, key, values, (p) => {
    const inserted = columns.map((c) => (c in CHANNEL_FIELDS ? sql.ref(`src.${CHANNEL_FIELDS[c as keyof typeof CHANNEL_FIELDS]}`) : sql.val(p[c])));
    const insert = (where: RawBuilder<unknown>) => sql`INSERT INTO payments (${sql.join(columns.map((c) => sql.ref(c)))}, next_check_at)
      SELECT ${sql.join(inserted)}, ${dbNow(deps.store)} FROM src ${where}
      ON CONFLICT (merchant_id, merchant_uid_lock) DO NOTHING RETURNING imp_uid`;
    if (!fence) {
      return sql<S & { inserted: boolean; fenced: boolean }>`WITH src AS (${source.build(p)}), ins AS (${insert(sql``)})
        SELECT src.*, EXISTS (SELECT 1 FROM ins) AS inserted FROM src`;
    }
    // one row whatever the source finds, so that a fence that held is told apart from one that did
    // not when the source finds nothing (src's columns are then NULL: ch_id tells)
    return sql<S & { inserted: boolean; fenced: boolean }>`WITH fence AS (${fenceStatement(fence, p)}), src AS (${source.build(p)}),
      ins AS (${insert(sql`WHERE EXISTS (SELECT 1 FROM fence)`)})
      SELECT src.*, EXISTS (SELECT 1 FROM ins) AS inserted, EXISTS (SELECT 1 FROM fence) AS fenced FROM (SELECT 1) AS one LEFT JOIN src ON true`;
  });
  const { rows } = await runTemplate(deps.store, statement, opening);
  const [first] = rows;
  if (!first) return { found: undefined, inserted: false, fenced: true };
  // the row itself is `found`, its `inserted` and `fenced` riding along unread: a rest pattern
  // (`{ inserted, ...found }`) would copy every column once more
  const answered = first as S & { inserted: boolean; fenced?: boolean };
  return { found: answered.ch_id === null ? undefined : answered, inserted: answered.inserted, fenced: answered.fenced ?? true };
}
