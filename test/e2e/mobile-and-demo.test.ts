import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { card, checkoutFrame, confirmCheckout, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('payment window: mobile redirect and the demo shop');

describe.skipIf(!HAS_CHROMIUM)('payment window on mobile (full page, m_redirect_url) and the demo shop', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('mobile: navigates to the checkout, then redirects to m_redirect_url with imp_success=true', async () => {
    const { context, page } = await e.shop({ mobile: true });
    const merchant_uid = uid('m_ok');
    await requestPay(page, { pg: 'jtnet', merchant_uid, name: '모바일 주문', amount: 8000, buyer_tel: '010-1234-5678', m_redirect_url: `${e.shopUrl}/done?from=mobile` });
    await page.waitForURL(`${e.pierUrl}/checkout/**`);
    await page.locator('#title').waitFor();
    // no overlay, the checkout fits 375 px without horizontal scrolling
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect(await page.locator('[data-close]').count()).toBe(1);
    await e.screenshot(page, 'mobile-checkout-card');
    await confirmCheckout(page, { cardCode: '366' });
    await page.locator('#cardNo').waitFor();
    expect(page.url()).toContain('/mobile/webTxInit');
    await e.screenshot(page, 'mobile-tpay-card-window');
    await enterCard(page, card('4242'));
    await page.waitForURL(`${e.shopUrl}/done?**`);
    const q = Object.fromEntries(new URL(page.url()).searchParams);
    expect(q).toMatchObject({ from: 'mobile', merchant_uid, imp_success: 'true' });
    expect(q.imp_uid).toMatch(/^imp_\d{12}$/);
    expect(q.error_code).toBeUndefined();
    const stored = (await e.rest('GET', `/payments/${q.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'paid', channel: 'mobile', amount: 8000 });
    expect(stored.user_agent).toContain('iPhone');
    await context.close();
  });

  it('mobile: a decline redirects with imp_success=false, error_code and error_msg', async () => {
    const { context, page } = await e.shop({ mobile: true });
    const merchant_uid = uid('m_fail');
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 8000, buyer_tel: '010', m_redirect_url: `${e.shopUrl}/done` });
    await page.waitForURL(`${e.pierUrl}/checkout/**`);
    await confirmCheckout(page, { cardCode: '366' });
    await enterCard(page, card('0054'));
    await page.waitForURL(`${e.shopUrl}/done?**`);
    const q = Object.fromEntries(new URL(page.url()).searchParams);
    expect(q).toMatchObject({ merchant_uid, imp_success: 'false', error_code: '54' });
    expect(q.error_msg).toContain('잔액부족');
    expect(q.imp_uid).toMatch(/^imp_/);
    expect((await e.rest('GET', `/payments/${q.imp_uid}`)).body.response.status).toBe('failed');
    await context.close();
  });

  it('mobile: a request refused before the window (F1002) also goes to m_redirect_url', async () => {
    const merchant_uid = uid('m_paid');
    const paid = await e.rest('POST', '/subscribe/payments/onetime', { merchant_uid, amount: 1000, card_number: card('4242'), expiry: '2030-12' });
    expect(paid.body.response.status).toBe('paid');
    const { context, page } = await e.shop({ mobile: true });
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 1000, buyer_tel: '010', m_redirect_url: `${e.shopUrl}/done` });
    await page.waitForURL(`${e.shopUrl}/done?**`);
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({ merchant_uid, imp_success: 'false', error_code: 'F1002', error_msg: '이미 결제가 이루어진 거래건입니다.', imp_uid: '' });
    await context.close();
  });

  it('demo shop on PC: pays the order and shows the server-side verification (GET /payments, amount compared)', async () => {
    const context = await e.browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${e.pierUrl}/demo`);
    await page.locator('label[for="p-bag"]').click();
    await e.screenshot(page, 'demo-pc');
    await page.locator('#pay').click();
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'), { quota: '03' });
    const title = page.locator('#verify-title');
    await title.waitFor();
    expect(await title.getAttribute('data-outcome')).toBe('paid');
    expect(await title.innerText()).toContain('금액 일치');
    expect(await page.locator('#verification').innerText()).toContain('89,000원');
    await e.screenshot(page, 'demo-pc-verified');
    await context.close();
  });

  it('demo shop at 375 px: pays a virtual account through the redirect flow and verifies it on /demo/complete', async () => {
    const context = await e.browser.newContext({ viewport: { width: 375, height: 812 }, userAgent: (await import('./e2e-harness.js')).MOBILE_UA, isMobile: true, hasTouch: true });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${e.pierUrl}/demo`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await e.screenshot(page, 'demo-mobile');
    await page.locator('input[name="method"][value="vbank"]').check();
    await page.locator('#pay').click();
    await page.waitForURL(`${e.pierUrl}/checkout/**`);
    await confirmCheckout(page);
    await page.locator('#bankCode').waitFor();
    await page.locator('#payBtn').click();
    await page.waitForURL(`${e.pierUrl}/demo/complete?**`);
    const title = page.locator('#verify-title');
    await title.waitFor();
    expect(await title.getAttribute('data-outcome')).toBe('vbank_issued');
    await e.screenshot(page, 'demo-mobile-verified');
    // the demo's deposit button pays into it through the simulator; the deposit notice makes it paid
    await page.locator('#deposit').click();
    await page.locator('#verify-title[data-outcome="paid"]').waitFor();
    await context.close();
  });

  it('the demo backend flags a payment whose amount differs from the order as forged', async () => {
    // a merchant_uid the demo never ordered: verification must not trust it
    const merchant_uid = uid('not_an_order');
    const paid = await e.rest('POST', '/subscribe/payments/onetime', { merchant_uid, amount: 1000, card_number: card('4242'), expiry: '2030-12' });
    const res = await fetch(`${e.pierUrl}/demo/api/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imp_uid: paid.body.response.imp_uid }) });
    expect(await res.json()).toMatchObject({ verified: false, outcome: 'forgery' });
  });
});

describe.skipIf(!HAS_CHROMIUM)('keyboard use of the checkout', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('can be completed with the keyboard alone, and a missing choice is announced', async () => {
    const { context, page } = await e.shop();
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('kbd'), amount: 3000, buyer_tel: '010' });
    const f = checkoutFrame(page);
    await f.locator('#title').waitFor();
    await f.locator('html[data-ready="1"]').waitFor({ state: 'attached' }); // checkout.js has run (it is deferred)
    // submit without choosing: the error is announced (role=alert) and focus moves to the first card
    await f.locator('#pay').focus();
    await page.keyboard.press('Enter');
    await f.locator('#error[role="alert"]').waitFor();
    expect(await f.locator('#error').innerText()).toContain('카드사를 선택해 주세요');
    expect(await f.locator('input[name="card_code"]').first().evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press('ArrowRight'); // radio group: moves to and selects the next company
    await f.locator('#agree').focus();
    await page.keyboard.press('Space');
    await f.locator('#pay').focus();
    await page.keyboard.press('Enter');
    await f.locator('#cardNo').waitFor();
    await page.locator('.pier-imp-close').click();
    await context.close();
  });
});
