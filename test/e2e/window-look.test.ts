import type { Frame, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, checkoutFrame, confirmCheckout, requestPay, uid } from './helpers.js';

/**
 * Issue #9 item 8, what the buyer sees: the PC overlay at 1280x720, the phone at 375 px, and English.
 * Each check measures the rendered page; the screenshots (test-artifacts/screenshots/look-*.png) are
 * for a person to look at.
 */
warnIfNoChromium('payment window: layout and language');

const LONG_MERCHANT = 'Pier Demo Shop Seoul Flagship Store';

/** Words of an element's text that the browser wrapped in the middle (a word laid out on two lines). */
async function wordsBrokenMidWord(el: Locator): Promise<string[]> {
  return el.evaluate((node) => {
    const broken: string[] = [];
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode() as Text | null; t; t = walker.nextNode() as Text | null) {
      const re = /\S+/g;
      for (let m = re.exec(t.data); m; m = re.exec(t.data)) {
        const r = document.createRange();
        r.setStart(t, m.index);
        r.setEnd(t, m.index + m[0].length);
        const tops = new Set(Array.from(r.getClientRects()).map((x) => Math.round(x.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
    return broken;
  });
}

/** An element's box inside its frame's viewport, and that viewport. */
const boxIn = (el: Locator) =>
  el.evaluate((node) => {
    const r = node.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, vw: window.innerWidth, vh: window.innerHeight };
  });

const pgFrame = (page: Page): Frame => page.frame({ name: 'pier_checkout' })!;

describe.skipIf(!HAS_CHROMIUM)('what the buyer sees', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
    await e.store.db.updateTable('merchants').set({ name: LONG_MERCHANT }).where('merchant_code', '=', e.merchantCode).execute();
  });
  afterAll(() => e?.close());

  it('PC 1280x720: the checkout and the tPay card window fill the overlay and their pay buttons are on screen', async () => {
    const { context, page } = await e.shop({ viewport: { width: 1280, height: 720 } });
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('look_pc'), name: '테스트 주문', amount: 14000, buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await f.locator('#title').waitFor();
    await e.screenshot(page, 'look-pc-1280x720-checkout');
    const pay = await boxIn(f.locator('#pay'));
    expect(pay.bottom).toBeLessThanOrEqual(pay.vh);
    expect(pay.top).toBeGreaterThanOrEqual(0);

    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cardNo').waitFor();
    await e.screenshot(page, 'look-pc-1280x720-tpay-card');
    // the tPay window spans the whole frame: no strip of the page background beside it
    const win = await boxIn(f.locator('main.win'));
    expect(win.left).toBeLessThanOrEqual(0.5);
    expect(win.right).toBeGreaterThanOrEqual(win.vw - 0.5);
    const bodyBg = await pgFrame(page).evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bodyBg).toBe('rgb(255, 255, 255)');
    // both of its buttons are visible without scrolling
    for (const id of ['#payBtn', '#cancelBtn']) {
      const b = await boxIn(f.locator(id));
      expect(b.bottom, id).toBeLessThanOrEqual(b.vh);
      expect(b.top, id).toBeGreaterThanOrEqual(0);
    }
    // and the overlay frame itself is inside the 720 px viewport
    const frameBox = (await page.locator('iframe[name="pier_checkout"]').boundingBox())!;
    expect(frameBox.y).toBeGreaterThanOrEqual(0);
    expect(frameBox.y + frameBox.height).toBeLessThanOrEqual(720);
    await context.close();
  });

  it('375 px: the merchant name wraps between words, never inside one (Pier’s checkout and the tPay window)', async () => {
    const { context, page } = await e.shop({ mobile: true });
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('look_m'), name: '모바일 주문', amount: 8000, buyer_tel: '010', m_redirect_url: `${e.shopUrl}/done` });
    await page.waitForURL(`${e.pierUrl}/checkout/**`);
    await page.locator('#title').waitFor();
    await e.screenshot(page, 'look-375-checkout');
    const name = page.locator('.summary dd').first();
    expect(await name.innerText()).toBe(LONG_MERCHANT);
    expect(await wordsBrokenMidWord(name)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

    await confirmCheckout(page, { cardCode: '366' });
    await page.locator('#cardNo').waitFor();
    await e.screenshot(page, 'look-375-tpay-card');
    const tpayName = page.locator('#merchantName');
    expect((await tpayName.innerText()).split(/\s+/).length).toBeGreaterThan(1);
    expect(await wordsBrokenMidWord(tpayName)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await context.close();
  });

  it("language 'en': card companies are named in English, and a cancel is shown in English (the callback keeps V1's message)", async () => {
    const { context, page } = await e.shop({ viewport: { width: 1280, height: 720 } });
    const merchant_uid = uid('look_en');
    await requestPay(page, { pg: 'jtnet', merchant_uid, name: 'Order', amount: 14000, buyer_tel: '010', language: 'en' });
    const f = checkoutFrame(page);
    await f.locator('#title').waitFor();
    expect(await f.locator('label[for="card-366"]').innerText()).toBe('Shinhan Card');
    expect(await f.locator('label[for="card-381"]').innerText()).toBe('KB Kookmin Card');
    const labels = await f.locator('.card-list label').allInnerTexts();
    expect(labels.filter((l) => /[가-힣]/.test(l))).toEqual([]);
    await e.screenshot(page, 'look-pc-1280x720-checkout-en');
    const session = /\/checkout\/(cs_[^/?#]+)/.exec(pgFrame(page).url())![1];

    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cardNo').waitFor();
    expect(await f.locator('#cardCompany').innerText()).toBe('Shinhan');
    await e.screenshot(page, 'look-pc-1280x720-tpay-card-en');
    await f.locator('#cancelBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.' });

    // the result page the buyer saw (read back: a GET of a finished session only shows it)
    const resultPage = await context.newPage();
    await resultPage.goto(`${e.pierUrl}/checkout/${session}`);
    expect(await resultPage.locator('#result-title').innerText()).toBe('The payment was not completed.');
    expect(await resultPage.locator('.error-msg').innerText()).toBe('You cancelled the payment. (F0005)');
    await e.screenshot(resultPage, 'look-pc-1280x720-cancelled-en');
    await context.close();
  });
});
