/**
 * A merchant_uid that a payment has paid stays held, whoever released it (decision 0073).
 *
 * Two payments can record `paid` without the merchant_uid lock while another attempt holds it: a
 * deposit made in time that the PG showed only after its account gave the order up
 * (virtual-accounts/deposit.ts, decision 0071), and a late window approval, refunded at once
 * (checkout/window-settlement.ts adoptLateApproval, decision 0058), whose refund the PG may decline.
 * When the holder is itself in flight and then fails (or is revoked, or an account gives the
 * order up past its deadline), its release would leave the order paid with nothing holding it,
 * and the next charge for it would be paid a second time. So every release goes through
 * releasingMerchantUid: in the release's own transaction, the lock goes to the order's payment
 * paid without it.
 *
 * Concurrency (PostgreSQL, READ COMMITTED): the release locks the releasing row first, and a
 * payment recorded paid beside a holder locks that holder (paidBesideHolder) in the transaction
 * that records it. Whichever commits first, the other sees it: a release after the record hands
 * the lock to it (its next statement's snapshot includes the record); a record after the release
 * finds no holder (the locked row, re-read, no longer matches) and takes the lock itself. SQLite
 * runs each transaction under BEGIN IMMEDIATE, one at a time.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Store } from '../../store/db.js';
import type { Database } from '../../store/types.js';

/**
 * Runs `release` (an update that may set the payment `impUid`'s merchant_uid_lock to null) in a
 * transaction, then hands the merchant_uid it held, if any, to the order's payment paid without it
 * (handMerchantUidBack). Safe to re-run: nothing moves while someone holds the merchant_uid.
 */
export async function releasingMerchantUid<T>(store: Store, impUid: string, now: number, release: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return store.db.transaction().execute(async (trx) => {
    let before = trx.selectFrom('payments').select(['merchant_id', 'merchant_uid_lock']).where('imp_uid', '=', impUid);
    // locked until commit: a deposit recorded beside this holder waits for the release, or the
    // release for it (see above)
    if (store.dialect === 'postgres') before = before.forUpdate();
    const held = await before.executeTakeFirst();
    const result = await release(trx);
    if (held?.merchant_uid_lock != null) await handMerchantUidBack(trx, held.merchant_id, held.merchant_uid_lock, now);
    return result;
  });
}

/**
 * Gives the merchant_uid, held by no payment, to the earliest payment of that order paid without
 * it; its imp_uid, or undefined when someone holds the merchant_uid or no such payment exists.
 * A late approval taking it this way is no longer refunded (window-confirms.ts owesLateRefund):
 * it is then the order's one payment.
 */
export async function handMerchantUidBack(db: Kysely<Database>, merchantId: string, merchantUid: string, now: number): Promise<string | undefined> {
  const orphan = db
    .selectFrom('payments')
    .select('imp_uid')
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .where('status', '=', 'paid')
    .where('merchant_uid_lock', 'is', null)
    .orderBy('paid_at')
    .orderBy('imp_uid')
    .limit(1);
  const handed = await db
    .updateTable('payments')
    .set({ merchant_uid_lock: sql<string>`merchant_uid`, updated_at: now })
    .where('imp_uid', '=', orphan)
    .where('status', '=', 'paid')
    .where('merchant_uid_lock', 'is', null)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('payments as holder').select('holder.imp_uid').where('holder.merchant_id', '=', merchantId).where('holder.merchant_uid_lock', '=', merchantUid))),
    )
    .returning('imp_uid')
    .executeTakeFirst();
  return handed?.imp_uid;
}

/**
 * In the transaction that records a payment paid without its merchant_uid lock: the payment
 * holding the merchant_uid, locked until commit on PostgreSQL (so its release waits and then
 * finds this payment paid), or undefined when none holds it (then the caller takes it).
 */
export async function lockedHolder(trx: Transaction<Database>, store: Store, merchantId: string, merchantUid: string): Promise<string | undefined> {
  let q = trx.selectFrom('payments').select('imp_uid').where('merchant_id', '=', merchantId).where('merchant_uid_lock', '=', merchantUid);
  if (store.dialect === 'postgres') q = q.forUpdate();
  return (await q.executeTakeFirst())?.imp_uid;
}
