import { cancelPayment } from '../../core/payments/cancel.js';
import type { Deps } from '../../core/deps.js';
import { kstDate8, kstParts, unixSeconds } from '../../lib/clock.js';
import type { JobQueue } from '../runner.js';

/** 23:30 KST, when PG test modes cancel the day's test payments. */
const AT_MINUTES = 23 * 60 + 30;
const KST_MS = 9 * 3600_000;

/**
 * Optional daily auto-cancel of sandbox payments (off by default; `pier sandbox auto-cancel on`),
 * like a PG's test mode: at 23:30 KST on Pier's clock, every sandbox payment paid that KST day is
 * cancelled through Pier (so Pier and the simulator agree). Virtual accounts are left alone (their
 * refunds need an account). Once a day across all processes: the day is claimed with a
 * conditional UPDATE of `sandbox_settings.auto_cancel_last_day`. No webhook is sent, as for an API
 * cancel without enable_webhook.
 */
export function sandboxAutoCancelQueue(deps: Deps): JobQueue<string> {
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
        .set({ auto_cancel_last_day: day })
        .where('id', '=', 1)
        .where('auto_cancel', '=', 1)
        .where((eb) => eb.or([eb('auto_cancel_last_day', 'is', null), eb('auto_cancel_last_day', '<>', day)]))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? [day] : [];
    },
    async run(day) {
      const y = Number(day.slice(0, 4));
      const mo = Number(day.slice(4, 6));
      const d = Number(day.slice(6, 8));
      const dayStart = Math.floor((Date.UTC(y, mo - 1, d) - KST_MS) / 1000);
      // every merchant's sandbox payments of the day, by no index: once a day, off SQLite's event loop
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
      }
      deps.logger.info({ day, cancelled, found: paid.length }, 'sandbox auto-cancel done');
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
