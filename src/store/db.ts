import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, SqliteDriver, sql, type Compilable, type DatabaseConnection, type DialectAdapter, type Driver, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { DEFAULT_AUTOCHECKPOINT_PAGES, SAFETY_NET_PAGES, startCheckpointer, type Checkpointer } from './checkpointer.js';
import { MIGRATION_NAMES, PierMigrations, type Dialect, type MigrationNotice } from './migrations/index.js';
import { INDEX_ONLY_OPTIONS, INDEX_ONLY_POOL_SIZE } from './index-only.js';
import { withPreparedStatements, type StatementRunner } from './pg-prepared.js';
import { rememberResultShapes } from './pg-result-shapes.js';
import { SqliteReader, sqliteReaderDialect } from './sqlite-reader.js';
import { sqliteWriteLock, waitingForLocks, type SqliteWriteLock } from './sqlite-write-lock.js';
import type { Database } from './types.js';

// BIGINT (int8) and NUMERIC come back from pg as strings; Pier's BIGINTs are seconds and KRW,
// well inside Number's exact range, so read them as numbers.
pg.types.setTypeParser(20, (v) => Number(v));
rememberResultShapes();

export interface Store {
  db: Kysely<Database>;
  /**
   * For reads whose rows grow with a merchant's history (the V1 lists, with exact totals): on a
   * SQLite file their statements run on a reader thread (src/store/sqlite-reader.ts), off the event
   * loop every payment waits on; elsewhere it is `db`. Single statements only, no transactions.
   */
  readerDb: Kysely<Database>;
  dialect: Dialect;
  /** a short label for logs: `sqlite:/path` or `postgres://host/db` (no password) */
  label: string;
  close(): Promise<void>;
  /**
   * SQLite only: runs `unit` as one transaction (BEGIN IMMEDIATE … COMMIT) synchronously on Kysely's
   * one connection, which it holds meanwhile, so no other statement runs between the unit's. A
   * unit's statements are one hand-off to the database where PostgreSQL needs one network round
   * trip per statement (docs/performance.md). `unit` must not await; it throws to roll back.
   * Never call it inside a Kysely transaction on the same store: it would wait for the connection
   * that transaction holds.
   *
   * @example
   *   const [row] = await store.syncTransaction!((run) => run(db.updateTable('payments').set(…).returningAll()));
   */
  syncTransaction?: <T>(unit: (run: RunSync) => T) => Promise<T>;
  /** SQLite file only: the thread that checkpoints the WAL off the event loop (decision 0022) */
  checkpointer?: Checkpointer;
  /** SQLite only: where statements wait for another process's locks (src/store/sqlite-write-lock.ts) */
  writeLock?: SqliteWriteLock;
  /**
   * PostgreSQL only: one compiled statement sent straight to the pool (named, as Kysely's are),
   * outside any transaction. For the statements every payment runs (runTemplate): Kysely's
   * executor makes about a dozen promises around each statement (docs/performance.md).
   */
  runStatement?: StatementRunner;
  /** PostgreSQL: how many statements wait for a connection of the main pool now, by line (ConnectionQueue) */
  connectionWaits?: () => { underWay: number; opening: number };
  /**
   * PostgreSQL only: a small pool whose sessions plan no sequential and no bitmap scan, for the
   * job claims (byIndexOnly, src/store/index-only.ts).
   */
  indexOnlyDb?: Kysely<Database>;
  /**
   * PostgreSQL only: a connection of its own with no statement deadline, for work that may rightly
   * take long (migrations: an index built on a large table); the caller destroys it.
   */
  maintenance?: () => Kysely<Database>;
}

/** Runs one query synchronously inside Store.syncTransaction: the rows it returns (none for a write without RETURNING). */
export type RunSync = <R>(query: Compilable<R>) => R[];

/** How long a PostgreSQL statement waits for a connection by default (config `databaseConnectTimeoutMs`). */
export const DATABASE_CONNECT_TIMEOUT_MS = 10_000;

