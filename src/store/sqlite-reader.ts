import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

/**
 * SQLite reads that may read many rows, on a thread of their own (decision 0035).
 *
 * better-sqlite3 runs a statement on the calling thread. The V1 lists give an exact `total` and
 * sort by any of three times, so what one call reads grows with the merchant: with 200,000
 * payments, `GET /payments/status/paid` over its default 90 days reads all of them (12 ms to count,
 * 110-200 ms to sort), and on the main connection every payment of every merchant waits meanwhile.
 * Here such statements run on a worker thread with its own read-only connection to the file: WAL
 * lets it read the latest commit while the main connection writes, and the event loop goes on.
 *
 * One thread, statements one after another: a long list delays another list, never a payment, and
 * no read waits past the statement deadline (PostgreSQL's `statement_timeout`, decision 0033): one
 * that would is failed and its thread abandoned to a new one. The thread starts at the first read and
 * starts again at the next read after it died; a read that was running when it died fails (V1's
 * internal error), as it would on a lost database connection.
 */

// Plain CommonJS run with `eval`, as the checkpointer's: no TypeScript loader, no parent execArgv.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
// off the event loop a reader may wait for a lock (WAL recovery by another connection)
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
parentPort.postMessage({ ready: true });
const cache = new Map();
function prepare(text) {
  let stmt = cache.get(text);
  if (!stmt) {
    stmt = db.prepare(text);
    if (cache.size >= 100) cache.delete(cache.keys().next().value);
    cache.set(text, stmt);
  }
  return stmt;
}
parentPort.on('message', (m) => {
  if (m === 'stop') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const stmt = prepare(m.sql);
    if (!stmt.reader) throw new Error('the reader thread runs statements that return rows only');
    parentPort.postMessage({ id: m.id, rows: stmt.all(m.parameters) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String((err && err.message) || err), code: err && err.code } });
  }
});
`;

interface Pending {
  text: string;
  parameters: readonly unknown[];
  resolve(rows: unknown[]): void;
  reject(err: Error): void;
  /** the read's deadline, from when it was (last) sent to a thread that had started */
  timer?: NodeJS.Timeout;
}

/** One thread and the reads sent to it, in the order it runs them. */
interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** its connection is open: the deadlines of the reads sent to it run from then */
  started: boolean;
  exited: Promise<void>;
}

/** The thread and the reads waiting for it. */
export class SqliteReader {
  #thread: Thread | null = null;
  #next = 0;
  #stopped = false;

  constructor(
    private readonly file: string,
    private readonly opts: {
      busyTimeoutMs?: number;
      /**
       * ms a read may take, waiting behind other reads included (not the start of its thread), before
       * it fails (0 or none: no limit). SQLite cannot be interrupted from outside its thread, so the
       * thread is left to finish that statement and end, and the reads queued behind it go to a new
       * thread.
       */
      statementTimeoutMs?: number;
      onError?: (err: Error) => void;
    } = {},
  ) {}

  #start(): Thread {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { file: this.file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), busyTimeoutMs: this.opts.busyTimeoutMs ?? 5000 },
      // a list's rows (a page of 100, or one count) and SQLite's page cache
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
    });
    // never keeps the process alive: a process that forgot store.close() still exits
    worker.unref();
    const pending = new Map<number, Pending>();
    worker.on('message', (m: { ready?: true; id: number; rows?: unknown[]; error?: { message: string; code?: string } }) => {
      if (m.ready) {
        thread.started = true;
        for (const [id, p] of pending) this.#arm(id, p);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) worker.unref();
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(m.rows ?? []);
    });
    // an 'error' event with no listener would throw in the main thread and take the process down
    worker.on('error', (err) => this.opts.onError?.(err));
    const thread: Thread = {
      worker,
      pending,
      started: false,
      exited: new Promise((resolve) =>
        worker.once('exit', () => {
          if (this.#thread === thread) this.#thread = null;
          const lost = [...pending.values()];
          pending.clear();
          for (const p of lost) p.reject(new Error('the SQLite reader thread stopped while a read was running'));
          resolve();
        }),
      ),
    };
    return thread;
  }

  /**
   * Starts a read's deadline. Not before its thread has started: a new thread's start (a busy
   * machine can take a second over it) is not the database's time, and counting it would fail the
   * reads moved to a replacement thread, which would be replaced in turn, and so on.
   */
  #arm(id: number, p: Pending): void {
    const deadlineMs = this.opts.statementTimeoutMs ?? 0;
    clearTimeout(p.timer);
    if (deadlineMs > 0) {
      p.timer = setTimeout(() => this.#abandon(id, deadlineMs), deadlineMs);
      p.timer.unref();
    }
  }

  #send(thread: Thread, id: number, p: Pending): void {
    if (thread.started) this.#arm(id, p);
    else clearTimeout(p.timer); // a moved read's deadline on the thread it left
    thread.pending.set(id, p);
    thread.worker.ref(); // a read in flight keeps the process alive until its answer, like a socket would
    try {
      thread.worker.postMessage({ id, sql: p.text, parameters: p.parameters });
    } catch (err) {
      // a parameter the structured clone cannot copy: this read fails, the thread goes on
      thread.pending.delete(id);
      if (thread.pending.size === 0) thread.worker.unref();
      p.reject(err as Error);
    }
  }

  /** A read ran past its deadline: it fails, its thread is left to end, the reads behind it move on. */
  #abandon(id: number, ms: number): void {
    const thread = this.#thread; // reads still waiting are all on the current thread
    if (!thread?.pending.has(id)) return; // answered meanwhile
    const late = thread.pending.get(id)!;
    thread.pending.delete(id);
    late.reject(Object.assign(new Error(`the read ran past its deadline of ${ms} ms`), { code: 'READ_DEADLINE' }));
    this.#thread = null;
    const queued = [...thread.pending];
    thread.pending.clear();
    thread.worker.unref();
    // ends once SQLite returns from the statement: its CPU is spent, its answer is dropped
    void thread.worker.terminate().catch(() => undefined);
    this.opts.onError?.(new Error(`a read ran past its deadline of ${ms} ms; its thread is left to finish it and end, ${queued.length} queued read(s) moved to a new thread`));
    if (queued.length === 0) return;
    // they waited behind it through no fault of their own: their deadlines start again
    const next = (this.#thread ??= this.#start());
    for (const [queuedId, p] of queued) this.#send(next, queuedId, p);
  }

  /** The rows of one read-only statement, run on the thread. */
  all(text: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (this.#stopped) return Promise.reject(new Error('the store is closed'));
    const thread = (this.#thread ??= this.#start());
    const id = this.#next++;
    return new Promise<unknown[]>((resolve, reject) => {
      const p: Pending = {
        text,
        parameters,
        resolve: (rows) => {
          clearTimeout(p.timer);
          resolve(rows);
        },
        reject: (err) => {
          clearTimeout(p.timer);
          reject(err);
        },
      };
      this.#send(thread, id, p);
    });
  }

  /** Ends the thread; a statement it is running finishes first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const thread = this.#thread;
    thread?.worker.postMessage('stop');
    await thread?.exited;
  }
}

/** A Kysely dialect whose statements go to `reader`: SQLite's SQL, no transactions. */
export function sqliteReaderDialect(reader: SqliteReader): Dialect {
  const connection: DatabaseConnection = {
    async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
      return { rows: (await reader.all(q.sql, q.parameters)) as R[] };
    },
    async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
      throw new Error('the SQLite reader does not stream');
    },
  };
  const noTransactions = async () => {
    throw new Error('the SQLite reader runs single reads, not transactions');
  };
  const driver: Driver = {
    init: async () => undefined,
    acquireConnection: async () => connection,
    beginTransaction: noTransactions,
    commitTransaction: noTransactions,
    rollbackTransaction: noTransactions,
    releaseConnection: async () => undefined,
    destroy: () => reader.stop(),
  };
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => driver,
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
  };
}
