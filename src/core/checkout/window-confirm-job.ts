/**
 * One run of a window acknowledgement job (jobs/handlers/window-confirms.ts): a row whose approval
 * Pier has not recorded (the process died between writing the row and the record, a late approval
 * not adopted yet, or a recheck of an attempt closed while its PG window was open) is settled by
 * asking the PG first (window-settlement.ts); a recorded approval is then acknowledged
 * (window-confirms.ts).
 */
import { channelById, PG_LEFT_OUT_WAIT_SECONDS, PgNotConfiguredError } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import type { WindowConfirmsTable } from '../../store/types.js';
import { acknowledgeApproval, DEFAULT_CONFIRM_RETRY, leasedConfirm, RECHECK_TID, recordsApproval, type ConfirmRetryPolicy } from './window-confirms.js';
import { settleWindowAttempt } from './window-settlement.js';

/** Runs one leased row: settle the attempt if still open, then send resultConfirm, or settle by inquiry. */
export async function runWindowConfirm(deps: Deps, job: WindowConfirmsTable, owner: string, policy: ConfirmRetryPolicy = DEFAULT_CONFIRM_RETRY): Promise<void> {
  const { db } = deps.store;
  const lease = leasedConfirm(deps, job, owner, policy);
  let channel;
  try {
    channel = await channelById(deps, job.channel_id);
  } catch (err) {
    // a channel of a PG this process leaves out (decision 0079): the approval may be paid money, so
    // the row waits, no try counted, never given up, until a process with the PG's settings runs it (decision 0080)
    if (err instanceof PgNotConfiguredError) return void (await lease.wait(err, PG_LEFT_OUT_WAIT_SECONDS));
    throw err;
  }
  const payment = await db.selectFrom('payments').selectAll().where('imp_uid', '=', job.imp_uid).executeTakeFirst();
  if (!channel?.connector.window || !payment) return void (await lease.finish('failed', 'the payment or its channel no longer exists'));

  if (job.pg_tid === RECHECK_TID) {
    let settled;
    try {
      // A failed attempt's tid is its decline's. The PG window can be submitted again after it (the
      // browser's Back resubmits Pier's form), and that approval has a tid of its own: ask by the
      // order id alone, which finds any approval of this attempt.
      settled = await settleWindowAttempt(deps, payment.status === 'failed' ? { ...payment, pg_tid: null } : payment, { giveUpIfUnknown: false });
    } catch (err) {
      return void (await lease.retry(`inquiry failed: ${(err as Error).message}`));
    }
    return void (await lease.finish('done', settled === 'paid' || settled === 'cancelled' ? 'late approval found and recorded' : null));
  }

  // Acknowledge only what Pier has recorded. A row written before its record that never happened
  // (the process died), or for a late approval not yet adopted: record what the PG says first.
  let current = payment;
  if (!recordsApproval(current, job.pg_tid)) {
    let settled;
    try {
      settled = await settleWindowAttempt(deps, current, { giveUpIfUnknown: false });
    } catch (err) {
      return void (await lease.retry(`inquiry failed: ${(err as Error).message}`));
    }
    current = await db.selectFrom('payments').selectAll().where('imp_uid', '=', job.imp_uid).executeTakeFirstOrThrow();
    if (!recordsApproval(current, job.pg_tid)) {
      if (settled === 'failed') return void (await lease.finish('failed', 'the PG holds no approval for this attempt'));
      return void (await lease.retry('the attempt is not settled yet'));
    }
  }
  await acknowledgeApproval(deps, lease, channel, current);
}
