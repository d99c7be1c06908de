/**
 * The NICEPAY simulator's window in a real browser: a tiny shop page loads `{sim}/v1/js/`, calls
 * `AUTHNICE.requestPay`, the buyer pays or cancels, and the test asserts what arrives at the shop's
 * returnUrl (spec §1.4) — then approves over REST like a merchant server would.
 */
import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHROMIUM, HAS_CHROMIUM, warnIfNoChromium } from '../e2e/e2e-harness.js';
import { call, card, expectedSignature, KEY, orderId, sha256, startSim, until, type Sim } from './nicepay-harness.js';

warnIfNoChromium('NICEPAY simulator window');

interface Shop {
  url: string;
  returns: Array<Record<string, string>>;
  server: Server;
}

/** The shop: `/` loads the SDK and exposes `pay(params)`; `/return` records the form the window posts. */
async function startShop(simBase: string): Promise<Shop> {
  const returns: Array<Record<string, string>> = [];
  const page = `<!doctype html><html><head><meta charset="utf-8"><script src="${simBase}/v1/js/"></script></head>
<body><h1 id="shop">shop</h1><script>
window.errors = [];
window.pay = function (p) { p.fnError = function (r) { window.errors.push(r); }; AUTHNICE.requestPay(p); };
</script></body></html>`;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/return') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        returns.push(Object.fromEntries(new URLSearchParams(body)));
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><h1 id="returned">returned</h1>');
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, returns, server };
}

describe.skipIf(!HAS_CHROMIUM)('NICEPAY simulator window (Chromium)', () => {
  let s: Sim;
  let shop: Shop;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    s = await startSim();
    shop = await startShop(s.base);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => shop?.server.close(r));
    await s?.close();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    await page.goto(shop.url);
  });

  const pay = (p: Record<string, unknown>) => page.evaluate((params) => (window as any).pay(params), p);
  const params = (o: Record<string, unknown> = {}) => ({
    clientId: KEY.clientId,
    method: 'card',
    orderId: orderId('win'),
    amount: 1004,
    goodsName: '나이스페이-상품',
    returnUrl: `${shop.url}/return`,
    mallReserved: '{order:7}',
    ...o,
  });

  it('card: the buyer pays, the shop receives a verifiable auth result, and the tid approves', async () => {
    const p = params();
    await pay(p);
    await page.locator('#cardNo').waitFor();
    expect(await page.locator('#title').textContent()).toBe('신용카드');
    await page.locator('#cardNo').fill(card('4242'));
    await page.locator('#cardExpiry').fill('12/30');
    await page.locator('#payBtn').click();
    await page.locator('#returned').waitFor();
    const got = await until(() => shop.returns.find((r) => r.orderId === p.orderId));
    expect(got).toMatchObject({ authResultCode: '0000', authResultMsg: '인증 성공', clientId: KEY.clientId, amount: '1004', mallReserved: '{order:7}' });
    expect(got.signature).toBe(sha256(`${got.authToken}${KEY.clientId}1004${KEY.secretKey}`));
    const approved = await call(s.base, 'POST', `/v1/payments/${got.tid}`, { amount: 1004 });
    expect(approved.body).toMatchObject({ resultCode: '0000', status: 'paid', orderId: p.orderId, channel: 'pc' });
    expect(approved.body.signature).toBe(expectedSignature(got.tid!, 1004, approved.body.ediDate));
  });

  it('card: an invalid number stays on the window with an error; English with language EN', async () => {
    await pay(params({ language: 'EN', amount: 60000, cardQuota: '00,03' }));
    await page.locator('#cardNo').waitFor();
    expect(await page.locator('#title').textContent()).toBe('Credit card');
    expect(await page.locator('#cardQuota option').allTextContents()).toEqual(['Pay in full', '3 months']);
    await page.locator('#cardNo').fill('1234567890123456');
    await page.locator('#cardExpiry').fill('12/30');
    await page.locator('#payBtn').click();
    await page.locator('#error').waitFor();
    expect(await page.locator('#error').textContent()).toContain('3011');
  });

  it('cancel: the shop receives I002 without tid or signature', async () => {
    const p = params();
    await pay(p);
    await page.locator('#cancelBtn').waitFor();
    await page.locator('#cancelBtn').click();
    await page.locator('#returned').waitFor();
    const got = await until(() => shop.returns.find((r) => r.orderId === p.orderId));
    expect(got).toEqual({ authResultCode: 'I002', authResultMsg: '사용자가 결제를 취소하였습니다.', clientId: KEY.clientId, orderId: p.orderId, amount: '1004', mallReserved: '{order:7}' });
  });

  it('bad parameters go to fnError and the page stays', async () => {
    await pay(params({ goodsName: undefined }));
    await page.waitForFunction(() => (window as any).errors.length === 1);
    await pay(params({ amount: 0 }));
    await page.waitForFunction(() => (window as any).errors.length === 2);
    await pay(params({ method: 'vbank' }));
    await page.waitForFunction(() => (window as any).errors.length === 3);
    const errors = await page.evaluate(() => (window as any).errors);
    expect(errors.map((e: any) => e.resultCode)).toEqual(['P007', 'P017', 'P007']);
    expect(errors[0].errorMsg).toContain('goodsName');
    expect(errors[0].msg).toBe(errors[0].errorMsg);
    expect(await page.locator('#shop').count()).toBe(1);
  });
});
