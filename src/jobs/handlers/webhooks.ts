import type { Deps } from '../../core/deps.js';
import { systemClock, unixSeconds, type Clock } from '../../lib/clock.js';
import { attemptDelivery, claimDeliveries, DEFAULT_RETRY, releaseDelivery, type DeliveryRow, type RetryPolicy } from '../../webhooks/deliveries.js';
import { V1_WEBHOOK_TIMEOUTS, WebhookSender, type SenderOptions } from '../../webhooks/sender.js';
import type { JobQueue } from '../runner.js';
import { DestinationGuard } from '../../webhooks/network-guard.js';
import { runWithRequestId } from '../../lib/request-context.js';

export interface WebhookQueueOptions {
  /** when deliveries are due and retried (default deps.clock: the sandbox clock in sandbox mode, docs/decisions/0009) */
  clock?: Clock;
  /** the real time, for `webhook-timestamp` */
  signClock?: Clock;
  /** timeouts, total deadline per attempt, and the production network guard */
  timeouts?: SenderOptions;
  retry?: RetryPolicy;
  batchSize?: number;
  /** attempts in flight at once in this process (default 32) */
  concurrency?: number;
  /** attempts in flight at once to one receiver URL (default 8), so slow receivers share the lane */
  perReceiver?: number;
}

/** Attempts in flight per receiver URL; a URL at its cap is left out of the next claim. */
class ReceiverSlots {
  private readonly inFlight = new Map<string, number>();
  constructor(readonly cap: number) {}
  full(): string[] {
    return [...this.inFlight].filter(([, n]) => n >= this.cap).map(([url]) => url);
  }
  take(url: string): boolean {
    const n = this.inFlight.get(url) ?? 0;
    if (n >= this.cap) return false;
    this.inFlight.set(url, n + 1);
    return true;
  }
  give(url: string): void {
    const n = (this.inFlight.get(url) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(url);
    else this.inFlight.set(url, n);
  }
}

/**
 * Webhook deliveries as a job queue: claim due deliveries to URLs, POST each once, record the
 * attempt. `close()` releases the HTTP connections.
 *
 * Up to `concurrency` attempts run at once, at most `perReceiver` of them to one URL: a receiver
 * that hangs until the attempt deadline holds `perReceiver` slots, and the others keep being
 * delivered to. A claim leaves out URLs at their cap; rows of one URL beyond the cap within one
 * claim are given back at once, due now and uncounted (another process may send them).
 */
export function webhookQueue(deps: Deps, o: WebhookQueueOptions = {}): JobQueue<DeliveryRow> & { close(): Promise<void>; sender: WebhookSender } {
  const clock = o.clock ?? deps.clock;
  const timeouts = o.timeouts ?? V1_WEBHOOK_TIMEOUTS;
  // production never sends to internal addresses, whoever built this queue
  const guard = timeouts.guard ?? deps.destinationGuard ?? (deps.mode === 'production' ? DestinationGuard.production() : DestinationGuard.sandbox());
  const sender = new WebhookSender({ ...timeouts, guard });
  // a lease outlives the slowest attempt (its total deadline), so an attempt in progress is never sent twice at once
  const leaseSeconds = Math.ceil((timeouts.deadlineMs ?? timeouts.connectTimeoutMs + timeouts.readTimeoutMs) / 1000) + 30;
  const receivers = new ReceiverSlots(o.perReceiver ?? 8);
  return {
    name: 'webhooks',
    batchSize: o.batchSize ?? 50,
    concurrency: o.concurrency ?? 32,
    sender,
    async claim(owner, limit) {
      const now = unixSeconds(clock);
      const claimed = await claimDeliveries(deps.store, { now, owner, leaseSeconds, limit, listenerId: null, skipUrls: receivers.full() });
      const kept: DeliveryRow[] = [];
      for (const d of claimed) {
        if (receivers.take(d.url)) kept.push(d);
        else await releaseDelivery(deps.store, d, owner, now);
      }
      return kept;
    },
    async run(d, owner, signal) {
      try {
        await send(d, owner, signal);
      } finally {
        receivers.give(d.url);
      }
    },
    close: () => sender.close(),
  };

  async function send(d: DeliveryRow, owner: string, signal: AbortSignal) {
    // logged under the request id that caused the event, so the payment reads end to end
    const attempt = async () => {
      const { result, state } = await attemptDelivery(deps, d, { owner, sender, clock, signClock: o.signClock, retry: o.retry ?? DEFAULT_RETRY, signal });
      if (state === 'released') {
        deps.logger.info({ delivery: d.id }, 'webhook attempt cut short by shutdown; the delivery is due again');
        return;
      }
      const log = { delivery: d.id, event: d.event_id, url: d.url, attempt: d.attempts + 1, status_code: result.statusCode, error: result.error, ms: result.durationMs, state };
      if (result.ok) deps.logger.info(log, 'webhook delivered');
      else deps.logger.info(log, state === 'failed' ? 'webhook delivery given up' : 'webhook delivery failed; will retry');
      deps.metrics?.observeWebhookAttempt({
        result: result.ok ? 'delivered' : state === 'failed' ? 'gave_up' : 'retry',
        seconds: result.durationMs / 1000,
        eventAgeSeconds: unixSeconds(clock) - d.created_at,
      });
    };
    return d.request_id ? runWithRequestId(d.request_id, attempt) : attempt();
  }
}
