import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, confirmResult, enterCard, requestPay, uid } from './helpers.js';

warnIfNoChromium('payment window: transfer, virtual account, phone, billing keys');

describe.skipIf(!HAS_CHROMIUM)('payment window on PC: trans, vbank, phone and billing keys', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  it('pays by real-time bank transfer (trans) with the bank the buyer picks', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('trans');
    await requestPay(page, { pg: 'jtnet', pay_method: 'trans', merchant_uid, name: '계좌이체', amount: 15000, buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await f.locator('[data-method="trans"]').waitFor();
    await confirmCheckout(f);
    await f.locator('#bankCode').selectOption('088');
    await e.screenshot(page, 'pc-tpay-trans-window');
    await f.locator('#payBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, pay_method: 'trans', paid_amount: 15000, bank_name: '신한은행', status: 'paid' });
    const stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'paid', pay_method: 'trans', bank_code: '088', bank_name: '신한은행', channel: 'pc' });
    await context.close();
  });

  it('issues a virtual account (ready), then the deposit notice from the PG makes it paid', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('vbank');
    await requestPay(page, { pg: 'jtnet', pay_method: 'vbank', merchant_uid, name: '가상계좌', amount: 23000, buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await confirmCheckout(f);
    await f.locator('#bankCode').waitFor();
    await f.locator('#payBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, pay_method: 'vbank', status: 'ready', paid_amount: 23000 }); // V1: the amount to deposit
    expect(rsp.vbank_num).toMatch(/\d{6,}/);
    expect(rsp.vbank_name).toBeTruthy();
    expect(rsp.vbank_date).toBeGreaterThan(Date.now() / 1000);
    expect('vbank_holder' in rsp).toBe(true);
    let stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'ready', vbank_num: rsp.vbank_num, vbank_date: rsp.vbank_date, paid_at: 0 });
    expect(stored.vbank_issued_at).toBeGreaterThan(0);

    // a wrong amount is refused by the bank (simulator); the right one is notified to Pier
    expect((await e.sim('/__control/vbank/deposit', { moid: rsp.imp_uid, amount: 22000 })).status).toBe(400);
    const dep = await e.sim('/__control/vbank/deposit', { moid: rsp.imp_uid, amount: 23000, depositorName: '홍길동' });
    expect(dep.status).toBe(200);
    expect(dep.body.notice).toMatchObject({ delivered: true, status: 200 });
    stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'paid', amount: 23000 });
    expect(stored.paid_at).toBeGreaterThan(0);
    // the notice again (a PG retry) changes nothing
    expect((await e.sim('/__control/vbank/notify', { tid: dep.body.tid })).body.notice).toMatchObject({ delivered: true });
    await context.close();
  });

  it('pays by phone with carrier, number and one-time code on the PG page', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('phone');
    await requestPay(page, { pg: 'jtnet', pay_method: 'phone', merchant_uid, name: '디지털 상품', amount: 5000, buyer_tel: '010-1234-5678', digital: true });
    const f = checkoutFrame(page);
    await confirmCheckout(f);
    await f.locator('#carrier').selectOption('KT');
    await f.locator('#phoneNo').fill('010-1234-5678');
    await f.locator('#otp').fill('123456');
    await e.screenshot(page, 'pc-tpay-phone-window');
    await f.locator('#payBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, pay_method: 'phone', paid_amount: 5000, status: 'paid' });
    expect((await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response.status).toBe('paid');
    await context.close();
  });

  it('issues a billing key with amount 0 (no payment), which then works with /subscribe/payments/again', async () => {
    const { context, page } = await e.shop();
    const customer_uid = uid('cust0');
    const merchant_uid = uid('issue');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '카드 등록', amount: 0, customer_uid, buyer_name: '홍길동', buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    expect(await f.locator('#pay').innerText()).toBe('카드 등록하기');
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#billingNote').waitFor();
    await e.screenshot(page, 'pc-tpay-billing-window');
    await enterCard(f, card('4242'));
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, customer_uid, paid_amount: 0, card_name: '신한카드' });
    const stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ amount: 0, status: 'paid', customer_uid, customer_uid_usage: 'issue' });
    const key = (await e.rest('GET', `/subscribe/customers/${customer_uid}`)).body.response;
    expect(key).toMatchObject({ customer_uid, card_code: '366', card_name: '신한카드', customer_name: '홍길동' });
    const again = await e.rest('POST', '/subscribe/payments/again', { customer_uid, merchant_uid: uid('again0'), amount: 9900, name: '정기결제' });
    expect(again.body.response).toMatchObject({ status: 'paid', amount: 9900, customer_uid, customer_uid_usage: 'payment', channel: 'api' });
    await context.close();
  });

  it('issues a billing key and makes the first payment with amount > 0, then charges again by REST', async () => {
    const { context, page } = await e.shop();
    const customer_uid = uid('cust1');
    const merchant_uid = uid('first');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid, name: '첫 달 구독', amount: 19900, customer_uid, buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '381' });
    await enterCard(f, card('4242', '381'));
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, customer_uid, paid_amount: 19900, status: 'paid', card_name: 'KB국민카드' });
    expect(rsp.apply_num).toMatch(/^\d{8}$/);
    const stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ amount: 19900, status: 'paid', customer_uid, customer_uid_usage: 'payment', channel: 'pc' });
    const again = await e.rest('POST', '/subscribe/payments/again', { customer_uid, merchant_uid: uid('again1'), amount: 19900, name: '둘째 달' });
    expect(again.body.response).toMatchObject({ status: 'paid', amount: 19900, customer_uid });
    await context.close();
  });

  it('a card that registers but declines charges (10NN) keeps the key and fails the first payment', async () => {
    const { context, page } = await e.shop();
    const customer_uid = uid('cust2');
    await requestPay(page, { pg: 'jtnet', pay_method: 'card', merchant_uid: uid('first_fail'), amount: 12000, customer_uid, buyer_tel: '010' });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('1054'));
    await confirmResult(f);
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: false, error_code: '54', status: 'failed' });
    expect(rsp.error_msg).toContain('잔액부족');
    expect((await e.rest('GET', `/subscribe/customers/${customer_uid}`)).body.code).toBe(0);
    await context.close();
  });
});
