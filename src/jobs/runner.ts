import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';

/** How often a lane's claim failing the same way, pass after pass, is logged again (decision 0132, as 0129's checkpointer). */
export const CLAIM_FAILURE_REPORT_EVERY_MS = 60_000;
/** The longest pause of a lane between claims that fail (each failure doubles the idle pause up to it). */
export const MAX_FAILED_CLAIM_PAUSE_MS = 5_000;

/**
 * A kind of background work kept as rows (design.md principle 5). `claim` leases up to `limit`
 * due rows to `owner` in one conditional UPDATE (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so several
 * Pier processes can share a table without taking a row twice; a lease that runs out (the worker
 * died) makes the row claimable again. `run` does one claimed row; it records its own outcome,
 * fenced by the lease, and throws only on bugs. `signal` aborts at shutdown, once the grace period
 * is over: a run that can stop safely (a webhook attempt) gives its row back; one that cannot
 * (a charge already sent to the PG) just finishes or leaves the row to its lease.
 */
export interface JobQueue<J = unknown> {
  name: string;
  claim(owner: string, limit: number): Promise<J[]>;
  run(job: J, owner: string, signal: AbortSignal): Promise<void>;
  /** rows claimed per pass (default 50) */
  batchSize?: number;
  /** rows run at once in this queue's lane (default 10) */
  concurrency?: number;
  /**
   * A lane with rows in flight claims again once this many of its slots are free (default 1): a
   * claim of several rows costs about what a claim of one does, so a queue whose rows finish one
   * by one (due schedules) claims a few at a time instead of one per finished row.
   */
  refillAt?: number;
  /**
   * Given, when the lane starts, a function that ends the lane's pause: for a queue whose room to
   * claim comes back before its rows finish (a webhook receiver's slots free at its answer, the
   * row finishes once its attempt is recorded), so the next claim overlaps the recording, or whose
   * room comes back only at some of its finished rows (due schedules: a merchant's, once half its
   * cap is free). Such a lane is then woken by its finished rows only while it is full: the
   * queue's own wake says when a claim would find room.
   */
  wakeWith?(wake: () => void): void;
}

export interface JobRunnerOptions {
  queues: JobQueue<any>[];
  logger: Logger;
  /** this worker's lease owner id (default host:pid:random) */
  owner?: string;
  /** pause before a lane looks again when nothing was due (default 1 s) */
  idleMs?: number;
  /** called before each claim (e.g. re-read the sandbox clock) */
  beforePass?: () => Promise<void>;
  /** how long `stop()` lets in-flight rows finish before aborting them (default 10 s) */
  shutdownGraceMs?: number;
  /** told of each claim that answered (metrics: pier_job_claims_total and the like) */
  onClaim?: (c: ClaimReport) => void;
  /** the clock a lasting claim failure's reports are spaced by (default the real time) */
  clock?: Clock;
  /** the longest pause between claims while they fail (default MAX_FAILED_CLAIM_PAUSE_MS) */
  maxFailedPauseMs?: number;
}

/** One claim: the rows asked for and leased, and how long the claim took. */
export interface ClaimReport {
  queue: string;
  asked: number;
  claimed: number;
  seconds: number;
}

