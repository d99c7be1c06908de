/**
 * Runs the NICEPAY simulator alone:
 *   NICE_SIM_PORT=8092 NICE_SIM_HOST=127.0.0.1 NICE_SIM_DB=./nicepay-sim.db npx tsx src/simulators/nicepay/main.ts
 * Optional: NICE_SIM_PUBLIC_URL (where buyers reach it), NICE_SIM_MIN_AMOUNT (default 1000),
 * NICE_SIM_STRICT_SANDBOX=1 (cancelAmt → U128), NICE_SIM_KEY_IN=0 (key-in → A128),
 * NICE_SIM_OVERSEAS=decline (brand cards refused as overseas, 3051), NICE_SIM_SLOW_MS (hold time of timeouts), NICE_SIM_WEBHOOK_SWEEP_MS (how often due webhook retries
 * are sent; default 10000, 0 = never), NICE_SIM_LOG_LEVEL (default info).
 */
import { createNicepaySimulator } from './app.js';
import { intEnv } from '../shared/env.js';

const port = intEnv('NICE_SIM_PORT', 8092);
const host = process.env.NICE_SIM_HOST || '127.0.0.1';
const dbFile = process.env.NICE_SIM_DB || 'nicepay-sim.db';
const sweepMs = intEnv('NICE_SIM_WEBHOOK_SWEEP_MS', 10_000);

const app = createNicepaySimulator({
  dbFile,
  publicUrl: process.env.NICE_SIM_PUBLIC_URL || undefined,
  minimumAmount: intEnv('NICE_SIM_MIN_AMOUNT', 1000),
  strictSandbox: process.env.NICE_SIM_STRICT_SANDBOX === '1',
  overseasCards: process.env.NICE_SIM_OVERSEAS === 'decline' ? 'decline' : 'approve',
  keyIn: process.env.NICE_SIM_KEY_IN !== '0',
  slowResponseMs: intEnv('NICE_SIM_SLOW_MS', 60_000),
  webhookSweepMs: sweepMs,
  logger: { level: process.env.NICE_SIM_LOG_LEVEL || 'info' },
});

const address = await app.listen({ port, host });
app.log.info(`NICEPAY simulator on ${address} (ledger ${dbFile}); REST at ${address}/v1/..., JS SDK at ${address}/v1/js/, ledger at ${address}/__ledger`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
