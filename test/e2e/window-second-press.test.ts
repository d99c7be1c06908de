/**
 * A genuine buyer presses "pay" in Pier's checkout twice: a double click on a slow connection, before
 * checkout.js (deferred) has run and disabled the button. The browser sends the checkout's form twice
 * and drops the first answer; the second reached a checkout whose PG window the first had opened, and
 * closed it: the merchant was told the buyer cancelled (F0005) and the buyer never saw the PG window
 * (decision 0086). Now the second press gets the same attempt's window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('payment window: a second press of pay');

describe.skipIf(!HAS_CHROMIUM)('pay pressed twice in the checkout (a double click on a slow connection)', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('the second press opens the same PG window; the buyer pays and the merchant gets one paid rsp', async () => {
    const { context, page } = await e.shop();
    // a slow connection: checkout.js has not arrived when the buyer clicks, so nothing disables the
    // button yet; and Pier's answer to the first press is slow to come back (it reached Pier at once)
    let scriptArrives!: () => void;
    const scriptHeld = new Promise<void>((r) => (scriptArrives = r));
    await context.route('**/checkout/assets/checkout.js', async (route) => {
      await scriptHeld;
      await route.continue().catch(() => undefined);
    });
    let firstAnswered!: () => void;
    const firstAnswer = new Promise<void>((r) => (firstAnswered = r));
    const starts: number[] = [];
    await context.route('**/checkout/*/start', async (route) => {
      starts.push(starts.length + 1);
      if (starts.length > 1) return route.continue();
      // the first press reaches Pier at once, and its answer is still on its way when the second
      // press replaces that navigation (a fulfilled answer would count as a public page for Chromium's
      // local-network checks, so only the first, dropped one is answered here)
      const answer = await route.fetch();
      firstAnswered();
      await new Promise<void>((r) => setTimeout(r, 1500));
      await route.fulfill({ response: answer }).catch(() => undefined);
    });
    const merchant_uid = uid('second_press');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '두 번 누른 주문', amount: 14000 });
    const f = checkoutFrame(page);
    await f.locator('#pay').waitFor();
    await f.locator('label[for="card-366"]').click();
    await f.locator('label[for="agree"]').click();
    await f.locator('#pay').click({ noWaitAfter: true });
    await firstAnswer;
    await f.locator('#pay').click({ noWaitAfter: true });
    await expect.poll(() => starts.length).toBe(2);
    scriptArrives();

    // the PG window of the attempt the first press recorded, not a closed checkout
    await Promise.race([f.locator('#cardNo').waitFor(), page.waitForFunction(() => (window as any).results.length > 0)]);
    expect(await page.evaluate(() => (window as any).results)).toEqual([]);
    const attempts = await e.store.db.selectFrom('payments').select(['imp_uid', 'status']).where('merchant_uid', '=', merchant_uid).execute();
    expect(attempts).toEqual([{ imp_uid: expect.stringMatching(/^imp_\d{12}$/), status: 'ready' }]);
    await enterCard(f, card('4242'));
    const { rsp, calls } = await callbackRsp(page);
    expect({ calls, success: rsp.success, status: rsp.status, imp_uid: rsp.imp_uid, error_code: rsp.error_code }).toEqual({
      calls: 1,
      success: true,
      status: 'paid',
      imp_uid: attempts[0]!.imp_uid,
      error_code: undefined,
    });
    expect((await e.rest('GET', `/payments/find/${merchant_uid}`)).body.response).toMatchObject({ status: 'paid', amount: 14000 });
    await context.close();
  });
});
