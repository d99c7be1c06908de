import type { LookupAddress } from 'node:dns';
import type { HostLookup } from './network-guard.js';

/**
 * Webhook host lookups, bounded in time and in threads (decision 0057).
 *
 * dns.lookup is getaddrinfo, run on libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default), which
 * every other lookup of the process (PostgreSQL connections, PG calls), password hashing and file
 * I/O share. A getaddrinfo cannot be cancelled: a receiver's resolver that stops answering holds
 * its thread until the system resolver gives up (resolv.conf's timeout × attempts × nameservers,
 * 30 s and more). Before, a webhook attempt waited for it past its deadline (undici applies an
 * abort only once the connection is made), and a few such receivers held every thread.
 * So webhook lookups hold at most half of the pool, waiting their turn otherwise, and each gives up
 * at the attempt's deadline; one that gave up while getaddrinfo still runs keeps its thread counted
 * until getaddrinfo really returns.
 */
const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/** getaddrinfo calls webhooks may have running at once: half of libuv's pool, at least one */
export const WEBHOOK_LOOKUP_THREADS = Math.max(1, Math.floor(POOL_THREADS / 2));

export const LOOKUP_TIMED_OUT = 'PIER_LOOKUP_TIMEOUT';

/** The lookups running (each on a pool thread) and those waiting for one, process-wide. */
class LookupThreads {
  private running = 0;
  private readonly waiting = new Set<() => void>();

  constructor(private readonly max: number) {}

  /** Runs `start` once a thread is free; the answer takes it out of the queue if it has not started. */
  whenFree(start: () => void): () => void {
    if (this.running < this.max) {
      this.running++;
      start();
      return () => {};
    }
    this.waiting.add(start);
    return () => this.waiting.delete(start);
  }

  /** A lookup's getaddrinfo returned: its thread goes to the first one waiting. */
  release(): void {
    const next = this.waiting.values().next();
    if (next.done) {
      this.running--;
      return;
    }
    this.waiting.delete(next.value);
    next.value();
  }
}

const threads = new LookupThreads(WEBHOOK_LOOKUP_THREADS);

/** One getaddrinfo per host (and options) at a time: every attempt that needs that host waits on it. */
interface SharedLookup {
  /** the attempts waiting for its answer (an attempt whose deadline passed has left) */
  waiting: Set<(err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void>;
  /** it holds a thread; until then it can leave the queue */
  started: boolean;
  leaveQueue: () => void;
}
/** per resolver (dns.lookup in production, whichever sender asks; tests inject their own) */
const sharedBy = new WeakMap<HostLookup, Map<string, SharedLookup>>();

/**
 * `resolveHost` bounded: it waits for a thread of webhooks' share and fails after `timeoutMs`
 * (waiting included). Lookups of a host already being looked up join that lookup, so a receiver
 * whose resolver hangs holds one thread however many of its deliveries are in flight or retried,
 * and every other receiver's lookups keep the rest of the share (decision 0114).
 */
export function boundedHostLookup(resolveHost: HostLookup, timeoutMs: number): HostLookup {
  const shared = sharedBy.get(resolveHost) ?? new Map<string, SharedLookup>();
  sharedBy.set(resolveHost, shared);
  return (host, options, callback) => {
    let done = false;
    const finish: typeof callback = (err, addresses) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      callback(err, addresses);
    };
    const key = `${host}\n${JSON.stringify(options)}`;
    const joined = shared.get(key) ?? { waiting: new Set(), started: false, leaveQueue: () => {} };
    joined.waiting.add(finish);
    const timer = setTimeout(() => {
      joined.waiting.delete(finish);
      // a lookup nobody waits for any more leaves the queue; one already running stays shared
      // until getaddrinfo returns, so the next attempt to this host joins it instead of taking a thread
      if (joined.waiting.size === 0 && !joined.started) {
        joined.leaveQueue();
        if (shared.get(key) === joined) shared.delete(key);
      }
      finish(Object.assign(new Error('host lookup timed out'), { code: LOOKUP_TIMED_OUT }), []);
    }, timeoutMs);
    // the connection waiting for it keeps the process alive, not this timer
    timer.unref();
    if (shared.get(key) === joined) return;
    shared.set(key, joined);
    joined.leaveQueue = threads.whenFree(() => {
      joined.started = true;
      resolveHost(host, options, (err, addresses) => {
        threads.release();
        if (shared.get(key) === joined) shared.delete(key);
        for (const waiter of joined.waiting) waiter(err, addresses);
      });
    });
  };
}
