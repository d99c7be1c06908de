import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { ConnectionQueue } from './connection-queue.js';

/**
 * The pg pool Kysely runs on, with the statements Pier runs again and again sent as named
 * (prepared) statements: PostgreSQL then parses and analyses each one once per connection instead
 * of on every call. Pier's payment statements are large data-modifying CTEs, and parsing and
 * planning them was most of PostgreSQL's CPU per payment (docs/performance.md: 1.7 → 0.7 ms).
 *
 * A text is named on its second use with parameters (one-off statements stay unnamed), and at most
 * `maxNamed` texts are named per process, so statements built with varying shapes (an `in` list of
 * any length) cannot grow every connection's statement cache without bound.
 *
 * A text that carries CUSTOM_PLAN is never named: PostgreSQL plans an unnamed statement with its
 * parameters' values each time, where a named one's generic plan is made once, on the table as it
 * was then.
 *
 * A migration run by another process can change a table under a cached plan that returns its rows
 * (`select *`, `returning *`); PostgreSQL then refuses the statement with 0A000 ("cached plan must
 * not change result type") before running any of it. Outside a transaction the connection's named
 * statements are dropped and the statement is sent again; inside one the transaction has failed
 * (the caller's error), and they are dropped when it ends.
 *
 * Every statement and every connection lent out takes its turn from a ConnectionQueue first: a
 * statement that opens new work (`opening`, a charge's first record) waits for the work already
 * under way, and past Pier's capacity the newest new work goes first (decision 0038).
 */
export function withPreparedStatements(
  pool: pg.Pool,
  opts: {
    /**
     * the pool's size and how long a statement waits for a connection (its max and
     * connectionTimeoutMillis); `now`: the clock a standing queue is judged by (ms; tests)
     */
    connections: { size: number; waitMs: number; now?: () => number };
    maxNamed?: number;
    readTimeoutMs?: number;
    /** a connection lent out (in a transaction, between its statements) failed: the server ended its session */
    onLentError?: (err: Error) => void;
  },
): PostgresPool & { run: StatementRunner; turns: ConnectionQueue } {
  const turns = new ConnectionQueue(opts.connections.size, opts.connections.waitMs, opts.connections.now);
  const maxNamed = opts.maxNamed ?? 500;
  // pg's own per-statement wait for the answer (query_timeout); 0 = none
  const deadline = opts.readTimeoutMs ? { query_timeout: opts.readTimeoutMs } : {};
  // pg-pool drops a connection whose pool.query failed; one that failed for want of an answer is
  // closed at once rather than ended politely through a server that no longer reads
  pool.on('release', (err: unknown, client: pg.PoolClient) => {
    if (isUnanswered(err)) abandon(client);
  });
  const seenOnce = new Set<string>();
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    if (text.includes(CUSTOM_PLAN)) return undefined;
    const name = names.get(text);
    if (name !== undefined || names.size >= maxNamed) return name;
    if (!seenOnce.has(text)) {
      // bounded too: a flood of distinct one-off texts only forgets which were seen once
      if (seenOnce.size >= 10 * maxNamed) seenOnce.clear();
      seenOnce.add(text);
      return undefined;
    }
    seenOnce.delete(text);
    const named = `pier_${createHash('sha1').update(text).digest('base64url')}`;
    names.set(text, named);
    return named;
  };
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  // connections lent out through connect(), until given back
  const lent = new WeakSet<pg.PoolClient>();
  const giveTurn = () => turns.give();
  const wrap = (client: pg.PoolClient) => {
    const wrapper = preparingClient(client, nameOf, deadline, lent, giveTurn, opts.onLentError);
    wrapped.set(client, wrapper);
    return wrapper;
  };
  // Each new connection gets its error listener (the wrapper's) as pg-pool opens it, before it is
  // handed out: pg-pool takes its own listener off a connection it hands out, and connect()'s
  // caller gets the connection only a turn of promises later. A session the server ended as it
  // began (pg_terminate_backend of every connection in a loop, a shutdown while Pier reconnects)
  // sends its FATAL in the packet that brought ReadyForQuery; pg emitted it in between, to no
  // listener, and Node ended the process (decision 0128).
  pool.on('connect', (client: pg.PoolClient) => {
    if (!wrapped.has(client)) wrap(client);
  });
  const connect = async () => {
    await turns.take(false);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      turns.give();
      throw err;
    }
    const wrapper = wrapped.get(client) ?? wrap(client);
    lent.add(client);
    return wrapper;
  };
  const send = <R>(text: string, values: ReadonlyArray<unknown>, opening?: () => void): Promise<{ rows: R[] }> => {
    // pg's own pool.query (callbacks inside: a few promises fewer than connect, query, release);
    // only a statement whose cached plan a migration invalidated takes the wrapped connection,
    // which drops that connection's statements and sends it again. pg-pool closes a connection
    // whose pool.query failed: these statements fail only on real errors (a taken merchant_uid
    // is ON CONFLICT DO NOTHING), so that costs a reconnect only then
    const name = values.length > 0 ? nameOf(text) : undefined;
    const config = { text, values: values as unknown[], ...(name ? { name } : {}), ...deadline };
    const sent = opening ? queryAfter<R & pg.QueryResultRow>(pool, config, opening) : pool.query<R & pg.QueryResultRow>(config);
    // the turn is given back once pg-pool has the connection back (it releases before it answers)
    return sent.then(
      (result) => {
        turns.give();
        return result;
      },
      async (err: { code?: string }) => {
        turns.give();
        if (!name || err.code !== '0A000') throw err;
        const client = await connect();
        try {
          return await client.query<R>(text, values);
        } finally {
          client.release();
        }
      },
    );
  };
  return {
    connect,
    end: () => pool.end(),
    turns,
    run<R>(text: string, values: ReadonlyArray<unknown>, opening?: () => void) {
      const turn = turns.take(opening !== undefined);
      return turn ? turn.then(() => send<R>(text, values, opening)) : send<R>(text, values, opening);
    },
  };
}

