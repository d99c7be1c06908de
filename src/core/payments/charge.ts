import { PierError } from '../errors.js';
import { ConnectorError, type ChargeResult } from '../../connectors/types.js';
import { unixSeconds } from '../../lib/clock.js';
import { attemptRow, insertAttempt, insertAttemptFrom, lockHolder, throughChannel, withNewImpUid, type AttemptFence, type LockHolder } from './attempts.js';
import { channelRowOf, openChannel, type ChannelColumns, type ChannelSource, type ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { toV1Payment, type PaymentRow } from '../../domain/payment.js';
import { AttemptFenceLostError, PaymentOutcomeUnknownError } from './errors.js';
import { approveAttempt, failAttempt } from './record-outcome.js';
import { loadV1Payment } from './render.js';
import { markInDoubt, settleAttempt } from './reconcile.js';

// recording outcomes lives in payments/record-outcome.ts (reconcile.ts uses it too); kept importable from here
export { approveAttempt, failAttempt, recordApproval, recordFailure, type Approval } from './record-outcome.js';

/** What the merchant asked to charge, after validation. */
export interface ChargeOrder {
  merchantId: string;
  merchantUid: string;
  amount: number;
  taxFree: number;
  vatAmount: number | null;
  name: string | null;
  buyer: { name: string | null; email: string | null; tel: string | null; addr: string | null; postcode: string | null };
  cardQuota: number;
  customData: string | null;
  noticeUrl: string | null;
  customerUid: string | null;
  /** V1 customer_uid_usage: `payment` for onetime/again, `payment.scheduled` for schedules */
  customerUidUsage: string | null;
  userAgent: string | null;
  /** the attempt's imp_uid when the caller must know it before the PG is called (scheduled payments); default: a new one */
  impUid?: string;
  /** written in the attempt's commit, which records nothing unless it changes a row (a scheduled charge's lease): AttemptFenceLostError */
  fence?: AttemptFence;
}

export const ALREADY_PAID_MESSAGE = '이미 결제가 이루어진 거래건입니다.';
export const IN_PROGRESS_MESSAGE = '동일한 merchant_uid로 진행 중인 결제가 있습니다. 결과를 조회한 후 다시 시도하세요.';

/**
 * Where an API charge's channel comes from (the billing key's, or the one `pg` names) and how the
 * PG is asked once the attempt is recorded.
 */
export interface ChargeSource<S extends ChannelColumns> {
  /** a select of at most one row: the channel (channelColumns) and what `charge` needs; it runs with the attempt insert */
  query: ChannelSource<S>;
  /** the query found nothing: throws the V1 error that says why */
  explainMissing(): Promise<never>;
  /** the PG call for what the query found (opening its secrets) */
  charge(found: S, channel: ResolvedChannel): (moid: string) => Promise<ChargeResult>;
  /**
   * what must be written only once the attempt holds the merchant_uid lock, before the PG is
   * called (onetime's billing key): a request refused for its merchant_uid writes nothing. A throw
   * fails the attempt, the PG not having been asked.
   */
  admitted?(found: S): Promise<void>;
}

/** attemptRow's channel before the source has found it: insertAttemptFrom fills in the found one */
const FOUND_WITH_THE_INSERT = { row: { id: '', provider: '', mid: '', sandbox: 0 } };

/**
 * Record, call, record (design.md principle 4), in two round trips and two commits.
 *  1. Find the channel with `source` and insert the attempt through it as `ready`, holding the
 *     merchant_uid lock, in one statement that commits (insertAttemptFrom), with the order's
 *     fence if it has one. The unique index on (merchant_id, merchant_uid_lock) lets exactly one
 *     of any number of concurrent requests in.
 *  2. Call the PG with no transaction open.
 *  3. Record the outcome. A decline is a `failed` payment (V1 answers it with code 0); a PG that
 *     never saw the request fails the attempt cleanly; a PG that may have acted (timeout) leaves
 *     the attempt `in_doubt`, still holding the lock, for reconciliation to settle by inquiry.
 */
export async function chargeWith<S extends ChannelColumns>(deps: Deps, source: ChargeSource<S>, order: ChargeOrder) {
  const { db } = deps.store;
  const now = unixSeconds(deps.clock);
  // a scheduled charge names its imp_uid (its lease is stamped with it) and draws another itself
  const first = order.impUid
    ? await recordAttempt(deps, source, order, order.impUid, now)
    : await withNewImpUid(deps, (impUid) => recordAttempt(deps, source, order, impUid, now));
  if (first.missing) return source.explainMissing();
  const { impUid, found } = first;

  let callPg: (moid: string) => Promise<ChargeResult>;
  let setup = '결제 채널을 열지 못했습니다.';
  try {
    callPg = source.charge(found, openChannel(deps, channelRowOf(found)));
    setup = '결제 전 기록을 저장하지 못했습니다.';
    if (source.admitted) await source.admitted(found);
  } catch (err) {
    // the PG was not asked: free the merchant_uid again
    await failAttempt(deps, impUid, `[PIER_SETUP] ${setup}`);
    throw err;
  }

  let result: ChargeResult;
  try {
    result = await callPg(impUid);
  } catch (err) {
    if (err instanceof ConnectorError && !err.inDoubt) {
      deps.logger.warn({ imp_uid: impUid, kind: err.kind }, 'PG unreachable; attempt failed cleanly');
      const failed = await recordingPgAnswer(deps, impUid, () => failAttempt(deps, impUid, `[PG_UNREACHABLE] PG사와 통신하지 못했습니다: ${err.message}`));
      return answer(deps, impUid, failed);
    }
    // The PG may have charged the card. Keep the lock, mark the attempt in doubt, and ask the PG once
    // right away; if that cannot settle it, the caller is told the outcome is being confirmed and the
    // reconciliation job settles it later (its `paid` / `failed` webhook tells the merchant).
    deps.logger.warn({ imp_uid: impUid, err: err instanceof Error ? err.message : String(err) }, 'PG outcome unknown; attempt in doubt');
    await recordingPgAnswer(deps, impUid, () => markInDoubt(deps, impUid));
    // a stop began during the call: no call more (the stop's deadline covers one PG operation, and
    // the backstop would cut this request off mid-inquiry, a socket error for the merchant). V1's
    // answer for an unknown outcome now; reconciliation asks the PG after the restart (decision 0113)
    if (deps.stopping?.aborted) {
      deps.logger.warn({ imp_uid: impUid }, 'stopping: no inquiry after the PG call; left for reconciliation');
      throw new PaymentOutcomeUnknownError(impUid);
    }
    let settlement = 'unknown';
    try {
      settlement = await settleAttempt(deps, impUid, { giveUpIfUnknown: false });
    } catch (inquiryErr) {
      deps.logger.warn({ imp_uid: impUid, err: (inquiryErr as Error).message }, 'inquiry after timeout failed; left for reconciliation');
    }
    const v1 = (await recordingPgAnswer(deps, impUid, () => loadV1Payment(db, impUid)))!;
    if (settlement === 'unknown' || settlement === 'amount_mismatch' || v1.status === 'ready') throw new PaymentOutcomeUnknownError(impUid);
    return v1;
  }

  const settled = await recordingPgAnswer(deps, impUid, () =>
    result.outcome === 'approved'
      ? approveAttempt(deps, impUid, result)
      : failAttempt(deps, impUid, `[${result.code}]${result.message}`, result.pgTid),
  );
  return answer(deps, impUid, settled);
}

/**
 * Step 3's database work: recording what the PG answered (or that its answer was lost). When the
 * database fails it (a lock held past the lock wait or statement_timeout, a connection ended
 * mid-statement), nothing of the record is written: the attempt is still open (`calling`), holding
 * its merchant_uid, with the grace it was recorded with, so reconciliation asks the PG and records
 * what it says, with its webhook, and a retry of the merchant_uid is refused meanwhile. The
 * merchant is told, as for a lost answer, that the outcome is being confirmed (V1's 502, code 1,
 * with the imp_uid), never a 500: the card may have been charged. The database's own words (SQL,
 * addresses, constraint names) go to the error log only (decision 0119).
 */
async function recordingPgAnswer<T>(deps: Deps, impUid: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    deps.logger.error({ imp_uid: impUid, err: err instanceof Error ? err.message : String(err) }, 'recording the PG\'s answer failed; the attempt stays open for reconciliation');
    throw new PaymentOutcomeUnknownError(impUid);
  }
}

