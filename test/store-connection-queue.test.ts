/**
 * ConnectionQueue's turns (decision 0038) on their own, with fake timers and a manual clock: the
 * end-to-end order on PostgreSQL is in test/api/overload-order.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionQueue, STANDING_QUEUE_MS } from '../src/store/connection-queue.js';

describe('ConnectionQueue', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => vi.useRealTimers());

  /** takes a turn and notes, under `name`, when it was given or failed */
  const served: string[] = [];
  const taking = (q: ConnectionQueue, name: string, opening: boolean) => {
    const turn = q.take(opening);
    if (!turn) served.push(name);
    else void turn.then(() => served.push(name), (err: Error) => served.push(`${name}: ${err.message}`));
  };
  const settle = () => vi.advanceTimersByTimeAsync(0);
  beforeEach(() => {
    served.length = 0;
  });

  it('gives free turns at once, then work under way before new work, new work in arrival order', async () => {
    const q = new ConnectionQueue(2, 10_000, () => now);
    taking(q, 'first', true);
    taking(q, 'second', false);
    expect(served).toEqual(['first', 'second']);
    taking(q, 'new 1', true);
    taking(q, 'new 2', true);
    taking(q, 'under way 1', false);
    taking(q, 'under way 2', false);
    expect(q.waiting).toEqual({ underWay: 2, opening: 2 });
    for (let i = 0; i < 4; i++) q.give();
    await settle();
    expect(served.slice(2)).toEqual(['under way 1', 'under way 2', 'new 1', 'new 2']);
    // everyone served: the next two turns given back are free again
    q.give();
    q.give();
    taking(q, 'later', true);
    expect(served.at(-1)).toBe('later');
  });

  it('serves the newest new work first once the oldest has waited STANDING_QUEUE_MS, and arrival order again once the line has drained', async () => {
    const q = new ConnectionQueue(1, 10_000, () => now);
    taking(q, 'holder', false);
    for (const n of [1, 2, 3]) taking(q, `new ${n}`, true);
    now += STANDING_QUEUE_MS - 1;
    q.give();
    await settle();
    expect(served).toEqual(['holder', 'new 1']);
    now += 1;
    q.give();
    q.give();
    await settle();
    expect(served).toEqual(['holder', 'new 1', 'new 3', 'new 2']);
    // a new line, young again
    for (const n of [4, 5]) taking(q, `new ${n}`, true);
    q.give();
    await settle();
    expect(served.at(-1)).toBe('new 4');
  });

  it('fails a wait past waitMs with pg-pool\'s own error, out of the line, so the turn it would have had goes to the next', async () => {
    const q = new ConnectionQueue(1, 1_000, () => now);
    taking(q, 'holder', false);
    taking(q, 'patient', true);
    await vi.advanceTimersByTimeAsync(500);
    taking(q, 'late', true);
    await vi.advanceTimersByTimeAsync(500);
    expect(served).toEqual(['holder', 'patient: timeout exceeded when trying to connect']);
    expect(q.waiting).toEqual({ underWay: 0, opening: 1 });
    q.give();
    await settle();
    expect(served.at(-1)).toBe('late');
    // the served waiter's timer was cleared: past its deadline it takes no one else out of the line
    taking(q, 'next', true);
    await vi.advanceTimersByTimeAsync(600);
    expect(q.waiting).toEqual({ underWay: 0, opening: 1 });
    q.give();
    await settle();
    expect(served.at(-1)).toBe('next');
  });
});
