/**
 * The tPay (JTNET) simulator as a Fastify app or as a plugin to mount inside another app.
 *
 * @example
 *   const sim = createTpaySimulator({ dbFile: ':memory:', logger: false });
 *   await sim.listen({ host: '127.0.0.1', port: 0 });
 *   // connector baseUrl = `http://127.0.0.1:${port}`; tPay paths are `/api/v1/<op>`
 *
 * @example mounted in Pier's own process under a prefix
 *   await app.register(tpaySimulatorPlugin, { prefix: '/__sim/tpay', dbFile: 'data/tpay-sim.db' });
 *   // connector baseUrl = `http://127.0.0.1:<pier port>/__sim/tpay`
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import { TpayLedger, type SimMerchant } from './ledger.js';
import { tpayReceiptRoutes } from './receipts.js';
import { tpayRoutes } from './routes.js';
import { tpayWindowRoutes } from './window-routes.js';

export interface TpaySimulatorAccount {
  mid: string;
  merchantKey: string;
  /** one accepted cancel password, or several */
  cancelPassword: string | string[];
  name?: string;
  /** where the MID's deposit notices go (tPay's merchant admin setting); absent keeps what the ledger holds */
  noticeUrl?: string | null;
}

export interface TpaySimulatorOptions {
  /** SQLite file of the simulator's own ledger; `':memory:'` (the default) forgets everything on close */
  dbFile?: string;
  /** time source for TIDs, approval times and card expiry checks (default: system clock) */
  clock?: Clock;
  /** how long a `0098` answer is held unless the client disconnects first (default 60000) */
  slowResponseMs?: number;
  /** charges below this amount decline with 13 금액 오류 (default 100; NICE uses 1000) */
  minimumAmount?: number;
  /**
   * brand cards (4…, 51–55…, 34/37…, 35…, 36…, 62…): `approve` (default: Korean issuers issue them) or
   * `decline` as overseas cards (`3051`). A card ending in `3051` is refused as overseas either way.
   */
  overseasCards?: 'decline' | 'approve';
  /** a payment window left open longer than this can no longer be submitted (default 30 minutes) */
  windowTtlMs?: number;
  /**
   * OUR DESIGN: net-cancel a window approval that the merchant did not acknowledge with
   * `resultConfirm` within this many ms (0, the default, never does)
   */
  netCancelUnconfirmedMs?: number;
  /** how long a virtual-account deposit notice waits for the merchant's answer (default 10000) */
  noticeTimeoutMs?: number;
  /**
   * where buyers' browsers reach the simulator, e.g. `https://pg.example.test` (receipt URLs in its
   * answers); default: the scheme, host and mount prefix the caller used
   */
  publicUrl?: string;
  /** merchants to add besides the three published test MIDs (same mid replaces the seed) */
  accounts?: TpaySimulatorAccount[];
}

/** The three test MIDs PortOne/i'mport published for JTNET (spec §1.1). */
export const TPAY_TEST_ACCOUNTS: readonly TpaySimulatorAccount[] = [
  {
    mid: 'tpaytest0m',
    merchantKey: 'VXFVMIZGqUJx29I/k52vMM8XG4hizkNfiapAkHHFxq0RwFzPit55D3J3sAeFSrLuOnLNVCIsXXkcBfYK1wv8kQ==',
    cancelPassword: '123456',
    name: 'tPay test (authenticated window)',
  },
  {
    mid: 'tpaytest1m',
    merchantKey: 'hgEY70BdDgoJYVOwj5CHsRDQt5a6IieQLQv+Q2rA6nnW+wXP57fH2ZkvUBJW0c9/eF1Rp5QRZ+qjzJ+Knc8r1A==',
    cancelPassword: '123456',
    name: 'tPay test (key-in)',
  },
  {
    mid: 'tpaytest2m',
    merchantKey: 'coqTx/Taxu9W6dlKPhFuciagoVXr/14ezgoK9+qJCf4bBuo23iRGGWHS4rHIuOSgZ6I/uizX39W/NygDplUYOA==',
    // The sources disagree (1234 per the settings pages, 123456 per the 2017 manual): both are accepted.
    cancelPassword: ['123456', '1234'],
    name: 'tPay test (billing)',
  },
];

function toMerchant(a: TpaySimulatorAccount): SimMerchant {
  return {
    mid: a.mid,
    merchantKey: a.merchantKey,
    cancelPasswords: Array.isArray(a.cancelPassword) ? [...a.cancelPassword] : [a.cancelPassword],
    name: a.name ?? a.mid,
  };
}

/** Opens the ledger, seeds the accounts and registers every route; closes the ledger with the app. */
export const tpaySimulatorPlugin: FastifyPluginAsync<TpaySimulatorOptions> = async (app, opts) => {
  const clock = opts.clock ?? systemClock;
  const ledger = new TpayLedger(opts.dbFile ?? ':memory:', clock);
  app.addHook('onClose', async () => ledger.close());
  for (const a of TPAY_TEST_ACCOUNTS) ledger.putMerchant(toMerchant(a), false);
  for (const a of opts.accounts ?? []) {
    ledger.putMerchant(toMerchant(a), true);
    if (a.noticeUrl !== undefined) ledger.setNoticeUrl(a.mid, a.noticeUrl);
  }
  await tpayRoutes(app, {
    ledger,
    clock,
    slowResponseMs: opts.slowResponseMs ?? 60_000,
    minimumAmount: opts.minimumAmount ?? 100,
    overseasCards: opts.overseasCards ?? 'approve',
    publicUrl: opts.publicUrl,
  });
  await tpayReceiptRoutes(app, { ledger });
  await tpayWindowRoutes(app, {
    ledger,
    clock,
    minimumAmount: opts.minimumAmount ?? 100,
    overseasCards: opts.overseasCards ?? 'approve',
    windowTtlMs: opts.windowTtlMs ?? 30 * 60_000,
    netCancelUnconfirmedMs: opts.netCancelUnconfirmedMs ?? 0,
    noticeTimeoutMs: opts.noticeTimeoutMs ?? 10_000,
  });
};

/** A standalone simulator app. `logger` takes Fastify/pino logger options, or false (default). */
export function createTpaySimulator(
  options: TpaySimulatorOptions & { logger?: FastifyServerOptions['logger'] } = {},
): FastifyInstance {
  const { logger = false, ...rest } = options;
  const app = Fastify({ logger });
  app.register(tpaySimulatorPlugin, rest);
  return app as unknown as FastifyInstance;
}
