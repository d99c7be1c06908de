import { join } from 'node:path';
import { buildApp } from './api/app.js';
import { loadConfig, ConfigError, type Config } from './config/index.js';
import { createConnectorRegistry } from './connectors/registry.js';
import { instrumentConnectors } from './connectors/instrumented.js';
import { PierMetrics } from './operations/metrics.js';
import type { Deps } from './core/deps.js';
import { listChannels } from './core/merchants/channels.js';
import { demoCredentialsExist } from './core/merchants/merchants.js';
import { inFlightGraceSeconds, reconcileInDoubt, reconcileInDoubtCancels } from './core/payments/reconcile.js';
import { ensureDemoConsoleUser, ensureDemoMerchant } from './core/sandbox/demo.js';
import { systemClock } from './lib/clock.js';
import { refreshClock, SandboxClock } from './core/sandbox/clock.js';
import { JobRunner } from './jobs/runner.js';
import { scheduleQueue } from './jobs/handlers/schedules.js';
import { webhookQueue } from './jobs/handlers/webhooks.js';
import { destinationGuard } from './webhooks/network-guard.js';
import { V1_WEBHOOK_TIMEOUTS } from './webhooks/sender.js';
import { sandboxAutoCancelQueue } from './jobs/handlers/sandbox-auto-cancel.js';
import { windowConfirmQueue } from './jobs/handlers/window-confirms.js';
import { checkoutSessionPurgeQueue } from './jobs/handlers/checkout-session-purge.js';
import { createLogger, type Logger } from './lib/logger.js';
import { SIMULATOR_MODULES, simulatorPort, type EmbeddedSimulator } from './simulators/registry.js';
import { ConnectorConfigError } from './connectors/types.js';
import { migrateToLatest, openStore, type Store } from './store/db.js';
import { openVault } from './vault/open-vault.js';
import { checkVaultOpensData } from './vault/sealed-data.js';

/**
 * Composition root: config -> store -> (simulator) -> connectors -> app -> background work.
 * Returns a handle that stops everything, for tests of the whole process and for signals.
 */
export async function startPier(config: Config) {
  const logger = createLogger(config.logLevel, undefined, { format: config.logFormat, mode: config.mode });
  const store = openStore(config.databaseUrl, { onIdleError: (err) => logger.warn({ err: err.message }, 'idle database connection lost; the pool opens a new one') });
  const simulators: EmbeddedSimulator[] = [];
  try {
    return await startOn(config, logger, store, simulators);
  } catch (err) {
    await Promise.all(simulators.map((s) => s.close()));
    await store.close();
    throw err;
  }
}

