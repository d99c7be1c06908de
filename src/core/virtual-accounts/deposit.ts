/**
 * Deposits into window virtual accounts: one the PG notified and signed in full (tPay's notify,
 * verified by the connector: pg-notices.ts), or one the PG holds for an account past its deadline,
 * asked before its merchant_uid is released. Pier marks the payment paid and records the `paid`
 * event (spec/api-v1.md §13: "deposit → paid"); repeats are harmless, every write being conditional
 * on the state it moves from. In sandbox mode, sandboxVbankDeposit makes a deposit at the payment's
 * PG's simulator. Nothing here settles open attempts, so attempts.ts may ask it without a cycle.
 */
import { PierError } from '../errors.js';
import type { DepositNotice } from '../../connectors/types.js';
import { unixSeconds } from '../../lib/clock.js';
import type { PgSimulatorTools, SimulatorAnswer } from '../../lib/simulator-tools.js';
import { channelById, type ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { recordPaymentEvent } from '../payments/events.js';
import { isUniqueViolation } from '../../store/db.js';
import { lockedHolder } from '../payments/merchant-uid-handback.js';
import { sql } from 'kysely';
import type { PaymentsTable } from '../../store/types.js';

export type DepositOutcome =
  | { ok: true; impUid: string; duplicate: boolean }
  | {
      ok: false;
      reason: 'unverified' | 'unknown_payment' | 'wrong_amount' | 'not_open' | 'pg_unavailable';
      message: string;
      /** the PG's word was written on the payment for an operator (a deposit of another amount, decision 0123): the PG need not send it again */
      noted?: true;
    };

/**
 * What the PG holds for a virtual account past its deposit deadline on Pier's clock, asked before
 * its merchant_uid goes to another attempt (attempts.ts releaseOverdueVbankLock): a deposit made
 * in time whose notice never reached Pier would otherwise be recorded later, when the PG sends the
 * notice again, beside the other attempt's payment: one order paid twice. `paid`: the PG holds the
 * deposit, recorded now; `unpaid`: it holds none (or no such account, or closed it); `unknown`:
 * it could not tell, or its answer could not be recorded (an operator's case, logged).
 */
export async function depositAtPgOfOverdueVbank(deps: Deps, impUid: string): Promise<'paid' | 'unpaid' | 'unknown'> {
  const p = await deps.store.db.selectFrom('payments').select(['imp_uid', 'channel_id', 'pg_tid', 'started_at']).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p) return 'unknown';
  const channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
  // a channel the merchant removed can be asked nothing, and no notice reaches Pier through it either
  if (!channel) return 'unpaid';
  const atPg = await depositAskedOfPg(deps, channel, p);
  switch (atPg.held) {
    case 'none':
      return 'unpaid';
    case 'recorded':
      deps.logger.info({ imp_uid: impUid }, 'virtual account past its deadline: the PG holds a deposit made in time, whose notice had not reached Pier; recorded');
      return 'paid';
    case 'unasked':
      deps.logger.warn({ imp_uid: impUid, err: atPg.err.message }, 'virtual account past its deadline: the PG could not be asked about a deposit; its merchant_uid stays held');
      return 'unknown';
    case 'unrecordable':
      deps.logger.error({ imp_uid: impUid, reason: atPg.refused.reason, message: atPg.refused.message }, 'virtual account past its deadline: the PG holds a deposit Pier cannot record; its merchant_uid stays held for an operator');
      return 'unknown';
  }
}

/**
 * What the PG answered when asked about a virtual account (depositAskedOfPg): `recorded`, it holds
 * a deposit, now recorded (or recorded before); `none`, it holds none (or no such account, one of
 * another tid, or closed it); `unasked`, it could not be asked; `unrecordable`, it holds a deposit
 * Pier cannot record (`refused` says why).
 */
