import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, checkoutFrame, confirmCheckout, confirmResult, requestPay, uid } from './helpers.js';

/**
 * Decision 0059 through the real SDK: a request_pay refused because its address made too many
 * checkouts (HTTP 429 from POST /checkout/sessions) or opened too many PG windows reaches the
 * merchant's callback, or m_redirect_url on mobile, as an F1010 rsp. Tiny allowances here, so a
 * few requests from the browser (127.0.0.1) reach them.
 */
warnIfNoChromium('payment window: rate limits reach the callback');

const F1010 = /^결제 요청이 너무 많습니다\. \d+초 후에 다시 시도해 주세요\. \(too many payment requests from this address; retry after \d+ s\)$/;

describe.skipIf(!HAS_CHROMIUM)('payment window past its allowance, through the SDK', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E({ checkoutRateLimits: { sessionsPerIp: { limit: 3, windowSeconds: 600 }, windowsPerIp: { limit: 1, windowSeconds: 600 } } });
  });
  afterAll(() => e?.close());

  it('a PG window past the allowance ends the checkout; the callback gets F1010; past the checkouts allowance too (PC and mobile)', async () => {
    const { context, page } = await e.shop();
    // 1st checkout: the PG window opens (the allowance of one), the buyer closes it
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('rl_a'), amount: 1000, buyer_tel: '010' });
    await confirmCheckout(checkoutFrame(page), { cardCode: '366' });
    await checkoutFrame(page).locator('#cardNo').waitFor();
    await page.locator('.pier-imp-close').click();
    expect((await callbackRsp(page)).rsp).toMatchObject({ success: false, error_code: 'F0005' });

    // 2nd checkout: no second PG window from this address
    await page.evaluate(() => ((window as any).results = []));
    const second = uid('rl_b');
    await requestPay(page, { pg: 'jtnet', merchant_uid: second, amount: 1000, buyer_tel: '010' });
    await confirmCheckout(checkoutFrame(page), { cardCode: '366' });
    await confirmResult(checkoutFrame(page));
    const refusedWindow = await callbackRsp(page);
    expect(refusedWindow.calls).toBe(1);
    expect(refusedWindow.rsp).toMatchObject({ success: false, imp_success: false, imp_uid: null, merchant_uid: second, error_code: 'F1010' });
    expect(refusedWindow.rsp.error_msg).toMatch(F1010);

    // 3rd checkout opens and is closed; the 4th is refused by POST /checkout/sessions (HTTP 429)
    await page.evaluate(() => ((window as any).results = []));
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('rl_c'), amount: 1000, buyer_tel: '010' });
    await checkoutFrame(page).locator('#pay').waitFor();
    await page.locator('.pier-imp-close').click();
    await callbackRsp(page);
    await page.evaluate(() => ((window as any).results = []));
    const fourth = uid('rl_d');
    const answered = page.waitForResponse((r) => r.url().endsWith('/checkout/sessions') && r.request().method() === 'POST');
    await requestPay(page, { pg: 'jtnet', merchant_uid: fourth, amount: 1000, buyer_tel: '010' });
    expect((await answered).status()).toBe(429);
    const refusedSession = await callbackRsp(page);
    expect(refusedSession.calls).toBe(1);
    expect(refusedSession.rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid: fourth, error_code: 'F1010', error_msg: expect.stringMatching(F1010) });
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    await context.close();

    // mobile, same address: the refusal goes to m_redirect_url
    const mobile = await e.shop({ mobile: true });
    const fifth = uid('rl_m');
    await requestPay(mobile.page, { pg: 'jtnet', merchant_uid: fifth, amount: 1000, buyer_tel: '010', m_redirect_url: `${e.shopUrl}/done` });
    await mobile.page.waitForURL(`${e.shopUrl}/done?**`);
    const q = Object.fromEntries(new URL(mobile.page.url()).searchParams);
    expect(q).toMatchObject({ merchant_uid: fifth, imp_success: 'false', error_code: 'F1010', imp_uid: '' });
    expect(q.error_msg).toMatch(F1010);
    await mobile.context.close();
  });
});
