import { sql } from 'kysely';
import { unixSeconds } from '../lib/clock.js';
import { statusAfterRefund } from '../domain/payment.js';
import { channelById } from './channels.js';
import type { Deps } from './deps.js';
import { recordApproval, recordFailure } from './charge.js';
import { recordRefund, releaseCancel } from './cancel.js';
import { isWindowAttempt, settleWindowAttempt } from './checkout/window-settlement.js';

export type Settlement = 'paid' | 'failed' | 'cancelled' | 'unknown';

/**
 * Settles one attempt whose PG outcome Pier does not know (a timeout, or a process that died
 * between the call and the record) by asking the PG (tPay `trans_search`).
 * `giveUpIfUnknown`: when the PG has no record of it, fail the attempt and free its merchant_uid.
 * Only do that once the PG can no longer be acting on the request (the job waits for that).
 * Safe to run from several processes: every write is conditional on the attempt still being open.
 */
export async function settleAttempt(deps: Deps, impUid: string, opts: { giveUpIfUnknown: boolean }): Promise<Settlement> {
  const { db } = deps.store;
  const p = await db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p || !['calling', 'in_doubt'].includes(p.pg_state) || !p.channel_id) return 'unknown';
  // window attempts: card rules, late approvals and the PG acknowledgement (issue #9)
  if (isWindowAttempt(p)) return settleWindowAttempt(deps, p, opts);
  const channel = await channelById(deps, p.channel_id);
  if (!channel) return 'unknown';
  const found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 });
  if (!found.found || found.state === 'failed') {
    if (!found.found && !opts.giveUpIfUnknown) return 'unknown';
    await recordFailure(deps, impUid, found.found ? '[PG_FAILED] PG사에서 승인되지 않은 거래입니다.' : '[PG_NO_RECORD] PG사에 거래 기록이 없습니다. (no record at the PG after a timeout)');
    deps.logger.info({ imp_uid: impUid }, 'in-doubt attempt settled as failed');
    return 'failed';
  }
  const settledHere = await recordApproval(deps, impUid, {
    pgTid: found.pgTid,
    applyNum: found.applyNum,
    cardCode: found.cardCode,
    cardName: found.cardName,
    cardNumberMasked: found.cardNumberMasked,
    cardType: found.cardType,
    cardQuota: found.cardQuota,
    paidAt: found.paidAt,
    receiptUrl: found.receiptUrl,
  });
  // Another process settled it first: its record (and any refund made since) stands.
  if (!settledHere) return found.state === 'cancelled' ? 'cancelled' : 'paid';
  deps.logger.info({ imp_uid: impUid }, 'in-doubt attempt settled as paid');
  if (found.cancelledAmount > 0) {
    // Refunded at the PG while Pier was in doubt (e.g. a net-cancel): mirror it. Added, not set, in
    // SQL: refunds made through Pier since the approval above are on top of it at the PG as well.
    const now = unixSeconds(deps.clock);
    await db
      .updateTable('payments')
      .set({
        cancel_amount: sql`cancel_amount + ${found.cancelledAmount}`,
        status: sql`CASE WHEN cancel_amount + ${found.cancelledAmount} >= amount THEN 'cancelled' ELSE status END`,
        cancelled_at: now,
        updated_at: now,
      })
      .where('imp_uid', '=', impUid)
      .execute();
    return statusAfterRefund(found.amount, found.cancelledAmount) === 'cancelled' ? 'cancelled' : 'paid';
  }
  return 'paid';
}

/**
 * The reconciliation step: settles every attempt that has been in doubt (or stuck `calling`,
 * i.e. its process died) for longer than `graceSeconds`, which must exceed the PG read timeout
 * so that no request can still be in flight.
 */
export async function reconcileInDoubt(deps: Deps, opts: { graceSeconds: number; limit?: number }) {
  const cutoff = unixSeconds(deps.clock) - opts.graceSeconds;
  const stuck = await deps.store.db
    .selectFrom('payments')
    .select('imp_uid')
    .where('pg_state', 'in', ['calling', 'in_doubt'])
    .where('updated_at', '<=', cutoff)
    .orderBy('updated_at')
    .limit(opts.limit ?? 100)
    .execute();
  const outcome: Record<string, Settlement> = {};
  for (const { imp_uid } of stuck) {
    try {
      outcome[imp_uid] = await settleAttempt(deps, imp_uid, { giveUpIfUnknown: true });
    } catch (err) {
      deps.logger.warn({ imp_uid, err: (err as Error).message }, 'reconciliation: PG inquiry failed; will retry');
      outcome[imp_uid] = 'unknown';
    }
  }
  return outcome;
}

/**
 * Settles refunds left in doubt by a PG timeout. The PG reports only its total refunded amount, so
 * whatever it refunded beyond Pier's recorded refunds is assigned to the in-doubt refunds in the
 * order they were made; the rest are released. Payments with a refund still being sent are left
 * for the next round, so that an in-flight refund is never mistaken for an in-doubt one.
 */
export async function reconcileInDoubtCancels(deps: Deps, opts: { graceSeconds: number; limit?: number }) {
  const { db } = deps.store;
  const cutoff = unixSeconds(deps.clock) - opts.graceSeconds;
  const stuck = await db
    .selectFrom('payment_cancels')
    .select('imp_uid')
    .distinct()
    .where('state', '=', 'in_doubt')
    .where('requested_at', '<=', cutoff)
    .limit(opts.limit ?? 100)
    .execute();
  const outcome: Record<string, 'succeeded' | 'failed'> = {};
  for (const { imp_uid } of stuck) {
    const cancels = await db.selectFrom('payment_cancels').selectAll().where('imp_uid', '=', imp_uid).orderBy('id').execute();
    if (cancels.some((c) => c.state === 'pending')) continue;
    const p = await db.selectFrom('payments').selectAll().where('imp_uid', '=', imp_uid).executeTakeFirstOrThrow();
    const channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
    if (!channel) continue;
    let found;
    try {
      found = await channel.connector.inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: p.started_at * 1000 });
    } catch (err) {
      deps.logger.warn({ imp_uid, err: (err as Error).message }, 'reconciliation: refund inquiry failed; will retry');
      continue;
    }
    let refundedBeyondPier = found.found ? found.cancelledAmount - p.cancel_amount : 0;
    for (const c of cancels.filter((x) => x.state === 'in_doubt')) {
      if (refundedBeyondPier >= c.amount) {
        await recordRefund(deps, imp_uid, c.cancellation_id, c.amount, null, 0, c.reason);
        refundedBeyondPier -= c.amount;
        outcome[c.cancellation_id] = 'succeeded';
      } else {
        await releaseCancel(deps, imp_uid, c.cancellation_id, c.amount, '[PG_NO_RECORD] PG사에 취소 기록이 없습니다. (no refund at the PG after a timeout)');
        outcome[c.cancellation_id] = 'failed';
      }
    }
  }
  return outcome;
}
