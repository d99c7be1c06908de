/**
 * Runs the tPay simulator alone:
 *   TPAY_SIM_PORT=8091 TPAY_SIM_HOST=127.0.0.1 TPAY_SIM_DB=./tpay-sim.db npx tsx src/simulators/jtnet/main.ts
 * Optional: TPAY_SIM_SLOW_MS (hold time of `0098` answers), TPAY_SIM_MIN_AMOUNT, TPAY_SIM_OVERSEAS=approve,
 * TPAY_SIM_NET_CANCEL_MS (net-cancel unconfirmed window approvals after this long; 0 = never),
 * TPAY_SIM_PUBLIC_URL (where buyers reach it, for receipt URLs; default: the address callers use),
 * TPAY_SIM_LOG_LEVEL (default info).
 */
import { createTpaySimulator } from './app.js';
import { intEnv } from '../shared/env.js';

const port = intEnv('TPAY_SIM_PORT', 8091);
const host = process.env.TPAY_SIM_HOST || '127.0.0.1';
const dbFile = process.env.TPAY_SIM_DB || 'tpay-sim.db';

const app = createTpaySimulator({
  dbFile,
  slowResponseMs: intEnv('TPAY_SIM_SLOW_MS', 60_000),
  minimumAmount: intEnv('TPAY_SIM_MIN_AMOUNT', 100),
  overseasCards: process.env.TPAY_SIM_OVERSEAS === 'decline' ? 'decline' : 'approve',
  netCancelUnconfirmedMs: intEnv('TPAY_SIM_NET_CANCEL_MS', 0),
  publicUrl: process.env.TPAY_SIM_PUBLIC_URL || undefined,
  logger: { level: process.env.TPAY_SIM_LOG_LEVEL || 'info' },
});

const address = await app.listen({ port, host });
app.log.info(`tPay simulator on ${address} (ledger ${dbFile}); tPay REST at ${address}/api/v1/<op>, window at ${address}/webTxInit (mobile ${address}/mobile/webTxInit), ledger at ${address}/__ledger`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
