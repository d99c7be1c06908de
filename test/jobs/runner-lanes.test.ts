/**
 * When a job lane claims (src/jobs/runner.ts): a claim that comes back with fewer rows than it asked
 * for has taken what was due, so the lane waits for a row to finish (or its idle pause, or stop())
 * instead of claiming again at once and finding nothing; a queue can wake its lane before its rows
 * finish (`wakeWith`). A claim that finds nothing is not free: a webhook claim that leaves out a
 * busy receiver reads past every row queued for it (half of all claims during a drain did, before).
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { refreshClock, SandboxClock } from '../../src/core/sandbox/clock.js';
import { JobRunner, type JobQueue } from '../../src/jobs/runner.js';
import { createLogger } from '../../src/lib/logger.js';
import { startTestPier } from '../harness.js';

/** A promise with its resolve, to finish a job when the test says so. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every callback already queued run (event-loop turns, not time). */
const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A queue that hands out `due` rows, at most `limit` a claim, and runs each until the test finishes it. */
function fakeQueue(due: number, o: { batchSize?: number; concurrency?: number; refillAt?: number; wakesItself?: boolean } = {}) {
  const claims: Array<{ limit: number; got: number }> = [];
  const jobs = new Map<number, ReturnType<typeof deferred>>();
  let next = 0;
  let wake: (() => void) | null = null;
  const queue: JobQueue<number> = {
    name: 'fake',
    batchSize: o.batchSize ?? 10,
    concurrency: o.concurrency ?? 10,
    refillAt: o.refillAt,
    async claim(_owner, limit) {
      const got = Math.max(0, Math.min(limit, due - next));
      claims.push({ limit, got });
      return Array.from({ length: got }, () => next++);
    },
    async run(job) {
      const d = deferred();
      jobs.set(job, d);
      await d.promise;
      jobs.delete(job);
    },
    // a queue that says itself when its room came back (the webhook queue does)
    ...(o.wakesItself
      ? {
          wakeWith(w: () => void) {
            wake = w;
          },
        }
      : {}),
  };
  return { queue, claims, running: (running = jobs), addDue: (n: number) => (due += n), wakeLane: () => wake?.() };
}

let runner: JobRunner | undefined;
let running: Map<number, ReturnType<typeof deferred>> | undefined;
afterEach(async () => {
  // rows still running finish first, so stopping waits for nothing
  for (const d of running?.values() ?? []) d.resolve();
  await runner?.stop(1000);
  runner = undefined;
});

const logger = createLogger('silent');

