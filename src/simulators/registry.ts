/**
 * The PG simulators a sandbox Pier runs inside its own process, one per PG that has one: each on
 * its own port (`simulator.port` + its offset), with its own ledger file in the data directory.
 * Adding a PG's simulator = its folder + one line in SIMULATOR_MODULES. Connectors never import
 * this; main.ts hands each connector its simulator's address.
 */
import type { Clock } from '../lib/clock.js';
import { createTpaySimulator } from './jtnet/index.js';
import { createNicepaySimulator } from './nicepay/index.js';

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
}

export const SIMULATOR_MODULES: readonly SimulatorModule[] = [
  {
    provider: 'jtnet',
    label: 'tPay sim',
    portOffset: 0,
    dbFileName: 'tpay-simulator.sqlite',
    create: (o) => createTpaySimulator({ dbFile: o.dbFile, clock: o.clock, logger: false, publicUrl: o.publicUrl }),
  },
  {
    provider: 'nice_v2',
    label: 'NICEPAY sim',
    portOffset: 1,
    dbFileName: 'nicepay-simulator.sqlite',
    create: (o) => createNicepaySimulator({ dbFile: o.dbFile, clock: o.clock, logger: false, publicUrl: o.publicUrl, webhookSweepMs: 10_000 }),
  },
];

/** The port a simulator listens on, given Pier's `simulator.port`. */
export function simulatorPort(module: SimulatorModule, basePort: number): number {
  return basePort === 0 ? 0 : basePort + module.portOffset;
}
