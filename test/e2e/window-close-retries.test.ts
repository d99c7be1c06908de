/**
 * The buyer closes the payment window and the SDK's POST /checkout/sessions/:id/close fails on the
 * way (a flaky mobile connection, Pier restarting, a proxy's 502): the buyer may have paid a moment
 * before, so the SDK never reports "user cancelled" for an outcome it did not hear. It asks again
 * with backoff; the callback gets the close's real rsp once one answers, or, when none does, a
 * failure saying the result could not be confirmed (F1013, decision 0120). Once in every case.
 */
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('payment window: a close that fails on the network');

const UNCONFIRMED_MSG = /결제 결과를 확인하지 못했습니다.*merchant_uid/s;

describe.skipIf(!HAS_CHROMIUM)('the SDK close that fails on the network', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  /**
   * The buyer pays in the PG window, and the PG's return to Pier never arrives (the frame's
   * navigation to /return is dropped): the simulator approved, Pier has not heard. The closes the
   * SDK sends fail as `failing(n)` says for the n-th one (1-based): a dropped connection, a proxy's
   * 502 page, or through to Pier.
   */
  async function paidThenClosed(failing: (n: number) => 'abort' | '502' | null) {
    const { context, page } = await e.shop();
    let returned!: () => void;
    const returnDropped = new Promise<void>((r) => (returned = r));
    await context.route('**/checkout/*/return', async (route) => {
      returned();
      await route.abort('connectionreset');
    });
    const closes: string[] = [];
    await context.route('**/checkout/sessions/*/close', async (route: Route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const how = failing(closes.length + 1);
      closes.push(how ?? 'through');
      if (how === 'abort') return route.abort('connectionreset');
      if (how === '502') {
        // a proxy in front of Pier: its own page, readable cross-origin (it copies the CORS header)
        return route.fulfill({ status: 502, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>', headers: { 'access-control-allow-origin': '*' } });
      }
      return route.continue();
    });
    const merchant_uid = uid('close_flaky');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '닫기 재시도', amount: 14000 });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'));
    await returnDropped;
    // the buyer sees no result and closes the overlay
    await page.locator('.pier-imp-close').click();
    return { context, page, merchant_uid, closes };
  }

  /** The callback's calls, once the SDK's request is over (IMP.close then reaches nothing). */
  async function allCallbacks(page: Page) {
    await page.evaluate(() => (window as any).IMP.close());
    return page.evaluate(() => (window as any).results as any[]);
  }

  async function done(context: BrowserContext) {
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  }

  it('paid, then closed; the first closes are lost: the callback gets the paid rsp, once, after the retries', async () => {
    const { context, page, merchant_uid, closes } = await paidThenClosed((n) => (n === 1 ? 'abort' : n === 2 ? '502' : null));
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, status: 'paid', paid_amount: 14000, pay_method: 'card' });
    expect(closes).toEqual(['abort', '502', 'through']);
    expect(await allCallbacks(page)).toHaveLength(1);
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    expect((await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response).toMatchObject({ status: 'paid', amount: 14000, merchant_uid });
    await done(context);
  });

  it('paid, then closed; every close is lost: the callback gets "could not confirm" once, never F0005 cancelled', async () => {
    const { context, page, merchant_uid, closes } = await paidThenClosed((n) => (n % 2 === 1 ? 'abort' : '502'));
    // five tries over about 8 s (decision 0120)
    await page.waitForFunction(() => (window as any).results.length > 0, undefined, { timeout: 30_000 });
    const results = await allCallbacks(page);
    expect(results).toHaveLength(1);
    const [rsp] = results;
    expect(rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid, error_code: 'F1013', error_msg: expect.stringMatching(UNCONFIRMED_MSG) });
    expect(rsp.error_code).not.toBe('F0005');
    expect(closes).toEqual(['abort', '502', 'abort', '502', 'abort']);
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelector('[inert]'))).toBeNull();
    // what the message tells the merchant to do: the server has the payment under that merchant_uid
    // (Pier heard of it from neither the PG's return nor a close; reconciliation settles it)
    const found = await e.rest('GET', `/payments/find/${merchant_uid}`);
    expect(found.status).toBe(200);
    expect(found.body.response).toMatchObject({ merchant_uid, amount: 14000 });
    await done(context);
  });

  it('popup closed before paying, the first close lost: the callback gets F0005 (the server\'s word), once', async () => {
    const { context, page } = await e.shop();
    const closes: string[] = [];
    await context.route('**/checkout/sessions/*/close', async (route: Route) => {
      if (route.request().method() !== 'POST') return route.continue();
      closes.push(closes.length === 0 ? 'abort' : 'through');
      return closes.length === 1 ? route.abort('connectionreset') : route.continue();
    });
    const merchant_uid = uid('close_popup');
    const opened = page.waitForEvent('popup');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, amount: 14000, popup: true });
    const popup = await opened;
    await popup.locator('#title').waitFor();
    await popup.close();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.' });
    expect(closes).toEqual(['abort', 'through']);
    expect(await allCallbacks(page)).toHaveLength(1);
    await done(context);
  });
});
