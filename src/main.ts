import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_ERROR_EXIT, runCluster, stopOnSignals, type Installation } from './cluster.js';
import { buildApp } from './api/app.js';
import { loadConfig, ConfigError, type Config } from './config/index.js';
import { createConnectorRegistry } from './connectors/registry.js';
import { instrumentConnectors } from './connectors/instrumented.js';
import { PierMetrics } from './operations/metrics.js';
import { clusterMetricsOf } from './operations/cluster-metrics.js';
import type { Deps } from './core/deps.js';
import { listChannels } from './core/merchants/channels.js';
import { demoCredentialsExist } from './core/merchants/merchants.js';
import { reconcileGraceSeconds, reconcileInDoubt, reconcileInDoubtCancels } from './core/payments/reconcile.js';
import { ensureDemoConsoleUser, ensureDemoMerchant } from './core/sandbox/demo.js';
import { registerSandboxNotifyUrls } from './core/sandbox/notify-urls.js';
import { systemClock, type Clock } from './lib/clock.js';
import { refreshClock, SandboxClock } from './core/sandbox/clock.js';
import { JobRunner } from './jobs/runner.js';
import { scheduleQueue } from './jobs/handlers/schedules.js';
import { webhookQueue } from './jobs/handlers/webhooks.js';
import { webhookDestinationGuard } from './webhooks/network-guard.js';
import { V1_WEBHOOK_TIMEOUTS } from './webhooks/sender.js';
import { sandboxAutoCancelQueue } from './jobs/handlers/sandbox-auto-cancel.js';
import { windowConfirmQueue } from './jobs/handlers/window-confirms.js';
import { vbankDepositCheckQueue } from './jobs/handlers/vbank-deposit-checks.js';
import { checkoutSessionPurgeQueue } from './jobs/handlers/checkout-session-purge.js';
import { endedRowPurgeQueue } from './jobs/handlers/ended-row-purge.js';
import { createLogger, type Logger } from './lib/logger.js';
import { SIMULATOR_MODULES, simulatorPort, simulatorTools, type EmbeddedSimulator } from './simulators/registry.js';
import { ConnectorConfigError } from './connectors/types.js';
import { migrateToLatest, openStore, type Store } from './store/db.js';
import { openVault } from './vault/open-vault.js';
import { checkVaultOpensData } from './vault/sealed-data.js';

/** What a cluster worker is handed by the primary, which did the once-only start-up work (cluster.ts). */
export interface WorkerSetup {
  /** the embedded simulators' addresses by provider (sandbox), running in the primary */
  simulators: Record<string, { apiUrl: string; publicUrl: string }>;
}

/**
 * Composition root: config -> store -> (simulator) -> connectors -> app -> background work.
 * Returns a handle that stops everything, for tests of the whole process and for signals.
 * Given `worker`, it is one of PIER_WORKERS HTTP workers: the primary has migrated the database,
 * started the simulators and made the demo merchant, so this process only serves and works.
 */
export async function startPier(config: Config, opts: { worker?: WorkerSetup } = {}) {
  const logger = createLogger(config.logLevel, undefined, { format: config.logFormat, mode: config.mode });
  const store = openStore(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    onConnectionLost: (err) => logger.warn({ err: err.message }, 'database connection lost between statements; the pool opens a new one'),
    onCheckpointError: (err) => logger.warn({ err: err.message }, 'SQLite WAL checkpoint'),
    onCheckpointRecovered: (failedPasses) => logger.info({ failedPasses }, 'SQLite WAL checkpoint works again'),
    onReaderError: (err) => logger.warn({ err: err.message }, 'SQLite reader thread'),
  });
  const simulators: EmbeddedSimulator[] = [];
  try {
    return await startOn(config, logger, store, simulators, opts.worker);
  } catch (err) {
    await Promise.all(simulators.map((s) => s.close()));
    await store.close();
    throw err;
  }
}