/**
 * Marks a statement to be planned with its values at every run (never named; a comment, so
 * SQLite reads it as nothing). For a long list of values matched against a large table:
 * PostgreSQL hashes an `IN` list of values, but compares each row with every parameter of a
 * generic plan's list in turn, and a generic plan made before the table was analysed may walk every
 * row of a merchant doing so (schedule creation's duplicate check: 42 ms for 500 against 5,000
 * schedules, 0.6 ms planned with the values).
 */
export const CUSTOM_PLAN = '/* pier: planned with its values */';

/**
 * One statement on a pooled connection, outside any transaction: its rows. `opening` marks the
 * first statement of new work (a charge's first record): it waits for a connection until no work
 * already under way does (ConnectionQueue), and is run once the connection is held, right before
 * the statement is sent: what it throws fails the statement unsent (a request whose client left
 * while it waited: see Deps.clientGone).
 */
export type StatementRunner = <R>(text: string, values: ReadonlyArray<unknown>, opening?: () => void) => Promise<{ rows: R[] }>;

/** pg's record of the statements a connection has prepared: cleared with the server's own (DEALLOCATE ALL). */
interface PgConnectionInternals {
  parsedStatements: Record<string, string>;
  submittedNamedStatements?: Record<string, string>;
}

/**
 * pool.query with `opening` run once the connection is held: pg-pool's own pool.query (connect,
 * then the client's query, by callbacks; a connection error while it runs, or the statement's
 * error, given back with the connection, which pg-pool then closes), with that one check between.
 */
function queryAfter<R extends pg.QueryResultRow>(pool: pg.Pool, config: pg.QueryConfig, opening: () => void): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    pool.connect((err, client, release) => {
      if (err || !client) return reject(err ?? new Error('no connection'));
      try {
        opening();
      } catch (refused) {
        release();
        return reject(refused);
      }
      const end = new StatementEnd<R>(client, release, resolve, reject);
      client.once('error', end.onError);
      try {
        client.query<R>(config, (queryErr, result) => end.settle(queryErr ?? undefined, result));
      } catch (thrown) {
        end.settle(thrown as Error);
      }
    });
  });
}

/**
 * queryAfter's end of a statement, by its answer or by the connection's error, whichever comes
 * first: the connection is given back once. A class, not a named arrow made in queryAfter: a
 * function made per payment and given a name costs a defineProperty each time under esbuild's
 * keepNames (decision 0030).
 */
