import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/db.js';
import type { Vault } from '../vault/vault.js';
import type { ConnectorRegistry } from '../connectors/registry.js';
import type { PierMetrics } from '../operations/metrics.js';

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
}
