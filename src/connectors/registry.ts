/**
 * The only list of PGs Pier knows (design.md principle 2). Adding a PG = its folder + one line in
 * CONNECTOR_MODULES; its configuration section, defaults and environment variables come with it.
 *
 * @example
 *   const connectors = createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:8091' } }, { clock });
 *   connectors.get('jtnet')?.capabilities.keyIn; // true
 */
import { jtnetModule } from './jtnet/index.js';
import { nicepayModule } from './nicepay/index.js';
import type { Logger } from '../lib/logger.js';
import type { ChannelRules, Connector, ConnectorCapabilities, ConnectorContext, ConnectorModule } from './types.js';

/** Every PG connector Pier ships, in the order the console lists them. */
export const CONNECTOR_MODULES = [jtnetModule, nicepayModule] as const satisfies readonly ConnectorModule<any, string>[];

type Modules = (typeof CONNECTOR_MODULES)[number];
type SettingsOf<M> = M extends ConnectorModule<infer O, string> ? O : never;

/** `connectors` in Pier's loaded configuration: every PG's section in full. */
export type ConnectorSettings = { [M in Modules as M['provider']]: SettingsOf<M> };

/** What the registry is built from: each PG's section, missing keys taking the PG's defaults. */
export type ConnectorRegistryConfig = { [M in Modules as M['provider']]?: Partial<SettingsOf<M>> };

export interface ConnectorRegistry {
  /** the connector for a V1 pg_provider code, e.g. `jtnet`; undefined for a PG unknown or not configured here */
  get(provider: string): Connector | undefined;
  /** every configured provider code, e.g. `['jtnet', 'nice_v2']` (not the ones in `unconfigured()`) */
  providers(): string[];
  /**
   * PGs Pier ships that this configuration leaves out (their module's `create` gave null), with how
   * to set each up: absent from `get` and `providers`, so /ready never checks them (decision 0079)
   */
  unconfigured(): UnconfiguredPg[];
  /** the PG's name as the console shows it, e.g. `JTNet(tPay)` */
  label(provider: string): string;
  /**
   * where a configured PG's test calls go when that is a simulator (ConnectorModule.sandboxHost),
   * e.g. `http://127.0.0.1:8091`; undefined otherwise
   */
  sandboxHost(provider: string): string | undefined;
  /** what a channel of this PG holds and which values are valid; undefined for an unknown provider */
  channelRules(provider: string): ChannelRules | undefined;
  /**
   * the longest one PG call may take: the slowest PG's connect timeout plus its read timeout, how
   * long a call may still be in flight (the read timeout alone is not: decision 0061)
   */
  maxCallMs(): number;
  /**
   * the longest one operation may wait on its PG: the slowest PG's call (as maxCallMs) times the
   * calls one of its operations makes one after another (ConnectorModule.callsPerOperation)
   */
  maxOperationMs(): number;
  /** closes every connector's HTTP pool */
  close(): Promise<void>;
  /**
   * The same connectors, their calls logged to `logger` (a request's, so its lines carry the request
   * id); absent when the registry does not log (src/connectors/instrumented.ts). A registry that
   * wraps another's `get` must wrap this too, or a request's registry bypasses it (depsWith in
   * test/harness.ts).
   */
  loggingTo?(logger: Logger): ConnectorRegistry;
}

/** A PG this Pier ships and its configuration leaves out. */
export interface UnconfiguredPg {
  provider: string;
  label: string;
  /** e.g. `set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host` */
  setupHint: string;
}

export interface RegistryContext {
  clock?: ConnectorContext['clock'];
  /** embedded simulators by provider (sandbox mode) */
  simulators?: Partial<Record<string, NonNullable<ConnectorContext['simulator']>>>;
}

export function createConnectorRegistry(config: ConnectorRegistryConfig = {}, context: RegistryContext = {}): ConnectorRegistry {
  const built = CONNECTOR_MODULES.map((m) => {
    const settings = { ...m.defaults, ...((config as Record<string, object | undefined>)[m.provider] ?? {}) } as SettingsOf<typeof m>;
    const ctx = { clock: context.clock, simulator: context.simulators?.[m.provider] };
    const connector = (m as ConnectorModule<typeof settings>).create(settings, ctx);
    const sandboxHost = connector ? (m as ConnectorModule<typeof settings>).sandboxHost(settings, ctx) : null;
    return { module: m, settings, connector, sandboxHost };
  });
  const configured = built.flatMap((b) => (b.connector ? [{ ...b, connector: b.connector }] : []));
  const unconfigured: UnconfiguredPg[] = built.flatMap((b) => (b.connector ? [] : [{ provider: b.module.provider, label: b.module.label, setupHint: b.module.setupHint }]));
  const byProvider = new Map<string, Connector>(configured.map((b) => [b.module.provider, b.connector]));
  return {
    get: (provider) => byProvider.get(provider),
    providers: () => [...byProvider.keys()],
    unconfigured: () => unconfigured,
    sandboxHost: (provider) => configured.find((b) => b.module.provider === provider)?.sandboxHost ?? undefined,
    label: (provider) => built.find((b) => b.module.provider === provider)?.module.label ?? provider,
    channelRules: (provider) => built.find((b) => b.module.provider === provider)?.module.channelRules,
    // no PG configured: no call can be in flight
    maxCallMs: () => Math.max(0, ...configured.map((b) => b.settings.connectTimeoutMs + b.settings.readTimeoutMs)),
    maxOperationMs: () => Math.max(0, ...configured.map((b) => (b.settings.connectTimeoutMs + b.settings.readTimeoutMs) * (b.module.callsPerOperation ?? 1))),
    close: async () => {
      await Promise.all(configured.map((b) => b.connector.close()));
    },
  };
}

/** What one PG can do, as the README's compatibility table shows it. */
export interface PgProfile {
  provider: string;
  label: string;
  capabilities: ConnectorCapabilities;
  /** DELETE /vbanks/{imp_uid}: the connector can close an unpaid virtual account */
  revokesVbank: boolean;
}

/**
 * Every PG's capabilities without any configuration: each connector is built on a placeholder
 * address, read, and closed, never called (`pier compat-table`).
 */
export function pgProfiles(): PgProfile[] {
  const nowhere = { apiUrl: 'http://127.0.0.1:9', publicUrl: 'http://127.0.0.1:9' };
  return CONNECTOR_MODULES.map((m) => {
    // a simulator's address configures every PG
    const connector = (m as ConnectorModule<typeof m.defaults>).create(m.defaults, { simulator: nowhere });
    if (!connector) throw new Error(`PG ${m.provider} is not configured even with a simulator`);
    void connector.close();
    return { provider: m.provider, label: m.label, capabilities: connector.capabilities, revokesVbank: typeof connector.revokeVbank === 'function' };
  });
}
