import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTRA_PIER_HOST, HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E, type E2EOptions } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, confirmResult, enterCard, requestPay, uid } from './helpers.js';

/**
 * Issue #9 item 6: the SDK may be loaded from another origin than Pier's public URL (a CDN, www vs
 * apex, http vs https, 127.0.0.1 vs localhost). It must open the checkout_url Pier answers and take
 * the result from that exact origin, or the buyer pays and the shop's callback never runs.
 */
warnIfNoChromium('payment window: SDK origin differs from the public URL');

const SETUPS: { title: string; opts: E2EOptions }[] = [
  { title: 'SDK from 127.0.0.1, public URL on localhost', opts: { sdkHost: '127.0.0.1', publicHost: 'localhost' } },
  { title: 'SDK from localhost, public URL on 127.0.0.1', opts: { sdkHost: 'localhost', publicHost: '127.0.0.1' } },
  { title: `SDK from another host name (${EXTRA_PIER_HOST}), public URL on 127.0.0.1`, opts: { sdkHost: EXTRA_PIER_HOST, publicHost: '127.0.0.1' } },
];

const fresh = (page: Page) => page.evaluate(() => ((window as any).results = []));

for (const setup of SETUPS) {
  describe.skipIf(!HAS_CHROMIUM)(`payment window, ${setup.title}`, () => {
    let e: E2E;
    beforeAll(async () => {
      e = await startE2E(setup.opts);
      expect(new URL(e.sdkUrl).origin).not.toBe(new URL(e.pierUrl).origin);
    });
    afterAll(() => e?.close());

    it('card approval: the checkout opens on the public URL and the callback runs once with the paid rsp', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_ok');
      await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '주문', amount: 4000, buyer_tel: '010-1234-5678' });
      const f = checkoutFrame(page);
      await confirmCheckout(f, { cardCode: '366' });
      expect(await page.locator('iframe[name="pier_checkout"]').getAttribute('src')).toMatch(new RegExp(`^${e.pierUrl}/checkout/cs_`));
      await enterCard(f, card('4242'));
      const { rsp, calls } = await callbackRsp(page);
      expect(calls).toBe(1);
      expect(rsp).toMatchObject({ success: true, merchant_uid, paid_amount: 4000, status: 'paid', card_name: '신한카드' });
      expect((await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response.status).toBe('paid');
      // the overlay is gone once the callback ran
      expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
      await context.close();
    });

    it('card decline: the callback gets the PG code and message', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_decline');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 3000, buyer_tel: '010' });
      const f = checkoutFrame(page);
      await confirmCheckout(f, { cardCode: '366' });
      await enterCard(f, card('0054'));
      await confirmResult(f);
      const { rsp, calls } = await callbackRsp(page);
      expect(calls).toBe(1);
      expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: '54', status: 'failed' });
      expect(rsp.error_msg).toContain('잔액부족');
      await context.close();
    });

    it('buyer cancel in the PG window and close on Pier’s checkout: the callback gets F0005', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_cancel');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 3000, buyer_tel: '010' });
      const f = checkoutFrame(page);
      await confirmCheckout(f, { cardCode: '366' });
      await f.locator('#cancelBtn').click();
      let r = await callbackRsp(page);
      expect(r.rsp).toMatchObject({ success: false, merchant_uid, error_code: 'F0005' });
      expect(r.rsp.imp_uid).toMatch(/^imp_/);

      await fresh(page);
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 3000, buyer_tel: '010' });
      await checkoutFrame(page).locator('#title').waitFor();
      await page.locator('.pier-imp-close').click();
      r = await callbackRsp(page);
      expect(r.rsp).toMatchObject({ success: false, merchant_uid, error_code: 'F0005', imp_uid: null });
      await context.close();
    });

    it('virtual account: the callback gets the issued account (ready)', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_vbank');
      await requestPay(page, { pg: 'jtnet', pay_method: 'vbank', merchant_uid, amount: 23000, buyer_tel: '010-1234-5678' });
      const f = checkoutFrame(page);
      await confirmCheckout(f);
      await f.locator('#bankCode').waitFor();
      await f.locator('#payBtn').click();
      const { rsp } = await callbackRsp(page);
      expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'vbank', status: 'ready', paid_amount: 23000 });
      expect(rsp.vbank_num).toMatch(/\d{6,}/);
      await context.close();
    });

    it('phone: the callback gets the paid rsp', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_phone');
      await requestPay(page, { pg: 'jtnet', pay_method: 'phone', merchant_uid, amount: 5000, buyer_tel: '010-1234-5678', digital: true });
      const f = checkoutFrame(page);
      await confirmCheckout(f);
      await f.locator('#carrier').selectOption('KT');
      await f.locator('#phoneNo').fill('010-1234-5678');
      await f.locator('#otp').fill('123456');
      await f.locator('#payBtn').click();
      const { rsp } = await callbackRsp(page);
      expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'phone', paid_amount: 5000, status: 'paid' });
      await context.close();
    });

    it('popup: the result reaches the opener', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_popup');
      const popupPromise = page.waitForEvent('popup');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 2000, buyer_tel: '010', popup: true });
      const popup = await popupPromise;
      await popup.locator('#title').waitFor();
      expect(popup.url()).toMatch(new RegExp(`^${e.pierUrl}/checkout/cs_`));
      await confirmCheckout(popup, { cardCode: '366' });
      await enterCard(popup, card('4242'));
      const { rsp } = await callbackRsp(page);
      expect(rsp).toMatchObject({ success: true, merchant_uid, paid_amount: 2000 });
      await context.close();
    });

    it('mobile redirect: the page goes to the public checkout URL, then to m_redirect_url', async () => {
      const { context, page } = await e.shop({ mobile: true });
      const merchant_uid = uid('o_mobile');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 8000, buyer_tel: '010', m_redirect_url: `${e.shopUrl}/done` });
      await page.waitForURL(`${e.pierUrl}/checkout/**`);
      await confirmCheckout(page, { cardCode: '366' });
      await enterCard(page, card('4242'));
      await page.waitForURL(`${e.shopUrl}/done?**`);
      expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({ merchant_uid, imp_success: 'true' });
      await context.close();
    });

    it('a request too large for Pier is refused in the callback with F1000 and Pier’s reason (not “could not reach Pier”)', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_huge');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 3000, buyer_tel: '010', custom_data: { blob: 'x'.repeat(200_000) } });
      const { rsp } = await callbackRsp(page);
      expect(rsp).toMatchObject({ success: false, imp_uid: null, merchant_uid, error_code: 'F1000', error_msg: '요청 본문이 너무 큽니다.' });
      expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
      await context.close();
    });

    it('a result message from any other origin, even from the checkout frame itself, is ignored', async () => {
      const { context, page } = await e.shop();
      const merchant_uid = uid('o_forged');
      await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 3000, buyer_tel: '010' });
      await checkoutFrame(page).locator('#title').waitFor();
      const frame = page.frame({ name: 'pier_checkout' })!;
      const session = /\/checkout\/(cs_[^/?#]+)/.exec(frame.url())![1];
      const forged = { from: 'pier-checkout', action: 'done', session, rsp: { success: true, imp_success: true, imp_uid: 'imp_000000000000', merchant_uid, paid_amount: 3000 } };
      // the shop page itself, and the same frame navigated to the SDK's origin (same window, wrong origin)
      await page.evaluate((d) => window.postMessage(d, '*'), forged);
      const elsewhere = `${e.sdkUrl}/checkout/assets/checkout.css`;
      // navigate after the evaluate has answered: a navigation started inside it can destroy the
      // frame's context before the answer arrives ("Execution context was destroyed", CI flake)
      // Wait on the navigation event itself, armed before the navigation starts: polling the
      // frame list with expect.poll's 1 s default timed out once on a busy CI machine.
      const navigated = page.waitForEvent('framenavigated', { predicate: (x) => x.url() === elsewhere });
      await frame.evaluate((url) => void setTimeout(() => (location.href = url)), elsewhere);
      const moved = await navigated;
      await moved.waitForLoadState();
      expect(await moved.evaluate(() => window.parent !== window)).toBe(true);
      await moved.evaluate((d) => parent.postMessage(d, '*'), forged);
      // then the buyer closes: the one callback is the cancel, not the forged success
      await page.locator('.pier-imp-close').click();
      const { rsp, calls } = await callbackRsp(page);
      expect(calls).toBe(1);
      expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: 'F0005' });
      await context.close();
    });
  });
}
