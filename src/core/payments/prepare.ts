import { PierError } from '../errors.js';
import { unixSeconds } from '../../lib/clock.js';
import { isUniqueViolation } from '../../store/db.js';
import type { Deps } from '../deps.js';

export const PREPARE_NOT_FOUND = '사전등록된 결제정보가 존재하지 않습니다.';

const view = (r: { merchant_uid: string; amount: number; currency: string | null }) => ({
  merchant_uid: r.merchant_uid,
  amount: r.amount,
  currency: r.currency,
});

/**
 * POST /payments/prepare registers the amount a merchant_uid must be paid with; a second POST for
 * the same merchant_uid is refused (use PUT to change it): Pier's choice where V1 is silent.
 */
export async function registerPrepare(deps: Deps, merchantId: string, merchantUid: string, amount: number, currency: string | null) {
  const now = unixSeconds(deps.clock);
  try {
    await deps.store.db
      .insertInto('payment_prepares')
      .values({ merchant_id: merchantId, merchant_uid: merchantUid, amount, currency, created_at: now, updated_at: now })
      .execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new PierError('refused', '이미 사전등록된 merchant_uid입니다. 금액을 바꾸려면 PUT /payments/prepare를 사용하세요.');
    throw err;
  }
  return view({ merchant_uid: merchantUid, amount, currency });
}

export async function updatePrepare(deps: Deps, merchantId: string, merchantUid: string, amount: number, currency: string | null) {
  const res = await deps.store.db
    .updateTable('payment_prepares')
    .set({ amount, currency, updated_at: unixSeconds(deps.clock) })
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) throw new PierError('not_found', PREPARE_NOT_FOUND);
  return view({ merchant_uid: merchantUid, amount, currency });
}

/**
 * The amount registered for a merchant_uid, or null when none is. The window compares it with the
 * checkout's amount when the session is made, again when the PG window opens, and with what the PG
 * confirms before recording it (decision 0043): a session lives 30 minutes, and a merchant may
 * re-register a cart's amount with PUT meanwhile.
 */
export async function preparedAmount(deps: Deps, merchantId: string, merchantUid: string): Promise<number | null> {
  const row = await deps.store.db
    .selectFrom('payment_prepares')
    .select('amount')
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .executeTakeFirst();
  return row ? Number(row.amount) : null;
}

export async function getPrepare(deps: Deps, merchantId: string, merchantUid: string) {
  const row = await deps.store.db
    .selectFrom('payment_prepares')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .executeTakeFirst();
  if (!row) throw new PierError('not_found', PREPARE_NOT_FOUND);
  return view(row);
}
