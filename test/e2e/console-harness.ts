/**
 * Console browser tests: Pier listening on 127.0.0.1 (in-process app, fresh database, real tPay
 * simulator, manual clock) and Debian's chromium driven by playwright-core. Without
 * /usr/bin/chromium the suites are skipped and say so loudly: skipped, never passed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { createConsoleUser } from '../../src/core/console/users.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { simulatorTools } from '../../src/simulators/registry.js';

import { CHROMIUM, HAS_CHROMIUM } from '../chromium.js';

export { CHROMIUM, HAS_CHROMIUM };
export const SHOTS = join(process.cwd(), 'test-artifacts', 'screenshots', 'console');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export function warnIfNoChromium(suite: string) {
  if (HAS_CHROMIUM) return;
  const line = '!'.repeat(100);
  console.warn(`\n${line}\n!!! CONSOLE BROWSER TESTS DID NOT RUN (${suite}): ${CHROMIUM} is missing.\n!!! Install it with \`apt-get install -y chromium\`. These tests are SKIPPED, not passed.\n${line}\n`);
}

export interface ConsoleE2E {
  pier: TestPier;
  app: PierApp;
  url: string;
  browser: Browser;
  newUser(): Promise<{ merchant: TestMerchant; email: string; password: string }>;
  /** a fresh browser context (own cookies); confirm() dialogs are accepted */
  context(opts?: { width?: number; height?: number }): Promise<{ ctx: BrowserContext; page: Page }>;
  signIn(page: Page, email: string, password: string): Promise<void>;
  shot(page: Page, name: string): Promise<void>;
  /** a live V1 token of a merchant (the tests move the clock past token lifetimes) */
  token(m: TestMerchant): Promise<string>;
  close(): Promise<void>;
}

let userSeq = 0;

/**
 * `publicUrl` https makes the console's cookies `__Host-` ones (decision 0064); Chromium accepts
 * Secure cookies from http://localhost, so the browser still talks plain http to Pier.
 */
export async function startConsoleE2E(opts: { publicUrl?: string } = {}): Promise<ConsoleE2E> {
  mkdirSync(SHOTS, { recursive: true });
  const pier = await startTestPier();
  const app = await buildApp(pier.deps, { bodyLimit: 64 * 1024, publicUrl: opts.publicUrl ?? 'http://127.0.0.1', simulatorTools: simulatorTools(pier.deps.connectors) });
  const listening = await app.listen({ host: '127.0.0.1', port: 0 });
  const address = opts.publicUrl ? listening.replace('127.0.0.1', 'localhost') : listening;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const contexts: BrowserContext[] = [];
  return {
    pier,
    app,
    url: address,
    browser,
    async newUser() {
      const merchant = await pier.newMerchant();
      userSeq += 1;
      const email = `console${userSeq}-${merchant.merchantCode}@shop.example`;
      const password = `Secret-pw-${userSeq}-${merchant.merchantCode}`;
      await createConsoleUser(pier.deps, merchant.merchantId, email, password);
      return { merchant, email, password };
    },
    async context(o = {}) {
      const ctx = await browser.newContext({ viewport: { width: o.width ?? 1280, height: o.height ?? 900 }, locale: 'ko-KR' });
      contexts.push(ctx);
      const page = await ctx.newPage();
      page.on('dialog', (d) => void d.accept());
      return { ctx, page };
    },
    async signIn(page, email, password) {
      await page.goto(`${address}/console/login`);
      await page.fill('#f-email', email);
      await page.fill('#f-password', password);
      await Promise.all([page.waitForURL(`${address}/console`), page.click('button[type=submit].primary')]);
    },
    async shot(page, name) {
      const path = join(SHOTS, `${name}.png`);
      // Chromium's full-page capture sometimes refuses on a busy machine ("Unable to capture
      // screenshot", a CDP protocol error, not a timeout): the screenshot is for a person to read,
      // so it is tried again, and then taken of the viewport, rather than failing the test
      for (let attempt = 1; ; attempt++) {
        try {
          await page.screenshot({ path, fullPage: attempt < 3 });
          return;
        } catch (err) {
          if (attempt >= 3 || !/Unable to capture screenshot/.test((err as Error).message)) throw err;
        }
      }
    },
    async token(m) {
      const r = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
      if (r.body.code !== 0) throw new Error(`getToken: ${JSON.stringify(r.body)}`);
      m.token = r.body.response.access_token;
      return m.token;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await app.close();
      await pier.close();
    },
  };
}
