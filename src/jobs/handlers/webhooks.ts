import type { Deps } from '../../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../../lib/clock.js';
import { destinationOf } from '../../lib/logger.js';
import {
  claimForReceivers,
  DEFAULT_RETRY,
  leasedRequest,
  recordAttempts,
  releaseDelivery,
  type FinishedAttempt,
  type LeasedDelivery,
  type RetryPolicy,
} from '../../webhooks/deliveries.js';
import type { SendResult } from '../../webhooks/sender.js';
import { V1_WEBHOOK_TIMEOUTS, WebhookSender, type SenderOptions } from '../../webhooks/sender.js';
import type { JobQueue } from '../runner.js';
import { DestinationGuard } from '../../webhooks/network-guard.js';

export interface WebhookQueueOptions {
  /** when deliveries are due and retried (default deps.clock: the sandbox clock in sandbox mode, docs/decisions/0009) */
  clock?: Clock;
  /** the real time, for `webhook-timestamp` */
  signClock?: Clock;
  /** timeouts, total deadline per attempt, and the production network guard */
  timeouts?: SenderOptions;
  retry?: RetryPolicy;
  /** rows claimed per claim at most (default 64) */
  batchSize?: number;
  /** attempts in flight at once in this process (default 128) */
  concurrency?: number;
  /** attempts in flight at once to one receiver URL (default 32), so slow receivers share the lane */
  perReceiver?: number;
  /**
   * attempts in flight at once for one merchant, whatever its URLs (default half of `concurrency`):
   * a notice_url per payment gives each its own receiver room, so only this keeps one merchant's
   * hanging receivers from taking the whole lane
   */
  perMerchant?: number;
}

/** Attempts in flight per receiver URL and per merchant; the claim leases no more than their room. */
class ReceiverSlots {
  readonly inFlight = new Map<string, number>();
  readonly merchantsInFlight = new Map<string, number>();
  constructor(
    readonly cap: number,
    readonly merchantCap: number,
  ) {}
  full(): string[] {
    return fullOf(this.inFlight, this.cap);
  }
  fullMerchants(): string[] {
    return fullOf(this.merchantsInFlight, this.merchantCap);
  }
  take(url: string, merchantId: string): boolean {
    const n = this.inFlight.get(url) ?? 0;
    const m = this.merchantsInFlight.get(merchantId) ?? 0;
    if (n >= this.cap || m >= this.merchantCap) return false;
    this.inFlight.set(url, n + 1);
    this.merchantsInFlight.set(merchantId, m + 1);
    return true;
  }
  give(url: string, merchantId: string): void {
    lessOne(this.inFlight, url);
    lessOne(this.merchantsInFlight, merchantId);
  }
}

const fullOf = (counts: Map<string, number>, cap: number) => [...counts].filter(([, n]) => n >= cap).map(([key]) => key);

function lessOne(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}

/**
 * Records finished attempts in batches (group commit): an attempt that finishes while a batch is
 * being written waits for the next one, so under load one commit covers every attempt that
 * finished meanwhile, and with nothing else finishing an attempt is written at once (no timer).
 * `record` resolves with the delivery's new state once it is committed; if the write fails, every
 * attempt of the batch rejects (its lease then runs out and it is sent again: at least once).
 */
class AttemptRecorder {
  private queued: Array<{ owner: string; done: FinishedAttempt; resolve: (state: string) => void; reject: (err: unknown) => void }> = [];
  private writing = false;
  constructor(private readonly write: (owner: string, batch: FinishedAttempt[]) => Promise<string[]>) {}

