import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { LOCKOUT_SECONDS, LOCKOUT_THRESHOLD } from '../../src/core/console/users.js';
import { testCardNumber } from '../harness.js';
import { HAS_CHROMIUM, startConsoleE2E, warnIfNoChromium, type ConsoleE2E } from './console-harness.js';

warnIfNoChromium('merchant console');

const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });

describe.skipIf(!HAS_CHROMIUM)('merchant console in a real browser', () => {
  let e: ConsoleE2E;
  let alice: Awaited<ReturnType<ConsoleE2E['newUser']>>;
  let bob: Awaited<ReturnType<ConsoleE2E['newUser']>>;

  async function pay(m: typeof alice.merchant, merchant_uid: string, amount: number, extra: Record<string, unknown> = {}) {
    const r = await e.pier.call('POST', '/subscribe/payments/onetime', {
      token: await e.token(m),
      body: { merchant_uid, amount, card_number: good, expiry: '2030-12', birth: '820213', name: '브라우저 테스트 상품', buyer_name: '홍길동', ...extra },
    });
    expect(r.body.code, JSON.stringify(r.body)).toBe(0);
    return r.body.response as { imp_uid: string; pg_id: string; status: string };
  }

  beforeAll(async () => {
    e = await startConsoleE2E();
    alice = await e.newUser();
    bob = await e.newUser();
  });
  afterAll(async () => {
    await e?.close();
  });

  it('signs in, and locks the account after repeated failures until the lock time passes', async () => {
    const { page } = await e.context();
    await page.goto(`${e.url}/console/payments`);
    expect(page.url()).toContain('/console/login?next=%2Fconsole%2Fpayments');
    // the client-side check names empty fields before anything is sent
    await page.click('button[type=submit].primary');
    await expect(page.locator('.field.has-error .err').first()).toBeDefined();
    expect(await page.locator('.err.client').count()).toBe(2);
    await e.shot(page, '01-sign-in');
    for (let i = 1; i < LOCKOUT_THRESHOLD; i++) {
      await page.fill('#f-email', alice.email);
      await page.fill('#f-password', `wrong-password-${i}`);
      await page.click('button[type=submit].primary');
      await page.waitForSelector('#login-error');
      expect(await page.textContent('#login-error')).toContain('이메일 또는 비밀번호가 올바르지 않습니다');
    }
    // locked, the page answers as it does to a wrong password (decision 0052): wait for each answer
    const answer = async () => {
      const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/console/login')), page.click('button[type=submit].primary')]);
      await page.waitForSelector('#login-error');
      return res.status();
    };
    await page.fill('#f-password', 'wrong-password-last');
    expect(await answer()).toBe(401);
    await page.fill('#f-password', alice.password);
    expect(await answer()).toBe(401);
    expect(await page.textContent('#login-error')).toContain('15분 동안 올바른 비밀번호로도 로그인할 수 없습니다');
    await e.shot(page, '02-sign-in-locked');
    e.pier.clock.advance(LOCKOUT_SECONDS * 1000);
    await page.fill('#f-password', alice.password);
    await Promise.all([page.waitForURL(`${e.url}/console/payments`), page.click('button[type=submit].primary')]);
    expect(await page.textContent('h1')).toBe('결제 내역');
  });

  it('adds a JTNET channel in PG settings, then the REST API pays through it with pg: jtnet.{MID}', async () => {
    const sim = await fetch(`${e.pier.simulatorUrl}/__control/merchants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mid: 'browser01m', merchantKey: 'browser-merchant-key-01', cancelPassword: '2468' }),
    });
    expect(sim.status).toBe(201);
    const { page } = await e.context();
    await e.signIn(page, alice.email, alice.password);
    await page.click('nav a[href="/console/channels"]');
    await page.waitForSelector('#channel-form');
    // a form with missing fields is explained, not sent
    await page.selectOption('#f-kind', 'api');
    await page.click('#channel-form button[type=submit]');
    expect(await page.locator('#channel-form .err.client').count()).toBe(3);
    await page.fill('#f-mid', 'browser01m');
    await page.fill('#f-merchant_key', 'browser-merchant-key-01');
    await page.fill('#f-cancel_password', '2468');
    await page.fill('#f-name', '브라우저 키인 MID');
    await page.check('#f-is_default');
    await Promise.all([page.waitForURL(/\/console\/channels\?ok=added/), page.click('#channel-form button[type=submit]')]);
    const row = page.locator('tr[data-channel="jtnet.browser01m"]');
    expect(await row.count()).toBe(1);
    expect(await row.textContent()).toContain('••••••••');
    expect(await page.content()).not.toContain('browser-merchant-key-01');
    await e.shot(page, '03-pg-settings');
    const paid = await pay(alice.merchant, 'browser_channel_order', 12000, { pg: 'jtnet.browser01m' });
    expect(paid).toMatchObject({ pg_id: 'browser01m', status: 'paid' });
    // the default API channel is now the new one: no pg at all goes there too
    const byDefault = await pay(alice.merchant, 'browser_default_order', 3000);
    expect(byDefault.pg_id).toBe('browser01m');
    await page.click('nav a[href="/console/payments"]');
    await page.waitForSelector('#payments-table');
    expect(await page.textContent('#payments-table')).toContain('jtnet.browser01m');
  });

  it('cancels part of a payment from its detail page', async () => {
    const p = await pay(alice.merchant, 'browser_partial_cancel', 10000);
    const { page } = await e.context();
    await e.signIn(page, alice.email, alice.password);
    await page.goto(`${e.url}/console/payments?q=browser_partial_cancel`);
    await e.shot(page, '04-payments-list');
    await Promise.all([page.waitForURL(`${e.url}/console/payments/${p.imp_uid}`), page.click(`a[href="/console/payments/${p.imp_uid}"]`)]);
    // over the balance: refused in the page, nothing sent
    await page.fill('#f-amount', '20000');
    await page.fill('#f-reason', '부분 환불 테스트');
    await page.click('#cancel-form button[type=submit]');
    expect(await page.textContent('#cancel-form')).toContain('취소 가능 잔액보다 큰 금액');
    await page.fill('#f-amount', '3000');
    await Promise.all([page.waitForURL(/\?ok=cancelled$/), page.click('#cancel-form button[type=submit]')]);
    expect(await page.textContent('.alert.ok')).toContain('취소가 완료되었습니다');
    expect(await page.textContent('#balance')).toContain('7,000');
    expect(await page.textContent('#cancel-history')).toContain('취소 완료');
    await e.shot(page, '05-payment-detail');
    const v1 = await e.pier.call('GET', `/payments/${p.imp_uid}`, { token: await e.token(alice.merchant) });
    expect(v1.body.response).toMatchObject({ status: 'paid', cancel_amount: 3000 });
    expect(v1.body.response.cancel_history).toHaveLength(1);
  });

  it('deletes a billing key', async () => {
    const r = await e.pier.call('POST', '/subscribe/customers/browser_customer_1', {
      token: await e.token(alice.merchant),
      body: { card_number: good, expiry: '2030-12', birth: '820213', pwd_2digit: '00', customer_name: '김고객' },
    });
    expect(r.body.code).toBe(0);
    const { page } = await e.context();
    await e.signIn(page, alice.email, alice.password);
    await page.click('nav a[href="/console/billing-keys"]');
    await page.waitForSelector('#billing-table');
    await e.shot(page, '06-billing-keys');
    await page.click('a[href="/console/billing-key?customer_uid=browser_customer_1"]');
    await page.waitForSelector('#delete-billing-key');
    await Promise.all([page.waitForURL(/\/console\/billing-keys\?ok=deleted/), page.click('#delete-billing-key button')]);
    expect(await page.textContent('.alert.ok')).toContain('빌링키를 삭제했습니다');
    expect(await page.locator('#billing-table').count()).toBe(0);
    const gone = await e.pier.call('GET', '/subscribe/customers/browser_customer_1', { token: await e.token(alice.merchant) });
    // V1 answers an unknown customer_uid with HTTP 200 and code 1 (docs/decisions/0011)
    expect(gone.body).toEqual({ code: 1, message: '요청하신 customer_uid(browser_customer_1)로 등록된 정보를 찾을 수 없습니다.', response: null });
  });

  it('keeps merchants apart, answers nothing without a session, and refuses requests without the CSRF token', async () => {
    const alicePay = await pay(alice.merchant, 'browser_private_order', 5000);
    // another merchant's user
    const { page: bobPage } = await e.context();
    await e.signIn(bobPage, bob.email, bob.password);
    const res = await bobPage.goto(`${e.url}/console/payments/${alicePay.imp_uid}`);
    expect(res!.status()).toBe(404);
    await bobPage.goto(`${e.url}/console/payments`);
    expect(await bobPage.content()).not.toContain('browser_private_order');
    const api = await bobPage.request.get(`${e.url}/console/api/payments/${alicePay.imp_uid}`);
    expect(api.status()).toBe(404);
    // no session
    const { page: anon } = await e.context();
    await anon.goto(`${e.url}/console/payments/${alicePay.imp_uid}`);
    expect(anon.url()).toContain('/console/login');
    expect((await anon.request.get(`${e.url}/console/api/payments`)).status()).toBe(401);
    // a signed-in user's form without its CSRF token
    const { page } = await e.context();
    await e.signIn(page, alice.email, alice.password);
    await page.goto(`${e.url}/console/keys`);
    await page.evaluate(() => document.querySelectorAll('input[name="_csrf"]').forEach((i) => i.remove()));
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/console/keys/rotate')), page.click('form[action="/console/keys/rotate"] button')]);
    expect(refused.status()).toBe(403);
    expect(await page.textContent('.alert.error')).toContain('CSRF');
    const noHeader = await page.request.post(`${e.url}/console/api/keys/rotate`);
    expect(noHeader.status()).toBe(403);
    // the REST key still works: nothing was rotated
    await e.token(alice.merchant);
  });

  it('shows webhook deliveries with their response codes and redelivers a failed one', async () => {
    let answer = 503;
    const hooks: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        hooks.push(body);
        res.statusCode = answer;
        res.end(answer === 200 ? 'ok' : 'maintenance');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const queue = webhookQueue(e.pier.deps, { clock: e.pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
    const runner = new JobRunner({ queues: [queue], logger: e.pier.deps.logger });
    try {
      const { page } = await e.context();
      await e.signIn(page, alice.email, alice.password);
      await page.goto(`${e.url}/console/keys`);
      await page.fill('#f-url', `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/pier-hook`);
      await Promise.all([page.waitForURL(/ok=webhook_saved/), page.click('#webhook-settings form[action="/console/keys/webhook"] button[type=submit]')]);
      const p = await pay(alice.merchant, 'browser_webhook_order', 4000);
      expect(await runner.drain()).toBe(1);
      expect(hooks).toHaveLength(1);
      await page.click('nav a[href="/console/webhooks"]');
      await page.waitForSelector('#deliveries-table');
      const row = page.locator('#deliveries-table tbody tr', { hasText: p.imp_uid });
      expect(await row.textContent()).toContain('503');
      await e.shot(page, '16-webhooks');
      await row.locator('a').first().click();
      await page.waitForSelector('#attempts-table');
      expect(await page.textContent('#attempts-table')).toContain('maintenance');
      answer = 200;
      await Promise.all([page.waitForURL(/ok=redelivered/), page.click('#redeliver-form button')]);
      expect(await page.textContent('.alert.ok')).toContain('재전송');
      expect(await runner.drain()).toBe(1);
      await page.reload();
      expect(await page.textContent('#attempts-table')).toContain('200');
      expect(await page.textContent('main')).toContain('전송 완료');
      await e.shot(page, '17-webhook-delivery');
      expect(hooks).toHaveLength(2);
      expect(JSON.parse(hooks[1])).toMatchObject({ imp_uid: p.imp_uid, merchant_uid: 'browser_webhook_order', status: 'paid' });
    } finally {
      await queue.close();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });

  it('is usable at 375 px: no sideways scrolling on the main pages', async () => {
    const p = await pay(alice.merchant, 'browser_mobile_order', 8000);
    const { page } = await e.context({ width: 375, height: 812 });
    await e.signIn(page, alice.email, alice.password);
    for (const [path, name] of [
      ['/console', '07-mobile-dashboard'],
      ['/console/payments', '08-mobile-payments'],
      [`/console/payments/${p.imp_uid}`, '09-mobile-payment-detail'],
      ['/console/channels', '10-mobile-pg-settings'],
      ['/console/keys', '11-mobile-api-keys'],
      ['/console/sandbox', '12-mobile-sandbox'],
      ['/console/webhooks', '18-mobile-webhooks'],
      ['/console/schedules', '19-mobile-schedules'],
      ['/console/billing-keys', '20-mobile-billing-keys'],
    ] as const) {
      await page.goto(`${e.url}${path}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
      await e.shot(page, name);
    }
  });

  it('shows the dashboard chart, the API keys and the sandbox ledger (screenshots)', async () => {
    const { page } = await e.context();
    await e.signIn(page, alice.email, alice.password);
    expect(await page.locator('svg.chart-wide rect.bar').count()).toBe(14);
    await e.shot(page, '13-dashboard');
    await page.goto(`${e.url}/console/keys`);
    await e.shot(page, '14-api-keys');
    await page.goto(`${e.url}/console/sandbox`);
    await page.waitForSelector('#ledger-table');
    await e.shot(page, '15-sandbox');
    await page.goto(`${e.url}/console/schedules`);
    await e.shot(page, '21-schedules');
    await page.goto(`${e.url}/console/payments?lang=en`);
    await e.shot(page, '22-payments-english');
    expect(await page.textContent('h1')).toBe('Payments');
  });
});
