import { PierError } from '../errors.js';
import { isUniqueViolation } from '../../store/db.js';
import type { Database, PgChannelsTable } from '../../store/types.js';
import { channelBaseUrl, checkChannelSettings, listChannels, lockChannelsOf, type ChannelKind } from '../merchants/channels.js';
import type { Transaction } from 'kysely';
import type { Deps } from '../deps.js';

/** What still depends on a channel: refunds, billing-key charges and deposits into open virtual accounts go through it. */
export async function channelUsage(deps: Deps, merchantId: string, channelId: string) {
  // no index has a payment's channel: these count a merchant's whole history (160-260 ms with
  // 200,000 payments on SQLite), so on SQLite they run on the reader thread, off the event loop
  const db = deps.store.readerDb;
  const keys = await db
    .selectFrom('billing_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('merchant_id', '=', merchantId)
    .where('channel_id', '=', channelId)
    .executeTakeFirstOrThrow();
  const payments = await db
    .selectFrom('payments')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('merchant_id', '=', merchantId)
    .where('channel_id', '=', channelId)
    .executeTakeFirstOrThrow();
  const open = await db
    .selectFrom('payments')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('merchant_id', '=', merchantId)
    .where('channel_id', '=', channelId)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'paid'),
        eb('pg_state', 'in', ['calling', 'in_doubt']),
        // a virtual account still holding its order: its deposit may still come, notified to this
        // channel or found by asking the PG through it (decision 0086); it gives the order up only
        // once the PG says it holds no deposit (decision 0006)
        eb.and([eb('status', '=', 'ready'), eb('pay_method', '=', 'vbank'), eb('pg_state', '=', 'done'), eb('merchant_uid_lock', 'is not', null)]),
      ]),
    )
    .executeTakeFirstOrThrow();
  return { billingKeys: Number(keys.n), payments: Number(payments.n), openPayments: Number(open.n) };
}

export interface ChannelUpdate {
  name?: string;
  mid?: string;
  kind?: ChannelKind;
  sandbox?: boolean;
  isDefault?: boolean;
  /** absent or empty: keep the stored one (secrets are write-only) */
  merchantKey?: string;
  cancelPassword?: string;
  /** absent: keep; empty or null: none (the PG's configured host) */
  baseUrl?: string | null;
}

/**
 * Edits a merchant's channel. MID and kind can change only while no payment or billing key used
 * the channel (their refunds and charges must keep going to the same contract); add a new channel
 * instead. A channel made default stops its kind's previous default from being one.
 */
/**
 * The refusal of making a channel of a PG this Pier leaves out its kind's default: payments without
 * `pg` would all be answered "not configured" (decision 0080). Its other settings may be edited.
 */
export class LeftOutDefaultError extends PierError {
  constructor(provider: string, setupHint: string | undefined) {
    super('invalid_parameter', `is_default: PG "${provider}" is not configured in this Pier${setupHint ? ` (${setupHint})` : ''}: its channel cannot be the default`);
  }
}

export async function updateChannel(deps: Deps, merchantId: string, channelId: string, input: ChannelUpdate): Promise<PgChannelsTable> {
  const { db } = deps.store;
  const row = (await listChannels(deps, merchantId)).find((c) => c.id === channelId);
  if (!row) throw new PierError('not_found', 'PG 설정을 찾을 수 없습니다. (no such channel)');
  const mid = input.mid ?? row.mid;
  const kind = input.kind ?? row.kind;
  const sandbox = input.sandbox ?? row.sandbox === 1;
  const baseUrl = input.baseUrl === undefined ? row.base_url : channelBaseUrl(input.baseUrl);
  checkChannelSettings(
    deps,
    row.provider,
    { mid, merchantKey: input.merchantKey ?? '', cancelPassword: input.cancelPassword ?? '', sandbox, baseUrl },
    { editing: true },
  );
  if (input.isDefault === true && row.is_default !== 1 && !deps.connectors.get(row.provider)) {
    throw new LeftOutDefaultError(row.provider, deps.connectors.unconfigured().find((p) => p.provider === row.provider)?.setupHint);
  }
  if (mid !== row.mid || kind !== row.kind) {
    const usage = await channelUsage(deps, merchantId, channelId);
    if (usage.payments > 0 || usage.billingKeys > 0) {
      throw new PierError('refused', 'channel_in_use');
    }
  }
  const set: Partial<PgChannelsTable> = { mid, kind };
  if (input.name !== undefined) set.name = input.name || `${row.provider}.${mid}`;
  if (input.sandbox !== undefined) set.sandbox = input.sandbox ? 1 : 0;
  if (input.baseUrl !== undefined) set.base_url = baseUrl;
  if (input.merchantKey) set.merchant_key_sealed = deps.vault.seal(input.merchantKey);
  if (input.cancelPassword) set.cancel_password_sealed = deps.vault.seal(input.cancelPassword);
  try {
    await db.transaction().execute(async (trx) => {
      await lockChannelsOf(deps, trx, merchantId);
      // a channel moved to a kind that has none becomes its default: read under the lock
      const makeDefault = input.isDefault === true || (kind !== row.kind && !(await hasKind(trx, merchantId, kind)));
      if (makeDefault) set.is_default = 1;
      else if (input.isDefault === false || kind !== row.kind) set.is_default = 0;
      if (set.is_default === 1) {
        await trx.updateTable('pg_channels').set({ is_default: 0 }).where('merchant_id', '=', merchantId).where('kind', '=', kind).where('id', '!=', channelId).execute();
      }
      await trx.updateTable('pg_channels').set(set).where('merchant_id', '=', merchantId).where('id', '=', channelId).execute();
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new PierError('refused', 'channel_exists');
    throw err;
  }
  return (await listChannels(deps, merchantId)).find((c) => c.id === channelId)!;
}

async function hasKind(trx: Transaction<Database>, merchantId: string, kind: string) {
  const r = await trx.selectFrom('pg_channels').select('id').where('merchant_id', '=', merchantId).where('kind', '=', kind).executeTakeFirst();
  return r !== undefined;
}