describe('a job lane', () => {
  it('does not claim again at once after a claim that came back short: it waits for a row to finish', async () => {
    const f = fakeQueue(3);
    // a long idle pause: only a finished row (or stop()) may end it within this test
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    expect(f.claims).toEqual([{ limit: 10, got: 3 }]);
    expect(f.running.size).toBe(3);

    // more became due, but nothing finished: still one claim
    f.addDue(2);
    await turns();
    expect(f.claims).toHaveLength(1);

    // a row finishes: the lane claims again and gets the new rows
    f.running.get(0)!.resolve();
    await turns();
    expect(f.claims).toEqual([
      { limit: 10, got: 3 },
      { limit: 8, got: 2 },
    ]);
    expect(f.running.size).toBe(4);
  });

  it('claims again at once after a full claim, until its slots are taken', async () => {
    const f = fakeQueue(25, { batchSize: 10, concurrency: 30 });
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    // 10 and 10 were full claims; the third came back short (5 of 10) and the lane waits
    expect(f.claims).toEqual([
      { limit: 10, got: 10 },
      { limit: 10, got: 10 },
      { limit: 10, got: 5 },
    ]);
  });

  it('with refillAt, claims again only once that many slots are free, not once per finished row', async () => {
    const f = fakeQueue(100, { batchSize: 50, concurrency: 8, refillAt: 4 });
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    expect(f.claims).toEqual([{ limit: 8, got: 8 }]);
    // three rows finish, one at a time: three slots free, fewer than 4, so no claim
    for (const job of [0, 1, 2]) {
      f.running.get(job)!.resolve();
      await turns();
    }
    expect(f.claims).toHaveLength(1);
    expect(f.running.size).toBe(5);
    // the fourth: one claim of 4
    f.running.get(3)!.resolve();
    await turns();
    expect(f.claims).toEqual([
      { limit: 8, got: 8 },
      { limit: 4, got: 4 },
    ]);
    expect(f.running.size).toBe(8);
  });

  it('is woken by its queue before any row finishes (wakeWith)', async () => {
    const f = fakeQueue(2, { wakesItself: true });
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    expect(f.claims).toHaveLength(1);

    f.addDue(1);
    f.wakeLane();
    await turns();
    expect(f.claims.map((c) => c.got)).toEqual([2, 1]);
    expect(f.running.size).toBe(3);
  });

  it('ends its idle pause at stop(): stop() waits for the rows in flight, not for the pause, and nothing more is claimed', async () => {
    // a queue that wakes itself: its finished row does not end the pause either, only stop() does
    const f = fakeQueue(1, { wakesItself: true });
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    expect(f.claims).toEqual([{ limit: 10, got: 1 }]);
    f.addDue(5);
    let stopped = false;
    const stopping = runner.stop(60_000).then(() => (stopped = true));
    await turns();
    // the row in flight is still running: stop() waits for it
    expect(stopped).toBe(false);
    f.running.get(0)!.resolve();
    await turns();
    expect(stopped).toBe(true);
    await stopping;
    expect(f.claims).toHaveLength(1);
  });

  it('that wakes itself (wakeWith) is not woken by a finished row unless it is full', async () => {
    // the webhook queue: a recorded attempt finishing is no sign that a claim would find room (its
    // receiver's slot was given back at the answer, and that wakes the lane); claiming on each one
    // made claims of a few rows, or none
    const f = fakeQueue(3, { wakesItself: true, concurrency: 4 });
    runner = new JobRunner({ queues: [f.queue], logger, idleMs: 60_000 });
    runner.start();
    await turns();
    expect(f.claims).toEqual([{ limit: 4, got: 3 }]);
    f.addDue(5);
    f.running.get(0)!.resolve();
    await turns();
    // not full (1 of 4 slots was free): the finished row did not start a claim
    expect(f.claims).toHaveLength(1);
    f.wakeLane();
    await turns();
    expect(f.claims.map((c) => c.got)).toEqual([3, 2]);
    // now full: a finished row is what frees a slot, so it wakes the lane
    expect(f.running.size).toBe(4);
    f.running.get(1)!.resolve();
    await turns();
    expect(f.claims).toEqual([
      { limit: 4, got: 3 },
      { limit: 2, got: 2 },
      { limit: 1, got: 1 },
    ]);
  });
});

describe('a job lane whose pass cannot start', () => {
  it("waits its idle pause when the sandbox clock's read fails (the database failing), rather than trying again at once", async () => {
    // a real database whose statement fails: the sandbox clock's row is not there to read
    const pier = await startTestPier();
    const clock = new SandboxClock(pier.store);
    await clock.refresh();
    await sql`ALTER TABLE sandbox_settings RENAME TO sandbox_settings_away`.execute(pier.store.db);
    try {
      const f = fakeQueue(3);
      let reads = 0;
      let failed = 0;
      runner = new JobRunner({
        queues: [f.queue],
        logger,
        idleMs: 60_000,
        beforePass: async () => {
          // before the fix the lane retried at once, on SQLite without ever leaving the microtask
          // queue (no timer, no request of the process could run): stop it, so the test can fail
          if (++reads > 50) void runner!.stop(0);
          await refreshClock(clock).catch((err) => {
            failed++;
            throw err;
          });
        },
      });
      runner.start();
      await expect.poll(() => failed, { interval: 1, timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      await turns(100);
      // one read, one failure, then the idle pause (60 s): no claim was made on a clock it could not read
      expect({ reads, failed, claims: f.claims.length }).toEqual({ reads: 1, failed: 1, claims: 0 });
    } finally {
      await runner?.stop(0);
      runner = undefined;
      await sql`ALTER TABLE sandbox_settings_away RENAME TO sandbox_settings`.execute(pier.store.db);
      await pier.close();
    }
  });
});