/** How long a PostgreSQL statement may take by default (config `databaseStatementTimeoutMs`). */
export const DATABASE_STATEMENT_TIMEOUT_MS = 30_000;

/** PostgreSQL connections one process opens for its statements by default (config `databasePoolSize`). */
export const DATABASE_POOL_SIZE = 10;

/**
 * How much longer than statement_timeout Pier waits for an answer on an open connection: a live
 * server cancels the statement first and says so; past this, the server is taken as gone.
 */
export const STALLED_ANSWER_MARGIN_MS = 5_000;

/** Opens the database named by a URL: `sqlite:<file>`, `sqlite::memory:` or `postgres://…`. */
export function openStore(
  databaseUrl: string,
  opts: {
    /** PostgreSQL: the most connections for statements (job claims have INDEX_ONLY_POOL_SIZE more) */
    poolSize?: number;
    /** PostgreSQL: a pooled connection failed while no statement was running on it, idle in the pool or lent between two statements (the server ended its session); the pool opens a new one */
    onConnectionLost?: (err: Error) => void;
    /** SQLite: a failed WAL checkpoint pass (a failure that lasts: once, then once a minute), or a checkpointer thread that could not start or died */
    onCheckpointError?: (err: Error) => void;
    /** SQLite: a WAL checkpoint pass succeeded after `failedPasses` failed in a row (space freed on a full disk) */
    onCheckpointRecovered?: (failedPasses: number) => void;
    /** SQLite: the reader thread failed (src/store/sqlite-reader.ts); the next read starts another */
    onReaderError?: (err: Error) => void;
    /** SQLite: ms between checkpoint passes (default 100) */
    checkpointIntervalMs?: number;
    /** SQLite: ms a statement waits for another process's lock before SQLITE_BUSY (default 5,000) */
    sqliteLockWaitMs?: number;
    /** SQLite: the clock (ms) by which that wait is judged (tests; default performance.now) */
    sqliteLockClock?: () => number;
    /**
     * PostgreSQL: ms a statement waits for a connection, whether the pool's are all busy or a new
     * one is being opened, before it fails (default DATABASE_CONNECT_TIMEOUT_MS)
     */
    connectTimeoutMs?: number;
    /**
     * PostgreSQL: ms a statement may run, wait for a lock, or wait for an answer, before it fails;
     * also how long a transaction may sit idle (default DATABASE_STATEMENT_TIMEOUT_MS; 0: no limit).
     * Migrations run without it (Store.maintenance). SQLite: ms a read on the reader thread may
     * take, its wait behind other reads included (the main connection's statements have no deadline).
     */
    statementTimeoutMs?: number;
    /** PostgreSQL: the clock (ms) by which the connection queue judges a wait long (tests; ConnectionQueue) */
    queueClock?: () => number;
  } = {},
): Store {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    const onFile = file !== ':memory:' && file !== '';
    const checkpointer = onFile ? startWalCheckpointer(sqlite, file, opts) : undefined;
    const statements = withStatementCache(sqlite);
    // never sleep in SQLite's busy handler (it would stop the event loop): statements that meet
    // another process's lock wait in sqlite-write-lock.ts, yielding to the event loop (decision 0028)
    sqlite.pragma('busy_timeout = 0');
    const writeLock = sqliteWriteLock(sqlite, { waitMs: opts.sqliteLockWaitMs, now: opts.sqliteLockClock });
    const dialect = new WriteLockingSqliteDialect({ database: statements }, (conn) => waitingForLocks(conn, sqlite, statements.prepare, writeLock), writeLock, sqlite);
    const db = new Kysely<Database>({ dialect });
    const readerDb = onFile ? new Kysely<Database>({ dialect: sqliteReaderDialect(new SqliteReader(file, { onError: opts.onReaderError, statementTimeoutMs: opts.statementTimeoutMs ?? DATABASE_STATEMENT_TIMEOUT_MS })) }) : db;
    const run: RunSync = <R>(query: Compilable<R>) => {
      const { sql: text, parameters } = query.compile();
      const stmt = statements.prepare(text);
      if (stmt.reader) return stmt.all(parameters as unknown[]) as R[];
      stmt.run(parameters as unknown[]);
      return [];
    };
    return {
      db,
      readerDb,
      dialect: 'sqlite',
      label: `sqlite:${file}`,
      checkpointer,
      // the threads' connections close first, so the main connection is the last one and SQLite's
      // checkpoint-on-close empties the WAL
      close: async () => {
        if (readerDb !== db) await readerDb.destroy();
        await checkpointer?.stop();
        await db.destroy();
      },
      writeLock,
      // BEGIN IMMEDIATE (the unit's reads and writes never interleave with another process's), taken
      // without blocking the event loop; then the unit and COMMIT in one synchronous stretch
      syncTransaction: <T>(unit: (run: RunSync) => T) => dialect.exclusively(() => writeLock.transaction(() => unit(run))),
    };
  }
  // Without a deadline a server that accepts connections and never answers (frozen, a half-open
  // network path) holds every request and every job claim for good, and a full pool queues them
  // without end; with one they fail (V1's internal error, a claim retried later) and the pool recovers.
  const connectionTimeoutMillis = opts.connectTimeoutMs ?? DATABASE_CONNECT_TIMEOUT_MS;
  // The same for a statement once sent: PostgreSQL cancels one that runs or waits for a lock past
  // statement_timeout, and ends a session left idle in a transaction (a frozen process holding row
  // locks) past idle_in_transaction_session_timeout. A server that stops answering on an open
  // connection cannot cancel anything: Pier gives up waiting a little later (withPreparedStatements'
  // readTimeoutMs) and closes that connection.
  const statementTimeoutMs = opts.statementTimeoutMs ?? DATABASE_STATEMENT_TIMEOUT_MS;
  const deadlines = {
    connectionTimeoutMillis,
    ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: statementTimeoutMs } : {}),
  };
  const readTimeoutMs = statementTimeoutMs > 0 ? statementTimeoutMs + STALLED_ANSWER_MARGIN_MS : 0;
  const poolSize = opts.poolSize ?? DATABASE_POOL_SIZE;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, ...deadlines });
  // An idle connection can die under the pool (server restart, failover, a dropped test database).
  // The pool discards it and the next query opens a new one; without a listener the 'error' event
  // would be an uncaught exception that takes the whole process down.
  pool.on('error', (err) => opts.onConnectionLost?.(err));
  const prepared = withPreparedStatements(pool, { connections: { size: poolSize, waitMs: connectionTimeoutMillis, now: opts.queueClock }, readTimeoutMs, onLentError: opts.onConnectionLost });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: prepared }) });
  // the job claims' connections: their planner settings are given at connection start, so a claim
  // is one statement with no SET of its own
  const indexOnlyPool = new pg.Pool({ connectionString: databaseUrl, max: INDEX_ONLY_POOL_SIZE, options: INDEX_ONLY_OPTIONS, ...deadlines });
  indexOnlyPool.on('error', (err) => opts.onConnectionLost?.(err));
  const indexOnlyDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: withPreparedStatements(indexOnlyPool, { connections: { size: INDEX_ONLY_POOL_SIZE, waitMs: connectionTimeoutMillis }, readTimeoutMs, onLentError: opts.onConnectionLost }) }) });
  const u = new URL(databaseUrl);
  return {
    db,
    readerDb: db,
    dialect: 'postgres',
    label: `postgres://${u.host}${u.pathname}`,
    close: async () => {
      await indexOnlyDb.destroy();
      await db.destroy();
    },
    runStatement: prepared.run,
    connectionWaits: () => prepared.turns.waiting,
    indexOnlyDb,
    maintenance: () => {
      const one = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis });
      one.on('error', (err) => opts.onConnectionLost?.(err));
      return new Kysely<Database>({ dialect: new PostgresDialect({ pool: one }) });
    },
  };
}