/**
 * The start-up work done once per installation start, whatever the number of workers: migrate,
 * start the embedded simulators, refuse what production must refuse, check the vault, make the
 * sandbox demo merchant. `startPier` does it itself; with PIER_WORKERS > 1 the primary does it
 * before forking (cluster.ts), so workers never race on a migration or print the demo secret twice.
 */
export async function prepareInstallation(config: Config, logger: Logger, store: Store, simulators: EmbeddedSimulator[]) {
  const guard = webhookDestinationGuard(config);
  checkSimulatorPorts(config);
  const onNewer = (newer: string[]) => logger.warn({ newer }, 'the database has migrations of a newer Pier; this version runs without them');
  const onNotice = (message: string, detail: Record<string, unknown>) => logger.warn(detail, message);
  const applied = await migrateToLatest(store, { onNewer, onNotice }).catch((err: Error) => {
    // the driver's words alone ("connect ECONNREFUSED …") do not say which database; the label has no password
    throw new Error(`migrating ${store.label}: ${err.message}`, { cause: err });
  });
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  const clock = await startClock(config, store);

  // Sandbox: each PG's simulator runs inside this process on its own port; its connector calls it
  // there unless configured with a PG address of its own
  const simulatorAddresses: WorkerSetup['simulators'] = {};
  const simulatorLines: string[] = [];
  if (config.simulator.enabled) {
    // their ledger files live in dataDir, which nothing has created yet when the database is
    // elsewhere (PostgreSQL): opening a ledger in a missing folder fails the start
    mkdirSync(config.dataDir, { recursive: true });
    const publicBase = config.simulator.publicUrl.replace(/\/+$/, '');
    for (const m of SIMULATOR_MODULES) {
      // behind a proxy the first simulator is at simulator.publicUrl, the others at their own ports' public addresses
      const publicUrl = publicBase ? (m.portOffset === 0 ? publicBase : undefined) : undefined;
      const sim = m.create({ dbFile: join(config.dataDir, m.dbFileName), clock, publicUrl });
      simulators.push(sim);
      const apiUrl = await sim.listen({ host: config.simulator.host, port: simulatorPort(m, config.simulator.port) });
      simulatorAddresses[m.provider] = { apiUrl, publicUrl: publicUrl ?? apiUrl };
      simulatorLines.push(`  ${m.label.padEnd(12)} ${apiUrl}   (ledger: ${apiUrl}/__ledger)`);
    }
  }
  if (config.mode === 'production' && (await demoCredentialsExist({ store } as Deps))) {
    throw new ConfigError(
      'production mode refuses to start while a merchant still has i\'mport\'s public demo REST key (imp_apikey): rotate it with `pier merchant rotate-key <code>`',
    );
  }
  // every process on this database must open what the others sealed: refuse to start otherwise
  const vault = openVault(config);
  const vaultCheck = await checkVaultOpensData(store, vault);
  if (!vaultCheck.ok) throw new ConfigError(`invalid configuration key "vault.keys": ${vaultCheck.message}`);

  const deps = buildDeps(config, logger, store, { clock, vault, guard, simulators: simulatorAddresses });
  await reportUnconfiguredPgs(deps);
  const demo = config.mode === 'sandbox' ? await ensureDemoMerchant(deps) : null;
  // where each sandbox account's notices go, told to its simulator as an operator tells the PG's
  // admin: the payment window carries no notice URL (decision 0086)
  if (config.mode === 'sandbox') await registerSandboxNotifyUrls(deps, simulatorTools(deps.connectors), config.publicUrl);
  const demoChannels = demo ? (await listChannels(deps, demo.merchantId)).map((c) => `${c.provider}.${c.mid}   (${deps.connectors.label(c.provider)}, ${c.kind === 'api' ? 'API' : 'window'}${c.is_default ? ', default' : ''})`) : [];
  return {
    clock,
    deps,
    setup: { simulators: simulatorAddresses } satisfies WorkerSetup,
    /**
     * The start banner, once Pier listens at `address`. The sandbox's demo console user is made
     * here, not before: its password is shown once, in this banner, and a start that failed before
     * listening (a taken port) left a user whose password nobody saw.
     */
    banner: async (address: string) => {
      const consoleUser = demo ? await demoConsoleUserFor(deps, demo.merchantCode, logger) : null;
      return startBanner(config, { address, storeLabel: store.label, simulatorLines, demo, demoChannels, consoleUser });
    },
  };
}