export type DepositAtPg =
  | { held: 'recorded' }
  | { held: 'none' }
  | { held: 'unasked'; err: Error }
  | { held: 'unrecordable'; refused: Extract<DepositOutcome, { ok: false }> };

/**
 * Asks the PG, on the account's channel, whether it holds a deposit into virtual account `p`, and
 * records one it holds (recordVbankDeposit). What follows each answer is the caller's: the deposit
 * checks before the deadline write the next check (deposit-checks.ts), depositAtPgOfOverdueVbank
 * after it decides on the merchant_uid, and each logs the answer in its own words.
 */
export async function depositAskedOfPg(deps: Deps, channel: ResolvedChannel, p: { imp_uid: string; pg_tid: string | null; started_at: number }): Promise<DepositAtPg> {
  let found;
  try {
    found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: Number(p.started_at) * 1000 });
  } catch (err) {
    return { held: 'unasked', err: err as Error };
  }
  if (!found.found || (p.pg_tid && found.pgTid !== p.pg_tid) || found.state !== 'paid') return { held: 'none' };
  const recorded = await recordVbankDeposit(deps, channel, { moid: p.imp_uid, pgTid: found.pgTid, amount: found.amount, depositedAt: found.paidAt, depositorName: null });
  return recorded.ok ? { held: 'recorded' } : { held: 'unrecordable', refused: recorded };
}

/**
 * Records a verified deposit into a window virtual account: paid, with its `paid` event, once.
 * `confirmedByPg`: the PG's own inquiry, just made, reported this deposit (NICE's notices, deposit
 * checks), so a deposit into an account Pier records closed is not asked about again.
 */
export async function recordVbankDeposit(deps: Deps, channel: ResolvedChannel, notice: DepositNotice, o: { confirmedByPg?: boolean } = {}): Promise<DepositOutcome> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').selectAll().where('imp_uid', '=', notice.moid).where('channel_id', '=', channel.row.id).executeTakeFirst();
  if (!p || p.pay_method !== 'vbank') return { ok: false, reason: 'unknown_payment', message: `no virtual account for ${notice.moid}` };
  if (p.status === 'paid' && p.pg_tid === notice.pgTid) return { ok: true, impUid: p.imp_uid, duplicate: true };
  if (isRevokedUnpaid(p, notice.pgTid)) return recordDepositIntoRevoked(deps, channel, p, notice, o);
  if (p.status !== 'ready' || p.pg_state !== 'done' || !p.vbank_num) return { ok: false, reason: 'not_open', message: `payment ${p.imp_uid} is ${p.status}` };
  const now = unixSeconds(deps.clock);
  if (notice.amount !== Number(p.amount)) {
    // The PG says money of another amount arrived (decision 0123): not a payment of the order (V1
    // merchants ship on `paid`), but never dropped either. It is written on the payment where the
    // merchant and the console read it (`fail_reason` of a `ready` account), and logged for an
    // operator; the account stays open, so a deposit of the right amount is still recorded.
    const message = `입금액(${notice.amount})이 결제금액(${Number(p.amount)})과 다릅니다.`;
    const note = `PG가 결제금액(${Number(p.amount)}원)과 다른 입금 ${notice.amount}원을 알려 왔습니다 (tid ${notice.pgTid}). 결제로 기록하지 않았고 입금액은 PG에 있습니다: 운영자 확인이 필요합니다. (a deposit of another amount the PG reports; not recorded as paid, the money is at the PG)`;
    await db.updateTable('payments').set({ fail_reason: note, updated_at: now }).where('imp_uid', '=', p.imp_uid).where('status', '=', 'ready').execute();
    deps.logger.error({ imp_uid: p.imp_uid, pg_tid: notice.pgTid, pg_amount: notice.amount, amount: Number(p.amount) }, 'the PG reports a deposit of another amount than the virtual account\'s; written on the payment for an operator, not recorded paid');
    return { ok: false, reason: 'wrong_amount', message, noted: true };
  }
  const depositedAt = notice.depositedAt || now;
  if (p.vbank_date && depositedAt > Number(p.vbank_date)) {
    // The PG took a deposit after the deadline it was given (decision 0123): the money is there and
    // the PG says so, so it is recorded paid (the merchant refunds it if the order is gone), and
    // logged for an operator, since the PG accepted what it should have refused.
    deps.logger.error({ imp_uid: p.imp_uid, pg_tid: notice.pgTid, deposited_at: depositedAt, vbank_date: Number(p.vbank_date) }, 'the PG reports a deposit made after the virtual account\'s deadline; recorded paid, for the merchant to keep or refund');
  }
  const changed = await recordPaid(deps, p, { depositedAt, now, from: 'ready', failReason: null });
  return { ok: true, impUid: p.imp_uid, duplicate: !changed };
}

