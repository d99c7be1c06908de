/**
 * Notices a PG sends about window payments after the fact, server to server, to the URL registered
 * for the account in the PG's admin (`POST /checkout/pg/:channelId/notify`; never a URL the window
 * carries, which the browser could rewrite: decision 0086):
 *  - a virtual-account deposit the PG signs in full (tPay's notify): verified by the connector, then
 *    recorded (deposit.ts), asking the PG nothing;
 *  - "this payment changed" (NICE webhooks, whose signature covers only tid, amount and ediDate):
 *    Pier never trusts the body; it re-reads the payment from the PG by tid and applies that (a
 *    deposit, an approval Pier missed, a cancel made at the PG). What that may cost the PG is bounded
 *    (decision 0082): a payment Pier records as the notice claims is not asked about, a message is
 *    asked about once (notice-inquiries.ts), and each channel's notices within a token bucket.
 * Repeats are harmless: every write is conditional on the state it moves from.
 */
import { ConnectorError, type DepositNotice, type PaymentChangedNotice, type PgNotice } from '../../connectors/types.js';
import type { PaymentsTable } from '../../store/types.js';
import { channelById, type ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { settleAttempt } from '../payments/reconcile.js';
import { settleWindowAttempt } from '../checkout/window-settlement.js';
import { windowNowMs } from '../checkout/window-confirms.js';
import { mirrorPgRefund } from '../payments/cancel.js';
import { recordVbankDeposit, type DepositOutcome } from './deposit.js';
import { noticeInquiriesOf } from './notice-inquiries.js';

/**
 * Verifies and applies one notice the PG sent for a window channel. `noticeAnswer`: the body the PG
 * expects back (NICE: `OK`), when its connector names one.
 */
export async function recordPgNotice(deps: Deps, channelId: string, body: Record<string, unknown>): Promise<DepositOutcome & { noticeAnswer?: { contentType: string; body: string } }> {
  const channel = await channelById(deps, channelId);
  const window = channel?.connector.window;
  if (!channel || !window) return { ok: false, reason: 'unverified', message: 'unknown channel' };
  const noticeAnswer = window.noticeAnswer;
  let notice: PgNotice;
  try {
    notice = window.readNotice(channel.credentials, body);
  } catch (err) {
    if (err instanceof ConnectorError) return { ok: false, reason: 'unverified', message: err.message, noticeAnswer };
    throw err;
  }
  const on = await channelOfNoticedPayment(deps, channel, notice.kind === 'deposit' ? notice.deposit.moid : notice.moid, body);
  if (!on.ok) return { ...on, noticeAnswer };
  const outcome =
    notice.kind === 'payment_changed'
      ? await askAndApply(deps, on.channel, on.payment, notice)
      : closedForFailedAttempt(on.payment, notice.deposit.pgTid)
        ? await askAboutClosedAccount(deps, on.channel, notice.deposit)
        : await recordVbankDeposit(deps, on.channel, notice.deposit);
  return { ...outcome, noticeAnswer };
}

/**
 * An attempt Pier failed whose account the PG had issued with this tid and Pier closed at the PG
 * (issued outside what the checkout asked for, F1011 / F1012, or after the attempt was closed:
 * window-settlement.ts closeVbankOfFailedAttempt). A deposit the PG reports into it is one its
 * close did not stop (decision 0124).
 */
function closedForFailedAttempt(p: PaymentsTable, pgTid: string): boolean {
  return p.status === 'failed' && p.pg_state === 'done' && p.pg_tid === pgTid;
}

/**
 * A deposit notice (signed in full) for an account closed with its failed attempt: Pier holds the
 * PG's word that the account is closed, so it asks the PG, as it does about NICE's notices, and
 * records what the PG holds the way any late result of a closed attempt is (applyPgPaymentState:
 * settleWindowAttempt, a paid account recorded paid or refunded, never dropped). At most one
 * inquiry per notice and tid while it is remembered, within the channel's bucket (decision 0082):
 * a signed body can be posted again by anyone who has it.
 */
function askAboutClosedAccount(deps: Deps, channel: ResolvedChannel, d: DepositNotice): Promise<DepositOutcome> {
  const messageKey = ['deposit', d.pgTid, d.moid, d.amount, d.depositedAt].join('\u0000');
  return noticeInquiriesOf(deps).ask(channel.row.id, messageKey, () => applyPgPaymentState(deps, channel, d.moid, d.pgTid));
}

/**
 * The payment a notice names, on the channel it came to or on another channel of the same PG
 * account (provider and MID or key). A PG calls one URL per account, registered in its admin (NICE's
 * webhook per key, spec §6.2; tPay's deposit notice per MID, decision 0086): channels sharing an
 * account (a window and an API channel, sub-merchants of one contract, other merchants on a test
 * MID) get every notice of that account at the URL registered for one of them. The notice must
 * verify with the other channel's own key too, so a channel that merely names another's account id
 * with a key of its own reaches nothing of it.
 */
async function channelOfNoticedPayment(
  deps: Deps,
  channel: ResolvedChannel,
  moid: string,
  body: Record<string, unknown>,
): Promise<{ ok: true; channel: ResolvedChannel; payment: PaymentsTable } | { ok: false; reason: 'unknown_payment' | 'unverified'; message: string }> {
  const { db } = deps.store;
  const here = await db.selectFrom('payments').selectAll().where('imp_uid', '=', moid).where('channel_id', '=', channel.row.id).executeTakeFirst();
  if (here) return { ok: true, channel, payment: here };
  const elsewhere = await db
    .selectFrom('payments')
    .innerJoin('pg_channels', 'pg_channels.id', 'payments.channel_id')
    .selectAll('payments')
    .where('payments.imp_uid', '=', moid)
    .where('pg_channels.provider', '=', channel.row.provider)
    .where('pg_channels.mid', '=', channel.row.mid)
    .executeTakeFirst();
  const sibling = elsewhere?.channel_id ? await channelById(deps, elsewhere.channel_id) : undefined;
  if (!elsewhere || !sibling?.connector.window) return { ok: false, reason: 'unknown_payment', message: `no payment ${moid} on this PG account` };
  try {
    sibling.connector.window.readNotice(sibling.credentials, body);
  } catch (err) {
    if (err instanceof ConnectorError) return { ok: false, reason: 'unverified', message: `the notice does not verify with the key of payment ${moid}'s channel` };
    throw err;
  }
  return { ok: true, channel: sibling, payment: elsewhere };
}

/**
 * Asks the PG about the notice's payment, unless Pier already records it as the notice claims,
 * at most once per message and within the channel's bucket (notice-inquiries.ts).
 */
async function askAndApply(deps: Deps, channel: ResolvedChannel, p: PaymentsTable, notice: PaymentChangedNotice): Promise<DepositOutcome> {
  if (recordedAsClaimed(p, notice)) return { ok: true, impUid: p.imp_uid, duplicate: true };
  const inquiries = noticeInquiriesOf(deps);
  // made before an answer about the payment Pier applied: that answer held its event (decision 0087)
  if (notice.sentAt !== undefined && inquiries.readAfter(channel.row.id, notice.pgTid, notice.sentAt)) return { ok: true, impUid: p.imp_uid, duplicate: true };
  const messageKey = notice.messageId === undefined ? null : [notice.pgTid, notice.messageId, notice.moid].join('\u0000');
  return inquiries.ask(channel.row.id, messageKey, () => applyPgPaymentState(deps, channel, notice.moid, notice.pgTid), { open: heldOpen(p) });
}

/**
 * A payment whose notices may carry what Pier still waits for: an attempt not settled, a virtual
 * account awaiting its deposit, a refund whose outcome is not recorded. Its notices are asked about
 * from a bucket of their own (decision 0087), so replays about settled payments cannot use it up.
 */
function heldOpen(p: PaymentsTable): boolean {
  return p.pg_state !== 'done' || (p.status === 'ready' && p.pay_method === 'vbank') || Number(p.cancel_pending_amount) > 0;
}

/**
 * Pier records the payment settled, with the notice's tid and amount, in the state the notice
 * claims: asking the PG could change nothing the notice announces. The claim is unsigned (NICE's
 * `status`): rewritten, it can only make Pier ask (bounded) or, matching Pier, leave unasked a
 * notice that announces nothing; the PG's own delivery of a real change carries its real status.
 */
function recordedAsClaimed(p: PaymentsTable, notice: PaymentChangedNotice): boolean {
  const c = notice.claimed;
  if (!c || p.pg_state !== 'done' || p.pg_tid !== notice.pgTid || Number(p.amount) !== c.amount || Number(p.cancel_pending_amount) !== 0) return false;
  const cancelled = Number(p.cancel_amount);
  switch (c.state) {
    case 'paid':
      return p.status === 'paid' && cancelled === c.cancelledAmount;
    case 'awaiting_deposit':
      return p.status === 'ready' && p.pay_method === 'vbank' && cancelled === 0;
    case 'cancelled':
      return p.status === 'cancelled' && cancelled === c.amount;
  }
}

/**
 * The PG says a payment changed: read it back from the PG (by tid and order id) and bring Pier's
 * record to what the PG holds. A PG that cannot be reached is `pg_unavailable`, so the notice is
 * not acknowledged and the PG sends it again.
 */
async function applyPgPaymentState(deps: Deps, channel: ResolvedChannel, moid: string, pgTid: string): Promise<DepositOutcome> {
  // read again: the row may have moved while the notice waited for its turn
  const p = await deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', moid).where('channel_id', '=', channel.row.id).executeTakeFirst();
  if (!p) return { ok: false, reason: 'unknown_payment', message: `no payment ${moid} on this channel` };
  let found;
  // the window's clock: the real time for a live channel (decision 0121, amended)
  const askedAtMs = windowNowMs(deps, channel);
  try {
    found = await channel.connector.inquire(channel.credentials, { moid, pgTid, aroundMs: Number(p.started_at) * 1000 });
  } catch (err) {
    return { ok: false, reason: 'pg_unavailable', message: (err as Error).message };
  }
  if (!found.found || found.pgTid !== pgTid) return { ok: false, reason: 'unknown_payment', message: `the PG does not hold ${pgTid} for ${moid}` };
  if (found.amount !== Number(p.amount)) {
    deps.logger.error({ imp_uid: moid, pg_amount: found.amount, amount: Number(p.amount) }, 'PG notice: the PG holds another amount than Pier; left for an operator');
    return { ok: false, reason: 'wrong_amount', message: `the PG amount ${found.amount} is not ${Number(p.amount)}` };
  }
  /** Pier did with the PG's answer what a notice can make it do: a notice the PG made well before that answer, asked about again, would read the same or newer (decision 0087). */
  const applied = (outcome: DepositOutcome): DepositOutcome => {
    if (outcome.ok && found.answeredAt !== undefined) noticeInquiriesOf(deps).noteRead(channel.row.id, pgTid, found.answeredAt);
    return outcome;
  };
  // an attempt Pier has not settled yet (the buyer's result never came, or is being approved): settle it with the PG's answer
  if (p.pg_state === 'calling' || p.pg_state === 'in_doubt') {
    const settled = await settleAttempt(deps, moid, { giveUpIfUnknown: false });
    // 'unknown': settleAttempt's own reading was not applied
    return settled === 'unknown' ? { ok: true, impUid: moid, duplicate: true } : applied({ ok: true, impUid: moid, duplicate: false });
  }
  if (p.pg_state === 'window' || (p.status === 'failed' && found.state === 'paid')) {
    // a closed attempt the PG approved after all: recorded or refunded like any late approval
    const settled = await settleWindowAttempt(deps, p, { giveUpIfUnknown: false }, { channel, found, askedAtMs });
    return settled === 'unknown' ? { ok: true, impUid: moid, duplicate: true } : applied({ ok: true, impUid: moid, duplicate: false });
  }
  if (found.state === 'paid' && p.status === 'ready' && p.pay_method === 'vbank') {
    return applied(await recordVbankDeposit(deps, channel, { moid, pgTid, amount: found.amount, depositedAt: found.paidAt, depositorName: null }));
  }
  if (found.state === 'paid' && found.cancelledAmount === 0 && p.status === 'cancelled' && p.pay_method === 'vbank') {
    // an account the merchant revoked, which NICE now reports paid into: recorded paid if it was
    // revoked unpaid, never dropped (decision 0124); NICE's answer just read is the confirmation
    return applied(await recordVbankDeposit(deps, channel, { moid, pgTid, amount: found.amount, depositedAt: found.paidAt, depositorName: null }, { confirmedByPg: true }));
  }
  if (found.cancelledAmount > 0 && p.status === 'paid') {
    const mirrored = await mirrorPgRefund(deps, moid, found.cancelledAmount, 'PG사에서 취소된 거래 (cancelled at the PG)');
    return applied({ ok: true, impUid: moid, duplicate: !mirrored });
  }
  return applied({ ok: true, impUid: moid, duplicate: true });
}

