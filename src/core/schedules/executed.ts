/**
 * A scheduled payment's schedule becomes `executed` in the commit that approves its payment
 * (payments/record-outcome.ts approveAttempt), so a paid schedule costs no commit of its own after
 * the approval, and a schedule whose charge was in doubt is executed by the reconciliation that
 * approves it, not only by the worker that looks again later.
 *
 * It applies only to the schedule that still runs this very attempt: `running` with the approved
 * payment's imp_uid (the worker stamps it in the attempt's own commit, run.ts). A schedule revoked,
 * retried or concluded meanwhile has another state or imp_uid and is left alone. The lease owner is
 * not checked: an approved attempt of a schedule is that schedule's outcome, whoever holds its lease.
 *
 * This module imports nothing of payments/ (which imports it), so there is no cycle.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { fromTemplate } from '../../store/statement-template.js';
import type { Database } from '../../store/types.js';

/**
 * SQLite (inside the approval's synchronous transaction), for an approved payment whose
 * customer_uid_usage is `payment.scheduled`: a statement template.
 */
export function executeScheduleOf(db: Kysely<Database>, paid: { merchant_id: string; merchant_uid: string; imp_uid: string }, now: number) {
  return fromTemplate(db, 'schedule-executed', { merchantId: paid.merchant_id, merchantUid: paid.merchant_uid, impUid: paid.imp_uid, now }, (p) =>
    db
      .updateTable('payment_schedules')
      // as the worker's own conclusion writes them (run.ts)
      .set({ state: 'executed', executed_at: p.now, fail_reason: null, lease_owner: null, lease_until: 0, updated_at: p.now })
      .where('merchant_id', '=', p.merchantId)
      .where('merchant_uid', '=', p.merchantUid)
      .where('imp_uid', '=', p.impUid)
      .where('state', '=', 'running'),
  );
}

/**
 * PostgreSQL: the same as a common table expression (`sched`) of the approval's statement, over
 * the payment row its earlier CTE `changed` returns. For a payment that is not a scheduled one the
 * subqueries are NULL and the update finds nothing (a probe of the (merchant_id, merchant_uid)
 * unique index with no key). `now` is a placeholder or value.
 */
export function executeScheduleCte(now: unknown): RawBuilder<unknown> {
  const scheduled = (column: string) => sql`(SELECT ${sql.ref(column)} FROM changed WHERE customer_uid_usage = 'payment.scheduled')`;
  return sql`sched AS (
    UPDATE payment_schedules SET state = 'executed', executed_at = ${now}, fail_reason = NULL, lease_owner = NULL, lease_until = 0, updated_at = ${now}
    WHERE merchant_id = ${scheduled('merchant_id')} AND merchant_uid = ${scheduled('merchant_uid')} AND imp_uid = ${scheduled('imp_uid')} AND state = 'running'
  )`;
}
