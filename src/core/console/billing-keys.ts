import { toV1Customer } from '../../domain/billing-key.js';
import type { BillingKeysTable } from '../../store/types.js';
import type { Deps } from '../deps.js';
import { containsText, pageOfWalk, type Walk } from '../../store/walk.js';

function billingKeysOf(deps: Deps) {
  return deps.store.db.selectFrom('billing_keys');
}

type BillingKeysQuery = ReturnType<typeof billingKeysOf>;

/**
 * The console's billing-key list: one merchant's keys, most recently updated first (then by
 * customer_uid, descending), a page at a time, optionally those whose customer_uid, name or e-mail
 * contains `q`. Walked a window at a time (decision 0034); the total counts up to COUNT_CAP.
 */
export async function searchBillingKeys(deps: Deps, merchantId: string, q: string, page: { page: number; limit: number }) {
  const walk: Walk<BillingKeysQuery> = { at: 'updated', id: 'customer_uid', base: () => billingKeysOf(deps).where('merchant_id', '=', merchantId) };
  const matching = q ? (rows: BillingKeysQuery) => rows.where((eb) => eb.or(['customer_uid', 'customer_name', 'customer_email'].map((col) => containsText(col, q)))) : null;
  const found = await pageOfWalk(walk, matching, page);
  const rows = found.ids.length === 0 ? [] : await billingKeysOf(deps).selectAll().where('merchant_id', '=', merchantId).where('customer_uid', 'in', found.ids).execute();
  const byUid = new Map<string, BillingKeysTable>(rows.map((r) => [r.customer_uid, r]));
  return { total: found.total, capped: found.capped, page: found.page, pages: found.pages, list: found.ids.flatMap((uid) => byUid.get(uid) ?? []).map(toV1Customer) };
}
