import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/core/console/sessions.js';
import { startConsolePier, type ConsolePier, type ConsoleUser, type Res } from './console-harness.js';

/**
 * The console behind an https public URL (decision 0064). An attacker who controls a sibling
 * subdomain (evil.example.com beside pay.example.com), or answers one plain-http request of the
 * victim's, can set cookies for pay.example.com: `Set-Cookie: pier_console=…; Domain=example.com;
 * Path=/console`. Only `__Host-` cookies are out of its reach.
 */
let c: ConsolePier;
let victim: ConsoleUser;
let attacker: ConsoleUser;

beforeAll(async () => {
  c = await startConsolePier({ publicUrl: 'https://pay.example.com' });
  victim = await c.newUser();
  attacker = await c.newUser();
});
afterAll(() => c.close());

const setCookies = (r: { headers: Res['headers'] }): string[] => {
  const h = r.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h.map(String) : [String(h)];
};

/** The attacker's own console session token, as a sign-in hands it to the attacker's browser. */
async function attackerSessionToken(): Promise<string> {
  const x = c.agent();
  expect((await x.signIn(attacker.email, attacker.password)).status).toBe(303);
  const [, value] = [...x.cookies].find(([name]) => name.endsWith('pier_console'))!;
  return value;
}

const PLANTED_PRE = 'planted-by-evil-example-com-0123456789';

