import type { Kysely } from 'kysely';
import type { CancelRow, PaymentRow } from '../../domain/payment.js';
import { toV1Payment } from '../../domain/payment.js';
import type { Database } from '../../store/types.js';

/** Loads payments with their refunds and renders them as V1 objects, in the given order. */
export async function loadV1Payments(db: Kysely<Database>, rows: PaymentRow[]) {
  if (rows.length === 0) return [];
  const cancels = (await db
    .selectFrom('payment_cancels')
    .selectAll()
    .where(
      'imp_uid',
      'in',
      rows.map((r) => r.imp_uid),
    )
    .orderBy('id')
    .execute()) as CancelRow[];
  return rows.map((r) =>
    toV1Payment(
      r,
      cancels.filter((c) => c.imp_uid === r.imp_uid),
    ),
  );
}

export async function loadV1Payment(db: Kysely<Database>, impUid: string) {
  const row = await db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirst();
  if (!row) return undefined;
  return (await loadV1Payments(db, [row]))[0];
}