/**
 * Step 1 of chargeWith: the attempt recorded as `impUid`, holding the merchant_uid lock, or
 * `missing` when the source found no channel. Throws the V1 refusal when the lock is held, and
 * ImpUidTakenError when `impUid` is a payment's already.
 */
async function recordAttempt<S extends ChannelColumns>(
  deps: Deps,
  source: ChargeSource<S>,
  order: ChargeOrder,
  impUid: string,
  now: number,
): Promise<{ missing: true } | { missing: false; impUid: string; found: S }> {
  const row = attemptRow(
    {
      impUid,
      merchantId: order.merchantId,
      merchantUid: order.merchantUid,
      channel: FOUND_WITH_THE_INSERT,
      payMethod: 'card',
      via: 'api',
      pgState: 'calling',
      amount: order.amount,
      taxFree: order.taxFree,
      vatAmount: order.vatAmount,
      name: order.name,
      buyer: order.buyer,
      customData: order.customData,
      noticeUrl: order.noticeUrl,
      userAgent: order.userAgent,
      cardQuota: order.cardQuota,
      customerUid: order.customerUid,
      customerUidUsage: order.customerUidUsage,
    },
    now,
  );
  const { found, inserted, fenced } = await insertAttemptFrom(deps, source.query, row, order.fence);
  if (!fenced) throw new AttemptFenceLostError(impUid);
  if (!found) return { missing: true };
  if (!inserted) {
    // taken, or held by a virtual account past its deadline: insertAttempt releases that and retries
    const locked = await insertAttempt(deps, throughChannel(row, found));
    if (!locked.ok) throw merchantUidTaken(locked.holder);
  }
  return { missing: false, impUid, found };
}

/** V1's refusal of a charge whose merchant_uid is held: paid (or issued), or still in flight. */
export function merchantUidTaken(holder: LockHolder | undefined): PierError {
  return new PierError('refused', holder && holder.status !== 'ready' ? ALREADY_PAID_MESSAGE : IN_PROGRESS_MESSAGE);
}

/**
 * Refuses, before anything is done, a charge whose merchant_uid is paid or in flight now, as the
 * attempt's insert would (a virtual account past its deadline is released and holds nothing). A
 * check only: the insert's lock remains the guard against a request that comes in meanwhile.
 */
export async function refuseIfMerchantUidTaken(deps: Deps, merchantId: string, merchantUid: string): Promise<void> {
  const holder = await lockHolder(deps, merchantId, merchantUid);
  if (holder) throw merchantUidTaken(holder);
}

/**
 * The V1 answer for an attempt this request just settled: built from the row its update returned
 * (a payment settled a moment ago has no refunds), so the payment is not read back. When the
 * conditional update did not apply (settled elsewhere meanwhile) the payment is read as it stands.
 */
async function answer(deps: Deps, impUid: string, settled: PaymentRow | undefined) {
  if (settled) return toV1Payment(settled, []);
  return (await loadV1Payment(deps.store.db, impUid))!;
}