/**
 * The embedded simulators take `simulator.port` and the ports after it, one per PG; the schema
 * checks only the first. Past 65535 the listen would fail once the database is migrated, with
 * Fastify's words and exit 1 (`PORT=65524` puts NICE's on 65536): a configuration error instead.
 */
function checkSimulatorPorts(config: Config): void {
  if (!config.simulator.enabled) return;
  const ports = SIMULATOR_MODULES.map((m) => simulatorPort(m, config.simulator.port));
  const last = Math.max(...ports);
  if (last > 65535) {
    throw new ConfigError(
      `invalid configuration key "simulator.port": the embedded simulators take ports ${config.simulator.port} to ${last}, past 65535 (value: ${config.simulator.port}; it follows PORT + 11 unless PIER_SIMULATOR_PORT is set)`,
    );
  }
}

/** ensureDemoConsoleUser for the banner: Pier already listens, so a failure costs the line, not the start. */
async function demoConsoleUserFor(deps: Deps, merchantCode: string, logger: Logger): Promise<Awaited<ReturnType<typeof ensureDemoConsoleUser>>> {
  try {
    return await ensureDemoConsoleUser(deps, merchantCode);
  } catch (err) {
    logger.error({ err }, 'could not make the demo console user; `pier user create` adds one');
    return null;
  }
}

/**
 * Sandbox: Pier's clock is the real time plus an offset kept in the database, which an operator
 * moves forward (`pier sandbox clock advance 30d`). The embedded simulator follows it too.
 */
async function startClock(config: Config, store: Store): Promise<Clock> {
  if (config.mode !== 'sandbox') return systemClock;
  const clock = new SandboxClock(store);
  await clock.refresh();
  clock.start();
  return clock;
}

/** The services of one process: store, vault, clock, metrics, connectors. */
function buildDeps(
  config: Config,
  logger: Logger,
  store: Store,
  o: { clock: Clock; vault: Deps['vault']; guard: Deps['destinationGuard']; simulators: WorkerSetup['simulators'] },
): Deps {
  const { clock, guard } = o;
  const metrics = new PierMetrics({ connectionWaits: store.connectionWaits });
  return {
    store,
    vault: o.vault,
    clock,
    logger,
    mode: config.mode,
    metrics,
    destinationGuard: guard,
    rateLimits: {
      perIp: { limit: config.rateLimits.perIp, windowSeconds: config.rateLimits.windowSeconds },
      perKey: { limit: config.rateLimits.perKey, windowSeconds: config.rateLimits.windowSeconds },
    },
    checkoutRateLimits: {
      sessionsPerIp: { limit: config.checkoutRateLimits.sessionsPerIp, windowSeconds: config.checkoutRateLimits.windowSeconds },
      windowsPerIp: { limit: config.checkoutRateLimits.windowsPerIp, windowSeconds: config.checkoutRateLimits.windowSeconds },
    },
    // Pier's clock: the window's ediDate and default vbank due date follow it, like the embedded simulator;
    // every PG call is timed and logged at this one seam
    connectors: instrumentConnectors(createRegistry(config, { clock, simulators: o.simulators }), { metrics, logger }),
  };
}