function inject(method: 'GET' | 'POST', url: string, cookie: string, form?: Record<string, string>) {
  return c.app.inject({
    method,
    url,
    headers: { cookie, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    payload: form ? new URLSearchParams(form).toString() : undefined,
  });
}

describe('console cookies behind an https public URL', () => {
  it('does not take a session cookie planted without the __Host- prefix (session fixation by cookie tossing)', async () => {
    const token = await attackerSessionToken();
    // the victim's browser carries the attacker's session under the unprefixed name
    const page = await inject('GET', '/console/api/session', `pier_console=${token}`);
    expect(page.statusCode).toBe(401);
    expect(page.body).not.toContain(attacker.merchant.merchantCode);
    // and the planted cookie (as far as a host-only one can be) is cleared
    expect(setCookies(page)).toContain('pier_console=; Max-Age=0; Path=/console; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax');
    const html = await inject('GET', '/console/payments', `pier_console=${token}`);
    expect(html.statusCode).toBe(303);
    expect(html.headers.location).toBe('/console/login?next=%2Fconsole%2Fpayments');
  });

  it('does not take a pre-sign-in CSRF token planted without the prefix (login CSRF into the attacker\'s account)', async () => {
    // a form on evil.example.com (same site: SameSite=Lax cookies go along) posts the attacker's credentials
    const r = await inject('POST', '/console/login', `pier_console_pre=${PLANTED_PRE}`, { _csrf: PLANTED_PRE, email: attacker.email, password: attacker.password });
    expect(r.statusCode).toBe(403);
    expect(r.body).toContain('보안 토큰(CSRF)');
    expect(setCookies(r).filter((x) => /pier_console=[^;]/.test(x))).toEqual([]);
  });

  it('sets __Host- cookies: Secure, Path=/, no Domain; sign-out clears the same cookie', async () => {
    const page = await c.app.inject({ method: 'GET', url: '/console/login' });
    const [pre] = setCookies(page);
    expect(pre).toMatch(/^__Host-pier_console_pre=[\w-]{32}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const preValue = page.cookies.find((x) => x.name === '__Host-pier_console_pre')!.value;
    expect(page.body).toContain(`name="_csrf" value="${preValue}"`);

    const x = c.agent();
    expect((await x.signIn(victim.email, victim.password)).status).toBe(303);
    expect([...x.cookies.keys()].sort()).toEqual(['__Host-pier_console', '__Host-pier_console_pre']);
    const login = await inject('POST', '/console/login', `__Host-pier_console_pre=${preValue}`, { _csrf: preValue, email: victim.email, password: victim.password });
    expect(login.statusCode).toBe(303);
    const [session] = setCookies(login);
    expect(session).toMatch(/^__Host-pier_console=[\w-]{43}; Max-Age=43200; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(session).not.toMatch(/Domain/i);

    const out = await x.post('/console/logout');
    expect(out.status).toBe(303);
    expect(setCookies(out)).toEqual(['__Host-pier_console=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax']);
    expect(x.cookies.has('__Host-pier_console')).toBe(false);
  });

  it('reads only the __Host- cookie when a planted unprefixed one comes along, in either order', async () => {
    const x = c.agent();
    await x.signIn(victim.email, victim.password);
    const own = x.cookies.get('__Host-pier_console')!;
    const planted = await attackerSessionToken();
    for (const cookie of [`pier_console=${planted}; __Host-pier_console=${own}`, `__Host-pier_console=${own}; pier_console=${planted}`]) {
      const r = await inject('GET', '/console/api/session', cookie);
      expect(r.statusCode, cookie).toBe(200);
      expect(r.json().merchant.code).toBe(victim.merchant.merchantCode);
      expect(setCookies(r)).toEqual(['pier_console=; Max-Age=0; Path=/console; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax']);
    }
    // the sign-in form checks its token against the __Host- cookie only
    const pre = x.cookies.get('__Host-pier_console_pre')!;
    const both = `pier_console_pre=${PLANTED_PRE}; __Host-pier_console_pre=${pre}`;
    expect((await inject('POST', '/console/login', both, { _csrf: PLANTED_PRE, email: attacker.email, password: attacker.password })).statusCode).toBe(403);
    const own2 = await inject('POST', '/console/login', both, { _csrf: pre, email: victim.email, password: victim.password });
    expect(own2.statusCode).toBe(303);
    expect(setCookies(own2).some((s) => s.startsWith('__Host-pier_console='))).toBe(true);
  });

  it('asks a browser still holding a pier_console cookie from before the switch to sign in again, and clears it', async () => {
    const old = await createSession(c.pier.deps, (await userRow(victim.email)).id, victim.merchant.merchantId);
    const r = await inject('GET', '/console', `pier_console=${old.token}; pier_console_pre=${PLANTED_PRE}`);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/console/login?next=%2Fconsole');
    expect(setCookies(r).sort()).toEqual([
      'pier_console=; Max-Age=0; Path=/console; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
      'pier_console_pre=; Max-Age=0; Path=/console; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    ]);
    // the sign-in page then hands out a fresh __Host- token, not the old one
    const login = await inject('GET', '/console/login', `pier_console_pre=${PLANTED_PRE}`);
    expect(login.statusCode).toBe(200);
    expect(login.body).not.toContain(PLANTED_PRE);
    expect(setCookies(login).some((s) => /^__Host-pier_console_pre=[\w-]{32};/.test(s))).toBe(true);
  });

  it('keeps the language in a __Host- cookie: Secure, Path=/, no Domain, readable by scripts (decision 0067)', async () => {
    const sw = await inject('GET', '/console/lang/en?next=%2Fconsole%2Flogin', '');
    expect(sw.statusCode).toBe(303);
    expect(setCookies(sw)).toEqual(['__Host-pier_console_lang=en; Max-Age=31536000; Path=/; Secure; SameSite=Lax']);
    expect((await inject('GET', '/console/login', '__Host-pier_console_lang=en')).body).toContain('<html lang="en">');
    // the way back to Korean names the same cookie
    const back = await inject('GET', '/console/lang/ko', '__Host-pier_console_lang=en');
    expect(setCookies(back)).toEqual(['__Host-pier_console_lang=ko; Max-Age=31536000; Path=/; Secure; SameSite=Lax']);
  });

  it('does not read an unprefixed language cookie (planted, or from before the switch) and clears it', async () => {
    const planted = await inject('GET', '/console/login', 'pier_console_lang=en');
    expect(planted.statusCode).toBe(200);
    expect(planted.body).toContain('<html lang="ko">');
    expect(setCookies(planted)).toContain('pier_console_lang=; Max-Age=0; Path=/console; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax');
    // beside the __Host- one, in either order, the __Host- one decides
    for (const cookie of ['pier_console_lang=ko; __Host-pier_console_lang=en', '__Host-pier_console_lang=en; pier_console_lang=ko']) {
      expect((await inject('GET', '/console/login', cookie)).body, cookie).toContain('<html lang="en">');
    }
  });

  it('sends the Path=/ session cookie to V1 and checkout routes, which neither read it nor echo it', async () => {
    const x = c.agent();
    await x.signIn(victim.email, victim.password);
    const token = x.cookies.get('__Host-pier_console')!;
    const cookie = `__Host-pier_console=${token}; __Host-pier_console_pre=${x.cookies.get('__Host-pier_console_pre')}`;
    // the cookie is no V1 credential
    const noToken = await c.app.inject({ method: 'GET', url: '/payments/imp_000000000000', headers: { cookie } });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.json().code).toBe(-1);
    const getToken = await c.app.inject({ method: 'POST', url: '/users/getToken', headers: { cookie, 'content-type': 'application/json' }, payload: JSON.stringify({ imp_key: victim.merchant.impKey, imp_secret: victim.merchant.impSecret }) });
    expect(getToken.statusCode).toBe(200);
    const bearer = getToken.json().response.access_token as string;
    const answers = [
      noToken,
      getToken,
      await c.app.inject({ method: 'GET', url: '/payments/imp_000000000000', headers: { cookie, authorization: bearer } }),
      await c.app.inject({ method: 'GET', url: '/checkout/cs_doesnotexist', headers: { cookie } }),
      await c.app.inject({ method: 'GET', url: '/v1/iamport.js', headers: { cookie } }),
      await c.app.inject({ method: 'POST', url: '/checkout/sessions', headers: { cookie, 'content-type': 'application/json', origin: 'https://shop.example' }, payload: '{}' }),
      await c.app.inject({ method: 'GET', url: '/no/such/route', headers: { cookie } }),
    ];
    for (const r of answers) {
      expect(r.body, r.raw.req.url).not.toContain(token);
      expect(JSON.stringify(r.headers), r.raw.req.url).not.toContain(token);
      expect(r.headers['set-cookie'], r.raw.req.url).toBeUndefined();
    }
    expect(answers[2].statusCode).toBe(404);
    expect(answers[4].statusCode).toBe(200);
    // CORS on the checkout session endpoint never lets another origin read a credentialed answer
    expect(answers[5].headers['access-control-allow-credentials']).toBeUndefined();
  });
});

async function userRow(email: string) {
  return c.pier.store.db.selectFrom('console_users').select(['id']).where('email', '=', email).executeTakeFirstOrThrow();
}
