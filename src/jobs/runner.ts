import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../lib/logger.js';

/**
 * A kind of background work kept as rows (design.md principle 5). `claim` leases up to `limit`
 * due rows to `owner` in one conditional UPDATE (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so several
 * Pier processes can share a table without taking a row twice; a lease that runs out (the worker
 * died) makes the row claimable again. `run` does one claimed row; it records its own outcome,
 * fenced by the lease, and throws only on bugs.
 */
export interface JobQueue<J = unknown> {
  name: string;
  claim(owner: string, limit: number): Promise<J[]>;
  run(job: J, owner: string): Promise<void>;
  /** rows claimed per pass (default 50) */
  batchSize?: number;
  /** rows run at once within a pass (default 10) */
  concurrency?: number;
}

export interface JobRunnerOptions {
  queues: JobQueue<any>[];
  logger: Logger;
  /** this worker's lease owner id (default host:pid:random) */
  owner?: string;
  /** pause between passes when nothing was due (default 1 s) */
  idleMs?: number;
  /** called before each pass (e.g. re-read the sandbox clock) */
  beforePass?: () => Promise<void>;
}

export function newWorkerId(): string {
  return `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * Runs job queues. Tests drive it with `runOnce()` / `drain()` against an injected clock; main.ts
 * calls `start()`, which loops until `stop()`.
 *
 * @example
 *   const runner = new JobRunner({ queues: [scheduleQueue(deps)], logger });
 *   await runner.drain();           // run everything due now
 *   runner.start(); … await runner.stop();
 */
export class JobRunner {
  readonly owner: string;
  private stopped = true;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly opts: JobRunnerOptions) {
    this.owner = opts.owner ?? newWorkerId();
  }

  /** One pass: claims one batch of each queue and runs it. Returns how many rows were run. */
  async runOnce(): Promise<number> {
    if (this.opts.beforePass) await this.opts.beforePass();
    let ran = 0;
    for (const q of this.opts.queues) {
      const jobs = await q.claim(this.owner, q.batchSize ?? 50);
      ran += jobs.length;
      await forEachLimit(jobs, q.concurrency ?? 10, async (job) => {
        try {
          await q.run(job, this.owner);
        } catch (err) {
          // the row keeps its lease; when it runs out, a worker takes the row again
          this.opts.logger.error({ err, queue: q.name }, 'job failed; it will be retried when its lease runs out');
        }
      });
    }
    return ran;
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
    this.loopDone = this.loop();
  }

  /** Stops after the current pass (its rows are finished, not abandoned). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loopDone;
    this.loopDone = null;
  }

  /** Ends the idle pause early (after new work was recorded by this process). */
  poke(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let ran = 0;
      try {
        ran = await this.runOnce();
      } catch (err) {
        this.opts.logger.error({ err }, 'job runner pass failed');
      }
      if (this.stopped) break;
      if (ran === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.opts.idleMs ?? 1000);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
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
