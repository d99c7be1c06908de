import { sql } from 'kysely';
import { cancelPayment } from '../../core/payments/cancel.js';
import type { Deps } from '../../core/deps.js';
import { kstDate8, kstParts, unixSeconds } from '../../lib/clock.js';
import { dbNow } from '../../store/db-clock.js';
import { leaseSecondsCovering } from '../claim.js';
import type { JobQueue } from '../runner.js';

/** 23:30 KST, when PG test modes cancel the day's test payments. */
const AT_MINUTES = 23 * 60 + 30;
const KST_MS = 9 * 3600_000;
/** PG calls one cancel may wait on, one after another (a refund resent after NICE's U319: decision 0099) */
const PG_CALLS_PER_CANCEL = 2;
/** the least a hold on the day lasts, and the wait before a day with payments left is run again */
const HOLD_FLOOR_SECONDS = 120;
const RETRY_SECONDS = 300;

/**
 * Optional daily auto-cancel of sandbox payments (off by default; `pier sandbox auto-cancel on`),
 * like a PG's test mode: at 23:30 KST on Pier's clock, every sandbox payment paid that KST day is
 * cancelled through Pier (so Pier and the simulator agree). Virtual accounts are left alone (their
 * refunds need an account). No webhook is sent, as for an API cancel without enable_webhook.
 *
 * Once a day across all processes, and safe to run again (decision 0107): a process takes the day
 * with a conditional UPDATE of `sandbox_settings.auto_cancel_until`, a hold on the database's clock
 * that it renews after each payment, and writes `auto_cancel_last_day` only once its run ends with
 * every payment it found cancelled. A process that dies part-way leaves the day open: its hold runs
 * out and the next pass takes the day again, and finds only the payments still paid (a cancelled
 * one is not paid any more; one whose refund is in flight has no balance to reserve, so it is
 * never refunded twice). A run that could not cancel some (a PG error, a refund still in doubt)
 * leaves the day open for RETRY_SECONDS, then tries those again, until the KST day ends. Marking
 * the day done when the run started left every payment after a crash, and each one the PG failed,
 * paid for good.
 */
export function sandboxAutoCancelQueue(deps: Deps): JobQueue<string> {
  const holdSeconds = () => leaseSecondsCovering(deps.connectors.maxCallMs(), PG_CALLS_PER_CANCEL, HOLD_FLOOR_SECONDS);
  const holdFor = (seconds: number) =>
    deps.store.db.updateTable('sandbox_settings').set({ auto_cancel_until: sql`${dbNow(deps.store)} + ${seconds}` }).where('id', '=', 1).execute();
  return {
    name: 'sandbox-auto-cancel',
    batchSize: 1,
    concurrency: 1,
    async claim() {
      if (deps.mode !== 'sandbox') return [];
      const now = deps.clock.now();
      const p = kstParts(now);
      if (p.hour * 60 + p.minute < AT_MINUTES) return [];
      const day = kstDate8(now);
      const res = await deps.store.db
        .updateTable('sandbox_settings')
        .set({ auto_cancel_until: sql`${dbNow(deps.store)} + ${holdSeconds()}` })
        .where('id', '=', 1)
        .where('auto_cancel', '=', 1)
        .where((eb) => eb.or([eb('auto_cancel_last_day', 'is', null), eb('auto_cancel_last_day', '<>', day)]))
        .where('auto_cancel_until', '<=', dbNow(deps.store))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? [day] : [];
    },
    async run(day) {
      const y = Number(day.slice(0, 4));
      const mo = Number(day.slice(4, 6));
      const d = Number(day.slice(6, 8));
      const dayStart = Math.floor((Date.UTC(y, mo - 1, d) - KST_MS) / 1000);
      // every merchant's sandbox payments of the day still paid, by no index: once a day, off
      // SQLite's event loop. A run again after a crash finds only those it had not cancelled.
      const paid = await deps.store.readerDb
        .selectFrom('payments')
        .select(['imp_uid', 'merchant_id'])
        .where('sandbox', '=', 1)
        .where('status', '=', 'paid')
        .where('pay_method', '<>', 'vbank')
        .where('paid_at', '>=', dayStart)
        .where('paid_at', '<=', unixSeconds(deps.clock))
        .execute();
      let cancelled = 0;
      for (const p of paid) {
        try {
          await cancelPayment(deps, { merchantId: p.merchant_id, impUid: p.imp_uid, reason: '샌드박스 테스트 결제 자동취소 (23:30 KST)' });
          cancelled++;
        } catch (err) {
          deps.logger.warn({ imp_uid: p.imp_uid, err: (err as Error).message }, 'sandbox auto-cancel: could not cancel');
        }
        // the day stays this process's while it works through it
        await holdFor(holdSeconds());
      }
      const left = paid.length - cancelled;
      if (left === 0) {
        await deps.store.db.updateTable('sandbox_settings').set({ auto_cancel_last_day: day, auto_cancel_until: 0 }).where('id', '=', 1).execute();
        deps.logger.info({ day, cancelled, found: paid.length }, 'sandbox auto-cancel done');
      } else {
        // the day stays open: a PG down now may answer later, a refund in doubt is settled meanwhile
        await holdFor(RETRY_SECONDS);
        deps.logger.warn({ day, cancelled, found: paid.length, left, retry_in_s: RETRY_SECONDS }, 'sandbox auto-cancel left payments paid; the day is run again');
      }
    },
  };
}

/** Turns the daily auto-cancel on or off (all processes, from the next pass). */
export async function setSandboxAutoCancel(deps: Pick<Deps, 'store'>, on: boolean): Promise<void> {
  await deps.store.db.updateTable('sandbox_settings').set({ auto_cancel: on ? 1 : 0, updated_at: Math.floor(Date.now() / 1000) }).where('id', '=', 1).execute();
}

export async function sandboxAutoCancelStatus(deps: Pick<Deps, 'store'>) {
  const row = await deps.store.db.selectFrom('sandbox_settings').select(['auto_cancel', 'auto_cancel_last_day']).where('id', '=', 1).executeTakeFirst();
  return { on: row?.auto_cancel === 1, lastDay: row?.auto_cancel_last_day ?? null };
}
