import type { FrameLocator, Page } from 'playwright-core';
import { testCardNumber } from '../../src/simulators/jtnet/index.js';

/** A 신한 (366) test card whose last four digits pick the simulator's outcome (docs/simulator.md). */
export const card = (lastFour: string, kftcCode = '366') => testCardNumber({ kftcCode, lastFour });

export const uid = (prefix: string) => `${prefix}_${Date.now()}_${Math.random().toString(36).slice(2, 7)}`;

export const checkoutFrame = (page: Page): FrameLocator => page.frameLocator('iframe[name="pier_checkout"]');

/** Calls IMP.request_pay on the shop page (does not wait for the callback). */
export async function requestPay(page: Page, params: Record<string, unknown>) {
  await page.evaluate((p) => (window as any).pay(p), params);
}

/** The rsp the shop's callback received (waits for it), and how many times the callback ran. */
export async function callbackRsp(page: Page): Promise<{ rsp: any; calls: number }> {
  await page.waitForFunction(() => (window as any).results.length > 0);
  return page.evaluate(() => ({ rsp: (window as any).results[0], calls: (window as any).results.length }));
}

/**
 * The result page's 확인 after a decline, which hands the rsp to the shop page (and so has the SDK
 * remove the window's iframe). Its listener is added by checkout.js, which is deferred: on a loaded
 * machine the button was there before the script had run, and a click then did nothing (npm test,
 * 2026-12-05/06: the callback never came). So this waits for that document's `data-ready` first.
 * Dispatched as a DOM click: a mouse click on it also hung once in Playwright's "performing click
 * action" (cause not established); the button's handler is what this tests, and it runs the same.
 */
export async function confirmResult(f: FrameLocator) {
  await f.locator('html[data-ready="1"]:has(#confirm)').waitFor({ state: 'attached' });
  await f.locator('#confirm').dispatchEvent('click');
}

/** Pier's checkout: pick the card company (if card), agree, and go to the PG window. */
export async function confirmCheckout(f: FrameLocator | Page, opts: { cardCode?: string } = {}) {
  if (opts.cardCode) await f.locator(`label[for="card-${opts.cardCode}"]`).click();
  await f.locator('label[for="agree"]').click();
  await f.locator('#pay').click();
}

/** The simulator's card page: enter a card and pay. */
export async function enterCard(f: FrameLocator | Page, pan: string, o: { expiry?: string; pwd?: string; birth?: string; quota?: string } = {}) {
  await f.locator('#cardNo').fill(pan);
  await f.locator('#cardExpiry').fill(o.expiry ?? '12/30');
  await f.locator('#cardPwd').fill(o.pwd ?? '12');
  await f.locator('#buyerAuthNum').fill(o.birth ?? '900101');
  if (o.quota) await f.locator('#cardQuota').selectOption(o.quota);
  await f.locator('#payBtn').click();
}
