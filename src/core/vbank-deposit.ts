/**
 * Deposits into virtual accounts issued through the payment window: the PG notifies Pier server to
 * server (tPay's notify to the window's notifyUrl); the connector verifies the notice, and Pier marks
 * the payment paid and records the `paid` event (spec/api-v1.md §13: "deposit → paid").
 */
import { ConnectorError, type DepositNotice } from '../connectors/types.js';
import { unixSeconds } from '../lib/clock.js';
import { channelById } from './channels.js';
import type { Deps } from './deps.js';
import { recordPaymentEvent } from './events.js';

export type DepositOutcome =
  | { ok: true; impUid: string; duplicate: boolean }
  | { ok: false; reason: 'unverified' | 'unknown_payment' | 'wrong_amount' | 'past_due' | 'not_open'; message: string };

/** Verifies and records one deposit notice posted for a window channel. */
export async function recordVbankDeposit(deps: Deps, channelId: string, posted: Record<string, string>): Promise<DepositOutcome> {
  const channel = await channelById(deps, channelId);
  if (!channel?.connector.window) return { ok: false, reason: 'unverified', message: 'unknown channel' };
  let notice: DepositNotice;
  try {
    notice = channel.connector.window.readDepositNotice(channel.credentials, posted);
  } catch (err) {
    if (err instanceof ConnectorError) return { ok: false, reason: 'unverified', message: err.message };
    throw err;
  }
  const { db } = deps.store;
  const p = await db.selectFrom('payments').selectAll().where('imp_uid', '=', notice.moid).where('channel_id', '=', channel.row.id).executeTakeFirst();
  if (!p || p.pay_method !== 'vbank') return { ok: false, reason: 'unknown_payment', message: `no virtual account for ${notice.moid}` };
  if (p.status === 'paid' && p.pg_tid === notice.pgTid) return { ok: true, impUid: p.imp_uid, duplicate: true };
  if (p.status !== 'ready' || p.pg_state !== 'done' || !p.vbank_num) return { ok: false, reason: 'not_open', message: `payment ${p.imp_uid} is ${p.status}` };
  if (notice.amount !== Number(p.amount)) {
    return { ok: false, reason: 'wrong_amount', message: `입금액(${notice.amount})이 결제금액(${Number(p.amount)})과 다릅니다.` };
  }
  const depositedAt = notice.depositedAt || unixSeconds(deps.clock);
  if (p.vbank_date && depositedAt > Number(p.vbank_date)) {
    return { ok: false, reason: 'past_due', message: '입금기한이 지난 가상계좌입니다. (past the deposit deadline)' };
  }
  const now = unixSeconds(deps.clock);
  const changed = await db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('payments')
      .set({ status: 'paid', paid_at: depositedAt, updated_at: now })
      .where('imp_uid', '=', p.imp_uid)
      .where('status', '=', 'ready')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await recordPaymentEvent(trx, deps.clock, {
      merchantId: p.merchant_id,
      impUid: p.imp_uid,
      merchantUid: p.merchant_uid,
      status: 'paid',
      noticeUrl: p.notice_url,
      cause: 'vbank_deposit',
    });
    return true;
  });
  return { ok: true, impUid: p.imp_uid, duplicate: !changed };
}
