import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookSettings } from '../../src/webhooks/settings.js';
import { HAS_CHROMIUM, startConsoleE2E, warnIfNoChromium, type ConsoleE2E } from './console-harness.js';

warnIfNoChromium('console against pages of another site');

/**
 * A signed-in merchant visits a page of another site (http://localhost:… while the console is on
 * http://127.0.0.1:…: another site, so SameSite=Lax applies as it would on the internet).
 */
describe.skipIf(!HAS_CHROMIUM)('merchant console against a hostile page of another site, in a real browser (decision 0105)', () => {
  let e: ConsoleE2E;
  let hostile: Server;
  let hostileUrl = '';
  const pages = new Map<string, string>();

  beforeAll(async () => {
    e = await startConsoleE2E();
    hostile = createServer((req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(pages.get(req.url ?? '/') ?? '<p>nothing here</p>');
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    hostileUrl = `http://localhost:${(hostile.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => hostile?.close(resolve));
    await e?.close();
  });

  const results = (page: Page) => page.evaluate(() => (window as unknown as { results: Record<string, unknown> }).results);

  it('keeps no hold on a console window it opened: it can neither see it nor send it to a fake sign-in page', async () => {
    const u = await e.newUser();
    const { ctx, page } = await e.context();
    await e.signIn(page, u.email, u.password);
    pages.set('/fake-sign-in', '<title>Pier Console</title><h1 id="fake">세션이 만료되었습니다. 다시 로그인하세요</h1>');
    pages.set(
      '/open',
      `<script>
        window.results = {};
        window.w = window.open(${JSON.stringify(`${e.url}/console/keys`)}, 'console');
      </script>`,
    );
    const hostilePage = await ctx.newPage();
    const opened = ctx.waitForEvent('page');
    await hostilePage.goto(`${hostileUrl}/open`);
    const consolePage = await opened;
    await consolePage.waitForURL(`${e.url}/console/keys`);
    await consolePage.waitForSelector('#merchant-code');

    // the merchant works in the console; the page that opened it tries to take the window over
    await hostilePage.evaluate((fake) => {
      const r = (window as unknown as { results: Record<string, unknown> }).results;
      const w = (window as unknown as { w: Window }).w;
      r.closed = w.closed;
      try {
        w.location.href = fake;
        r.navigated = true;
      } catch (err) {
        r.navigated = String(err);
      }
    }, `${hostileUrl}/fake-sign-in`);
    const seen = await results(hostilePage);
    // with the console's Cross-Origin-Opener-Policy the opener's handle is severed: it reads as
    // closed and navigating it goes nowhere. Without it, the console tab became the fake page.
    expect(seen.closed).toBe(true);
    // the tab is still the console, and the merchant goes on working in it
    expect(await consolePage.textContent('#merchant-code')).toBe(u.merchant.merchantCode);
    await Promise.all([consolePage.waitForURL(`${e.url}/console/payments`), consolePage.click('nav a[href="/console/payments"]')]);
    expect(await consolePage.$('#fake')).toBeNull();
  });

  it('changes nothing on a cross-site form post or a no-cors text/plain JSON request', async () => {
    const u = await e.newUser();
    const { ctx, page } = await e.context();
    await e.signIn(page, u.email, u.password);
    const keysBefore = await e.pier.store.db.selectFrom('api_keys').select(['imp_key', 'revoked_at']).where('merchant_id', '=', u.merchant.merchantId).execute();
    pages.set(
      '/csrf',
      `<form id="f" method="post" action="${e.url}/console/keys/webhook" target="sink"><input name="url" value="https://attacker.example/hook"><input name="content_type" value="json"></form>
      <iframe name="sink"></iframe>
      <script>
        window.results = {};
        fetch(${JSON.stringify(`${e.url}/console/api/keys/rotate`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{}' })
          .then((r) => { window.results.rotate = r.type; }, (err) => { window.results.rotate = String(err); });
        document.getElementById('f').submit();
      </script>`,
    );
    const hostilePage = await ctx.newPage();
    const posted = hostilePage.waitForResponse((r) => r.url() === `${e.url}/console/keys/webhook`);
    await hostilePage.goto(`${hostileUrl}/csrf`);
    // Lax: the cross-site POST goes without the session cookie, and is sent to sign in
    expect((await posted).status()).toBe(303);
    await hostilePage.waitForFunction(() => 'rotate' in (window as unknown as { results: Record<string, unknown> }).results);
    // refused for want of the CSRF header (no-cors cannot send one); and the answer, which a
    // no-cors fetch would get as an opaque body, is withheld from the page altogether (CORP)
    expect((await results(hostilePage)).rotate).toBe('TypeError: Failed to fetch');
    expect((await webhookSettings(e.pier.deps, u.merchant.merchantId)).url).toBeNull();
    const keysAfter = await e.pier.store.db.selectFrom('api_keys').select(['imp_key', 'revoked_at']).where('merchant_id', '=', u.merchant.merchantId).execute();
    expect(keysAfter).toEqual(keysBefore);
  });
});
