import { sql, type Kysely } from 'kysely';

/**
 * At most one default channel per merchant and kind (V1 calls without `pg` charge through it):
 * `pg_channels_one_default`, a unique index on (merchant_id, kind) over the default rows only.
 * Channel writes running at once on PostgreSQL could leave two (core/merchants/channels.ts,
 * lockChannelsOf); the index refuses that whatever a writer does.
 *
 * A database that already has two keeps as its default the one the payment path picked among them
 * (channelChoice: earliest created_at, then mid; id breaks a last tie); the others stop being defaults.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await sql`update pg_channels set is_default = 0
    where is_default = 1 and exists (
      select 1 from pg_channels o
      where o.merchant_id = pg_channels.merchant_id and o.kind = pg_channels.kind and o.is_default = 1
        and (o.created_at < pg_channels.created_at
          or (o.created_at = pg_channels.created_at and (o.mid < pg_channels.mid or (o.mid = pg_channels.mid and o.id < pg_channels.id))))
    )`.execute(db);
  await sql`create unique index if not exists pg_channels_one_default on pg_channels (merchant_id, kind) where is_default = 1`.execute(db);
}