async function startOn(config: Config, logger: Logger, store: Store, simulators: EmbeddedSimulator[], worker: WorkerSetup | undefined) {
  let installation: Awaited<ReturnType<typeof prepareInstallation>> | null = null;
  let clock: Clock;
  let deps: Deps;
  if (worker) {
    const guard = webhookDestinationGuard(config);
    clock = await startClock(config, store);
    deps = buildDeps(config, logger, store, { clock, vault: openVault(config), guard, simulators: worker.simulators });
  } else {
    installation = await prepareInstallation(config, logger, store, simulators);
    ({ clock, deps } = installation);
  }
  // aborted when the stop begins: reconciliation starts no further row, a request no further PG call
  // (decision 0113)
  const stopping = new AbortController();
  deps.stopping = stopping.signal;
  const simulatorAddresses = worker?.simulators ?? installation!.setup.simulators;
  const app = await buildApp(deps, {
    bodyLimit: config.bodyLimit,
    publicUrl: config.publicUrl,
    // sandbox tools (deposits, ledgers) talk to the simulator each PG's connector uses, embedded or standalone
    simulatorTools: config.mode === 'sandbox' ? simulatorTools(deps.connectors) : undefined,
    metricsToken: config.metrics.token,
    workerMetrics: cluster.isWorker && deps.metrics ? clusterMetricsOf(deps.metrics.registry) : undefined,
    trustProxy: config.trustProxy,
    pgNoticeRateLimit: { limit: config.pgNoticeRateLimit.perIp, windowSeconds: config.pgNoticeRateLimit.windowSeconds },
  });
  // a deep accept queue: bursts of thousands of payments (bench/) otherwise lose SYNs and retry seconds later
  const address = await app.listen({ host: config.host, port: config.port, backlog: 4096 });

  // Settle payments and refunds left in doubt by PG timeouts or by a process that died mid-call.
  // One pass at a time; each row carries its own next check (reconcile.ts). The pass under way is
  // kept: a stop tells it to start no further row and waits for the rows it has started, whose PG
  // may already have answered, before closing the connectors and the store (decision 0113)
  const graceSeconds = reconcileGraceSeconds(deps.connectors);
  let reconciling: Promise<void> | null = null;
  const reconciler = setInterval(() => {
    if (reconciling || stopping.signal.aborted) return;
    const pass = { graceSeconds, signal: stopping.signal };
    reconciling = reconcileInDoubt(deps, pass)
      .then(() => reconcileInDoubtCancels(deps, pass))
      .then(
        () => undefined,
        (err: unknown) => logger.error({ err }, 'reconciliation failed'),
      )
      .finally(() => (reconciling = null));
  }, 30_000);
  reconciler.unref();

  // Background work kept as rows and leased, so several processes can share the database:
  // scheduled payments and webhook retries fall due on Pier's clock (the sandbox clock in sandbox
  // mode); leases and graces run on the database's clock. Window confirms retry the PG
  // acknowledgement; ended checkout sessions, console sessions, rate-limit buckets and access
  // tokens are purged. Each queue runs in its own lane of the
  // runner: adding a queue is one more entry here.
  const webhooks = webhookQueue(deps, {
    clock,
    timeouts: { ...V1_WEBHOOK_TIMEOUTS, deadlineMs: config.webhooks.attemptDeadlineMs },
  });
  const queues = [
    // its leases and grace follow the configured PG timeouts (schedulePolicyFor)
    scheduleQueue(deps),
    webhooks,
    windowConfirmQueue(deps),
    // issued virtual accounts whose deposit notice may have been lost (decision 0086)
    vbankDepositCheckQueue(deps),
    checkoutSessionPurgeQueue(deps),
    endedRowPurgeQueue(deps),
    ...(config.mode === 'sandbox' ? [sandboxAutoCancelQueue(deps)] : []),
  ];
  const runner = new JobRunner({
    queues,
    logger,
    beforePass: () => refreshClock(clock),
    shutdownGraceMs: config.shutdownGraceMs,
    onClaim: (c) => deps.metrics?.observeClaim(c),
  });
  runner.start();

  // a worker's start is announced by the primary, once (cluster.ts)
  if (installation) process.stdout.write(await installation.banner(address));

  return {
    app,
    deps,
    address,
    /** each embedded simulator's address by provider (sandbox) */
    simulators: simulatorAddresses,
    runner,
    stopDeadlineMs: stopDeadlineMs(config, deps.connectors),
    async stop() {
      clearInterval(reconciler);
      stopping.abort();
      const reconciled = reconciling ?? Promise.resolve();
      // HTTP first: no new connection from now on (a load balancer sees the port closed and sends
      // elsewhere), a request on a kept-alive one is answered 503, the requests in flight are
      // answered and idle keep-alive connections closed (Fastify's close). The jobs get their
      // grace meanwhile, rather than the server taking requests for as long as they take to stop.
      // A request in flight is waited for however long its PG takes within the PG's timeouts
      // (stopDeadlineMs, decision 0106): cut off, a charge would leave the merchant a socket error.
      const httpClosed = app.close();
      // a connection whose request was in flight is closed once answered, not kept alive for
      // Fastify's 72 s (the close would wait for it, past the shutdown's backstop)
      app.server.keepAliveTimeout = 1;
      await runner.stop();
      await webhooks.close();
      if (clock instanceof SandboxClock) clock.stop();
      await httpClosed;
      // a row under way finishes its inquiry (one PG operation, within the stop's deadline) and
      // records what the PG said: closed under it, the answer was lost (a net-cancel the PG made,
      // unrecorded) or the row half-settled
      await reconciled;
      await deps.connectors.close();
      await Promise.all(simulators.map((s) => s.close()));
      await store.close();
    },
  };
}