class StatementEnd<R extends pg.QueryResultRow> {
  #released = false;
  readonly onError: (err: Error) => void;
  constructor(
    private readonly client: pg.PoolClient,
    private readonly release: (err?: Error | boolean) => void,
    private readonly resolve: (result: pg.QueryResult<R>) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.onError = (err) => this.settle(err);
  }

  settle(failure: Error | undefined, result?: pg.QueryResult<R>): void {
    if (this.#released) return;
    this.#released = true;
    this.client.removeListener('error', this.onError);
    this.release(failure);
    if (failure) this.reject(failure);
    else this.resolve(result!);
  }
}

/** pg's error for a statement whose answer did not come within query_timeout. */
function isUnanswered(err: unknown): boolean {
  return err instanceof Error && err.message === 'Query read timeout';
}

/** SQLSTATE class 57P: the server is ending the session that ran the statement. */
function isSessionEnding(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('57P');
}

/** Closes a connection whose statement went unanswered: its socket may never answer or close. */
function abandon(client: pg.PoolClient): void {
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
}

function preparingClient(
  client: pg.PoolClient,
  nameOf: (text: string) => string | undefined,
  deadline: { query_timeout?: number },
  lent: WeakSet<pg.PoolClient>,
  onRelease: () => void,
  onLentError?: (err: Error) => void,
): PostgresPoolClient {
  let inTransaction = false;
  let stale = false;
  // a statement went unanswered: the connection still waits for that answer, so nothing more is
  // sent on it (a ROLLBACK would wait as long again), and it is closed when given back
  let abandoned = false;
  // pg-pool listens for a connection's errors only while it is idle in the pool. One lent out,
  // between two statements of a transaction, whose session the server ends (idle in transaction
  // too long, pg_terminate_backend, a restart) emits an error nobody hears, which would end the
  // process; the transaction's next statement fails instead, and the connection is closed when
  // given back.
  let lost = false;
  client.on('error', (err) => {
    abandoned = true;
    // an idle one's error is the pool's to report; one loss is reported once (the server's notice
    // can be followed by "Connection terminated unexpectedly" when the socket closes)
    if (lent.has(client) && !lost) onLentError?.(err);
    lost = true;
  });
  const forgetPrepared = async () => {
    await client.query('DEALLOCATE ALL');
    const internals = (client as unknown as { connection: PgConnectionInternals }).connection;
    internals.parsedStatements = {};
    if (internals.submittedNamedStatements) internals.submittedNamedStatements = {};
    stale = false;
  };
  return {
    query(q: unknown, values?: ReadonlyArray<unknown>) {
      if (typeof q !== 'string') return client.query(q as never) as never;
      return run(q, values ?? []) as never;
    },
    release: (destroy?: boolean) => {
      lent.delete(client);
      client.release(destroy || abandoned);
      onRelease();
    },
  } as PostgresPoolClient;

  async function run(text: string, values: ReadonlyArray<unknown>) {
    if (abandoned) throw new Error('database connection lost: its session ended, or an earlier statement on it went unanswered');
    // Kysely's transactions are `begin` … `commit` / `rollback` on one connection
    if (text === 'begin') inTransaction = true;
    const name = values.length > 0 ? nameOf(text) : undefined;
    try {
      const result = await client.query({ text, values: values as unknown[], ...(name ? { name } : {}), ...deadline });
      if (text === 'commit' || text === 'rollback') {
        inTransaction = false;
        if (stale) await forgetPrepared();
      }
      return result;
    } catch (err) {
      if (isUnanswered(err)) {
        abandoned = true;
        abandon(client);
        throw err;
      }
      // the server ends this session (57P01 pg_terminate_backend or an admin shutdown, 57P02/57P03 a
      // crash or restart): its socket closes after this answer, so the connection is closed when given
      // back rather than lent again before pg-pool hears of it ("Connection terminated unexpectedly")
      if (isSessionEnding(err)) abandoned = true;
      if (text === 'commit' || text === 'rollback') inTransaction = false;
      if (name && (err as { code?: string }).code === '0A000') {
        if (inTransaction) stale = true;
        else {
          await forgetPrepared();
          return client.query({ name, text, values: values as unknown[], ...deadline });
        }
      }
      throw err;
    }
  }
}