/**
 * A virtual account the merchant revoked (DELETE /vbanks, or Pier's yield to a window approval):
 * `cancelled` without ever being paid (`paid_at` 0, no refund), closed at the PG, which confirmed the
 * close (revoke.ts records nothing else). A deposit the PG reports into it is one its close did not
 * stop (decision 0124). A revoke the PG refused or never answered left the account `ready`, and its
 * deposit is an ordinary one.
 */
function isRevokedUnpaid(p: PaymentsTable, pgTid: string): boolean {
  return (
    p.status === 'cancelled' &&
    p.pg_state === 'done' &&
    !!p.vbank_num &&
    Number(p.paid_at) === 0 &&
    Number(p.cancel_amount) === Number(p.amount) &&
    (!p.pg_tid || p.pg_tid === pgTid)
  );
}

/**
 * A deposit the PG reports into an account Pier records revoked (decision 0124): the PG closed it
 * and said so, and now says it took money into it. Two words of the PG's disagree, so the newer is
 * taken only as the PG's books hold it, asked now (unless the caller just did): a PG that holds the
 * deposit has the buyer's money, and the payment is recorded paid (the `paid` webhook; a note in
 * `fail_reason` saying the account had been revoked, for the merchant to refund it; the merchant_uid
 * taken back when free, or recorded beside its holder: decision 0073), never dropped. A PG whose
 * books do not hold it changes no state: its word is written on the payment for an operator.
 */
async function recordDepositIntoRevoked(deps: Deps, channel: ResolvedChannel, p: PaymentsTable, notice: DepositNotice, o: { confirmedByPg?: boolean }): Promise<DepositOutcome> {
  const now = unixSeconds(deps.clock);
  let held = o.confirmedByPg === true;
  let depositedAt = notice.depositedAt || now;
  if (!held) {
    let found;
    try {
      found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: notice.pgTid, aroundMs: Number(p.started_at) * 1000 });
    } catch (err) {
      // not acknowledged: the PG sends the notice again, and Pier asks again then
      return { ok: false, reason: 'pg_unavailable', message: (err as Error).message };
    }
    held = found.found && found.pgTid === notice.pgTid && found.state === 'paid' && found.amount === notice.amount;
    if (held && found.found && found.paidAt) depositedAt = found.paidAt;
  }
  const amount = Number(p.amount);
  if (!held || notice.amount !== amount) {
    const why = !held ? 'PG 조회로 확인되지 않아' : `결제금액(${amount}원)과 달라`;
    const note = `발급 취소된 가상계좌에 PG가 입금 ${notice.amount}원을 알려 왔으나 ${why} 결제로 기록하지 않았습니다 (tid ${notice.pgTid}): 운영자 확인이 필요합니다. (a deposit the PG reports into a revoked virtual account; ${!held ? 'the PG does not confirm it when asked' : 'of another amount'}; not recorded as paid)`;
    await deps.store.db.updateTable('payments').set({ fail_reason: note, updated_at: now }).where('imp_uid', '=', p.imp_uid).where('status', '=', 'cancelled').where('paid_at', '=', 0).execute();
    deps.logger.error({ imp_uid: p.imp_uid, pg_tid: notice.pgTid, pg_amount: notice.amount, amount, confirmed: held }, 'the PG reports a deposit into a revoked virtual account that Pier cannot record paid; written on the payment for an operator');
    return { ok: false, reason: held ? 'wrong_amount' : 'not_open', message: `payment ${p.imp_uid} is a revoked virtual account: ${note}`, noted: true };
  }
  const note = `발급 취소된 가상계좌에 입금되었습니다 (PG 확인, tid ${notice.pgTid}): 주문이 없으면 환불해 주세요. (a deposit into a revoked virtual account, confirmed by the PG; refund it if the order is gone)`;
  const changed = await recordPaid(deps, p, { depositedAt, now, from: 'cancelled', failReason: note });
  deps.logger.error({ imp_uid: p.imp_uid, pg_tid: notice.pgTid, deposited_at: depositedAt }, 'the PG reports a deposit into a virtual account it had closed at the merchant\'s revoke; recorded paid, for the merchant to keep or refund');
  return { ok: true, impUid: p.imp_uid, duplicate: !changed };
}

