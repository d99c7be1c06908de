/**
 * What a PG's "this payment changed" notice may cost the PG (decision 0082). A notice is an
 * untrusted trigger: anyone holding one genuine signed body (NICE signs only tid, amount and
 * ediDate) can post it again as often as they like, with its status rewritten. Each post used to
 * cost one inquiry at the PG, out of the same per-clientId rate limits and connection pool that
 * approvals, refunds and reconciliation use. Here, per Pier process:
 *
 * - one message (channel, tid, the PG's signed message id, order id) is asked about once: posts of
 *   it that arrive while its inquiry is out wait for that inquiry's outcome (single flight), and
 *   posts after it get the remembered outcome for `REMEMBERED_MS` (`FAILURE_REMEMBERED_MS` when
 *   the PG could not be asked: answered "retry", as NICE resends a minute later). The inquiry of a
 *   message starts after it arrived, so it reads the PG at least as new as the message: a repeat
 *   can bring nothing new. A genuinely new event is a new message (NICE: a fresh ediDate).
 * - a message the PG made before Pier last read its payment from the PG is not asked about
 *   (decision 0087): `noteRead` keeps, per channel and tid, the PG's own time of the newest answer
 *   Pier applied (NICE: the lookup's signed `ediDate`, "response creation time"), and `readAfter`
 *   compares a message's signed time (NICE: the webhook's `ediDate`, made after its event and the
 *   same on every resend) with it. Both times are the PG's clock, never Pier's. A read made after
 *   the message was made saw its event; asking again could only read the same or newer. So a
 *   replayed old body costs one inquiry per payment and process, whatever its status claims,
 *   instead of one per status it can claim every hour.
 * - each channel's notices start at most `BURST` inquiries at once and `PER_SECOND` a second after
 *   that (a token bucket); beyond, the notice is answered "retry" without asking. Notices about a
 *   payment Pier still holds open (an attempt not settled, a virtual account awaiting its deposit, a
 *   refund in doubt) have a bucket of their own (decision 0087): replays about settled payments,
 *   the bodies most easily come by, cannot hold back the deposit notice a buyer's money waits for.
 *
 * Bounded in size (`MAX_REMEMBERED` messages and as many reads, the oldest forgotten first; two
 * buckets per channel) and time. Kept per store (like the token caches), so each test's Pier
 * starts empty.
 */
import type { Clock } from '../../lib/clock.js';
import type { DepositOutcome } from './deposit.js';

export const NOTICE_INQUIRY_LIMITS = {
  /** how long the outcome of a message's inquiry answers its repeats */
  rememberedMs: 60 * 60_000,
  /** how long "the PG could not be asked" answers a message's repeats (NICE resends after a minute) */
  failureRememberedMs: 30_000,
  /** messages remembered per Pier process, the oldest forgotten first */
  maxRemembered: 10_000,
  /** inquiries a channel's notices may start at once */
  burst: 60,
  /** and per second after that (each of a channel's two buckets: payments held open, the rest) */
  perSecond: 1,
  /**
   * how much earlier than Pier's last read a message must have been made to be left unasked, in
   * seconds: room for the PG's servers' clocks to differ (the webhook sender's and the lookup's).
   * A replayed body is older than this; a genuine resend is at most NICE's ten minutes old, and the
   * read that makes it unasked was made after it by more than this.
   */
  readMarginSeconds: 600,
} as const;

type Limits = { [K in keyof typeof NOTICE_INQUIRY_LIMITS]: number };

