import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/db.js';
import type { Vault } from '../vault/vault.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import type { PierMetrics } from '../operations/metrics.js';
import type { RateLimits } from './merchants/rate-limit.js';
import type { CheckoutRateLimits } from './checkout/rate-limits.js';
import type { DestinationGuard } from '../webhooks/network-guard.js';

/** Everything a use case needs, built once in main.ts (or by the test harness). */
export interface Deps {
  store: Store;
  vault: Vault;
  clock: Clock;
  connectors: ConnectorRegistry;
  logger: Logger;
  mode: 'sandbox' | 'production';
  /** Prometheus metrics of this process (GET /metrics); absent in tools that serve no metrics */
  metrics?: PierMetrics;
  /** sign-in attempt limits (getToken, console); DEFAULT_RATE_LIMITS when absent */
  rateLimits?: RateLimits;
  /** what one client address may ask of the anonymous payment window; DEFAULT_CHECKOUT_RATE_LIMITS when absent */
  checkoutRateLimits?: CheckoutRateLimits;
  /** where webhooks may go; by mode (production: public addresses only) when absent */
  destinationGuard?: DestinationGuard;
  /**
   * The HTTP request these deps serve (its `x-request-id`), written on the webhook events it causes;
   * absent in background work. The request's deps also log through its logger, so every line a
   * use case or PG call writes for it carries `reqId` (src/api/request-deps.ts).
   */
  requestId?: string;
  /**
   * True once the HTTP client of the request these deps serve has closed its connection (absent
   * in background work). A charge checks it when it holds a database connection for its first
   * record, so a request its client gave up on while it queued is never recorded or charged.
   */
  clientGone?: () => boolean;
  /**
   * Aborted once this process stops (SIGTERM): a request in flight then starts no further PG call
   * of its own (a charge's inquiry after a timeout, the charge after a billing key's issue), so that
   * what it still waits for is one PG operation, which the stop's deadline covers (decision 0113).
   * Absent in tools that do not stop so.
   */
  stopping?: AbortSignal;
  /** draws a new payment's imp_uid (lib/ids newImpUid when absent): tests make it repeat one */
  newImpUid?: () => string;
}
