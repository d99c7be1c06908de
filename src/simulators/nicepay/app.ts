/**
 * The NICEPAY Start API simulator as a standalone Fastify app (docs/simulator-nicepay.md).
 *
 * @example
 *   const sim = createNicepaySimulator({ dbFile: ':memory:', clock });
 *   const base = await sim.listen({ host: '127.0.0.1', port: 0 });
 *   // connector baseUrl = base (REST at `${base}/v1/...`); SDK script at `${base}/v1/js/`
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import type { OverseasCards } from '../shared/test-cards.js';
import { nicepayBillingRoutes } from './billing-routes.js';
import type { NiceSimContext } from './context.js';
import { nicepayControlRoutes } from './control-routes.js';
import { CallCounts, FaultBoard } from './faults.js';
import { NicepayLedger } from './ledger.js';
import { nicepayPaymentRoutes } from './payment-routes.js';
import { webhookSender, type WebhookSender } from './webhooks.js';
import { nicepayWindowRoutes } from './window-routes.js';

export interface NicepayKeyPair {
  clientId: string;
  secretKey: string;
}

/** The sandbox key pairs NICE published (spec §9); accepted from the start. */
export const NICEPAY_SANDBOX_KEYS: readonly NicepayKeyPair[] = [
  { clientId: 'S2_af4543a0be4d49a98122e01ec2059a56', secretKey: '9eb85607103646da9f9c02b128f2e5ee' },
  { clientId: '58e3b578555e45738d6b569e53d5ae54', secretKey: '4f13ca267dfa4fc6964148bedcda15ef' },
  { clientId: 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', secretKey: '13e969a77a0545799242ccc3915243d3' },
];

export interface NicepaySimulatorOptions {
  /** SQLite file of the simulator's own ledger; `':memory:'` (the default) forgets everything on close */
  dbFile?: string;
  /** time source for tids, timestamps, expiries and webhook retries (default: system clock) */
  clock?: Clock;
  /** Fastify/pino logger options, or false (default) */
  logger?: FastifyServerOptions['logger'];
  /** where buyers' browsers reach the simulator (SDK, window, receipt URLs); default: the address callers use */
  publicUrl?: string;
  /** key pairs to accept besides the published sandbox pairs (same clientId replaces the secret) */
  keys?: NicepayKeyPair[];
  /** card approvals below this amount answer `3041` (default 1000, NICE's rule) */
  minimumAmount?: number;
  /** brand cards (Visa, Master…): domestic cards that approve (default) or overseas cards refused with `3051` */
  overseasCards?: OverseasCards;
  /** reproduce the sandbox: any cancel carrying `cancelAmt` answers `U128` (default false) */
  strictSandbox?: boolean;
  /** `POST /v1/key-in/payments` enabled (default true; false answers `A128`) */
  keyIn?: boolean;
  /** how long an authenticated tid can be approved (default 15 minutes, then `A245`) */
  authTtlMs?: number;
  /** how long after an approval net-cancel works (default 1 hour, then `2020`) */
  netCancelWindowMs?: number;
  /** how long a window page stays usable (default 30 minutes) */
  windowTtlMs?: number;
  /** how long a `timeout` fault or a `…998` answer is held unless the client leaves first (default 60000) */
  slowResponseMs?: number;
  /**
   * send due webhook retries every this many ms of real time (default 0: only when asked, through
   * `POST /__control/webhooks/retry` or `sim.nicepay.webhooks.retryDue()`, as tests with a manual clock do)
   */
  webhookSweepMs?: number;
}

/** The Fastify app plus the webhook sender, for tests that drive retries in-process. */
export type NicepaySimulator = FastifyInstance & { nicepay: { webhooks: WebhookSender; ledger: NicepayLedger } };

export function createNicepaySimulator(options: NicepaySimulatorOptions = {}): NicepaySimulator {
  const app = Fastify({ logger: options.logger ?? false });
  const clock = options.clock ?? systemClock;
  const ledger = new NicepayLedger(options.dbFile ?? ':memory:');
  const now = clock.now();
  for (const k of NICEPAY_SANDBOX_KEYS) ledger.putKey(k.clientId, k.secretKey, now);
  for (const k of options.keys ?? []) ledger.putKey(k.clientId, k.secretKey, now, true);
  const faults = new FaultBoard(options.slowResponseMs ?? 60_000);
  const webhooks = webhookSender(ledger, clock, app.log);
  const ctx: NiceSimContext = {
    ledger,
    clock,
    faults,
    calls: new CallCounts(),
    webhooks,
    minimumAmount: options.minimumAmount ?? 1000,
    overseasCards: options.overseasCards ?? 'approve',
    strictSandbox: options.strictSandbox ?? false,
    keyIn: options.keyIn ?? true,
    authTtlMs: options.authTtlMs ?? 15 * 60_000,
    netCancelWindowMs: options.netCancelWindowMs ?? 60 * 60_000,
    windowTtlMs: options.windowTtlMs ?? 30 * 60_000,
    vbankWithoutDeadline: new Set(),
    publicUrl: options.publicUrl,
  };

  const FORM = 'application/x-www-form-urlencoded';
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const sweep = options.webhookSweepMs ? setInterval(() => void webhooks.retryDue(), options.webhookSweepMs) : null;
  sweep?.unref();
  app.addHook('preClose', async () => {
    if (sweep) clearInterval(sweep);
    faults.releaseAll();
  });
  app.addHook('onClose', async () => {
    await webhooks.idle();
    ledger.close();
  });
  // NICE answers in its own envelope, never Fastify's: a body that does not parse is a bad request
  // (HTTP 200 with U125, as business failures are), an unknown path is 404 U320 ([E2], spec §8.12).
  app.setErrorHandler((error: { statusCode?: number }, req, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) req.log.error({ err: error }, 'nicepay simulator: internal error');
    if (status >= 500) return reply.code(500).send({ resultCode: '9999', resultMsg: '일시적인 오류가 발생했습니다.' });
    return reply.code(200).send({ resultCode: 'U125', resultMsg: '잘못된 요청입니다.' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ resultCode: 'U320', resultMsg: '페이지를 찾을 수 없습니다.' }));
  app.register(async (scope) => {
    await nicepayPaymentRoutes(scope, ctx);
    await nicepayBillingRoutes(scope, ctx);
    await nicepayWindowRoutes(scope, ctx);
    await nicepayControlRoutes(scope, ctx);
  });
  return Object.assign(app, { nicepay: { webhooks, ledger } }) as NicepaySimulator;
}
