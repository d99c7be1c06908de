import { PierError } from '../errors.js';
import { unixSeconds } from '../../lib/clock.js';
import { newApiKey, newApiSecret, newId, newMerchantCode } from '../../lib/ids.js';
import { hashSecret } from '../../lib/password.js';
import { isUniqueViolation } from '../../store/db.js';
import type { Transaction } from 'kysely';
import type { Database } from '../../store/types.js';
import type { Deps } from '../deps.js';
import { forgetTokensOf } from './auth.js';

/**
 * i'mport's published demo REST credentials (spec/api-v1.md §2). The sandbox demo merchant uses
 * them so the docs' examples and client libraries' own tests run unchanged; production refuses
 * to start while any merchant still has them.
 */
export const DEMO_IMP_KEY = 'imp_apikey';
export const DEMO_IMP_SECRET = 'ekKoeW8RyKuT0zgaZsUtXXTLQ4AhPFW3ZGseDA6bkA5lamv9OqDMnxyeB9wqOsuO9W3Mx9YSJ4dTqJ3f';

export interface CreatedMerchant {
  merchantId: string;
  merchantCode: string;
  name: string;
  impKey: string;
  /** shown once: only its hash is stored */
  impSecret: string;
}

/**
 * Makes a merchant and its REST key. `withMerchant` writes more of the merchant's rows in the same
 * transaction (the sandbox demo's channels, decision 0122): the merchant is committed with them or
 * not at all. It must make no network call (the transaction is open meanwhile).
 */
export async function createMerchant(
  deps: Deps,
  input: { name: string; merchantCode?: string; impKey?: string; impSecret?: string },
  withMerchant?: (trx: Transaction<Database>, merchantId: string) => Promise<void>,
): Promise<CreatedMerchant> {
  const now = unixSeconds(deps.clock);
  const merchantId = newId('mch');
  const merchantCode = input.merchantCode ?? newMerchantCode();
  if (!/^imp\d{8}$/.test(merchantCode)) throw new PierError('invalid_parameter', 'merchant code must be "imp" followed by 8 digits');
  const impKey = input.impKey ?? newApiKey();
  const impSecret = input.impSecret ?? newApiSecret();
  const secretHash = await hashSecret(impSecret);
  try {
    await deps.store.db.transaction().execute(async (trx) => {
      await trx.insertInto('merchants').values({ id: merchantId, merchant_code: merchantCode, name: input.name, created_at: now }).execute();
      await trx
        .insertInto('api_keys')
        .values({ id: newId('key'), merchant_id: merchantId, imp_key: impKey, secret_hash: secretHash, created_at: now, revoked_at: null })
        .execute();
      await withMerchant?.(trx, merchantId);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new PierError('refused', 'merchant code or REST API key already exists');
    throw err;
  }
  return { merchantId, merchantCode, name: input.name, impKey, impSecret };
}

export async function findMerchant(deps: Deps, codeOrId: string) {
  return deps.store.db
    .selectFrom('merchants')
    .selectAll()
    .where((eb) => eb.or([eb('merchant_code', '=', codeOrId), eb('id', '=', codeOrId)]))
    .executeTakeFirst();
}

export async function listMerchants(deps: Deps) {
  const { db } = deps.store;
  const merchants = await db.selectFrom('merchants').selectAll().orderBy('created_at').execute();
  const keys = await db.selectFrom('api_keys').select(['merchant_id', 'imp_key']).where('revoked_at', 'is', null).execute();
  return merchants.map((m) => ({ ...m, imp_keys: keys.filter((k) => k.merchant_id === m.id).map((k) => k.imp_key) }));
}

/**
 * Replaces a merchant's REST key and secret. The old key stops working at once, and so do the
 * tokens issued with it. Rotations of one merchant take turns: on PostgreSQL a rotation's UPDATE
 * cannot see a key another rotation inserted and has not committed yet, so two at once (a
 * double-clicked button, the console and the CLI) each revoked only the key before both and left
 * two new keys working.
 */
export async function rotateApiKey(deps: Deps, merchantId: string): Promise<{ impKey: string; impSecret: string }> {
  const now = unixSeconds(deps.clock);
  const impKey = newApiKey();
  const impSecret = newApiSecret();
  const secretHash = await hashSecret(impSecret);
  await deps.store.db.transaction().execute(async (trx) => {
    // SQLite runs one write transaction at a time already; NO KEY: the merchant's payment inserts
    // (a foreign key to this row) need not wait for a rotation
    if (deps.store.dialect === 'postgres') await trx.selectFrom('merchants').select('id').where('id', '=', merchantId).forNoKeyUpdate().execute();
    await trx.updateTable('api_keys').set({ revoked_at: now }).where('merchant_id', '=', merchantId).where('revoked_at', 'is', null).execute();
    await trx
      .insertInto('api_keys')
      .values({ id: newId('key'), merchant_id: merchantId, imp_key: impKey, secret_hash: secretHash, created_at: now, revoked_at: null })
      .execute();
  });
  forgetTokensOf(deps, merchantId);
  return { impKey, impSecret };
}

/** True when some merchant can still sign in with i'mport's public demo key. */
export async function demoCredentialsExist(deps: Deps): Promise<boolean> {
  const row = await deps.store.db
    .selectFrom('api_keys')
    .select('id')
    .where('imp_key', '=', DEMO_IMP_KEY)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row !== undefined;
}