export class NoticeInquiries {
  readonly #inFlight = new Map<string, Promise<DepositOutcome>>();
  readonly #remembered = new Map<string, { outcome: DepositOutcome; untilMs: number }>();
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  /** channel + tid → the PG's time (UNIX s, its clock) of the newest answer about it Pier applied */
  readonly #reads = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: Limits = NOTICE_INQUIRY_LIMITS,
  ) {}

  /**
   * The outcome of asking the PG about one notice (`ask`), asked at most once per message while it
   * is remembered. `messageKey` null: the notice cannot be told from another (no signed message
   * id), so it is asked about, within its channel's bucket. `open`: the payment is one Pier still
   * holds open (its own bucket).
   */
  async ask(channelId: string, messageKey: string | null, ask: () => Promise<DepositOutcome>, o: { open?: boolean } = {}): Promise<DepositOutcome> {
    const bucket = o.open ? `${channelId}\u0000open` : channelId;
    if (messageKey === null) return this.#takeToken(bucket) ? ask() : busy();
    const key = `${channelId}\u0000${messageKey}`;
    const known = this.#remembered.get(key);
    if (known && known.untilMs > this.clock.now()) return repeatOf(known.outcome);
    if (known) this.#remembered.delete(key);
    const flying = this.#inFlight.get(key);
    if (flying) return repeatOf(await flying);
    if (!this.#takeToken(bucket)) return busy();
    // remembered before it leaves the flights, so no post finds it in neither
    const flight = (async () => {
      try {
        const outcome = await ask();
        this.#remember(key, outcome);
        return outcome;
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, flight);
    return flight;
  }

  #remember(key: string, outcome: DepositOutcome): void {
    const failed = !outcome.ok && outcome.reason === 'pg_unavailable';
    this.#remembered.set(key, { outcome, untilMs: this.clock.now() + (failed ? this.limits.failureRememberedMs : this.limits.rememberedMs) });
    while (this.#remembered.size > this.limits.maxRemembered) this.#remembered.delete(this.#remembered.keys().next().value!);
  }

  /**
   * Pier applied the PG's answer about `tid`, made at `pgTime` (UNIX seconds, the PG's clock).
   * Only answers Pier brought its record to: a read it could not apply says nothing of what it saw.
   */
  noteRead(channelId: string, tid: string, pgTime: number): void {
    const key = `${channelId}\u0000${tid}`;
    const known = this.#reads.get(key);
    this.#reads.delete(key);
    this.#reads.set(key, known === undefined ? pgTime : Math.max(known, pgTime));
    while (this.#reads.size > this.limits.maxRemembered) this.#reads.delete(this.#reads.keys().next().value!);
  }

  /**
   * Whether Pier applied an answer about `tid` that the PG made well after `pgTime` (a message's
   * own time, the PG's clock): then the message's event was in that answer.
   */
  readAfter(channelId: string, tid: string, pgTime: number): boolean {
    const read = this.#reads.get(`${channelId}\u0000${tid}`);
    return read !== undefined && pgTime + this.limits.readMarginSeconds < read;
  }

  /** messages remembered now (tests check the bound) */
  get rememberedCount(): number {
    return this.#remembered.size;
  }

  #takeToken(bucket: string): boolean {
    const now = this.clock.now();
    const b = this.#buckets.get(bucket) ?? { tokens: this.limits.burst, atMs: now };
    b.tokens = Math.min(this.limits.burst, b.tokens + (Math.max(0, now - b.atMs) / 1000) * this.limits.perSecond);
    b.atMs = now;
    this.#buckets.set(bucket, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** A repeat changed nothing itself: an outcome that recorded something is, for it, a duplicate. */
const repeatOf = (o: DepositOutcome): DepositOutcome => (o.ok ? { ...o, duplicate: true } : o);

const busy = (): DepositOutcome => ({
  ok: false,
  reason: 'pg_unavailable',
  message: "too many of this channel's PG notices to ask the PG about now; the PG sends it again",
});

const perStore = new WeakMap<object, NoticeInquiries>();

/** The process's NoticeInquiries for this store (one Pier's). */
export function noticeInquiriesOf(deps: { store: object; clock: Clock }): NoticeInquiries {
  let n = perStore.get(deps.store);
  if (!n) perStore.set(deps.store, (n = new NoticeInquiries(deps.clock)));
  return n;
}
