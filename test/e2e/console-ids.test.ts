import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCardNumber } from '../harness.js';
import { HAS_CHROMIUM, startConsoleE2E, warnIfNoChromium, type ConsoleE2E } from './console-harness.js';

warnIfNoChromium('console ids that browsers resolve as path segments');

const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });

/**
 * Ids a buyer or a merchant chooses, as V1 takes them: `.` and `..` (and their %2E forms, which the
 * WHATWG URL parser resolves too) are dot segments a browser removes from a path before the request
 * leaves it, so `/console/billing-keys/..` became `/console/`. A hostile buyer registers a key
 * under such a customer_uid with an anonymous IMP.request_pay; the console had to reach it.
 */
describe.skipIf(!HAS_CHROMIUM)('console links and forms carry every id a merchant or buyer chose, in a real browser', () => {
  let e: ConsoleE2E;
  beforeAll(async () => {
    e = await startConsoleE2E();
  });
  afterAll(async () => {
    await e?.close();
  });

  const customerUids = ['.', '..', '%2E%2E', '%2e', '50% off', 'a..b', '..;x'];
  const merchantUids = ['.', '..', '%2E', '../..', '/', 'a/../b', '?x=1', '#top', '50%', 'x%2F..'];

  const exact = (v: string) => new RegExp(`^${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

  it('opens and deletes billing keys named . and .., and revokes schedules named . .. / ? # %', async () => {
    const u = await e.newUser();
    const token = await e.token(u.merchant);
    const now = Math.floor(e.pier.deps.clock.now() / 1000);
    for (const cust of customerUids) {
      const r = await e.pier.call('POST', '/subscribe/payments/schedule', {
        token,
        body: {
          customer_uid: cust,
          card_number: good,
          expiry: '2030-12',
          birth: '820213',
          pwd_2digit: '00',
          schedules:
            cust === '..'
              ? merchantUids.map((m, i) => ({ merchant_uid: m, schedule_at: now + 86400 + i, amount: 1000 + i }))
              : [{ merchant_uid: `of ${cust}`, schedule_at: now + 86400, amount: 1000 }],
        },
      });
      expect(r.body.code, `${cust}: ${JSON.stringify(r.body)}`).toBe(0);
    }
    const { page } = await e.context();
    await e.signIn(page, u.email, u.password);

    // the schedules of customer '..': its key opens from a row, and every schedule is revoked with
    // the button on its own row
    await page.goto(`${e.url}/console/schedules?customer_uid=..`);
    await Promise.all([page.waitForSelector('#delete-billing-key'), page.locator('#schedules-table td[data-label="customer_uid"] a').first().click()]);
    expect(await page.textContent('dl.kv dd code')).toBe('..');
    await page.goto(`${e.url}/console/schedules?customer_uid=..`);
    for (const m of merchantUids) {
      const row = page.locator('#schedules-table tbody tr').filter({ has: page.locator('td.mono', { hasText: exact(m) }) });
      expect(await row.count(), m).toBe(1);
      await Promise.all([page.waitForURL(/ok=revoked/), row.locator('button.danger').click()]);
      expect(await page.textContent('.alert.ok'), m).toContain('예약 결제를 취소했습니다');
    }
    const api = await page.request.get(`${e.url}/console/api/schedules?customer_uid=..`);
    const states = Object.fromEntries(((await api.json()).list as Array<{ merchant_uid: string; schedule_status: string }>).map((x) => [x.merchant_uid, x.schedule_status]));
    expect(states).toEqual(Object.fromEntries(merchantUids.map((m) => [m, 'revoked'])));

    // every key opens from the list, shows its own customer_uid and is deleted from its page
    for (const cust of customerUids) {
      await page.goto(`${e.url}/console/billing-keys`);
      await Promise.all([page.waitForSelector('#delete-billing-key'), page.locator('#billing-table td[data-label="customer_uid"] a', { hasText: exact(cust) }).click()]);
      expect(await page.textContent('dl.kv dd code'), cust).toBe(cust);
      await Promise.all([page.waitForURL(/\/console\/billing-keys\?ok=deleted/), page.click('#delete-billing-key button')]);
      expect(await page.textContent('.alert.ok'), cust).toContain('빌링키를 삭제했습니다');
      const gone = await e.pier.call('GET', `/subscribe/customers?customer_uid[]=${encodeURIComponent(cust)}`, { token });
      expect(gone.body, cust).toEqual({ code: -1, message: `요청하신 customer_uid(${cust})로 등록된 정보를 찾을 수 없습니다.`, response: null });
    }
    await page.goto(`${e.url}/console/billing-keys`);
    expect(await page.locator('#billing-table').count()).toBe(0);
  });

  it('answers the JSON API by query and body too, keeps the path forms of older links, and answers an id no Pier stores without a 500', async () => {
    const u = await e.newUser();
    const token = await e.token(u.merchant);
    const now = Math.floor(e.pier.deps.clock.now() / 1000);
    for (const cust of ['..', 'plain_key']) {
      const r = await e.pier.call('POST', '/subscribe/payments/schedule', {
        token,
        body: { customer_uid: cust, card_number: good, expiry: '2030-12', birth: '820213', pwd_2digit: '00', schedules: [{ merchant_uid: `${cust}/..`, schedule_at: now + 86400, amount: 1000 }, { merchant_uid: `${cust}-old`, schedule_at: now + 86400, amount: 1000 }] },
      });
      expect(r.body.code, JSON.stringify(r.body)).toBe(0);
    }
    const { page } = await e.context();
    await e.signIn(page, u.email, u.password);
    const csrf = (await page.getAttribute('meta[name="csrf-token"]', 'content'))!;
    const got = await page.request.get(`${e.url}/console/api/billing-key?customer_uid=..`);
    expect(got.status()).toBe(200);
    expect((await got.json()).customer).toMatchObject({ customer_uid: '..', pg_provider: 'jtnet' });
    const revoked = await page.request.post(`${e.url}/console/api/schedules/revoke`, { headers: { 'x-csrf-token': csrf }, data: { merchant_uid: '../..' } });
    expect(revoked.status()).toBe(200);
    expect((await revoked.json()).revoked).toMatchObject([{ merchant_uid: '../..', customer_uid: '..' }]);

    // links made before: the path forms still open and act on an id that is no dot segment
    await page.goto(`${e.url}/console/billing-keys/plain_key`);
    expect(await page.textContent('dl.kv dd code')).toBe('plain_key');
    const old = await page.request.post(`${e.url}/console/api/schedules/plain_key-old/revoke`, { headers: { 'x-csrf-token': csrf } });
    expect((await old.json()).revoked).toMatchObject([{ merchant_uid: 'plain_key-old' }]);

    // a longer id than any Pier stored, none at all, NUL (which PostgreSQL refuses in a query's
    // text): an answer, never a 500. Pier refuses a NUL in a URL or a body before any route (400)
    for (const [q, status] of [[encodeURIComponent('k'.repeat(81)), 404], ['', 404], ['%00', 400]] as const) {
      expect((await page.request.get(`${e.url}/console/billing-key?customer_uid=${q}`)).status(), q).toBe(status);
      expect((await page.request.get(`${e.url}/console/api/billing-key?customer_uid=${q}`)).status(), q).toBe(status);
    }
    const nul = await page.request.post(`${e.url}/console/api/schedules/revoke`, { headers: { 'x-csrf-token': csrf }, data: { merchant_uid: '..-old\u0000' } });
    expect(nul.status()).toBe(400);
    expect((await page.request.post(`${e.url}/console/api/schedules/revoke`, { headers: { 'x-csrf-token': csrf }, data: {} })).status()).toBe(404);
    // without the CSRF token nothing is revoked
    expect((await page.request.post(`${e.url}/console/api/schedules/revoke`, { data: { merchant_uid: '..-old' } })).status()).toBe(403);
    const left = await page.request.get(`${e.url}/console/api/schedules?customer_uid=..`);
    expect(Object.fromEntries(((await left.json()).list as Array<{ merchant_uid: string; schedule_status: string }>).map((x) => [x.merchant_uid, x.schedule_status]))).toEqual({ '../..': 'revoked', '..-old': 'scheduled' });
  });
});
