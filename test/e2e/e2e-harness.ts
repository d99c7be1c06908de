/**
 * End-to-end harness: Pier listening on 127.0.0.1 (publicUrl = its own address), the tPay simulator
 * on another port, a merchant shop page on a third origin, and Debian's chromium driven by
 * playwright-core. Without /usr/bin/chromium the suites are skipped and say so loudly.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import type { Deps } from '../../src/core/deps.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { ensureDemoMerchant } from '../../src/core/sandbox/demo.js';
import { systemClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/db.js';
import { Vault } from '../../src/vault/vault.js';
import type { CheckoutRateLimits } from '../../src/core/checkout/rate-limits.js';
import { onFreshPort } from '../child-process.js';
import { freshDatabase, NO_CHECKOUT_LIMITS } from '../harness.js';
import { simulatorTools } from '../../src/simulators/registry.js';
import { registerSandboxNotifyUrls } from '../../src/core/sandbox/notify-urls.js';

import { CHROMIUM, HAS_CHROMIUM } from '../chromium.js';

export { CHROMIUM, HAS_CHROMIUM };
export const SCREENSHOTS = join(process.cwd(), 'test-artifacts', 'screenshots');

/** Call at the top of an e2e file: a skipped browser suite must never pass silently. */
export function warnIfNoChromium(suite: string) {
  if (HAS_CHROMIUM) return;
  const line = '!'.repeat(100);
  console.warn(
    `\n${line}\n!!! E2E BROWSER TESTS DID NOT RUN (${suite}): ${CHROMIUM} is missing.\n!!! Install it with \`apt-get install -y chromium\` (.ci/run does). These tests are SKIPPED, not passed.\n${line}\n`,
  );
}

/** Host names the browser resolves to this machine, so Pier can be reached under several names (a CDN, www/apex). */
export const EXTRA_PIER_HOST = 'cdn.pier.test';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  `--host-resolver-rules=MAP ${EXTRA_PIER_HOST} 127.0.0.1, MAP localhost 127.0.0.1`,
];

export const MOBILE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

export interface E2EOptions {
  /** the host name of Pier's public URL (the checkout_url it answers); default 127.0.0.1 */
  publicHost?: string;
  /** the host name the shop page loads the SDK from; default the public host */
  sdkHost?: string;
  /** what one address may ask of the payment window (default: no practical limit; every browser here is 127.0.0.1) */
  checkoutRateLimits?: CheckoutRateLimits;
}

