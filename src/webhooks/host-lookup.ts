import type { LookupAddress } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { HostLookup } from './network-guard.js';

/**
 * Webhook host lookups, bounded in time and in threads (decision 0057), asked of DNS without a
 * thread where DNS knows the name (decision 0125, dnsFirstHostLookup below).
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

/**
 * c-ares per try (it doubles the wait on each round: 2 s, 4 s, 8 s with one nameserver); the
 * attempt's deadline cancels it sooner
 */
const DNS_TRY_MS = 2_000;
const DNS_TRIES = 3;
/** answers that mean "DNS does not know this name" (or there is no DNS to ask): the system's lookup may */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ECONNREFUSED']);
/** how long a read of the hosts file is used before it is read again */
const HOSTS_FILE_FRESH_MS = 5_000;

export interface DnsFirstOptions {
  /** the attempt's deadline: the DNS queries are cancelled then */
  timeoutMs: number;
  /** the system's lookup (getaddrinfo, bounded by boundedHostLookup) for names DNS does not know */
  systemLookup: HostLookup;
  /** DNS servers to ask (`host:port`); default the system's (resolv.conf) */
  nameservers?: string[];
  hostsFile?: string;
}

/**
 * Host names asked of DNS with c-ares (`dns.promises.Resolver`), which runs on the event loop, not
 * on libuv's thread pool, and can be cancelled: a receiver whose nameserver never answers holds no
 * thread and nothing anyone else waits for, however many different names it uses, and its query
 * is cancelled at the attempt's deadline (decision 0125). c-ares reads neither the hosts file nor
 * nsswitch, so the system's lookup still resolves what it alone knows: a name in the hosts file
 * (and `localhost`) goes to it first, as `hosts: files dns` says, and a name DNS answers "no such
 * name" for (a short name the search domains complete, mDNS) goes to it after. Those lookups stay
 * bounded by the thread share and the per-host sharing of boundedHostLookup.
 */
export function dnsFirstHostLookup(o: DnsFirstOptions): HostLookup {
  const hostsFile = hostsFileNames(o.hostsFile ?? '/etc/hosts');
  return (host, options, callback) => {
    const name = host.toLowerCase().replace(/\.$/, '');
    const ipFamily = isIP(name);
    if (ipFamily) return callback(null, [{ address: name, family: ipFamily }]);
    if (name === 'localhost' || name.endsWith('.localhost')) return o.systemLookup(host, options, callback);
    const started = performance.now();
    void hostsFile()
      .then((known) => (known.has(name) ? NOT_IN_DNS : askDns(name, options.family, Math.max(0, o.timeoutMs - (performance.now() - started)), o.nameservers)))
      .catch((err: NodeJS.ErrnoException) => err)
      // answered outside the chain: whatever the callback throws is not taken for a failed lookup
      .then((answer) => {
        if (answer === NOT_IN_DNS) o.systemLookup(host, options, callback);
        else if (answer instanceof Error) callback(answer, []);
        else callback(null, answer);
      });
  };
}

/** a name for the system's lookup: in the hosts file, or DNS does not know it (or there is no DNS server to ask) */
const NOT_IN_DNS = Symbol('not in DNS');

/**
 * The name's A and AAAA records (as `family` asks), IPv4 first; NOT_IN_DNS; or an error:
 * LOOKUP_TIMED_OUT when DNS did not answer in time, EAI_AGAIN when it answered with a failure.
 */
async function askDns(name: string, family: number | string | undefined, timeoutMs: number, nameservers?: string[]): Promise<LookupAddress[] | typeof NOT_IN_DNS | NodeJS.ErrnoException> {
  const resolver = new Resolver({ timeout: DNS_TRY_MS, tries: DNS_TRIES });
  if (nameservers) resolver.setServers(nameservers);
  // one resolver per lookup: cancel() ends its queries, and nobody else's
  const timer = setTimeout(() => resolver.cancel(), timeoutMs);
  timer.unref();
  const queries: Promise<LookupAddress[]>[] = [];
  if (family !== 6 && family !== 'IPv6') queries.push(resolver.resolve4(name).then((as) => as.map((address) => ({ address, family: 4 }))));
  if (family !== 4 && family !== 'IPv4') queries.push(resolver.resolve6(name).then((as) => as.map((address) => ({ address, family: 6 }))));
  const answers = await Promise.allSettled(queries);
  clearTimeout(timer);
  const addresses = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
  if (addresses.length > 0) return addresses;
  const codes = answers.map((a) => (a.status === 'rejected' ? String((a.reason as NodeJS.ErrnoException).code) : 'ENODATA'));
  if (codes.some((c) => c === 'ECANCELLED' || c === 'ETIMEOUT')) return Object.assign(new Error('host lookup timed out'), { code: LOOKUP_TIMED_OUT });
  if (codes.every((c) => NO_SUCH_NAME.has(c))) return NOT_IN_DNS;
  // a name c-ares will not ask about is no host name
  if (codes.includes('EBADNAME')) return Object.assign(new Error('host not found'), { code: 'ENOTFOUND' });
  return Object.assign(new Error('DNS failed'), { code: 'EAI_AGAIN' });
}

/** The names the hosts file lists (lower case), read again once HOSTS_FILE_FRESH_MS old; none if it cannot be read. */
function hostsFileNames(path: string): () => Promise<Set<string>> {
  let read: Promise<Set<string>> | null = null;
  let readAt = 0;
  return () => {
    if (!read || performance.now() - readAt > HOSTS_FILE_FRESH_MS) {
      readAt = performance.now();
      read = readFile(path, 'utf8').then(
        (text) =>
          new Set(
            text
              .split('\n')
              .map((line) => line.replace(/#.*/, '').trim().split(/\s+/))
              .filter((fields) => fields.length > 1 && isIP(fields[0]))
              .flatMap((fields) => fields.slice(1).map((n) => n.toLowerCase().replace(/\.$/, ''))),
          ),
        () => new Set<string>(),
      );
    }
    return read;
  };
}
