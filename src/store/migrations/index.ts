import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-window.js';
import * as m003 from './003-schedules-webhooks.js';
import * as m004 from './004-console.js';
import * as m009 from './009-wire.js';

export type Dialect = 'sqlite' | 'postgres';

type DialectMigration = { up(db: Kysely<any>, dialect: Dialect): Promise<void> };

/** Every migration, in order. Names sort lexically; never rename or edit a landed one. */
const MIGRATIONS: Record<string, DialectMigration> = {
  '001-initial': m001,
  '002-window': m002,
  '003-schedules-webhooks': m003,
  '004-console': m004,
  '009-wire': m009,
};

/** Hands Kysely's Migrator our migrations, each told which database it runs on. */
export class PierMigrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return Object.fromEntries(
      Object.entries(MIGRATIONS).map(([name, m]) => [name, { up: (db: Kysely<any>) => m.up(db, this.dialect) }]),
    );
  }
}
