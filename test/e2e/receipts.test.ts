import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, MOBILE_UA, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('sales slips (receipt_url)');

describe.skipIf(!HAS_CHROMIUM)('the sales slip a buyer opens from receipt_url', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('after a window card payment the buyer opens rsp.receipt_url: readable at 375 px, and printable', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('slip');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '겨울 코트', amount: 60000, buyer_tel: '010-1234-5678', display: { card_quota: [3] } });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'), { quota: '03' });
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, paid_amount: 60000, card_quota: 3 });
    expect(rsp.receipt_url.startsWith(`${e.simulatorUrl}/receipt/`)).toBe(true);
    // a partial refund, so the slip lists a cancel too
    const cancelled = await e.rest('POST', '/payments/cancel', { imp_uid: rsp.imp_uid, amount: 10000, reason: '부분 환불' });
    expect(cancelled.body.code).toBe(0);
    const cancelUrl = cancelled.body.response.cancel_history[0].receipt_url as string;
    await context.close();

    // the buyer's phone: a fresh browser with nothing but the link
    const phone = await e.browser.newContext({ viewport: { width: 375, height: 812 }, userAgent: MOBILE_UA, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const slip = await phone.newPage();
    const res = await slip.goto(rsp.receipt_url);
    expect(res?.status()).toBe(200);
    await expect(slip.locator('#title').innerText()).resolves.toBe('신용카드 매출전표');
    const text = await slip.locator('main').innerText();
    for (const s of [rsp.apply_num, '60,000원', '54,545원', '5,455원', '3개월', '부분취소', '10,000원', '50,000원', rsp.card_number]) expect(text, s).toContain(s);
    // readable at 375 px: nothing wider than the screen, text not shrunk
    expect(await slip.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await slip.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize))).toBeGreaterThanOrEqual(14);
    await e.screenshot(slip, 'receipt-card-375');
    await slip.screenshot({ path: `${process.cwd()}/test-artifacts/screenshots/receipt-card-375-full.png`, fullPage: true });

    // printable: the print button is not on paper, and the page prints to a PDF
    expect(await slip.locator('#printBtn').isVisible()).toBe(true);
    await slip.emulateMedia({ media: 'print' });
    expect(await slip.locator('#printBtn').isVisible()).toBe(false);
    expect(await slip.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(255, 255, 255)');
    await slip.screenshot({ path: `${process.cwd()}/test-artifacts/screenshots/receipt-card-print.png`, fullPage: true });
    const pdf = await slip.pdf({ format: 'A5', printBackground: false });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    await slip.emulateMedia({ media: 'screen' });

    // the cancel's own slip
    const cancelPage = await phone.newPage();
    expect((await cancelPage.goto(cancelUrl))?.status()).toBe(200);
    const cancelText = await cancelPage.locator('main').innerText();
    expect(cancelText).toContain('신용카드 매출전표 (취소)');
    expect(cancelText).toContain('-10,000원');
    expect(await cancelPage.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await e.screenshot(cancelPage, 'receipt-cancel-375');

    // a tampered link shows nothing of the payment
    const tampered = await phone.newPage();
    const bad = await tampered.goto(rsp.receipt_url.replace(/sig=.*/, 'sig=AAAAAAAAAAAAAAAAAAAAAA'));
    expect(bad?.status()).toBe(404);
    expect(await tampered.locator('body').innerText()).not.toContain(rsp.apply_num);
    await phone.close();
  });
});
