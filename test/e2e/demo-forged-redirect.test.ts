/**
 * The demo shop's /demo/complete reads the redirect-mode result from its query string, which anyone
 * can write: a link with imp_success=true made Pier's own page say "결제창 결과: 성공" for a payment
 * that failed, or that does not exist. Only the server's record may say what was paid (decision 0117).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, MOBILE_UA, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { card, uid } from './helpers.js';

warnIfNoChromium('demo shop: a forged redirect query');

describe.skipIf(!HAS_CHROMIUM)('demo shop: a forged m_redirect_url query claims success', () => {
  let e: E2E;
  beforeAll(async () => {
    e = await startE2E();
  });
  afterAll(() => e?.close());

  async function openComplete(query: Record<string, string>) {
    const context = await e.browser.newContext({ viewport: { width: 375, height: 812 }, userAgent: MOBILE_UA, isMobile: true });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${e.pierUrl}/demo/complete?${new URLSearchParams(query)}`);
    await page.locator('#rsp').waitFor();
    return { context, page };
  }

  it('imp_success=true with no imp_uid: the page says nothing was paid', async () => {
    const { context, page } = await openComplete({ imp_uid: '', merchant_uid: uid('forged'), imp_success: 'true' });
    const shown = await page.locator('#result').innerText();
    expect(shown).not.toContain('성공');
    expect(await page.locator('#result .ok').count()).toBe(0);
    expect(shown).toContain('결제되지 않음');
    await context.close();
  });

  it("imp_success=true naming a declined payment's imp_uid: no success on the page, the server's record says failed", async () => {
    // a demo order whose card was declined (the order is the demo's own, so the verification compares it)
    const order = await fetch(`${e.pierUrl}/demo/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ product_id: 'mug' }) });
    const { merchant_uid, amount } = (await order.json()) as { merchant_uid: string; amount: number };
    const declined = await e.rest('POST', '/subscribe/payments/onetime', { merchant_uid, amount, card_number: card('0054'), expiry: '2030-12' });
    const impUid = declined.body.response.imp_uid as string;
    expect((await e.rest('GET', `/payments/${impUid}`)).body.response.status).toBe('failed');

    const { context, page } = await openComplete({ imp_uid: impUid, merchant_uid, imp_success: 'true' });
    const title = page.locator('#verify-title');
    await title.waitFor();
    expect(await page.locator('#result').innerText()).not.toContain('성공');
    expect(await page.locator('.ok').count()).toBe(0);
    expect(await title.getAttribute('data-outcome')).toBe('failed');
    expect(await title.getAttribute('class')).toBe('fail');
    await context.close();
  });
});
