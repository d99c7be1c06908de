import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints for a SQLite file, off the event loop (decision 0022).
 *
 * better-sqlite3 is synchronous. By default SQLite checkpoints inside the COMMIT that takes the WAL
 * past 1,000 pages: every ~50 payments one request copies the WAL's pages into the database file
 * and syncs it, on the event loop, and every request behind it waits (the open-loop p99, bench/).
 * Here a worker thread with its own connection to the file runs `PRAGMA wal_checkpoint(PASSIVE)`
 * every `intervalMs`. PASSIVE never takes the write lock and never waits for anyone, so the main
 * connection's commits are not held up; a checkpoint is crash-safe by SQLite's design (the WAL is
 * synced before any page is copied, and a page is copied again after a crash).
 *
 * Several processes on one file (PIER_WORKERS, `pier` commands) each run one: a pass that finds
 * another process's checkpoint running just returns. The main connection keeps an auto-checkpoint
 * as a safety net (`SAFETY_NET_PAGES`), so the WAL stays bounded if this thread falls behind; if
 * the thread dies, `onExit` is told and openStore puts SQLite's default back.
 */

/** The main connection's wal_autocheckpoint while the checkpointer runs (SQLite's default is 1,000). */
export const SAFETY_NET_PAGES = 10_000;
/** SQLite's default wal_autocheckpoint, restored when the checkpointer is gone. */
export const DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

/** The longest wait between passes while they fail (each failed pass doubles the wait up to it). */
export const MAX_FAILED_INTERVAL_MS = 5_000;

/** How often a failure that lasts, the same each pass, is told again (decision 0129). */
export const REPORT_EVERY_MS = 60_000;

export interface CheckpointerStats {
  /** checkpoint passes run */
  passes: number;
  /** passes that copied at least one frame into the database file */
  copyingPasses: number;
  /** frames in the WAL after the latest pass */
  walFrames: number;
  /** of those, frames that are in the database file (all of them: the WAL restarts at the next write) */
  checkpointedFrames: number;
  /** passes that failed with an error (the next pass tries again, after a longer wait while they fail) */
  errors: number;
  /** passes that found another connection's checkpoint running (they leave the counts above as they were) */
  busyPasses: number;
}

export interface Checkpointer {
  /** counters shared with the thread (read without a round trip) */
  stats(): CheckpointerStats;
  /** true until the thread has exited */
  readonly running: boolean;
  /** Stops the thread and closes its connection; terminates it if it does not stop within `ms`. */
  stop(ms?: number): Promise<void>;
}