export interface E2E {
  /** Pier's public URL (where the checkout opens and the PG posts back) */
  pierUrl: string;
  /** where the shop page loaded the SDK from: the same Pier, under another host name if so configured */
  sdkUrl: string;
  shopUrl: string;
  simulatorUrl: string;
  app: PierApp;
  deps: Deps;
  store: Store;
  merchantCode: string;
  browser: Browser;
  /** V1 REST call as the demo merchant, over HTTP */
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** POST to a simulator control endpoint */
  sim(path: string, body: unknown): Promise<{ status: number; body: any }>;
  /** a fresh browser context (PC by default, or a 375 px mobile) with the shop page open */
  shop(opts?: { mobile?: boolean; viewport?: { width: number; height: number } }): Promise<{ context: BrowserContext; page: Page }>;
  screenshot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

/** The merchant's page: loads Pier's SDK (under its legacy name) from `sdkUrl` and records every rsp. */
function shopHtml(sdkUrl: string, merchantCode: string) {
  return `<!doctype html><html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test shop</title><script src="${sdkUrl}/js/iamport.payment-1.2.0.js"></script></head>
<body><h1>Test shop</h1><button id="focus-me">주문하기</button><pre id="out"></pre>
<script>
  IMP.init(${JSON.stringify(merchantCode)});
  window.results = [];
  window.pay = function (params) {
    IMP.request_pay(params, function (rsp) { window.results.push(rsp); document.getElementById('out').textContent = JSON.stringify(rsp); });
  };
</script></body></html>`;
}

export async function startE2E(opts: E2EOptions = {}): Promise<E2E> {
  const db = await freshDatabase();
  const store = openStore(db.url, { poolSize: 10 });
  await migrateToLatest(store);
  const logger = createLogger(process.env.E2E_LOG ?? 'warn');
  const simulator = createTpaySimulator({ dbFile: ':memory:', clock: systemClock, logger: false });
  const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  const deps: Deps = {
    store,
    vault: Vault.fromSpec(`e2e:${randomBytes(32).toString('base64')}`),
    clock: systemClock,
    logger,
    mode: 'sandbox',
    checkoutRateLimits: opts.checkoutRateLimits ?? NO_CHECKOUT_LIMITS,
    connectors: createConnectorRegistry({ jtnet: { baseUrl: simulatorUrl, connectTimeoutMs: 2000, readTimeoutMs: 10_000 } }),
  };
  const demo = await ensureDemoMerchant(deps);
  if (!demo) throw new Error('demo merchant was not created');

  const publicHost = opts.publicHost ?? '127.0.0.1';
  // Pier's public URL is its address, which its pages name before it binds it: on a port another
  // process takes meanwhile, it is made again on a new one (child-process.ts)
  const { port, app } = await onFreshPort(async (port) => {
    const app = await buildApp(deps, { bodyLimit: 1024 * 1024, publicUrl: `http://${publicHost}:${port}`, simulatorTools: simulatorTools(deps.connectors) });
    await app.listen({ host: '127.0.0.1', port }).catch(async (err: unknown) => {
      await app.close();
      throw err;
    });
    return { port, app };
  });
  const pierUrl = `http://${publicHost}:${port}`;
  const sdkUrl = `http://${opts.sdkHost ?? publicHost}:${port}`;
  // as Pier's sandbox does at its start: the simulator's deposit notices go to the demo channels (decision 0086)
  await registerSandboxNotifyUrls(deps, simulatorTools(deps.connectors), pierUrl);

  let shop: Server | null = createServer((req, res) => {
    if (req.url?.startsWith('/done')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><meta charset="utf-8"><title>done</title></head><body><h1 id="done">done</h1></body></html>');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(shopHtml(sdkUrl, demo.merchantCode));
  });
  await new Promise<void>((r) => shop!.listen(0, '127.0.0.1', () => r()));
  const shopUrl = `http://127.0.0.1:${(shop.address() as AddressInfo).port}`;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  mkdirSync(SCREENSHOTS, { recursive: true });

  // the test's own REST calls go to the listening address (Node may resolve localhost to ::1)
  const apiUrl = `http://127.0.0.1:${port}`;
  let token: string | null = null;
  const rest: E2E['rest'] = async (method, path, body) => {
    if (!token) {
      const t = await fetch(`${apiUrl}/users/getToken`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }),
      });
      token = ((await t.json()) as any).response.access_token;
    }
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };

  return {
    pierUrl,
    sdkUrl,
    shopUrl,
    simulatorUrl,
    app,
    deps,
    store,
    merchantCode: demo.merchantCode,
    browser,
    rest,
    async sim(path, body) {
      const res = await fetch(`${simulatorUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    },
    async shop(opts = {}) {
      const context = await browser.newContext(
        opts.mobile
          ? { viewport: opts.viewport ?? { width: 375, height: 812 }, userAgent: MOBILE_UA, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
          : { viewport: opts.viewport ?? { width: 1280, height: 900 } },
      );
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      await page.goto(shopUrl);
      return { context, page };
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
    },
    async close() {
      await browser.close().catch(() => undefined);
      await new Promise<void>((r) => (shop ? shop.close(() => r()) : r()));
      shop = null;
      await app.close();
      await deps.connectors.close();
      await simulator.close();
      await store.close();
      await db.drop();
    },
  };
}
