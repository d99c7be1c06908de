/**
 * How long the oldest new piece of work may wait for a connection before the queue counts as
 * standing (Pier past its capacity for longer than a burst lasts) and the newest is served first.
 * A second: in the bench's open loop at 1,000/s (1.25 × Pier's capacity on PostgreSQL there, for
 * 10 s) every charge was answered within its client's 10 s; at 100 ms, 3 % of them waited past it
 * while newer ones were served. At 2,500/s both kept Pier's answers at its capacity (decision 0038).
 */
export const STANDING_QUEUE_MS = 1_000;

/**
 * The turns at a PostgreSQL pool's connections (decision 0038). pg-pool's own queue is one line in
 * arrival order; past Pier's capacity that spent the capacity on answers no one read:
 *
 * - A charge's second record (the PG's outcome, then its answer) waited behind every charge that
 *   arrived during its PG call. Here work under way (every statement and connection but the first
 *   record of new work) goes first, in arrival order.
 * - A new charge reached its first record after the longest wait in the line, when its client was
 *   the likeliest to give up before the answer (a merchant's server times out) while Pier went on
 *   to charge and record it. New work is served in arrival order while the line drains quickly,
 *   and newest first once its oldest has waited STANDING_QUEUE_MS: the newest still have their
 *   clients' patience ahead of them. The oldest then wait until the line drains or `waitMs` ends
 *   their wait, which nothing recorded yet (decision 0037: their clients have mostly left).
 *
 * A turn is taken before pg-pool is asked, so pg-pool always has a connection idle or one it may
 * open, and never queues. A wait past `waitMs` fails with pg-pool's own error for it, so callers
 * handle a connection that does not come (decision 0033) as before.
 */
export class ConnectionQueue {
  #free: number;
  readonly #waitMs: number;
  readonly #now: () => number;
  readonly #underWay: Waiter[] = [];
  readonly #opening: Waiter[] = [];

  constructor(size: number, waitMs: number, now: () => number = () => performance.now()) {
    this.#free = size;
    this.#waitMs = waitMs;
    this.#now = now;
  }

  /**
   * A turn: `undefined` when one was free (taken now, no promise made), else a promise of one.
   * `opening`: the first statement of a new piece of work, served only when no work under way waits.
   */
  take(opening: boolean): Promise<void> | undefined {
    // a free turn means no one waits: give() hands a turn to a waiter before freeing it
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    const line = opening ? this.#opening : this.#underWay;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        since: this.#now(),
        timer: setTimeout(() => {
          line.splice(line.indexOf(waiter), 1);
          reject(new Error('timeout exceeded when trying to connect'));
        }, this.#waitMs),
      };
      line.push(waiter);
    });
  }

  /** A turn given back: to the first work under way that waits, else to new work, else freed. */
  give(): void {
    const next = this.#underWay.shift() ?? this.#nextOpening();
    if (!next) {
      this.#free++;
      return;
    }
    clearTimeout(next.timer);
    next.resolve();
  }

  /** How many wait, by line. */
  get waiting(): { underWay: number; opening: number } {
    return { underWay: this.#underWay.length, opening: this.#opening.length };
  }

  #nextOpening(): Waiter | undefined {
    const oldest = this.#opening[0];
    if (oldest && this.#now() - oldest.since >= STANDING_QUEUE_MS) return this.#opening.pop();
    return this.#opening.shift();
  }
}

interface Waiter {
  resolve(): void;
  /** when it began to wait (ms, the queue's clock) */
  since: number;
  timer: NodeJS.Timeout;
}