  /** `owner`: the lease the attempt was made under (the move is fenced by it) */
  record(owner: string, done: FinishedAttempt): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queued.push({ owner, done, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    // attempts finishing in the same turn of the event loop join the first batch too
    await new Promise((r) => setImmediate(r));
    while (this.queued.length > 0) {
      // one owner per statement (a runner has one; a queue shared by two runners mixes them)
      const owner = this.queued[0].owner;
      const batch = this.queued.filter((q) => q.owner === owner).slice(0, RECORD_BATCH);
      const taken = new Set(batch);
      this.queued = this.queued.filter((q) => !taken.has(q));
      try {
        const states = await this.write(owner, batch.map((b) => b.done));
        batch.forEach((b, i) => b.resolve(states[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.writing = false;
  }
}

/** attempts recorded per statement at most (a PostgreSQL statement has at most 65,535 parameters: 10 each) */
const RECORD_BATCH = 500;

/**
 * Webhook deliveries as a job queue: claim due deliveries to URLs, POST each once, record the
 * attempt. `close()` releases the HTTP connections (kept alive between attempts, per receiver).
 *
 * Up to `concurrency` attempts run at once, at most `perReceiver` of them to one URL and
 * `perMerchant` for one merchant: a receiver that hangs until the attempt deadline holds
 * `perReceiver` slots, a merchant whose every payment names its own hanging notice_url holds
 * `perMerchant`, and the others keep being delivered to. A claim leaves out URLs and merchants at
 * their cap and leases no more rows of either than it has room for (one statement, see
 * claimForReceivers), with their events and signing secrets (on PostgreSQL in the same statement;
 * on SQLite two queries after it); finished attempts are recorded in batches (AttemptRecorder).
 * See docs/decisions/0023-webhook-delivery-batches.md and 0044-webhook-room-per-merchant.md.
 */
export function webhookQueue(deps: Deps, o: WebhookQueueOptions = {}): JobQueue<LeasedDelivery> & { close(): Promise<void>; sender: WebhookSender } {
  const clock = o.clock ?? deps.clock;
  const signClock = o.signClock ?? systemClock;
  const retry = o.retry ?? DEFAULT_RETRY;
  const timeouts = o.timeouts ?? V1_WEBHOOK_TIMEOUTS;
  // production never sends to internal addresses, whoever built this queue
  const guard = timeouts.guard ?? deps.destinationGuard ?? (deps.mode === 'production' ? DestinationGuard.production() : DestinationGuard.sandbox());
  const sender = new WebhookSender({ ...timeouts, guard });
  // a lease outlives the slowest attempt (its total deadline), so an attempt in progress is never sent twice at once
  const leaseSeconds = Math.ceil((timeouts.deadlineMs ?? timeouts.connectTimeoutMs + timeouts.readTimeoutMs) / 1000) + 30;
  const concurrency = o.concurrency ?? 128;
  const receivers = new ReceiverSlots(o.perReceiver ?? 32, o.perMerchant ?? Math.max(1, Math.floor(concurrency / 2)));
  const recorder = new AttemptRecorder((owner, batch) => recordAttempts(deps.store, batch, { owner, now: unixSeconds(clock), retry }));
  // receiver slots given back since the last claim; enough of them wake the lane before the rows
  // are recorded (a claim per answer would cost more than it brings: claims of a few rows each)
  let freedSinceClaim = 0;
  let wakeLane: (() => void) | null = null;
  const batchSize = o.batchSize ?? 64;
  const wakeAfterFreed = Math.max(1, Math.min(o.perReceiver ?? 32, batchSize) / 2);
  return {
    name: 'webhooks',
    batchSize,
    concurrency,
    sender,
    wakeWith(wake) {
      wakeLane = wake;
    },
    async claim(owner, limit) {
      freedSinceClaim = 0;
      const now = unixSeconds(clock);
      const claimed = await claimForReceivers(deps, { now, owner, leaseSeconds, limit, skipUrls: receivers.full(), skipMerchants: receivers.fullMerchants(), receivers });
      const kept = [];
      // the statement already kept each URL within its room; this is the in-process guarantee
      for (const l of claimed) {
        if (receivers.take(l.row.url, l.row.merchant_id)) kept.push(l);
        else await releaseDelivery(deps.store, l.row, owner, now);
      }
      return kept;
    },
    async run(l, owner, signal) {
      // the receiver's slot is given back once its answer is in (or the attempt failed): the cap
      // bounds requests at the receiver, not rows waiting for the next batch of records
      let given = false;
      const giveSlot = () => {
        if (given) return;
        given = true;
        receivers.give(l.row.url, l.row.merchant_id);
        if (++freedSinceClaim >= wakeAfterFreed) wakeLane?.();
      };
      try {
        await send(l, owner, signal, giveSlot);
      } finally {
        giveSlot();
      }
    },
    close: () => sender.close(),
  };

  async function send(l: LeasedDelivery, owner: string, signal: AbortSignal, answered: () => void) {
    const d = l.row;
    // logged under the request id that caused the event, so the payment reads end to end
    const reqId = d.request_id ?? undefined;
    const startedAt = signClock.now();
    const req = leasedRequest(l, new Date(startedAt));
    const result: SendResult = await sender.send(d.url, req.payload, req.headers, signal);
    answered();
    if (result.aborted) {
      await releaseDelivery(deps.store, d, owner, unixSeconds(clock));
      deps.logger.info({ reqId, delivery: d.id }, 'webhook attempt cut short by shutdown; the delivery is due again');
      return;
    }
    const state = await recorder.record(owner, { d, result, startedAt: Math.floor(startedAt / 1000) });
    // the receiver's origin and path: user information or a query string may hold its secret (decision 0053)
    const log = { reqId, delivery: d.id, event: d.event_id, url: destinationOf(d.url), attempt: d.attempts + 1, status_code: result.statusCode, error: result.error, ms: result.durationMs, state };
    if (result.ok) deps.logger.info(log, 'webhook delivered');
    else deps.logger.info(log, state === 'failed' ? 'webhook delivery given up' : 'webhook delivery failed; will retry');
    deps.metrics?.observeWebhookAttempt({
      result: result.ok ? 'delivered' : state === 'failed' ? 'gave_up' : 'retry',
      seconds: result.durationMs / 1000,
      eventAgeSeconds: unixSeconds(clock) - d.created_at,
    });
  }
}
