import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-window.js';
import * as m003 from './003-schedules-webhooks.js';
import * as m004 from './004-console.js';
import * as m005 from './005-window-safety.js';
import * as m006 from './006-checkout-session-purge.js';
import * as m007 from './007-reconcile-backoff.js';
import * as m008 from './008-hardening.js';
import * as m009 from './009-wire.js';
import * as m010 from './010-receipts.js';
import * as m011 from './011-operations.js';
import * as m014 from './014-channel-base-url.js';
import * as m015 from './015-payment-write-indexes.js';
import * as m016 from './016-listener-deliveries-index.js';
import * as m017 from './017-console-walk-indexes.js';
import * as m018 from './018-payments-list-indexes.js';
import * as m019 from './019-one-default-channel.js';
import * as m020 from './020-refund-vat.js';
import * as m021 from './021-ended-row-purge.js';
import * as m022 from './022-paid-orders-hold-merchant-uid.js';
import * as m023 from './023-reconcile-merchant-walks.js';
import * as m024 from './024-schedule-lease-index-running.js';
import * as m027 from './027-webhook-queue-indexes-partial.js';
import * as m028 from './028-open-row-indexes-partial.js';
import * as m029 from './029-vbank-deposit-checks.js';
import * as m030 from './030-sandbox-auto-cancel-lease.js';
import * as m031 from './031-billing-keys-vault-key-index.js';

export type Dialect = 'sqlite' | 'postgres';

/** What a migration that repairs data tells the operator (migrateToLatest's `onNotice`, logged as a warning). */
export type MigrationNotice = (message: string, detail: Record<string, unknown>) => void;

type DialectMigration = { up(db: Kysely<any>, dialect: Dialect, notice: MigrationNotice): Promise<void> };

/** Every migration, in order. Names sort lexically; never rename or edit a landed one. */
const MIGRATIONS: Record<string, DialectMigration> = {
  '001-initial': m001,
  '002-window': m002,
  '003-schedules-webhooks': m003,
  '004-console': m004,
  '005-window-safety': m005,
  '006-checkout-session-purge': m006,
  '007-reconcile-backoff': m007,
  '008-hardening': m008,
  '009-wire': m009,
  '010-receipts': m010,
  '011-operations': m011,
  '014-channel-base-url': m014,
  '015-payment-write-indexes': m015,
  '016-listener-deliveries-index': m016,
  '017-console-walk-indexes': m017,
  '018-payments-list-indexes': m018,
  '019-one-default-channel': m019,
  '020-refund-vat': m020,
  '021-ended-row-purge': m021,
  '022-paid-orders-hold-merchant-uid': m022,
  '023-reconcile-merchant-walks': m023,
  '024-schedule-lease-index-running': m024,
  '027-webhook-queue-indexes-partial': m027,
  '028-open-row-indexes-partial': m028,
  '029-vbank-deposit-checks': m029,
  '030-sandbox-auto-cancel-lease': m030,
  '031-billing-keys-vault-key-index': m031,
};

/** The names of every migration this version knows. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS);

/**
 * Hands Kysely's Migrator our migrations, each told which database it runs on. `newer`: migrations
 * a newer Pier recorded in this database; they are listed as already run (never run here), since
 * Kysely refuses a database whose recorded migrations it is not given, and migrations only add
 * tables and columns, which this version does not read (docs/operations.md, "Upgrading").
 */
export class PierMigrations implements MigrationProvider {
  constructor(
    private readonly dialect: Dialect,
    private readonly newer: readonly string[] = [],
    private readonly notice: MigrationNotice = () => {},
  ) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const newer = this.newer.map((name): [string, Migration] => [
      name,
      {
        up: async () => {
          throw new Error(`migration ${name} is a newer Pier's; this version cannot run it`);
        },
      },
    ]);
    return Object.fromEntries([
      ...Object.entries(MIGRATIONS).map(([name, m]) => [name, { up: (db: Kysely<any>) => m.up(db, this.dialect, this.notice) }]),
      ...newer,
    ]);
  }
}