// Plain CommonJS run with `eval`: the worker needs no TypeScript loader (it is started with no
// execArgv, so neither tsx nor a profiler or preload of the parent is loaded into it).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const counters = new BigInt64Array(workerData.counters);
const add = (i) => Atomics.add(counters, i, 1n);
const set = (i, v) => Atomics.store(counters, i, BigInt(v));
const db = new Database(workerData.file, { fileMustExist: true });
// synchronous = NORMAL as on the main connection: the checkpoint syncs the WAL, then the database file
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let timer = null;
let stopped = false;
let catchUps = 0;
// passes failed since the last that succeeded; the failure told last, and when
let failedInRow = 0;
let reported = null;
let reportedAt = 0;
function pass() {
  timer = null;
  if (stopped) return;
  let again = false;
  try {
    // busy: another connection's checkpoint is running (another process's, or the main connection's
    // safety net); log: frames in the WAL; checkpointed: frames of it now in the database file
    const r = checkpoint.get();
    add(0);
    if (r.busy) {
      add(5);
    } else {
      // more frames in the database file than after the last pass, or any after the WAL restarted
      const copied = BigInt(r.checkpointed) > (BigInt(r.log) < counters[2] ? 0n : counters[3]);
      if (copied) add(1);
      set(2, r.log);
      set(3, r.checkpointed);
      // log is the WAL as the pass found it: commits made while it copied are not in it. The WAL
      // restarts from its beginning (stays small) only when a write finds every frame copied, so
      // look again at once until a pass finds nothing new (a few times, not forever under load).
      again = copied && catchUps < 5;
      // (a busy pass checkpointed nothing, so it says nothing of whether the fault has ended)
      if (failedInRow > 0) parentPort.postMessage({ type: 'recovered', failedPasses: failedInRow });
      failedInRow = 0;
      reported = null;
    }
  } catch (err) {
    add(4);
    failedInRow++;
    // a fault that lasts (a full disk, a file made read-only) fails every pass the same way: told
    // once, again only if it changes or once a REPORT_EVERY_MS while it lasts, not on every pass
    const message = String((err && err.message) || err);
    if (message !== reported || Date.now() - reportedAt >= workerData.reportEveryMs) {
      parentPort.postMessage({ type: 'error', message, failedPasses: failedInRow });
      reported = message;
      reportedAt = Date.now();
    }
  }
  catchUps = again ? catchUps + 1 : 0;
  // after failures, each pass waits twice as long as the last, up to the most: a failed pass may
  // have copied (written) pages before it failed, and syncs the WAL; the first pass after the
  // fault ends checkpoints everything, at most that long later
  const waitMs = failedInRow > 0 ? Math.min(workerData.intervalMs * 2 ** failedInRow, Math.max(workerData.intervalMs, workerData.maxFailedIntervalMs)) : workerData.intervalMs;
  timer = again ? setImmediate(pass) : setTimeout(pass, waitMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  if (timer) { clearTimeout(timer); clearImmediate(timer); }
  db.close();
  parentPort.close();
});
pass();
`;

/**
 * Starts the checkpointer for `file` (an existing SQLite file already in WAL mode).
 * `onError` gets a failed pass (of passes failing the same way, the first, then one a
 * REPORT_EVERY_MS) or a thread that could not start; `onRecovered` the first pass that succeeded
 * after failures, with how many failed; `onExit` is called once when the thread ends for any
 * reason other than `stop()`.
 */
export function startCheckpointer(
  file: string,
  opts: { intervalMs?: number; busyTimeoutMs?: number; onError?: (err: Error) => void; onRecovered?: (failedPasses: number) => void; onExit?: () => void } = {},
): Checkpointer {
  // written by the thread, read here: Atomics, so no read is torn
  const counters = new SharedArrayBuffer(6 * BigInt64Array.BYTES_PER_ELEMENT);
  const view = new BigInt64Array(counters);
  const at = (i: number) => Number(Atomics.load(view, i));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), counters, intervalMs: opts.intervalMs ?? 100, busyTimeoutMs: opts.busyTimeoutMs ?? 1000, maxFailedIntervalMs: MAX_FAILED_INTERVAL_MS, reportEveryMs: REPORT_EVERY_MS },
    // a checkpoint needs a few MB at most; keep the thread's heap small
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
  });
  // never keeps the process alive: a process that forgot store.close() still exits
  worker.unref();
  let running = true;
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      running = false;
      if (!stopping) opts.onExit?.();
      resolve();
    });
  });
  worker.on('message', (m: { type?: string; message?: string; failedPasses?: number }) => {
    if (m?.type === 'error') opts.onError?.(new Error(`WAL checkpoint failed: ${m.message}${(m.failedPasses ?? 1) > 1 ? ` (${m.failedPasses} passes in a row)` : ''}`));
    if (m?.type === 'recovered') opts.onRecovered?.(m.failedPasses ?? 0);
  });
  // an 'error' event with no listener would throw in the main thread and take the process down
  worker.on('error', (err) => opts.onError?.(err));
  return {
    stats: () => ({ passes: at(0), copyingPasses: at(1), walFrames: at(2), checkpointedFrames: at(3), errors: at(4), busyPasses: at(5) }),
    get running() {
      return running;
    },
    async stop(ms = 2000) {
      if (!running) return;
      stopping = true;
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
      try {
        // a pass in progress finishes first (a checkpoint cannot be interrupted halfway, nor needs to be)
        if ((await Promise.race([exited, late])) === 'late') await worker.terminate();
      } finally {
        clearTimeout(timer);
      }
      await exited;
    },
  };
}
