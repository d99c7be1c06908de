import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, confirmResult, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('payment window: card');

describe.skipIf(!HAS_CHROMIUM)('payment window on PC: card', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('pays by card in the overlay and calls back once with the V1 rsp fields', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('card_ok');
    await page.locator('#focus-me').focus();
    await requestPay(page, {
      pg: 'jtnet',
      pay_method: 'card',
      merchant_uid,
      name: '테스트 주문',
      amount: 14000,
      buyer_name: '홍길동',
      buyer_email: 'buyer@example.com',
      buyer_tel: '010-1234-5678',
      custom_data: { order: 7 },
    });
    const f = checkoutFrame(page);
    await f.locator('#title').waitFor();
    expect(await page.locator('.pier-imp-overlay [role="dialog"][aria-modal="true"]').count()).toBe(1);
    expect(await page.locator('#focus-me').evaluate((el) => el.closest('[inert]') !== null)).toBe(true);
    await e.screenshot(page, 'pc-checkout-card');
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cardNo').waitFor();
    await e.screenshot(page, 'pc-tpay-card-window');
    await enterCard(f, card('4242'));
    const { rsp, calls } = await callbackRsp(page);
    expect(calls).toBe(1);
    expect(rsp).toMatchObject({
      success: true,
      imp_success: true,
      merchant_uid,
      paid_amount: 14000,
      pay_method: 'card',
      pg_provider: 'jtnet',
      status: 'paid',
      card_name: '신한카드',
      card_quota: 0,
      buyer_name: '홍길동',
      buyer_email: 'buyer@example.com',
      buyer_tel: '010-1234-5678',
      custom_data: { order: 7 },
      name: '테스트 주문',
    });
    expect(rsp.imp_uid).toMatch(/^imp_\d{12}$/);
    expect(rsp.apply_num).toMatch(/^\d{8}$/);
    expect(rsp.pg_tid).toMatch(/^tpaytest0m/);
    expect(rsp.card_number).toMatch(/^\d{6}\*{6}\d{4}$/);
    expect(rsp.error_code).toBeUndefined();
    // the overlay is gone and focus went back to the page
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('focus-me');
    expect(await page.evaluate(() => document.querySelector('[inert]'))).toBeNull();
    const stored = await e.rest('GET', `/payments/${rsp.imp_uid}`);
    expect(stored.body.response).toMatchObject({ status: 'paid', amount: 14000, channel: 'pc', pg_id: 'tpaytest0m', card_code: '366', apply_num: rsp.apply_num });
    expect(stored.body.response.user_agent).toMatch(/Chrome/);
    await context.close();
  });

  it('shows each kind of decline to the buyer and reports the PG code and message', async () => {
    const { context, page } = await e.shop();
    const cases = [
      { pan: card('0054'), code: '54', msg: '잔액부족' },
      { pan: card('0026'), code: '26', msg: '도난, 분실카드' },
      { pan: card('4242'), pwd: '99', code: '19', msg: '비밀번호 상이' },
      { pan: card('4242'), expiry: '01/25', code: '04', msg: '유효기간 만료' },
      { pan: card('0099'), code: '9999', msg: '시스템 오류' },
    ];
    let shot = false;
    for (const c of cases) {
      await page.evaluate(() => ((window as any).results = []));
      const merchant_uid = uid('decline');
      await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '거절', amount: 3000, buyer_tel: '010-0000-0000' });
      const f = checkoutFrame(page);
      await confirmCheckout(f, { cardCode: '366' });
      await enterCard(f, c.pan, { pwd: c.pwd, expiry: c.expiry });
      // the decline stays on screen, with its reason, until the buyer confirms it
      await f.locator('.result.fail .error-msg').waitFor();
      expect(await f.locator('.error-msg').innerText()).toContain(c.msg);
      if (!shot) {
        await e.screenshot(page, 'pc-decline');
        shot = true;
      }
      await confirmResult(f);
      const { rsp, calls } = await callbackRsp(page);
      expect(calls).toBe(1);
      expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: c.code, status: 'failed' });
      expect(rsp.error_msg).toContain(c.msg);
      const stored = await e.rest('GET', `/payments/${rsp.imp_uid}`);
      expect(stored.body.response.status).toBe('failed');
      expect(stored.body.response.fail_reason).toContain(c.msg);
    }
    await context.close();
  });

  it('keeps a decline\'s 확인 disabled until checkout.js has run (slow connection), then confirms with one press', async () => {
    const { context, page } = await e.shop();
    // Hold checkout.js for the result page only (the document Pier answers the PG's return with);
    // served uncached here, so that page asks for it again.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held = 0;
    await context.route('**/checkout/assets/checkout.js', async (route) => {
      if (route.request().frame().url().includes('/return')) {
        held++;
        await released;
      }
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'cache-control': 'no-store' } });
    });
    const merchant_uid = uid('slow_js');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '거절', amount: 3000, buyer_tel: '010-0000-0000' });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('0054'));
    await f.locator('.result.fail .error-msg').waitFor();
    expect(held).toBe(1);
    const confirm = f.locator('#confirm');
    expect(await confirm.isDisabled()).toBe(true);
    // a press now reaches no listener: the button says so instead of swallowing it
    await confirm.dispatchEvent('click');
    expect(await page.evaluate(() => (window as any).results.length)).toBe(0);
    release();
    await f.locator('html[data-ready="1"]').waitFor({ state: 'attached' });
    expect(await confirm.isEnabled()).toBe(true);
    await confirm.click();
    const { rsp, calls } = await callbackRsp(page);
    expect(calls).toBe(1);
    expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: '54', status: 'failed' });
    await context.close();
  });

  it("offers only the card companies card.detail enables (seed: '*' off + 366 on → 신한 only)", async () => {
    const { context, page } = await e.shop();
    await requestPay(page, {
      pg: 'jtnet',
      merchant_uid: uid('detail'),
      amount: 1004,
      buyer_tel: '010',
      card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] },
    });
    const f = checkoutFrame(page);
    await f.locator('.card-list').waitFor();
    expect(await f.locator('.card-list label').allInnerTexts()).toEqual(['신한카드']);
    await e.screenshot(page, 'pc-checkout-card-detail');
    await page.locator('.pier-imp-close').click();
    expect((await callbackRsp(page)).rsp.error_code).toBe('F0005');
    await context.close();
  });

  it('offers installments only from 50,000 KRW, limited by display.card_quota, and pays in installments', async () => {
    const { context, page } = await e.shop();
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('quota_small'), amount: 49_000, buyer_tel: '010', display: { card_quota: [3, 6] } });
    let f = checkoutFrame(page);
    expect(await f.locator('#quota-info').innerText()).toContain('50,000원 이상');
    await confirmCheckout(f, { cardCode: '381' });
    await f.locator('#cardQuota').waitFor();
    expect(await f.locator('#cardQuota option').evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value))).toEqual(['00']);
    await page.locator('.pier-imp-close').click();
    await callbackRsp(page);

    await page.evaluate(() => ((window as any).results = []));
    await requestPay(page, { pg: 'jtnet', merchant_uid: uid('quota_big'), amount: 60_000, buyer_tel: '010', display: { card_quota: [3, 6] } });
    f = checkoutFrame(page);
    expect(await f.locator('#quota-info').innerText()).toContain('일시불, 3개월, 6개월');
    await confirmCheckout(f, { cardCode: '381' });
    await f.locator('#cardQuota').waitFor();
    expect(await f.locator('#cardQuota option').evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value))).toEqual(['00', '03', '06']);
    await enterCard(f, card('4242', '381'), { quota: '03' });
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, card_quota: 3, paid_amount: 60_000, card_name: 'KB국민카드' });
    await context.close();
  });

  it('the buyer closes the window: before the PG window, inside it (SDK close), and with the PG cancel button', async () => {
    const { context, page } = await e.shop();
    // 1. on Pier's checkout, with the overlay's close button (keyboard: Escape works too)
    const first = uid('close_pier');
    await requestPay(page, { pg: 'jtnet', merchant_uid: first, amount: 1000, buyer_tel: '010' });
    await checkoutFrame(page).locator('#title').waitFor();
    await page.locator('.pier-imp-close').focus();
    await page.keyboard.press('Enter');
    let r = await callbackRsp(page);
    // V1's short cancel: exactly six fields
    expect(r.rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid: first, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.' });
    expect(r.calls).toBe(1);

    // 2. inside the PG window, with the overlay's close button: the attempt fails and frees merchant_uid
    await page.evaluate(() => ((window as any).results = []));
    const second = uid('close_pg');
    await requestPay(page, { pg: 'jtnet', merchant_uid: second, amount: 1000, buyer_tel: '010' });
    let f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cardNo').waitFor();
    await page.locator('.pier-imp-close').click();
    r = await callbackRsp(page);
    // a cancel inside the PG window: the whole payment object, as V1
    expect(r.rsp).toMatchObject({ success: false, merchant_uid: second, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.', status: 'failed', paid_amount: 0, pay_method: 'card', pg_provider: 'jtnet', currency: 'KRW' });
    expect(r.rsp.imp_uid).toMatch(/^imp_/);
    expect((await e.rest('GET', `/payments/${r.rsp.imp_uid}`)).body.response.status).toBe('failed');

    // 3. the PG window's own cancel button → cancelUrl; then the same merchant_uid can be paid
    await page.evaluate(() => ((window as any).results = []));
    await requestPay(page, { pg: 'jtnet', merchant_uid: second, amount: 1000, buyer_tel: '010' });
    f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cancelBtn').click();
    r = await callbackRsp(page);
    expect(r.rsp).toMatchObject({ success: false, merchant_uid: second, error_code: 'F0005' });

    await page.evaluate(() => ((window as any).results = []));
    await requestPay(page, { pg: 'jtnet', merchant_uid: second, amount: 1000, buyer_tel: '010' });
    f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'));
    r = await callbackRsp(page);
    expect(r.rsp).toMatchObject({ success: true, merchant_uid: second });
    await context.close();
  });

  it('refuses an already paid merchant_uid with F1002 before anything opens', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('paid_once');
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 1000, buyer_tel: '010' });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'));
    expect((await callbackRsp(page)).rsp.success).toBe(true);
    await page.evaluate(() => ((window as any).results = []));
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 1000, buyer_tel: '010' });
    const { rsp } = await callbackRsp(page);
    expect(rsp).toEqual({ success: false, imp_success: false, imp_uid: null, merchant_uid, error_code: 'F1002', error_msg: '이미 결제가 이루어진 거래건입니다.' });
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    await context.close();
  });

  it('refuses an amount that differs from POST /payments/prepare before anything opens', async () => {
    const merchant_uid = uid('prepared');
    await e.rest('POST', '/payments/prepare', { merchant_uid, amount: 5000 });
    const { context, page } = await e.shop();
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 4000, buyer_tel: '010' });
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: false, imp_uid: null, merchant_uid, error_code: 'F1003' });
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    await context.close();
  });

  it('opens in a popup when popup: true, and reports the result to the opener', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('popup');
    const popupPromise = page.waitForEvent('popup');
    await requestPay(page, { pg: 'jtnet', merchant_uid, amount: 2000, buyer_tel: '010', popup: true, language: 'en' });
    const popup = await popupPromise;
    await popup.locator('#title').waitFor();
    expect(await popup.locator('#pay').innerText()).toContain('Pay KRW 2,000');
    expect(await popup.locator('[data-close]').getAttribute('aria-label')).toBe('Close the payment window');
    await e.screenshot(popup, 'pc-popup-checkout-en');
    await confirmCheckout(popup, { cardCode: '366' });
    await enterCard(popup, card('4242'));
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, paid_amount: 2000 });
    if (!popup.isClosed()) await popup.waitForEvent('close');
    await context.close();
  });

  it('request_pay before IMP.init shows the V1 alert', async () => {
    const page = await (await e.browser.newContext()).newPage();
    await page.setContent(`<script src="${e.pierUrl}/v1/iamport.js"></script>`);
    const dialog = page.waitForEvent('dialog');
    // The alert blocks request_pay, so the evaluate finishes only after the dialog is dismissed;
    // it is awaited before the context closes so it cannot reject into the void.
    const requested = page.evaluate(() => (window as any).IMP.request_pay({ amount: 1000, merchant_uid: 'x' }, () => undefined));
    const d = await dialog;
    expect(d.message()).toBe('판매자 코드가 설정되지 않았습니다. IMP.init()함수를 먼저 호출하세요.');
    await d.dismiss();
    await requested;
    await page.context().close();
  });
});