/**
 * Writes a deposit: the payment paid with its `paid` event, in one transaction, conditional on the
 * state it moves from (`ready`, or `cancelled` unpaid for a revoked account, whose close is undone).
 */
async function recordPaid(deps: Deps, p: PaymentsTable, w: { depositedAt: number; now: number; from: 'ready' | 'cancelled'; failReason: string | null }): Promise<boolean> {
  const { db } = deps.store;
  // The account holds its merchant_uid already, unless it was released past the deadline
  // (attempts.ts releaseOverdueVbankLock) or by a revoke before the PG showed this deposit: paid,
  // it takes it back (decision 0071). When another payment took it meanwhile, that holder is locked
  // while the deposit is recorded beside it: should it fail and free the merchant_uid, its release
  // finds this deposit paid and gives it the lock (decision 0073).
  const pay = () =>
    db.transaction().execute(async (trx) => {
      const holder = await lockedHolder(trx, deps.store, p.merchant_id, p.merchant_uid);
      const takeMerchantUid = holder === undefined || holder === p.imp_uid;
      const undoRevoke = w.from === 'cancelled' ? { cancel_amount: 0, cancel_reason: null, cancelled_at: 0 } : {};
      let q = trx
        .updateTable('payments')
        .set({ status: 'paid', paid_at: w.depositedAt, updated_at: w.now, deposit_check_at: null, fail_reason: w.failReason, ...undoRevoke, ...(takeMerchantUid ? { merchant_uid_lock: sql<string>`merchant_uid` } : {}) })
        .where('imp_uid', '=', p.imp_uid)
        .where('status', '=', w.from);
      if (w.from === 'cancelled') q = q.where('paid_at', '=', 0);
      const res = await q.executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      if (!takeMerchantUid) {
        // The money is at the PG and a deposit cannot be refunded without the buyer's bank account:
        // recorded, for the merchant to refund (a deposit is never dropped), and logged as the second
        // payment of one order it may become (if the holder is paid).
        deps.logger.error({ imp_uid: p.imp_uid, merchant_uid: p.merchant_uid, holder }, 'deposit into a virtual account whose merchant_uid another payment took (past its deadline, or after its revoke); recorded paid beside it, for the merchant to refund');
      }
      await recordPaymentEvent(trx, deps, {
        merchantId: p.merchant_id,
        impUid: p.imp_uid,
        merchantUid: p.merchant_uid,
        status: 'paid',
        noticeUrl: p.notice_url,
        cause: 'vbank_deposit',
      });
      return true;
    });
  for (let tries = 1; ; tries++) {
    try {
      return await pay();
    } catch (err) {
      // another attempt took the merchant_uid between the look and the write (PostgreSQL): look again
      if (!isUniqueViolation(err) || tries === 3) throw err;
    }
  }
}

