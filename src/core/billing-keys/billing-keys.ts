import { sql, type Kysely } from 'kysely';
import { PierError } from '../errors.js';
import { ConnectorError } from '../../connectors/types.js';
import { toV1Customer } from '../../domain/billing-key.js';
import type { CardInput } from '../../lib/card.js';
import { unixSeconds } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { Vault } from '../../vault/vault.js';
import type { BillingKeysTable, Database } from '../../store/types.js';
import { channelById, channelColumns, channelRowOf, openChannel, resolveChannel, type ChannelColumns, type ChannelSource, type ResolvedChannel } from '../merchants/channels.js';
import type { Deps } from '../deps.js';

export interface CustomerFields {
  customer_id?: string | null;
  customer_name?: string | null;
  customer_tel?: string | null;
  customer_email?: string | null;
  customer_addr?: string | null;
  customer_postcode?: string | null;
}

export const UNKNOWN_CUSTOMER = (uid: string) => `요청하신 customer_uid(${uid})로 등록된 정보를 찾을 수 없습니다.`;

export function pgUnavailable(err: ConnectorError): PierError {
  return new PierError('pg_unavailable', 'PG사와 통신하지 못했습니다. 잠시 후 다시 시도하세요.');
}

/**
 * Issues a billing key at the PG and stores it, sealed, under customer_uid. Reusing a customer_uid
 * replaces the stored card (V1); the PG's old key is not revoked, as on i'mport.
 * No money moves, so there is no intent row: the PG call comes first, then one write.
 */
export async function issueBillingKey(
  deps: Deps,
  merchantId: string,
  customerUid: string,
  card: CardInput,
  customer: CustomerFields,
  pg: string | null | undefined,
  channel?: ResolvedChannel,
) {
  const ch = channel ?? (await resolveChannel(deps, merchantId, pg, 'api'));
  const issued = await issueAtPg(ch, card, customer);
  return toV1Customer(await storeBillingKey(deps, merchantId, customerUid, ch, issued, customer));
}

/**
 * The PG's part of issueBillingKey: a key issued through `ch` and not stored anywhere yet (the
 * caller stores it with storeBillingKey, or deletes it at the PG with forgetIssuedKey). Throws
 * V1's refusal of the card, or pg_unavailable.
 */
export async function issueAtPg(ch: ResolvedChannel, card: CardInput, customer: CustomerFields): Promise<IssuedKey> {
  if (!ch.connector.capabilities.billingKey) {
    throw new PierError('not_supported', `${ch.row.provider}는 REST API 빌링키 발급을 지원하지 않습니다.`);
  }
  let result;
  try {
    result = await ch.connector.issueBillingKey(ch.credentials, card, {
      name: customer.customer_name,
      email: customer.customer_email,
      tel: customer.customer_tel,
    });
  } catch (err) {
    if (err instanceof ConnectorError) throw pgUnavailable(err);
    throw err;
  }
  if (result.outcome === 'declined') {
    throw new PierError('card_refused', `카드정보 인증 및 빌키 발급에 실패하였습니다. [${result.code}]${result.message}`);
  }
  return result;
}

/** A key the PG issued, as storeBillingKey stores it. */
export type IssuedKey = { billingKey: string; cardCode: string | null; cardName: string | null; cardNumberMasked: string | null; cardType: 0 | 1 | null };

/**
 * Deletes at the PG a key issueAtPg issued that Pier never stored (the request it was for was
 * refused), so that it is not left there unknown to anyone. Best effort: a key nobody knows
 * charges nothing, so a failure is logged, not raised.
 */
export async function forgetIssuedKey(deps: Deps, ch: ResolvedChannel, issued: IssuedKey): Promise<void> {
  try {
    await ch.connector.deleteBillingKey(ch.credentials, issued.billingKey);
  } catch (err) {
    deps.logger.warn({ channel_id: ch.row.id, err: (err as Error).message }, 'a billing key issued for a refused request could not be deleted at the PG; it is stored nowhere');
  }
}

/**
 * Stores a billing key the PG issued (by REST or through the payment window), sealed by the vault,
 * under customer_uid: a second key for the same customer_uid replaces the first. Answers the stored row.
 * `db`: a transaction the key is stored in with what it was issued for (schedules.ts createSchedules).
 */
