import { PierError } from '../errors.js';
import type { ChannelCredentials, ChannelProblem, ChannelRules, ChannelSettings, Connector } from '../../connectors/types.js';
import { unixSeconds } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { Secret } from '../../lib/secret.js';
import { isUniqueViolation } from '../../store/db.js';
import { sql, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { TemplateValue } from '../../store/statement-template.js';
import type { Database, PgChannelsTable } from '../../store/types.js';
import type { Deps } from '../deps.js';

export type ChannelKind = 'window' | 'api';

/** A merchant's PG channel with its secrets opened, ready for a connector call. */
export interface ResolvedChannel {
  row: PgChannelsTable;
  connector: Connector;
  credentials: ChannelCredentials;
}

export interface ChannelInput {
  provider: string;
  /** the PG's account id: tPay's MID, NICE's clientId */
  mid: string;
  /** the PG's secret: tPay's merchantKey, NICE's secretKey */
  merchantKey: string;
  /** tPay's refund password; empty for PGs without one (NICE) */
  cancelPassword: string;
  kind: ChannelKind;
  sandbox: boolean;
  isDefault?: boolean;
  name?: string;
  /** this channel's own PG API base URL (a simulator, a compatible endpoint); absent = the PG's host */
  baseUrl?: string | null;
}

/**
 * The channel rules of a PG this Pier knows; an unknown provider is refused. A channel's settings
 * are checked by its PG's rules (connectors/<pg>/channel-rules.ts), so this file stays PG-neutral.
 */
export function channelRulesFor(deps: Deps, provider: string): ChannelRules {
  const rules = deps.connectors.get(provider) ? deps.connectors.channelRules(provider) : undefined;
  if (rules) return rules;
  const unconfigured = deps.connectors.unconfigured().find((p) => p.provider === provider);
  // a channel nothing can call: refused, or its payments would all fail (decision 0079)
  if (unconfigured) throw new PierError('invalid_parameter', `provider: PG "${provider}" is not configured in this Pier (${unconfigured.setupHint})`);
  throw new PierError('invalid_parameter', `provider: unknown PG "${provider}" (known: ${deps.connectors.providers().join(', ')})`);
}

/**
 * The PG of a channel added without naming one (`pier channel add` without --provider): the only
 * PG this Pier configures; with several, or none, refused naming the choices (decision 0080).
 */
export function soleProvider(deps: Deps): string {
  const configured = deps.connectors.providers();
  if (configured.length === 1) return configured[0]!;
  const choices = configured.map((p) => `${p} (${deps.connectors.label(p)})`).join(', ');
  if (configured.length > 1) throw new PierError('invalid_parameter', `provider: this Pier configures several PGs; name one of ${choices}`);
  const missing = deps.connectors.unconfigured().map((p) => `${p.provider}: ${p.setupHint}`).join('; ');
  throw new PierError('invalid_parameter', `provider: this Pier configures no PG${missing ? ` (${missing})` : ''}`);
}

/** A base URL as stored: without trailing slashes (the connector appends `/v1/…`); empty = none. */
export function channelBaseUrl(value: string | null | undefined): string | null {
  return value ? value.replace(/\/+$/, '') : null;
}

/** Refuses settings the PG's rules find wrong, naming every problem in one message. */
export function checkChannelSettings(deps: Deps, provider: string, settings: ChannelSettings, o: { editing: boolean }): void {
  // an existing channel is edited by its PG's rules also while this Pier leaves the PG out: editing calls no PG (decision 0080)
  const rules = (o.editing ? deps.connectors.channelRules(provider) : undefined) ?? channelRulesFor(deps, provider);
  const problems = rules.check(settings, o);
  if (problems.length > 0) throw new ChannelSettingsError(problems);
}

/** A channel's settings broke its PG's rules; `problems` says which field and why (the console marks the fields). */
export class ChannelSettingsError extends PierError {
  constructor(readonly problems: ChannelProblem[]) {
    super('invalid_parameter', problems.map((p) => p.message).join('; '));
  }
}

export async function addChannel(deps: Deps, merchantId: string, input: ChannelInput): Promise<PgChannelsTable> {
  try {
    return await deps.store.db.transaction().execute((trx) => addChannelIn(deps, trx, merchantId, input));
  } catch (err) {
    if (isUniqueViolation(err)) throw new PierError('refused', `channel ${input.provider}.${input.mid} (${input.kind}) already exists`);
    throw err;
  }
}

/**
 * addChannel's writes inside a transaction the caller holds (the sandbox demo merchant's, whose
 * channels are committed with it: decision 0122). No network call: checks, seals and inserts.
 */
export async function addChannelIn(deps: Deps, trx: Transaction<Database>, merchantId: string, input: ChannelInput): Promise<PgChannelsTable> {
  const baseUrl = channelBaseUrl(input.baseUrl);
  checkChannelSettings(deps, input.provider, { mid: input.mid, merchantKey: input.merchantKey, cancelPassword: input.cancelPassword, sandbox: input.sandbox, baseUrl }, { editing: false });
  const row: PgChannelsTable = {
    id: newId('ch'),
    merchant_id: merchantId,
    provider: input.provider,
    mid: input.mid,
    kind: input.kind,
    name: input.name ?? `${input.provider}.${input.mid}`,
    sandbox: input.sandbox ? 1 : 0,
    is_default: input.isDefault ? 1 : 0,
    merchant_key_sealed: deps.vault.seal(input.merchantKey),
    cancel_password_sealed: deps.vault.seal(input.cancelPassword),
    created_at: unixSeconds(deps.clock),
    base_url: baseUrl,
  };
  await lockChannelsOf(deps, trx, merchantId);
  // the first channel of its kind is its default: read under the lock, or two first channels added at once were both
  const existing = await trx.selectFrom('pg_channels').select('id').where('merchant_id', '=', merchantId).where('kind', '=', input.kind).executeTakeFirst();
  if (!existing) row.is_default = 1;
  if (row.is_default) {
    await trx.updateTable('pg_channels').set({ is_default: 0 }).where('merchant_id', '=', merchantId).where('kind', '=', input.kind).execute();
  }
  await trx.insertInto('pg_channels').values(row).execute();
  return row;
}

/**
 * Where a PG that is told once, in its own admin, sends server-to-server notices for a channel
 * (NICE's webhook: virtual-account deposits, cancels): Pier's checkout notify route for it.
 */
export function channelNotifyUrl(publicUrl: string, channelId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/checkout/pg/${channelId}/notify`;
}

export async function listChannels(deps: Deps, merchantId: string) {
  return deps.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', merchantId).orderBy('created_at').orderBy('kind').orderBy('mid').execute();
}

/**
 * Serializes one merchant's channel writes: a transaction that adds, edits or removes a channel
 * takes this first, so the one-default-per-kind rule is kept by reads and writes no other such
 * transaction interleaves with (decision 0004). PostgreSQL: the merchant's row, locked until the
 * transaction ends; two writes racing without it left two defaults of a kind (READ COMMITTED: each
 * cleared the defaults it could see, then inserted its own) or deadlocked. SQLite: every
 * transaction already holds the write lock from its start (BEGIN IMMEDIATE). The unique index
 * `pg_channels_one_default` (migration 019) refuses a second default whatever the code does.
 * `FOR NO KEY UPDATE`: it excludes the other channel writes as `FOR UPDATE` would, without making the
 * merchant's payments wait (their inserts key-share-lock the merchant row through the foreign key).
 */
export async function lockChannelsOf(deps: Deps, trx: Transaction<Database>, merchantId: string): Promise<void> {
  if (deps.store.dialect === 'postgres') await trx.selectFrom('merchants').select('id').where('id', '=', merchantId).forNoKeyUpdate().execute();
}

/**
 * What removing a channel did to its kind's default: `newDefault` the channel made the default in
 * its place; `leftWithoutDefault` when it was the default and none of the kind's remaining channels
 * is of a PG this process configures (decision 0087).
 */
export interface ChannelRemoval {
  kind: ChannelKind;
  newDefault: Pick<PgChannelsTable, 'id' | 'provider' | 'mid'> | null;
  leftWithoutDefault: boolean;
}

/**
 * Removes a channel (null: there was none). When it was its kind's default, the kind's first
 * remaining channel of a PG this process configures becomes the default. A channel of a PG left
 * out never does (decision 0087), as it may not be made one by hand (decision 0080): every payment
 * without `pg` would be answered "not configured". With only such channels left, the kind keeps no
 * default, and a payment without `pg` takes the kind's first channel as any kind without one does.
 */
export async function removeChannel(deps: Deps, merchantId: string, channelId: string): Promise<ChannelRemoval | null> {
  return deps.store.db.transaction().execute(async (trx) => {
    await lockChannelsOf(deps, trx, merchantId);
    const row = await trx.selectFrom('pg_channels').select(['kind', 'is_default']).where('merchant_id', '=', merchantId).where('id', '=', channelId).executeTakeFirst();
    if (!row) return null;
    const kind = row.kind as ChannelKind;
    await trx.deleteFrom('pg_channels').where('merchant_id', '=', merchantId).where('id', '=', channelId).execute();
    if (row.is_default !== 1) return { kind, newDefault: null, leftWithoutDefault: false };
    const configured = deps.connectors.providers();
    // of those this process can call, the channel channelChoice would now pick first
    const next = await trx
      .selectFrom('pg_channels')
      .select(['id', 'provider', 'mid'])
      .where('merchant_id', '=', merchantId)
      .where('kind', '=', kind)
      .where('provider', 'in', configured.length > 0 ? configured : [''])
      .orderBy('created_at')
      .orderBy('mid')
      .orderBy('id')
      .executeTakeFirst();
    if (next) await trx.updateTable('pg_channels').set({ is_default: 1 }).where('id', '=', next.id).execute();
    const remaining = next ? undefined : await trx.selectFrom('pg_channels').select('id').where('merchant_id', '=', merchantId).where('kind', '=', kind).executeTakeFirst();
    return { kind, newDefault: next ?? null, leftWithoutDefault: remaining !== undefined };
  });
}

/**
 * A channel's PG is one Pier ships that this process's configuration leaves out (decision 0079):
 * V1's 501 "not configured" to a request. Background work tells it from every other failure
 * (decision 0080): the PG is not refusing or unreachable, this process simply cannot ask it, and
 * another process, or this one once its settings are back, can. A row of such a PG therefore
 * waits (PG_LEFT_OUT_WAIT_SECONDS) without counting a try, and is never failed or given up for it.
 */
export class PgNotConfiguredError extends PierError {
  constructor(readonly provider: string) {
    super('not_supported', `PG "${provider}" is not configured in this Pier`);
  }
}

/**
 * How long background work on a row of a PG left out waits before looking again (decision 0080):
 * long enough that thousands of such rows cost a claim each every few minutes, short enough that
 * they resume within minutes once a process with the PG's settings runs.
 */
export const PG_LEFT_OUT_WAIT_SECONDS = 300;

/** A channel row with its secrets opened (the connector must exist in this Pier). */
export function openChannel(deps: Deps, row: PgChannelsTable): ResolvedChannel {
  const connector = deps.connectors.get(row.provider);
  if (!connector) {
    // a channel of a PG left out by this configuration (decision 0079), or unknown here
    if (deps.connectors.unconfigured().some((p) => p.provider === row.provider)) throw new PgNotConfiguredError(row.provider);
    throw new PierError('not_supported', `PG "${row.provider}" is not available in this Pier`);
  }
  return {
    row,
    connector,
    credentials: {
      mid: row.mid,
      merchantKey: new Secret(deps.vault.openRemembered(row.merchant_key_sealed)),
      cancelPassword: new Secret(deps.vault.openRemembered(row.cancel_password_sealed)),
      sandbox: row.sandbox === 1,
      baseUrl: row.base_url,
    },
  };
}

/** A channel's columns as a select of the payment path names them (`ch_` + column), beside other tables' columns. */
export const channelColumns = [
  'pg_channels.id as ch_id',
  'pg_channels.merchant_id as ch_merchant_id',
  'pg_channels.provider as ch_provider',
  'pg_channels.mid as ch_mid',
  'pg_channels.kind as ch_kind',
  'pg_channels.name as ch_name',
  'pg_channels.sandbox as ch_sandbox',
  'pg_channels.is_default as ch_is_default',
  'pg_channels.merchant_key_sealed as ch_merchant_key_sealed',
  'pg_channels.cancel_password_sealed as ch_cancel_password_sealed',
  'pg_channels.created_at as ch_created_at',
  'pg_channels.base_url as ch_base_url',
] as const;

/** The channel columns of a row selected with channelColumns. */
export type ChannelColumns = { [K in keyof PgChannelsTable as `ch_${K}`]: PgChannelsTable[K] };

/** The channel row in a row selected with channelColumns. */
export function channelRowOf(r: ChannelColumns): PgChannelsTable {
  return {
    id: r.ch_id,
    merchant_id: r.ch_merchant_id,
    provider: r.ch_provider,
    mid: r.ch_mid,
    kind: r.ch_kind,
    name: r.ch_name,
    sandbox: r.ch_sandbox,
    is_default: r.ch_is_default,
    merchant_key_sealed: r.ch_merchant_key_sealed,
    cancel_password_sealed: r.ch_cancel_password_sealed,
    created_at: r.ch_created_at,
    base_url: r.ch_base_url,
  };
}

/**
 * resolveChannel as one select (columns: channelColumns) that another statement can embed: the
 * channel resolveChannel picks, if its connector is in this Pier and `usable` by it. No row: ask
 * resolveChannel why (no channel, an unknown `pg`, or a PG this Pier cannot use that way).
 */
export function channelChoice(deps: Deps, merchantId: string, pg: string | undefined | null, kind: ChannelKind, usable: (c: Connector) => boolean): ChannelSource<ChannelColumns> {
  const { db } = deps.store;
  const dot = pg ? pg.indexOf('.') : -1;
  const provider = !pg ? undefined : dot < 0 ? pg : pg.slice(0, dot);
  const mid = pg && dot >= 0 ? pg.slice(dot + 1) : undefined;
  const usableProviders = deps.connectors.providers().filter((p) => usable(deps.connectors.get(p)!));
  return {
    key: `channel:${kind}:${provider !== undefined}:${mid !== undefined}:${usableProviders.join(',')}`,
    values: { srcMerchantId: merchantId, srcProvider: provider ?? null, srcMid: mid ?? null },
    // a method: an arrow property is named anew on every payment under tsx (statement-template.ts)
    build(p) {
      let picked = db.selectFrom('pg_channels').select(channelColumns).where('merchant_id', '=', p.srcMerchantId).where('kind', '=', kind);
      if (provider !== undefined) picked = picked.where('provider', '=', p.srcProvider);
      if (mid !== undefined) picked = picked.where('mid', '=', p.srcMid);
      return db
        .selectFrom(picked.orderBy('is_default', 'desc').orderBy('created_at').orderBy('kind').orderBy('mid').limit(sql.lit(1)).as('picked'))
        .selectAll()
        .where('ch_provider', 'in', usableProviders.length > 0 ? usableProviders : ['']);
    },
  };
}

/**
 * One channel of the merchant, by id, as a ChannelSource: a charge through the channel a step
 * before it used (onetime with customer_uid charges through the channel that issued its key).
 */
export function channelOfId(deps: Deps, merchantId: string, channelId: string): ChannelSource<ChannelColumns> {
  const { db } = deps.store;
  return {
    key: 'channel-id',
    values: { srcMerchantId: merchantId, srcChannelId: channelId },
    // a method: see channelChoice
    build(p) {
      return db.selectFrom('pg_channels').select(channelColumns).where('merchant_id', '=', p.srcMerchantId).where('id', '=', p.srcChannelId).limit(sql.lit(1));
    },
  };
}

/**
 * A select of at most one row that finds a charge's channel (channelColumns and whatever else the
 * charge needs), given as a statement template (store/statement-template.ts) so the attempt insert
 * it runs with is built once: `key` names its shape, `values` its values. The values are named
 * `src…`, apart from the attempt row's columns they are compiled with.
 */
export interface ChannelSource<S extends ChannelColumns> {
  key: string;
  values: Record<string, TemplateValue>;
  // placeholders stand for `values` (statement-template.ts); typed loosely, as Kysely sees them
  build: (p: Record<string, any>) => SelectQueryBuilder<Database, any, S>;
}

export async function channelById(deps: Deps, channelId: string): Promise<ResolvedChannel | undefined> {
  const row = await deps.store.db.selectFrom('pg_channels').selectAll().where('id', '=', channelId).executeTakeFirst();
  return row ? openChannel(deps, row) : undefined;
}

/**
 * Resolves V1's `pg` parameter (spec/api-v1.md §5.1, spec/jtnet.md §1.1): `{provider}.{MID}` picks
 * that MID; `{provider}` picks the default channel of that provider, or its first; an absent
 * value picks the merchant's default channel of this kind. An unknown value is an error rather
 * than V1's silent fallback, so a typo never charges through the wrong contract.
 */
export async function resolveChannel(deps: Deps, merchantId: string, pg: string | undefined | null, kind: ChannelKind): Promise<ResolvedChannel> {
  const rows = (await listChannels(deps, merchantId)).filter((c) => c.kind === kind);
  const label = kind === 'api' ? '비인증결제(API)' : '결제창';
  if (rows.length === 0) {
    throw new PierError('refused', `${label} PG 설정 정보를 찾을 수 없습니다.`, `no ${kind} PG channel configured`);
  }
  if (pg === undefined || pg === null || pg === '') {
    return openChannel(deps, rows.find((r) => r.is_default === 1) ?? rows[0]);
  }
  const dot = pg.indexOf('.');
  const provider = dot < 0 ? pg : pg.slice(0, dot);
  const mid = dot < 0 ? undefined : pg.slice(dot + 1);
  const ofProvider = rows.filter((r) => r.provider === provider);
  const row = mid ? ofProvider.find((r) => r.mid === mid) : (ofProvider.find((r) => r.is_default === 1) ?? ofProvider[0]);
  if (!row) {
    throw new PierError(
      'invalid_parameter',
      `pg: "${pg}"에 해당하는 ${label} PG 설정이 없습니다. (configured: ${rows.map((r) => `${r.provider}.${r.mid}`).join(', ')})`,
    );
  }
  return openChannel(deps, row);
}
