import { openVault } from '../vault/open-vault.js';
import { checkVaultOpensData } from '../vault/sealed-data.js';
import type { Vault } from '../vault/vault.js';
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { createConnectorRegistry } from '../connectors/registry.js';
import { ConnectorConfigError } from '../connectors/types.js';
import { SIMULATOR_MODULES, simulatorPort, simulatorTools } from '../simulators/registry.js';
import type { PgSimulatorTools } from '../lib/simulator-tools.js';
import type { Deps } from '../core/deps.js';
import { findMerchant } from '../core/merchants/merchants.js';
import { systemClock } from '../lib/clock.js';
import { createLogger } from '../lib/logger.js';
import { migrateToLatest, openStore } from '../store/db.js';
import { webhookDestinationGuard } from '../webhooks/network-guard.js';

/** A failure the CLI reports as one line on stderr, exit code 1, no stack trace. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface CliContext {
  config: Config;
  deps: Deps;
  /** migrations applied while opening (normally empty: only the first run on a new database applies any) */
  applied: string[];
  /** migrations a newer Pier recorded in this database, which this version does not know */
  newer: string[];
  close(): Promise<void>;
}

/**
 * Where the embedded simulators of a running sandbox server listen, by provider: the CLI reaches
 * them there (only `reconcile` and sandbox tools talk to a PG).
 */
export function embeddedSimulators(config: Config): Record<string, { apiUrl: string; publicUrl: string }> {
  if (!config.simulator.enabled) return {};
  return Object.fromEntries(
    SIMULATOR_MODULES.map((m) => {
      const url = `http://${config.simulator.host}:${simulatorPort(m, config.simulator.port)}`;
      return [m.provider, { apiUrl: url, publicUrl: url }];
    }),
  );
}

/**
 * The sandbox tools of this configuration's PGs (`pier sandbox deposit`): each talks to the
 * simulator its PG's connector calls, the configured address or a running sandbox server's
 * embedded simulator (decision 0080).
 */
export function cliSimulatorTools(deps: Deps): PgSimulatorTools[] {
  return simulatorTools(deps.connectors);
}

/** A placeholder PG address for commands that never call a PG. */
const UNREACHABLE = 'http://127.0.0.1:9';

/**
 * The connectors a command uses; a PG whose address cannot work only matters to commands that call
 * one. A PG not configured at all (JTNET without PIER_JTNET_URL) is simply absent (decision 0079).
 */
function cliConnectors(config: Config, needPg: boolean) {
  const simulators = embeddedSimulators(config);
  try {
    return createConnectorRegistry(config.connectors, { simulators });
  } catch (err) {
    if (!(err instanceof ConnectorConfigError)) throw err;
    if (needPg) throw new ConfigError(`invalid configuration key "${err.key}": ${err.message}`);
    const placeholders = Object.fromEntries(SIMULATOR_MODULES.map((m) => [m.provider, { apiUrl: UNREACHABLE, publicUrl: UNREACHABLE }]));
    return createConnectorRegistry(config.connectors, { simulators: { ...placeholders, ...simulators } });
  }
}

/**
 * Opens what the server opens (same configuration, database and vault), without the server:
 * config from env/PIER_CONFIG, store + migrations, vault, connectors, the webhook destination guard.
 */
export async function openCliContext(opts: { needPg?: boolean } = {}): Promise<CliContext> {
  const config = loadConfig();
  // the server's guard from the same settings: a webhook URL the server accepts, the CLI accepts (and the reverse)
  const destinationGuard = webhookDestinationGuard(config);
  // Logs go to stderr so stdout stays the command's output; quiet unless LOG_LEVEL asks.
  const level = process.env.LOG_LEVEL ? config.logLevel : 'warn';
  const logger = createLogger(level, pino.destination({ fd: 2, sync: true }));
  // main.ts guards its start-up behind an entry check; imported lazily because it loads the whole app.
  const ring = openVault(config);
  const store = openStore(config.databaseUrl, { poolSize: 2, connectTimeoutMs: config.databaseConnectTimeoutMs, statementTimeoutMs: config.databaseStatementTimeoutMs });
  let applied: string[];
  let newer: string[] = [];
  let vault: Vault;
  try {
    applied = await migrateToLatest(store, { onNewer: (names) => (newer = names), onNotice: (message, detail) => logger.warn(detail, message) });
    const check = await checkVaultOpensData(store, ring);
    vault = check.ok ? ring : refusingVault(ring, check.message);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  const connectors = cliConnectors(config, opts.needPg ?? false);
  const deps: Deps = { store, vault, clock: systemClock, logger, mode: config.mode, connectors, destinationGuard };
  return {
    config,
    deps,
    applied,
    newer,
    async close() {
      await connectors.close().catch(() => {});
      await store.close();
    },
  };
}

/**
 * The key ring of a shell whose keys do not open this installation's data (no PIER_VAULT_KEYS, so
 * in sandbox a vault.key made anew in a data folder of its own; another installation's ring): it
 * refuses before anything is sealed or opened. Sealed with it, a channel key or webhook secret would
 * open in no Pier process, and the servers' start-up check would stop their next start. Commands
 * that never touch sealed values (the clock, users, merchant lists, migrate) still run.
 */
function refusingVault(ring: Vault, message: string): Vault {
  const refuse = (): never => {
    throw new CliError(message);
  };
  return Object.assign(Object.create(ring) as Vault, { seal: refuse, open: refuse, openRemembered: refuse });
}

/** The merchant named by its code (`imp12345678`) or internal id; CliError when there is none. */
export async function requireMerchant(deps: Deps, code: string) {
  const m = await findMerchant(deps, code);
  if (!m) throw new CliError(`unknown merchant code "${code}" (see \`pier merchant list\`)`);
  return m;
}