export async function storeBillingKey(
  deps: Deps,
  merchantId: string,
  customerUid: string,
  ch: ResolvedChannel,
  result: IssuedKey,
  customer: CustomerFields,
  db: Kysely<Database> = deps.store.db,
) {
  const now = unixSeconds(deps.clock);
  const sealed = deps.vault.seal(result.billingKey);
  const values: Omit<BillingKeysTable, 'id' | 'inserted'> = {
    merchant_id: merchantId,
    customer_uid: customerUid,
    channel_id: ch.row.id,
    pg_provider: ch.row.provider,
    pg_id: ch.row.mid,
    sandbox: ch.row.sandbox,
    billing_key_sealed: sealed,
    vault_key_id: Vault.keyIdOf(sealed),
    card_code: result.cardCode,
    card_name: result.cardName,
    card_number: result.cardNumberMasked,
    card_type: result.cardType,
    customer_id: customer.customer_id ?? null,
    customer_name: customer.customer_name ?? null,
    customer_tel: customer.customer_tel ?? null,
    customer_email: customer.customer_email ?? null,
    customer_addr: customer.customer_addr ?? null,
    customer_postcode: customer.customer_postcode ?? null,
    updated: now,
  };
  return db
    .insertInto('billing_keys')
    .values({ id: newId('bk'), inserted: now, ...values })
    .onConflict((oc) => oc.columns(['merchant_id', 'customer_uid']).doUpdateSet(values))
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findBillingKey(deps: Deps, merchantId: string, customerUid: string) {
  return deps.store.db
    .selectFrom('billing_keys')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('customer_uid', '=', customerUid)
    .executeTakeFirst();
}

/**
 * The billing key of a customer_uid with the channel that issued it, in one query: `channel` is
 * undefined when that channel has been removed since.
 */
export async function findBillingKeyWithChannel(deps: Deps, merchantId: string, customerUid: string) {
  const row = await deps.store.db
    .selectFrom('billing_keys')
    .leftJoin('pg_channels', 'pg_channels.id', 'billing_keys.channel_id')
    .select(['billing_keys.channel_id', 'billing_keys.pg_provider', 'billing_keys.pg_id', 'billing_keys.billing_key_sealed', ...channelColumns])
    .where('billing_keys.merchant_id', '=', merchantId)
    .where('billing_keys.customer_uid', '=', customerUid)
    .executeTakeFirst();
  if (!row) return undefined;
  const channel = row.ch_id === null ? undefined : channelRowOf(row as ChannelColumns);
  return {
    key: { channel_id: row.channel_id, pg_provider: row.pg_provider, pg_id: row.pg_id, billing_key_sealed: row.billing_key_sealed },
    channel,
  };
}

/**
 * findBillingKeyWithChannel as one select that another statement can embed: the sealed key and its
 * channel (channelColumns), when that channel still exists and its PG is in this Pier. No row: ask
 * findBillingKeyWithChannel why.
 */
export function billingKeyChoice(deps: Deps, merchantId: string, customerUid: string): ChannelSource<BillingKeyChoice> {
  const { db } = deps.store;
  const providers = deps.connectors.providers();
  return {
    // the providers are this process's registry: fixed for its life
    key: 'billing-key',
    values: { srcMerchantId: merchantId, srcCustomerUid: customerUid },
    // a method: see fromTemplate's `compile` (every payment makes this object)
    build(p) {
      return (
        db
          .selectFrom('billing_keys')
          .innerJoin('pg_channels', 'pg_channels.id', 'billing_keys.channel_id')
          .select(['billing_keys.billing_key_sealed', ...channelColumns])
          .where('billing_keys.merchant_id', '=', p.srcMerchantId)
          .where('billing_keys.customer_uid', '=', p.srcCustomerUid)
          .where('pg_channels.provider', 'in', providers)
          // a literal: SQLite runs this join three times slower with `LIMIT ?` (docs/performance.md)
          .limit(sql.lit(1))
      );
    },
  };
}

/** What billingKeyChoice finds: the sealed key and its channel. */
export type BillingKeyChoice = ChannelColumns & { billing_key_sealed: string };

export async function getCustomer(deps: Deps, merchantId: string, customerUid: string) {
  const row = await findBillingKey(deps, merchantId, customerUid);
  if (!row) throw new PierError('not_found', UNKNOWN_CUSTOMER(customerUid));
  return toV1Customer(row);
}

/**
 * GET /subscribe/customers: the found keys in request order, each once however often its
 * customer_uid is listed, so fewer keys than distinct customer_uids means some were not found (207;
 * decision 0094).
 */
export async function getCustomers(deps: Deps, merchantId: string, customerUids: string[]) {
  if (customerUids.length === 0) return [];
  const rows = await deps.store.db
    .selectFrom('billing_keys')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('customer_uid', 'in', customerUids)
    .execute();
  return [...new Set(customerUids)].flatMap((uid) => rows.filter((r) => r.customer_uid === uid).map(toV1Customer));
}

/** A channel of the merchant on the PG account (provider, MID, mode) that issued a billing key. */
async function channelOfAccount(deps: Deps, merchantId: string, key: BillingKeysTable): Promise<ResolvedChannel | undefined> {
  const row = await deps.store.db
    .selectFrom('pg_channels')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('provider', '=', key.pg_provider)
    .where('mid', '=', key.pg_id)
    .where('sandbox', '=', key.sandbox)
    .orderBy('created_at')
    .orderBy('id')
    .executeTakeFirst();
  return row ? openChannel(deps, row) : undefined;
}

/**
 * Deletes the key at the PG, then Pier's record. Answers the deleted Customer, as V1 does.
 * The record is deleted only while it still holds the key deleted at the PG: a re-registration of
 * the customer_uid while the PG was deleting stored a new key, which stays (decision 0042).
 */
export async function deleteBillingKey(deps: Deps, merchantId: string, customerUid: string) {
  const row = await findBillingKey(deps, merchantId, customerUid);
  if (!row) throw new PierError('not_found', UNKNOWN_CUSTOMER(customerUid));
  // A channel removed since ("remove anyway") took the credentials the PG's delete needs: the key
  // stays registered at the PG, so it is not forgotten here either (the console and V1 would say it
  // was deleted). The same PG account added again as a channel reaches it.
  const channel = (await channelById(deps, row.channel_id)) ?? (await channelOfAccount(deps, merchantId, row));
  if (!channel) {
    throw new PierError(
      'refused',
      `빌링키를 발급한 PG 설정(${row.pg_provider}.${row.pg_id})이 삭제되어 PG사의 빌링키를 삭제할 수 없습니다. 같은 PG 설정을 다시 추가한 뒤 삭제하세요.`,
      'add the channel of that PG account again to delete the key there, or `npx pier billing-key forget` to delete it in Pier only',
    );
  }
  try {
    await channel.connector.deleteBillingKey(channel.credentials, deps.vault.open(row.billing_key_sealed));
  } catch (err) {
    if (err instanceof ConnectorError) throw pgUnavailable(err);
    throw err;
  }
  // Every seal is fresh (a random IV), so the sealed text read names this key and no later one.
  const res = await deps.store.db
    .deleteFrom('billing_keys')
    .where('id', '=', row.id)
    .where('billing_key_sealed', '=', row.billing_key_sealed)
    .executeTakeFirst();
  if (Number(res.numDeletedRows) === 0) {
    deps.logger.info({ customer_uid: customerUid }, 'billing key replaced while it was being deleted at the PG; the new key stays');
  }
  return toV1Customer(row);
}

/**
 * Deletes Pier's record of a billing key without asking the PG (`pier billing-key forget`): for a
 * key the PG can no longer delete because the contract that issued it has ended (tPay's closed in
 * 2023) or its channel is gone, which DELETE /subscribe/customers/{customer_uid} then refuses for
 * good. If the PG still knows the key, it stays registered there; Pier never charges it again.
 * Answers what was forgotten (with its PG account), undefined when there was no such key.
 */
export async function forgetBillingKey(deps: Deps, merchantId: string, customerUid: string): Promise<{ customer_uid: string; pg: string; card_name: string | null } | undefined> {
  const row = await findBillingKey(deps, merchantId, customerUid);
  if (!row) return undefined;
  const res = await deps.store.db.deleteFrom('billing_keys').where('id', '=', row.id).executeTakeFirst();
  if (Number(res.numDeletedRows) === 0) return undefined;
  deps.logger.info({ customer_uid: customerUid, pg: `${row.pg_provider}.${row.pg_id}` }, 'billing key forgotten in Pier only (not deleted at the PG)');
  return { customer_uid: row.customer_uid, pg: `${row.pg_provider}.${row.pg_id}`, card_name: row.card_name };
}