/**
 * Kysely's SQLite dialect with two changes: a transaction begins with BEGIN IMMEDIATE, taken by
 * `lock`, and the connection comes `wrap`ped (statements outside a transaction wait through it too).
 * IMMEDIATE: several processes may share the file (PIER_WORKERS, `pier` commands), and a deferred
 * BEGIN that reads and then writes fails with SQLITE_BUSY_SNAPSHOT, without waiting, when another
 * process wrote in between; taking the write lock first means a transaction's reads and writes
 * never interleave with another process's. `lock` waits for it without blocking the event loop.
 */
class WriteLockingSqliteDialect extends SqliteDialect {
  constructor(
    private readonly dialectConfig: SqliteDialectConfig,
    private readonly wrap: (conn: DatabaseConnection) => DatabaseConnection,
    private readonly lock: SqliteWriteLock,
    private readonly sqlite: SQLite.Database,
  ) {
    super(dialectConfig);
  }

  #driver: WriteLockingSqliteDriver | undefined;

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  override createDriver(): Driver {
    return (this.#driver = new WriteLockingSqliteDriver(this.dialectConfig, this.wrap, this.lock, this.sqlite));
  }

  /**
   * `work` while holding the one connection, as `db.connection().execute` would, without the
   * Kysely instance that builds for its callback (frozen props, a query creator: two per payment,
   * docs/performance.md): Store.syncTransaction runs its statements on the SQLite handle itself.
   */
  exclusively<T>(work: () => Promise<T>): Promise<T> {
    // (Kysely builds the driver in its constructor; a rejection keeps the answer a promise either way)
    if (!this.#driver) return Promise.reject(new Error('the SQLite store has no driver yet'));
    return this.#driver.exclusively(work);
  }
}

/**
 * SQLite runs DDL in transactions, but Kysely's adapter says it does not, so its Migrator ran each
 * statement on its own: a migration stopped half-way (a full disk, a crash) kept its first
 * statements unrecorded, and every later start failed on them ("duplicate column name"). Said
 * true, the Migrator runs the pending migrations in one transaction, which BEGIN IMMEDIATE also
 * makes one at a time across processes on the file (a `pier` command beside a starting server).
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class WriteLockingSqliteDriver extends SqliteDriver {
  #wrapped: DatabaseConnection | null = null;

  constructor(
    config: SqliteDialectConfig,
    private readonly wrap: (conn: DatabaseConnection) => DatabaseConnection,
    private readonly lock: SqliteWriteLock,
    private readonly sqlite: SQLite.Database,
  ) {
    super(config);
  }

  // SQLite has one connection: wrapped once, handed out under Kysely's mutex as before
  override async acquireConnection(): Promise<DatabaseConnection> {
    const conn = await super.acquireConnection();
    return (this.#wrapped ??= this.wrap(conn));
  }

  override async beginTransaction(): Promise<void> {
    await this.lock.begin();
  }

  /**
   * ROLLBACK only if the transaction is still open. SQLite ends it itself on some errors (a full
   * disk, an I/O error, out of memory: SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM); Kysely's ROLLBACK
   * then failed with "cannot rollback - no transaction is active", and that error replaced the
   * statement's, so the log named a rollback instead of the full disk (decision 0129).
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.sqlite.inTransaction) await super.rollbackTransaction(connection);
  }

  /** Kysely's connection mutex (SqliteDriver's own acquire and release), held around `work` */
  async exclusively<T>(work: () => Promise<T>): Promise<T> {
    await super.acquireConnection();
    try {
      return await work();
    } finally {
      await super.releaseConnection();
    }
  }
}

/**
 * Checkpoints `file`'s WAL in a worker thread (src/store/checkpointer.ts) and raises the main
 * connection's auto-checkpoint to a safety net that only runs if the thread falls far behind; if the
 * thread is gone, SQLite's default comes back, so the WAL stays as bounded as without it.
 */
function startWalCheckpointer(
  sqlite: SQLite.Database,
  file: string,
  opts: { onCheckpointError?: (err: Error) => void; onCheckpointRecovered?: (failedPasses: number) => void; checkpointIntervalMs?: number },
): Checkpointer {
  sqlite.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
  return startCheckpointer(file, {
    intervalMs: opts.checkpointIntervalMs,
    onError: opts.onCheckpointError,
    onRecovered: opts.onCheckpointRecovered,
    onExit: () => {
      if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      opts.onCheckpointError?.(new Error('the WAL checkpointer thread stopped; the main connection checkpoints again'));
    },
  });
}

/**
 * Kysely prepares (compiles) every SQLite query anew; a payment runs the same few SQL texts over and
 * over, so keep the compiled statements (bench/: about a fifth of Pier's CPU per payment on SQLite).
 * A statement still being iterated (a streamed query) is never handed out twice.
 */
function withStatementCache(sqlite: SQLite.Database, max = 500) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (!stmt || stmt.busy) {
        stmt = sqlite.prepare(sqlText);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

/**
 * Brings the schema up to date; safe to run from several processes at once on PostgreSQL.
 * A database a newer Pier migrated is used as it is: `onNewer` is told the migrations this version
 * does not know (a process restarted mid-rollout, or a rollback, still starts). `onNotice`: what a
 * migration repairing data reports (migration 022: paid orders given back their merchant_uid).
 */
export async function migrateToLatest(store: Store, opts: { onNewer?: (names: string[]) => void; onNotice?: MigrationNotice } = {}): Promise<string[]> {
  const run = async (db: Kysely<Database>) => {
    for (let pass = 1; ; pass++) {
      const recorded = await recordedMigrations(db);
      const newer = recorded.filter((name) => !MIGRATION_NAMES.includes(name));
      // nothing to do: no migration transaction, which on SQLite would take the write lock (a `pier`
      // command beside a busy server would wait for it)
      if (MIGRATION_NAMES.every((name) => recorded.includes(name))) {
        if (newer.length > 0) opts.onNewer?.(newer);
        return [];
      }
      const migrator = new Migrator({ db, provider: new PierMigrations(store.dialect, newer, opts.onNotice) });
      const { error, results } = await migrator.migrateToLatest();
      if (!error) {
        if (newer.length > 0) opts.onNewer?.(newer);
        return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      }
      // A newer Pier committed migrations between the read above and the migration lock this one
      // waited for: Kysely, not given their names, refused the database ("corrupted migrations")
      // and ran nothing. Read what is recorded again and go on from there.
      const committedMeanwhile = (await recordedMigrations(db)).filter((name) => !MIGRATION_NAMES.includes(name) && !newer.includes(name));
      if (committedMeanwhile.length === 0 || pass >= 3) throw error instanceof Error ? error : new Error(String(error));
    }
  };
  // PostgreSQL: on a connection without the statement deadline (a migration may build an index on
  // a large table); SQLite has none
  const maintenance = store.maintenance?.();
  try {
    return await run(maintenance ?? store.db);
  } finally {
    await maintenance?.destroy();
  }
}

/** The migrations recorded in the database by any Pier version (none before the first start). */
async function recordedMigrations(db: Kysely<Database>): Promise<string[]> {
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    return rows.map((r) => r.name);
  } catch (err) {
    // a new database: Kysely's table is made by the migrator
    if ((err as { code?: string }).code === '42P01' || /no such table/.test((err as Error).message)) return [];
    throw err;
  }
}

/** True when a write failed on a unique constraint (both databases). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when an insert into `table` failed on its primary key (PostgreSQL names it `<table>_pkey`). */
export function isPrimaryKeyViolation(err: unknown, table: string): boolean {
  const e = err as { code?: string; constraint?: string; message?: string } | null;
  if (e?.code === '23505') return e.constraint === `${table}_pkey`;
  return e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && (e.message ?? '').includes(`${table}.`);
}

export { sql };
