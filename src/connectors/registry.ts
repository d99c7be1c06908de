/**
 * The only list of PGs Pier knows (design.md principle 2). Adding a PG = one line here.
 *
 * @example
 *   const connectors = createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:8091', connectTimeoutMs: 3000, readTimeoutMs: 30000 } });
 *   connectors.get('jtnet')?.capabilities.keyIn; // true
 */
import { createJtnetConnector, type JtnetConnectorOptions } from './jtnet/index.js';
import type { Connector } from './types.js';

export interface ConnectorRegistryConfig {
  jtnet: JtnetConnectorOptions;
}

export interface ConnectorRegistry {
  /** the connector for a V1 pg_provider code, e.g. `jtnet` */
  get(provider: string): Connector | undefined;
  /** every provider code, e.g. `['jtnet']` */
  providers(): string[];
  /** closes every connector's HTTP pool */
  close(): Promise<void>;
}

export function createConnectorRegistry(config: ConnectorRegistryConfig): ConnectorRegistry {
  const all = [createJtnetConnector(config.jtnet)];
  const byProvider = new Map<string, Connector>(all.map((c) => [c.provider, c]));
  return {
    get: (provider) => byProvider.get(provider),
    providers: () => [...byProvider.keys()],
    close: async () => {
      await Promise.all(all.map((c) => c.close()));
    },
  };
}
