/**
 * A merchant page calls IMP.request_pay again while an earlier call is still under way: a double
 * click on a shop's "pay" button that nothing disables, or a second "pay" once a popup went behind
 * the shop's window. The later call wins (decision 0117): the earlier one is closed as if the buyer
 * closed it, its callback runs once with V1's F0005, and nothing of it stays open where the buyer
 * could still pay without the merchant ever hearing of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, card, checkoutFrame, confirmCheckout, enterCard, uid } from './helpers.js';

warnIfNoChromium('payment window: request_pay called twice');

const CANCELLED = { success: false, imp_success: false, imp_uid: null, error_code: 'F0005', error_msg: '사용자가 결제를 취소하였습니다.' };

describe.skipIf(!HAS_CHROMIUM)('IMP.request_pay called again before the first one ended', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  /** Sessions of the shop's two orders, by merchant_uid, as the server holds them. */
  async function sessionsOf(...merchantUids: string[]) {
    const rows = await e.store.db.selectFrom('checkout_sessions').select(['id', 'state', 'params']).execute();
    return rows
      .map((r) => ({ id: r.id, state: r.state, merchantUid: (JSON.parse(r.params) as { merchant_uid: string }).merchant_uid }))
      .filter((r) => merchantUids.includes(r.merchantUid));
  }

  it('a double click (two calls in one tick, overlay): one checkout opens, the first callback gets F0005 once, the second pays', async () => {
    const { context, page } = await e.shop();
    const first = uid('twice_a1');
    const second = uid('twice_a2');
    // both calls before the first one's session was answered
    await page.evaluate(
      ([a, b]) => {
        (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: a, name: '첫 주문', amount: 14000 });
        (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: b, name: '둘째 주문', amount: 15000 });
      },
      [first, second],
    );
    const f = checkoutFrame(page);
    await f.locator('#title').waitFor();
    // the first call's session was made too (its request was already sent); once both answered, it is closed on the server
    await expect.poll(async () => (await sessionsOf(first, second)).map((s) => `${s.merchantUid}:${s.state}`).sort()).toEqual([`${first}:done`, `${second}:open`].sort());
    // nothing of the first call is on the page: one overlay, showing the second call's checkout
    expect(await page.locator('.pier-imp-overlay').count()).toBe(1);
    const shown = await page.locator('iframe[name="pier_checkout"]').getAttribute('src');
    const [open] = (await sessionsOf(second)).filter((s) => s.state === 'open');
    expect(shown).toBe(`${e.pierUrl}/checkout/${open!.id}`);
    expect(await page.evaluate(() => (window as any).results)).toEqual([{ ...CANCELLED, merchant_uid: first }]);

    await confirmCheckout(f, { cardCode: '366' });
    await enterCard(f, card('4242'));
    await page.waitForFunction(() => (window as any).results.length > 1);
    const results = await page.evaluate(() => (window as any).results);
    expect(results).toHaveLength(2);
    expect(results[1]).toMatchObject({ success: true, merchant_uid: second, status: 'paid', paid_amount: 15000 });
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelector('[inert]'))).toBeNull();
    expect((await e.rest('GET', `/payments/find/${first}`)).status).toBe(404);
    await context.close();
  });

  it('a second call while the first overlay is open: the first is closed at once, the shop page stays inert under the second, IMP.close closes the second', async () => {
    const { context, page } = await e.shop();
    const first = uid('twice_b1');
    const second = uid('twice_b2');
    await page.evaluate((a) => (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: a, amount: 14000 }), first);
    await checkoutFrame(page).locator('#title').waitFor();
    await page.evaluate((b) => (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: b, amount: 15000 }), second);
    await callbackRsp(page);
    await expect.poll(async () => (await sessionsOf(second)).length).toBe(1);
    const [open] = await sessionsOf(second);
    await page.locator(`iframe[name="pier_checkout"][src="${e.pierUrl}/checkout/${open!.id}"]`).waitFor();
    await checkoutFrame(page).locator('#title').waitFor();
    expect(await page.locator('.pier-imp-overlay').count()).toBe(1);
    // the shop page behind the second checkout is still out of reach of keyboard and screen reader
    expect(await page.locator('#focus-me').evaluate((el) => el.closest('[inert]') !== null)).toBe(true);
    expect(await page.evaluate(() => (window as any).results)).toEqual([{ ...CANCELLED, merchant_uid: first }]);

    // IMP.close still knows the open checkout
    await page.evaluate(() => (window as any).IMP.close());
    await page.waitForFunction(() => (window as any).results.length > 1);
    expect(await page.evaluate(() => (window as any).results)).toEqual([
      { ...CANCELLED, merchant_uid: first },
      { ...CANCELLED, merchant_uid: second },
    ]);
    expect(await page.locator('.pier-imp-overlay').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelector('[inert]'))).toBeNull();
    await context.close();
  });

  it('popup: a second call while the first popup is open opens a checkout that can be paid, and each callback runs once', async () => {
    const { context, page } = await e.shop();
    const first = uid('twice_c1');
    const second = uid('twice_c2');
    const firstPopup = page.waitForEvent('popup');
    await page.evaluate((a) => (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: a, amount: 14000, popup: true }), first);
    const p1 = await firstPopup;
    await p1.locator('#title').waitFor();

    // the buyer clicked the shop's pay button again (the popup went behind the shop's window)
    await page.evaluate((b) => (window as any).pay({ pg: 'jtnet', pay_method: 'card', merchant_uid: b, amount: 15000, popup: true }), second);
    await callbackRsp(page);
    await expect.poll(async () => (await sessionsOf(second)).length).toBe(1);
    const [open] = await sessionsOf(second);
    const checkoutOfSecond = `${e.pierUrl}/checkout/${open!.id}`;
    await expect.poll(() => context.pages().some((p) => !p.isClosed() && p.url() === checkoutOfSecond), { timeout: 10_000 }).toBe(true);
    const p2 = context.pages().find((p) => !p.isClosed() && p.url() === checkoutOfSecond)!;
    await p2.locator('#title').waitFor();
    expect(await page.evaluate(() => (window as any).results)).toEqual([{ ...CANCELLED, merchant_uid: first }]);

    await confirmCheckout(p2, { cardCode: '366' });
    await enterCard(p2, card('4242'));
    await page.waitForFunction(() => (window as any).results.length > 1);
    const results = await page.evaluate(() => (window as any).results);
    expect(results).toHaveLength(2);
    expect(results[1]).toMatchObject({ success: true, merchant_uid: second, status: 'paid', paid_amount: 15000 });
    expect(p1.isClosed()).toBe(true);
    await context.close();
  });
});