async function startOn(config: Config, logger: Logger, store: Store, simulators: EmbeddedSimulator[]) {
  // Sandbox: Pier's clock is the real time plus an offset kept in the database, which an operator
  // moves forward (`pier sandbox clock advance 30d`). The embedded simulator follows it too.
  const clock = config.mode === 'sandbox' ? new SandboxClock(store) : systemClock;
  let guard: ReturnType<typeof destinationGuard>;
  try {
    guard = destinationGuard(config);
  } catch (err) {
    throw new ConfigError(`invalid configuration key "webhooks.allowPrivate": ${(err as Error).message}`);
  }
  const applied = await migrateToLatest(store);
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  if (clock instanceof SandboxClock) {
    await clock.refresh();
    clock.start();
  }

  // Sandbox: each PG's simulator runs inside this process on its own port; its connector calls it
  // there unless configured with a PG address of its own
  const simulatorAddresses: Record<string, { apiUrl: string; publicUrl: string }> = {};
  const simulatorLines: string[] = [];
  if (config.simulator.enabled) {
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
  const simulatorUrl = simulatorAddresses.jtnet?.apiUrl ?? '';
  if (config.mode === 'production' && (await demoCredentialsExist({ store } as Deps))) {
    throw new ConfigError(
      'production mode refuses to start while a merchant still has i\'mport\'s public demo REST key (imp_apikey): rotate it with `pier merchant rotate-key <code>`',
    );
  }
  // every process on this database must open what the others sealed: refuse to start otherwise
  const vault = openVault(config);
  const vaultCheck = await checkVaultOpensData(store, vault);
  if (!vaultCheck.ok) throw new ConfigError(`invalid configuration key "vault.keys": ${vaultCheck.message}`);

  const metrics = new PierMetrics();
  const deps: Deps = {
    store,
    vault,
    clock,
    logger,
    mode: config.mode,
    metrics,
    destinationGuard: guard,
    rateLimits: {
      perIp: { limit: config.rateLimits.perIp, windowSeconds: config.rateLimits.windowSeconds },
      perKey: { limit: config.rateLimits.perKey, windowSeconds: config.rateLimits.windowSeconds },
    },
    // Pier's clock: the window's ediDate and default vbank due date follow it, like the embedded simulator;
    // every PG call is timed and logged at this one seam
    connectors: instrumentConnectors(createRegistry(config, { clock, simulators: simulatorAddresses }), { metrics, logger }),
  };

  const demo = config.mode === 'sandbox' ? await ensureDemoMerchant(deps) : null;
  const consoleUser = demo ? await ensureDemoConsoleUser(deps, demo.merchantCode) : null;
  const demoChannels = demo ? await listChannels(deps, demo.merchantId) : [];

  // sandbox tools (deposits, ledger) talk to the simulator the connector uses, embedded or standalone
  const jtnetUrl = config.connectors.jtnet.baseUrl || simulatorUrl;
  const app = await buildApp(deps, { bodyLimit: config.bodyLimit, publicUrl: config.publicUrl, simulatorUrl: config.mode === 'sandbox' ? jtnetUrl : undefined, metricsToken: config.metrics.token, trustProxy: config.trustProxy });
  // a deep accept queue: bursts of thousands of payments (bench/) otherwise lose SYNs and retry seconds later
  const address = await app.listen({ host: config.host, port: config.port, backlog: 4096 });

  // Settle payments and refunds left in doubt by PG timeouts or by a process that died mid-call.
  // One pass at a time; each row carries its own next check (reconcile.ts).
  const graceSeconds = inFlightGraceSeconds(deps.connectors.maxReadTimeoutMs());
  let reconciling = false;
  const reconciler = setInterval(() => {
    if (reconciling) return;
    reconciling = true;
    reconcileInDoubt(deps, { graceSeconds })
      .then(() => reconcileInDoubtCancels(deps, { graceSeconds }))
      .catch((err) => logger.error({ err }, 'reconciliation failed'))
      .finally(() => (reconciling = false));
  }, 30_000);
  reconciler.unref();

  // Background work kept as rows and leased, so several processes can share the database:
  // scheduled payments and webhook retries fall due on Pier's clock (the sandbox clock in sandbox
  // mode); leases and graces run on the database's clock. Window confirms retry the PG
  // acknowledgement; ended checkout sessions are purged. Each queue runs in its own lane of the
  // runner: adding a queue is one more entry here.
  const webhooks = webhookQueue(deps, {
    clock,
    timeouts: { ...V1_WEBHOOK_TIMEOUTS, deadlineMs: config.webhooks.attemptDeadlineMs },
  });
  const queues = [
    scheduleQueue(deps, { policy: { reconcileGraceSeconds: graceSeconds } }),
    webhooks,
    windowConfirmQueue(deps),
    checkoutSessionPurgeQueue(deps),
    ...(config.mode === 'sandbox' ? [sandboxAutoCancelQueue(deps)] : []),
  ];
  const runner = new JobRunner({ queues, logger, beforePass: () => refreshClock(clock), shutdownGraceMs: config.shutdownGraceMs });
  runner.start();

  const banner = [
    '',
    `  Pier is running (${config.mode}, ${store.label})`,
    `  API          ${config.publicUrl}   (listening on ${address})`,
    `  API docs     ${config.publicUrl}/docs`,
    `  Health       ${config.publicUrl}/health   ${config.publicUrl}/ready   ${config.publicUrl}/metrics${config.metrics.token ? '   (Bearer metrics.token)' : config.mode === 'production' ? '   (off: set PIER_METRICS_TOKEN)' : ''}`,
    demo ? `  Demo shop    ${config.publicUrl}/demo   (payment window: IMP.request_pay)` : '',
    `  Console      ${config.publicUrl}/console`,
    ...simulatorLines,
    demo
      ? [
          `  Demo merchant  IMP.init('${demo.merchantCode}')`,
          `    imp_key      ${demo.impKey}`,
          `    imp_secret   ${demo.impSecret}`,
          ...demoChannels.map((c, i) => `    ${i === 0 ? 'channels' : ''.padEnd(8)}     ${c.provider}.${c.mid}   (${deps.connectors.label(c.provider)}, ${c.kind === 'api' ? 'API' : 'window'}${c.is_default ? ', default' : ''})`),
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
  process.stdout.write(`${banner}\n\n`);

  return {
    app,
    deps,
    address,
    simulatorUrl,
    /** each embedded simulator's address by provider (sandbox) */
    simulators: simulatorAddresses,
    runner,
    async stop() {
      clearInterval(reconciler);
      await runner.stop();
      await webhooks.close();
      if (clock instanceof SandboxClock) clock.stop();
      await app.close();
      await deps.connectors.close();
      await Promise.all(simulators.map((s) => s.close()));
      await store.close();
    },
  };
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

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  try {
    const config = loadConfig();
    const pier = await startPier(config);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        // the runner bounds itself; this backstop bounds everything else (HTTP keep-alives, pools)
        setTimeout(() => {
          process.stderr.write('pier: shutdown took too long; exiting\n');
          process.exit(1);
        }, config.shutdownGraceMs + 5_000).unref();
        pier.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pier: configuration error: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}