export function newWorkerId(): string {
  return `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * Runs job queues, each in its own lane (design.md principle 11): a lane claims only as many rows
 * as it has free slots and claims again as soon as one frees up, so a slow row holds one slot of
 * its own queue and nothing else — a webhook receiver that trickles its answer never delays a
 * scheduled payment, and adding a queue is one more entry in `queues`.
 *
 * Tests drive it with `runOnce()` / `drain()` against an injected clock; main.ts calls `start()`,
 * and `stop()` on SIGTERM, which is bounded: in-flight rows get `shutdownGraceMs` to finish, then
 * their signal aborts and the runner returns within a second more, whatever they do.
 *
 * @example
 *   const runner = new JobRunner({ queues: [scheduleQueue(deps), webhookQueue(deps)], logger });
 *   await runner.drain();           // run everything due now
 *   runner.start(); … await runner.stop();
 */
export class JobRunner {
  readonly owner: string;
  private stopped = true;
  private lanes: Promise<void>[] = [];
  /** one waker per lane that is pausing */
  private readonly wakers = new Set<() => void>();
  private abort = new AbortController();

  constructor(private readonly opts: JobRunnerOptions) {
    this.owner = opts.owner ?? newWorkerId();
  }

  /** One pass: claims one batch of each queue (queues side by side) and runs it. Returns how many rows were run. */
  async runOnce(): Promise<number> {
    if (this.opts.beforePass) await this.opts.beforePass();
    const counts = await Promise.all(
      this.opts.queues.map(async (q) => {
        const jobs = await this.claim(q, q.batchSize ?? 50);
        await forEachLimit(jobs, q.concurrency ?? 10, (job) => this.runJob(q, job));
        return jobs.length;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Passes until nothing is due (at most `maxPasses`). Returns the rows run. */
  async drain(maxPasses = 10_000): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxPasses; i++) {
      const n = await this.runOnce();
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.lanes = this.opts.queues.map((q) => this.lane(q));
  }

  /**
   * Stops claiming, lets in-flight rows finish for up to `graceMs`, then aborts them and returns
   * within one more second even if a run ignores its signal (its row's lease then runs out and
   * another worker takes it).
   */
  async stop(graceMs = this.opts.shutdownGraceMs ?? 10_000): Promise<void> {
    if (this.stopped && this.lanes.length === 0) return;
    this.stopped = true;
    // a pausing lane would see `stopped` only when its pause ends (idleMs, or a finished row when
    // it is full): wake every one now, so none claims again and stop() waits only for rows in flight
    for (const wake of [...this.wakers]) wake();
    const lanes = Promise.all(this.lanes);
    if (!(await settlesWithin(lanes, graceMs))) {
      this.opts.logger.warn({ graceMs }, 'background work still running at shutdown; aborting it');
      this.abort.abort();
      if (!(await settlesWithin(lanes, 1000))) this.opts.logger.warn('background work did not stop; its rows are left to their leases');
    }
    this.lanes = [];
  }

  private async claim<J>(q: JobQueue<J>, limit: number): Promise<J[]> {
    const started = performance.now();
    const jobs = await q.claim(this.owner, limit);
    this.opts.onClaim?.({ queue: q.name, asked: limit, claimed: jobs.length, seconds: (performance.now() - started) / 1000 });
    return jobs;
  }

  private async runJob(q: JobQueue<any>, job: unknown): Promise<void> {
    try {
      await q.run(job, this.owner, this.abort.signal);
    } catch (err) {
      // the row keeps its lease; when it runs out, a worker takes the row again
      this.opts.logger.error({ err, queue: q.name }, 'job failed; it will be retried when its lease runs out');
    }
  }

  private async lane(q: JobQueue<any>): Promise<void> {
    const slots = q.concurrency ?? 10;
    const refillAt = Math.max(1, Math.min(q.refillAt ?? 1, slots));
    const inFlight = new Set<Promise<void>>();
    // a finished row wakes only its own lane; a queue that says itself when its room came back
    // (wakeWith) is woken by a finished row only when the lane is full: otherwise every recorded
    // webhook attempt started a claim that found a few rows or none (9.6 rows a claim on average,
    // where a claim's fixed cost is about that of 16 of its rows)
    let wakeMe: (() => void) | null = null;
    let pausedFull = false;
    q.wakeWith?.(() => wakeMe?.());
    const failures = new ClaimFailures(q.name, this.opts.logger, this.opts.clock ?? systemClock);
    while (!this.stopped) {
      let claimed = 0;
      let asked = 0;
      const free = slots - inFlight.size;
      if (free >= refillAt) {
        // asked before beforePass: a pass that fails there (the sandbox clock's database down) took
        // nothing and waits its idle pause like any claim that came back short; set after it, the
        // lane tried again at once, a statement and an error log per turn (on SQLite never leaving
        // the microtask queue, so no request of the process was answered)
        asked = Math.min(free, q.batchSize ?? 50);
        try {
          if (this.opts.beforePass) await this.opts.beforePass();
          const jobs = this.stopped ? [] : await this.claim(q, asked);
          claimed = jobs.length;
          if (!this.stopped) failures.succeeded();
          for (const job of jobs) {
            const p: Promise<void> = this.runJob(q, job).finally(() => {
              inFlight.delete(p);
              if (pausedFull || !q.wakeWith) wakeMe?.();
            });
            inFlight.add(p);
          }
        } catch (err) {
          failures.failed(err);
        }
      }
      if (this.stopped) break;
      // full (fewer than refillAt slots free): wait for finished rows. Fewer rows than asked (or
      // none): what was due is taken, so wait for the idle pause, a finished row or the queue's wake rather
      // than claim again at once: the next claim would find nothing, and finding nothing can cost
      // the most (a webhook claim that leaves out a busy receiver reads past every row queued for it)
      const full = slots - inFlight.size < refillAt;
      if (full || claimed < asked) {
        pausedFull = full;
        // while claims fail (the database down, its disk full), each waits twice as long as the
        // last, up to a few seconds: a failed claim costs a statement (and on SQLite a lock wait on
        // the event loop); the first claim after the fault ends comes at most that long later
        const idleMs = this.opts.idleMs ?? 1000;
        const waitMs = failures.inRow > 0 ? Math.min(idleMs * 2 ** (failures.inRow - 1), Math.max(idleMs, this.opts.maxFailedPauseMs ?? MAX_FAILED_CLAIM_PAUSE_MS)) : idleMs;
        await this.pause(full ? null : waitMs, (wake) => (wakeMe = wake));
        wakeMe = null;
      }
    }
    await Promise.all(inFlight);
  }

  /** Waits `ms` (null: no timeout) or until woken (stop()); `expose` receives the waker for the lane's own rows. */
  private pause(ms: number | null, expose: (wake: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = ms === null ? null : setTimeout(done, ms);
      this.wakers.add(done);
      expose(done);
    });
  }
}

/**
 * A lane's failed claims (decision 0132). A fault that lasts (PostgreSQL down, a full disk) fails
 * every claim the same way: it is logged at its first failure, again when the error's text changes
 * or once a CLAIM_FAILURE_REPORT_EVERY_MS while it lasts (with the count of failed tries), and its
 * end once ("works again"), as the WAL checkpointer's (decision 0129). Before, every failed claim
 * was an error line, one a second per lane with due rows, onto a disk that may already be full.
 */
class ClaimFailures {
  /** claims failed since the last that answered */
  inRow = 0;
  private reported: string | null = null;
  private reportedAt = 0;

  constructor(
    private readonly queue: string,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  failed(err: unknown): void {
    this.inRow++;
    const message = String((err as Error)?.message ?? err);
    const now = this.clock.now();
    if (message === this.reported && now - this.reportedAt < CLAIM_FAILURE_REPORT_EVERY_MS) return;
    this.logger.error({ err, queue: this.queue, failedTries: this.inRow }, 'claiming jobs failed');
    this.reported = message;
    this.reportedAt = now;
  }

  succeeded(): void {
    if (this.inRow === 0) return;
    this.logger.info({ queue: this.queue, failedTries: this.inRow }, 'claiming jobs works again');
    this.inRow = 0;
    this.reported = null;
  }
}

/** true when `p` settled within `ms` */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}
