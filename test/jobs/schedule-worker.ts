/**
 * One Pier worker process for the multi-process tests: a job runner (scheduled payments) on
 * DATABASE_URL, with its own store and PG connector, the test's clock frozen at CLOCK_MS. It
 * prints `ready`, waits for a line on stdin (so every worker starts at once), runs until nothing
 * is due, prints `{"ran": n}` and exits.
 */
import { once } from 'node:events';
import pino from 'pino';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import type { Deps } from '../../src/core/deps.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { ManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { openStore } from '../../src/store/db.js';
import { Vault } from '../../src/vault/vault.js';

const env = process.env;
const store = openStore(env.DATABASE_URL!, { poolSize: 10 });
const logger = createLogger('warn', pino.destination({ fd: 2, sync: true }));
const deps: Deps = {
  store,
  vault: Vault.fromSpec(env.VAULT_SPEC!),
  clock: new ManualClock(Number(env.CLOCK_MS)),
  logger,
  mode: 'sandbox',
  connectors: createConnectorRegistry({ jtnet: { baseUrl: env.JTNET_URL!, connectTimeoutMs: 2000, readTimeoutMs: 10_000 } }),
};
const runner = new JobRunner({ queues: [scheduleQueue(deps, { batchSize: 25, concurrency: 8 })], logger, owner: env.WORKER_NAME });

process.stdout.write('ready\n');
await once(process.stdin, 'data');
const ran = await runner.drain();
process.stdout.write(`${JSON.stringify({ ran })}\n`);
await deps.connectors.close();
await store.close();
process.exit(0);