export interface SandboxDepositInput {
  impUid: string;
  /** only this merchant's payments (the API and the console); the CLI may name any */
  merchantId?: string;
  /** KRW; default: the payment's amount */
  amount?: number;
  depositorName?: string | null;
}

export interface SandboxDepositResult {
  /** the simulator (the buyer's bank) took the deposit */
  ok: boolean;
  simulatorStatus: number;
  /** the simulator's answer: `{tid, status, amount, depositedAt, notice: {url, delivered, status…}}` or `{error}` */
  simulator: Record<string, unknown>;
  /** how to have the simulator send its notice again (the CLI's hint); null when it cannot say */
  renotify: string | null;
  /** Pier's record after the deposit (`paid` once the simulator's notice reached Pier) */
  payment: { imp_uid: string; merchant_uid: string; status: string; amount: number; paid_at: number; vbank_num: string | null };
}

/**
 * Sandbox only: the buyer's transfer into a virtual account, made at the simulator of the payment's
 * PG (its `deposit` tool, lib/simulator-tools.ts). The simulator checks the amount and the
 * deadline like a bank, then notifies Pier at the URL registered for the account (tPay's notice, NICE's webhook), which
 * records it through recordVbankDeposit or the PG notice path. Used by the console,
 * `POST /pier/sandbox/vbank-deposit` and `pier sandbox deposit`. Throws PierError not_found for an
 * unknown (or another merchant's) payment or one that is not a virtual account, and not_supported,
 * naming the PG, when its simulator is not in this Pier or takes no deposits.
 */
export async function sandboxVbankDeposit(deps: Deps, tools: readonly PgSimulatorTools[] | undefined, input: SandboxDepositInput): Promise<SandboxDepositResult> {
  if (deps.mode !== 'sandbox') throw new PierError('not_supported', 'sandbox deposits exist in sandbox mode only');
  let q = deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', input.impUid);
  if (input.merchantId) q = q.where('merchant_id', '=', input.merchantId);
  const pay = await q.executeTakeFirst();
  if (!pay || pay.pay_method !== 'vbank') throw new PierError('not_found', '가상계좌 결제를 찾을 수 없습니다. (no such virtual-account payment)');
  const sim = tools?.find((t) => t.provider === pay.pg_provider);
  const label = deps.connectors.label(pay.pg_provider);
  if (!sim) throw new PierError('not_supported', `${label}(${pay.pg_provider}) 시뮬레이터가 이 Pier에 없습니다. (no simulator of ${pay.pg_provider} in this Pier: its test calls go to no simulator)`);
  if (!sim.deposit) throw new PierError('not_supported', `${label}(${pay.pg_provider}) 시뮬레이터는 입금 도구를 제공하지 않습니다. (the ${pay.pg_provider} simulator takes no deposits)`);
  let answer: SimulatorAnswer;
  try {
    answer = await sim.deposit({ moid: pay.imp_uid, mid: pay.pg_id, tid: pay.pg_tid, amount: input.amount ?? Number(pay.amount), depositorName: input.depositorName || null });
  } catch (err) {
    throw new PierError('pg_unavailable', `${label} 시뮬레이터에 연결하지 못했습니다: ${sim.url} (${(err as Error).message})`);
  }
  const after = await deps.store.db
    .selectFrom('payments')
    .select(['imp_uid', 'merchant_uid', 'status', 'amount', 'paid_at', 'vbank_num'])
    .where('imp_uid', '=', pay.imp_uid)
    .executeTakeFirstOrThrow();
  return {
    ok: answer.status >= 200 && answer.status < 300,
    simulatorStatus: answer.status,
    simulator: answer.body,
    renotify: answer.status < 300 ? (sim.renotifyHint?.(answer.body) ?? null) : null,
    payment: { ...after, amount: Number(after.amount), paid_at: Number(after.paid_at), vbank_num: after.vbank_num ?? null },
  };
}
