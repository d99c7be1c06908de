import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/core/console/sessions.js';
import { HAS_CHROMIUM, startConsoleE2E, warnIfNoChromium, type ConsoleE2E } from './console-harness.js';

warnIfNoChromium('console __Host- cookies');

describe.skipIf(!HAS_CHROMIUM)('merchant console behind an https public URL, in a real browser (decision 0064)', () => {
  let e: ConsoleE2E;
  let victim: Awaited<ReturnType<ConsoleE2E['newUser']>>;
  let attacker: Awaited<ReturnType<ConsoleE2E['newUser']>>;

  beforeAll(async () => {
    e = await startConsoleE2E({ publicUrl: 'https://pay.example.com' });
    victim = await e.newUser();
    attacker = await e.newUser();
  });
  afterAll(async () => {
    await e?.close();
  });

  const userId = async (email: string) => (await e.pier.store.db.selectFrom('console_users').select(['id']).where('email', '=', email).executeTakeFirstOrThrow()).id;

  it('signs in with __Host- cookies and keeps the merchant in its own account when a planted pier_console cookie comes along', async () => {
    const { ctx, page } = await e.context();
    await e.signIn(page, victim.email, victim.password);
    const jar = await ctx.cookies();
    const session = jar.find((c) => c.name === '__Host-pier_console')!;
    expect(session).toMatchObject({ path: '/', secure: true, httpOnly: true, sameSite: 'Lax', domain: 'localhost' });
    expect(jar.map((c) => c.name).sort()).toEqual(['__Host-pier_console', '__Host-pier_console_pre']);

    // what a sibling subdomain's Set-Cookie leaves in the jar: the attacker's own live session
    const planted = await createSession(e.pier.deps, await userId(attacker.email), attacker.merchant.merchantId);
    await ctx.addCookies([{ name: 'pier_console', value: planted.token, domain: 'localhost', path: '/console', httpOnly: true, sameSite: 'Lax' }]);
    await page.goto(`${e.url}/console/keys`);
    expect(page.url()).toBe(`${e.url}/console/keys`);
    const body = await page.textContent('body');
    expect(body).toContain(victim.merchant.merchantCode);
    expect(body).not.toContain(attacker.merchant.merchantCode);
    expect((await ctx.cookies()).some((c) => c.name === 'pier_console')).toBe(false);
  });

  it('sends a browser with a session cookie from before the switch to the sign-in page, and signs it in afresh', async () => {
    const { ctx, page } = await e.context();
    const old = await createSession(e.pier.deps, await userId(victim.email), victim.merchant.merchantId);
    await ctx.addCookies([{ name: 'pier_console', value: old.token, domain: 'localhost', path: '/console', httpOnly: true, sameSite: 'Lax' }]);
    await page.goto(`${e.url}/console/payments`);
    expect(page.url()).toBe(`${e.url}/console/login?next=%2Fconsole%2Fpayments`);
    expect((await ctx.cookies()).map((c) => c.name)).toEqual(['__Host-pier_console_pre']);
    await page.fill('#f-email', victim.email);
    await page.fill('#f-password', victim.password);
    await Promise.all([page.waitForURL(`${e.url}/console/payments`), page.click('button[type=submit].primary')]);
    expect((await ctx.cookies()).map((c) => c.name).sort()).toEqual(['__Host-pier_console', '__Host-pier_console_pre']);
  });

  it('keeps the language in a __Host- cookie the browser accepts, and ignores and clears an unprefixed one (decision 0067)', async () => {
    const { ctx, page } = await e.context();
    // planted by a sibling subdomain, or left from before the switch
    await ctx.addCookies([{ name: 'pier_console_lang', value: 'en', domain: 'localhost', path: '/console', sameSite: 'Lax' }]);
    await page.goto(`${e.url}/console/login`);
    expect(await page.getAttribute('html', 'lang')).toBe('ko');
    expect((await ctx.cookies()).some((c) => c.name === 'pier_console_lang')).toBe(false);
    await Promise.all([page.waitForURL(`${e.url}/console/login`), page.click('a.lang')]);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    const lang = (await ctx.cookies()).find((c) => c.name === '__Host-pier_console_lang');
    expect(lang).toMatchObject({ value: 'en', path: '/', secure: true, httpOnly: false, sameSite: 'Lax', domain: 'localhost' });
  });
});
