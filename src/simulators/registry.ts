/**
 * The PG simulators a sandbox Pier runs inside its own process, one per PG that has one: each on
 * its own port (`simulator.port` + its offset), with its own ledger file in the data directory.
 * Adding a PG's simulator = its folder + one line in SIMULATOR_MODULES. Connectors never import
 * this; main.ts hands each connector its simulator's address.
 */
import type { Clock } from '../lib/clock.js';
import type { PgSimulatorTools } from '../lib/simulator-tools.js';
import { createTpaySimulator } from './jtnet/index.js';
import { tpaySimulatorTools } from './jtnet/tools.js';
import { createNicepaySimulator } from './nicepay/index.js';
import { nicepaySimulatorTools } from './nicepay/tools.js';

export interface EmbeddedSimulator {
  /** starts listening; resolves to its base URL */
  listen(o: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

export interface SimulatorModule {
  /** the V1 pg_provider code of the PG it stands in for */
  provider: string;
  /** how the start banner names it */
  label: string;
  /** its port is `simulator.port` + this (0 keeps 0: a random port) */
  portOffset: number;
  /** its ledger file in the data directory */
  dbFileName: string;
  create(o: { dbFile: string; clock: Clock; publicUrl?: string }): EmbeddedSimulator;
  /**
   * the sandbox tools it offers (its ledger, deposits into virtual accounts), talking to the
   * simulator at `url`, embedded or standalone; a tool it cannot offer is left out (decision 0080)
   */
  tools: (url: string) => Omit<PgSimulatorTools, 'provider' | 'label' | 'url'>;
}

export const SIMULATOR_MODULES: readonly SimulatorModule[] = [
  {
    provider: 'jtnet',
    label: 'tPay sim',
    portOffset: 0,
    dbFileName: 'tpay-simulator.sqlite',
    create: (o) => createTpaySimulator({ dbFile: o.dbFile, clock: o.clock, logger: false, publicUrl: o.publicUrl }),
    tools: tpaySimulatorTools,
  },
  {
    provider: 'nice_v2',
    label: 'NICEPAY sim',
    portOffset: 1,
    dbFileName: 'nicepay-simulator.sqlite',
    create: (o) => createNicepaySimulator({ dbFile: o.dbFile, clock: o.clock, logger: false, publicUrl: o.publicUrl, webhookSweepMs: 10_000 }),
    tools: nicepaySimulatorTools,
  },
];

/**
 * The sandbox tools of every configured PG whose test calls go to a simulator (`sandboxHost`: the
 * connector's registry, main.ts and the CLI hand it in), talking to that simulator.
 */
export function simulatorTools(connectors: { providers(): string[]; sandboxHost(provider: string): string | undefined; label(provider: string): string }): PgSimulatorTools[] {
  return SIMULATOR_MODULES.flatMap((m) => {
    const url = connectors.providers().includes(m.provider) ? connectors.sandboxHost(m.provider) : undefined;
    return url ? [{ provider: m.provider, label: connectors.label(m.provider), url, ...m.tools(url) }] : [];
  });
}

/** The port a simulator listens on, given Pier's `simulator.port`. */
export function simulatorPort(module: SimulatorModule, basePort: number): number {
  return basePort === 0 ? 0 : basePort + module.portOffset;
}
