import { sql, type Kysely } from 'kysely';
import type { MigrationNotice } from './index.js';

/** how many payments of orders paid more than once the notice names (the log line stays bounded) */
const LISTED_AT_MOST = 1000;

/**
 * A paid order holds its merchant_uid (decision 0073). Before 0073, a payment recorded `paid`
 * without the merchant_uid lock beside another attempt holding it (a deposit the PG showed late,
 * decision 0071; a late window approval whose refund the PG declined, 0058) was left holding
 * nothing when that attempt then failed or was revoked: the order paid, no payment holding it, and
 * the next charge for its merchant_uid accepted and paid a second time. 0073 repairs such an order
 * at the next release of its merchant_uid, which a stranded order may never see. This repairs them
 * all at the upgrade, as handMerchantUidBack (src/core/payments/merchant-uid-handback.ts) would:
 * in every order that nobody holds, the earliest payment `paid` without the lock (paid_at, then
 * imp_uid) takes it.
 *
 * An order with several such payments was paid more than once before the upgrade: the earliest
 * keeps it, the others stay `paid` as they are (refunding needs the PG, and a deposit the buyer's
 * bank account) and are reported through `notice` for the operator; the merchant sees them all in
 * /payments/findAll. A late window approval among them is still refunded by the acknowledgement
 * job while its row is pending (it does not hold the lock). updated_at is left alone: nothing V1
 * shows changes.
 *
 * Runs once over the payments table; only rows `paid` without the lock (rare) reach the
 * subqueries, each an index lookup (payments_merchant_uid_once, payments_merchant_uid).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres', notice: MigrationNotice = () => {}): Promise<void> {
  // before the repair, which makes them held: every payment of the orders paid more than once
  const { rows: paidTwice } = await sql<{ merchant_id: string; merchant_uid: string; imp_uid: string }>`
    select p.merchant_id, p.merchant_uid, p.imp_uid from payments p
    where p.status = 'paid' and p.merchant_uid_lock is null
      and not exists (select 1 from payments h where h.merchant_id = p.merchant_id and h.merchant_uid_lock = p.merchant_uid)
      and exists (
        select 1 from payments o
        where o.merchant_id = p.merchant_id and o.merchant_uid = p.merchant_uid and o.imp_uid <> p.imp_uid
          and o.status = 'paid' and o.merchant_uid_lock is null
      )
    order by p.merchant_id, p.merchant_uid, p.paid_at, p.imp_uid
    limit ${LISTED_AT_MOST}`.execute(db);

  // one statement. Whether its subqueries see the rows it changed before (PostgreSQL's do not) or
  // not, one row per order qualifies: the earliest (a later one sees it unheld and earlier, or
  // holding), so the unique index is never met
  const repaired = await sql`
    update payments set merchant_uid_lock = merchant_uid
    where status = 'paid' and merchant_uid_lock is null
      and not exists (select 1 from payments h where h.merchant_id = payments.merchant_id and h.merchant_uid_lock = payments.merchant_uid)
      and not exists (
        select 1 from payments e
        where e.merchant_id = payments.merchant_id and e.merchant_uid = payments.merchant_uid
          and e.status = 'paid' and e.merchant_uid_lock is null
          and (e.paid_at < payments.paid_at or (e.paid_at = payments.paid_at and e.imp_uid < payments.imp_uid))
      )`.execute(db);
  const ordersRepaired = Number(repaired.numAffectedRows ?? 0n);
  if (ordersRepaired > 0) notice('paid orders that no payment held now hold their merchant_uid (decision 0073)', { orders: ordersRepaired });

  if (paidTwice.length > 0) {
    const orders = new Map<string, { merchant_id: string; merchant_uid: string; kept: string; also_paid: string[] }>();
    for (const r of paidTwice) {
      const key = `${r.merchant_id}\u0000${r.merchant_uid}`;
      const order = orders.get(key);
      if (order) order.also_paid.push(r.imp_uid);
      else orders.set(key, { merchant_id: r.merchant_id, merchant_uid: r.merchant_uid, kept: r.imp_uid, also_paid: [] });
    }
    notice('orders paid more than once before this upgrade: the earliest payment holds the merchant_uid, the others are still paid: refund them unless a refund is under way', {
      orders: [...orders.values()],
      payments_listed_at_most: LISTED_AT_MOST,
    });
  }
}