/**
 * How long a Pier process's stop may take before its backstop (decision 0106): the jobs' grace, or
 * the slowest configured PG's whole operation (every call's connect + read timeout), which a
 * request in flight may still be waiting for, whichever is longer.
 */
function stopDeadlineMs(config: Config, connectors: Deps['connectors']): number {
  return Math.max(config.shutdownGraceMs, connectors.maxOperationMs());
}

/** What Pier prints once it listens: where everything is and, on the first sandbox start, the demo credentials. */
function startBanner(
  config: Config,
  o: {
    address: string;
    storeLabel: string;
    simulatorLines: string[];
    demo: Awaited<ReturnType<typeof ensureDemoMerchant>>;
    /** the demo merchant's channels, one line each */
    demoChannels: string[];
    consoleUser: Awaited<ReturnType<typeof ensureDemoConsoleUser>>;
  },
): string {
  const { demo, consoleUser } = o;
  const workers = config.workers > 1 ? `, ${config.workers} workers` : '';
  const banner = [
    '',
    `  Pier is running (${config.mode}, ${o.storeLabel}${workers})`,
    `  API          ${config.publicUrl}   (listening on ${o.address})`,
    `  API docs     ${config.publicUrl}/docs`,
    `  Health       ${config.publicUrl}/health   ${config.publicUrl}/ready   ${config.publicUrl}/metrics${config.metrics.token ? '   (Bearer metrics.token)' : config.mode === 'production' ? '   (off: set PIER_METRICS_TOKEN)' : ''}`,
    demo ? `  Demo shop    ${config.publicUrl}/demo   (payment window: IMP.request_pay)` : '',
    `  Console      ${config.publicUrl}/console`,
    ...o.simulatorLines,
    demo
      ? [
          `  Demo merchant  IMP.init('${demo.merchantCode}')`,
          `    imp_key      ${demo.impKey}`,
          `    imp_secret   ${demo.impSecret}`,
          ...o.demoChannels.map((line, i) => `    ${i === 0 ? 'channels' : ''.padEnd(8)}     ${line}`),
          consoleUser
            ? `    console      ${consoleUser.email}   ${consoleUser.password ? `password ${consoleUser.password}   (shown once: save it)` : '(password shown on the first start; `pier user create` adds users)'}`
            : '',
        ]
          .filter((l) => l !== '')
          .join('\n')
      : '',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
  return `${banner}\n\n`;
}

/**
 * One line naming the PGs this configuration leaves out (decision 0079) and how to set each up: a
 * warning when channels of them exist (their payments are answered "not configured"), else info.
 */
async function reportUnconfiguredPgs(deps: Deps): Promise<void> {
  const missing = deps.connectors.unconfigured();
  if (missing.length === 0) return;
  const providers = missing.map((p) => p.provider);
  const row = await deps.store.db.selectFrom('pg_channels').select((eb) => eb.fn.countAll<number | string>().as('n')).where('provider', 'in', providers).executeTakeFirst();
  const channels = Number(row?.n ?? 0);
  const how = missing.map((p) => `${p.provider} (${p.label}): ${p.setupHint}`).join('; ');
  if (channels > 0) deps.logger.warn({ pgs: providers, channels }, `PGs not configured, left out of this Pier; their ${channels} channel(s) cannot pay or refund until set up: ${how}`);
  else deps.logger.info({ pgs: providers }, `PGs not configured, left out of this Pier: ${how}`);
}

/** The connectors of this configuration; a connector that cannot work is a configuration error. */
function createRegistry(config: Config, context: Parameters<typeof createConnectorRegistry>[1]) {
  try {
    return createConnectorRegistry(config.connectors, context);
  } catch (err) {
    if (err instanceof ConnectorConfigError) throw new ConfigError(`invalid configuration key "${err.key}": ${err.message}`);
    throw err;
  }
}

/**
 * PIER_WORKERS > 1: the primary's part of the start (cluster.ts): the once-only work, and what
 * stops it when the workers have drained.
 */
async function prepareForWorkers(config: Config): Promise<Installation<WorkerSetup>> {
  const logger = createLogger(config.logLevel, undefined, { format: config.logFormat, mode: config.mode });
  const store = openStore(config.databaseUrl, {
    poolSize: 2,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    onConnectionLost: (err) => logger.warn({ err: err.message }, 'database connection lost between statements; the pool opens a new one'),
    onCheckpointError: (err) => logger.warn({ err: err.message }, 'SQLite WAL checkpoint'),
    onCheckpointRecovered: (failedPasses) => logger.info({ failedPasses }, 'SQLite WAL checkpoint works again'),
    onReaderError: (err) => logger.warn({ err: err.message }, 'SQLite reader thread'),
  });
  const simulators: EmbeddedSimulator[] = [];
  const close = async (installation?: Awaited<ReturnType<typeof prepareInstallation>>) => {
    if (installation?.clock instanceof SandboxClock) installation.clock.stop();
    await installation?.deps.connectors.close();
    await Promise.all(simulators.map((s) => s.close()));
    await store.close();
  };
  try {
    const installation = await prepareInstallation(config, logger, store, simulators);
    return {
      setup: installation.setup,
      banner: installation.banner,
      close: () => close(installation),
      stopDeadlineMs: stopDeadlineMs(config, installation.deps.connectors),
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The server as `npm start` runs it (bin/start.js): the configuration from the environment, then
 * one process, or PIER_WORKERS workers (each forked worker runs this again).
 */
export async function runServer(): Promise<void> {
  try {
    const config = loadConfig();
    if (config.workers > 1 || cluster.isWorker) {
      await runCluster(config, { prepare: () => prepareForWorkers(config), startWorker: (setup) => startPier(config, { worker: setup }) });
    } else {
      // listened for from the start: Pier listens and runs jobs before startPier resolves, and a
      // signal then must drain it, not kill it (decision 0106)
      const pier = startPier(config);
      stopOnSignals(pier);
      await pier;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pier: configuration error: ${err.message}\n`);
      process.exit(CONFIG_ERROR_EXIT);
    }
    // a database that does not answer, a port already taken, a full disk: one line an operator
    // reads at a glance, as the CLI prints its errors (the stack with PIER_DEBUG)
    const e = err as Error;
    process.stderr.write(`pier: cannot start: ${e?.message ?? String(err)}\n`);
    if (process.env.PIER_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    process.exit(1);
  }
}

// `tsx src/main.ts` (the tests' child processes and the bench start Pier so)
const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) await runServer();
