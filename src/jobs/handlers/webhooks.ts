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
  concurrency?: number;
}

/**
 * Webhook deliveries as a job queue: claim due deliveries to URLs, POST each once, record the
 * attempt. `close()` releases the HTTP connections.
 */
export function webhookQueue(deps: Deps, o: WebhookQueueOptions = {}): JobQueue<DeliveryRow> & { close(): Promise<void>; sender: WebhookSender } {
  const clock = o.clock ?? deps.clock;
  const timeouts = o.timeouts ?? V1_WEBHOOK_TIMEOUTS;
  // production never sends to internal addresses, whoever built this queue
  const guard = timeouts.guard ?? deps.destinationGuard ?? (deps.mode === 'production' ? DestinationGuard.production() : DestinationGuard.sandbox());
  const sender = new WebhookSender({ ...timeouts, guard });
  // a lease outlives the slowest attempt (its total deadline), so an attempt in progress is never sent twice at once
  const leaseSeconds = Math.ceil((timeouts.deadlineMs ?? timeouts.connectTimeoutMs + timeouts.readTimeoutMs) / 1000) + 30;
  return {
    name: 'webhooks',
    batchSize: o.batchSize ?? 50,
    concurrency: o.concurrency ?? 10,
    sender,
    claim: (owner, limit) => claimDeliveries(deps.store, { now: unixSeconds(clock), owner, leaseSeconds, limit, listenerId: null }),
    async run(d, owner, signal) {
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
    },
    close: () => sender.close(),
  };
}
