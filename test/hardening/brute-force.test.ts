/**
 * Issue #10 item 6: guessing console passwords and REST secrets. Parallel guesses all count, both
 * doors answer 429 with Retry-After after a handful of failures (per address and per credential,
 * shared by every process on the database), and an unknown imp_key costs the same scrypt as a
 * known one with a wrong secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { createConsoleUser, LOCKOUT_THRESHOLD, signIn } from '../../src/core/console/users.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { openStore, type Store } from '../../src/store/db.js';
import { Agent } from '../console/console-harness.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(async () => {
  await pier?.close();
});

const getToken = (app: PierApp, body: unknown, ip = '198.51.100.7') =>
  app.inject({ method: 'POST', url: '/users/getToken', remoteAddress: ip, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

describe('console lockout under parallel guesses', () => {
  it('40 wrong passwords at once lock the user, and then the right password is refused too', async () => {
    const email = 'parallel@shop.example';
    await createConsoleUser(pier.deps, m.merchantId, email, 'right-password-123');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => signIn(pier.deps, email, `wrong-${i}-password`)));
    expect(results.filter((r) => r.outcome === 'locked').length).toBeGreaterThanOrEqual(40 - LOCKOUT_THRESHOLD + 1);
    const row = await pier.store.db.selectFrom('console_users').select(['failed_count', 'locked_until']).where('email', '=', email).executeTakeFirstOrThrow();
    expect(Number(row.locked_until)).toBeGreaterThan(Math.floor(pier.clock.now() / 1000));
    expect((await signIn(pier.deps, email, 'right-password-123')).outcome).toBe('locked');
  });

  it('a right password racing wrong ones never clears a lock they set', async () => {
    const email = 'race@shop.example';
    await createConsoleUser(pier.deps, m.merchantId, email, 'right-password-456');
    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => signIn(pier.deps, email, `nope-${i}-password`)),
      signIn(pier.deps, email, 'right-password-456'),
    ]);
    const row = await pier.store.db.selectFrom('console_users').select(['failed_count', 'locked_until']).where('email', '=', email).executeTakeFirstOrThrow();
    // however the race went, 20 failures end in a lock that is still in place
    expect(Number(row.locked_until)).toBeGreaterThan(Math.floor(pier.clock.now() / 1000));
    expect(results.filter((r) => r.outcome === 'locked').length).toBeGreaterThan(0);
  });
});

describe('POST /users/getToken rate limits', () => {
  it('after 10 wrong secrets for one key answers 429 with Retry-After, even to the right secret, until the window passes', async () => {
    const target = await pier.newMerchant();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await getToken(pier.app, { imp_key: target.impKey, imp_secret: `wrong${i}` }, `203.0.113.${i}`)).statusCode);
    expect(statuses).toEqual(Array(10).fill(401));
    const limited = await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.113.99');
    expect(limited.statusCode).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ code: 1, response: null });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    pier.clock.advance(retryAfter * 1000);
    const again = await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.113.99');
    expect(again.statusCode).toBe(200);
  });

  it('varying the case of one imp_key does not open fresh buckets: the 11th guess is refused whatever its case', async () => {
    // the key is found without regard to case, so every spelling below is the same key to the lookup.
    // Generated keys are digits; a key with letters is the demo key's kind (imp_apikey)
    const target = await createMerchant(pier.deps, { name: 'Case key', impKey: 'impcasekeys' });
    // spelling i: the key with its i-th character in capitals
    const spell = (i: number) => [...target.impKey].map((ch, j) => (j === i ? ch.toUpperCase() : ch)).join('');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await getToken(pier.app, { imp_key: spell(i), imp_secret: `wrong${i}` }, `203.0.114.${i}`)).statusCode);
    expect(new Set(Array.from({ length: 10 }, (_, i) => spell(i))).size).toBe(10);
    expect(statuses).toEqual(Array(10).fill(401));
    const limited = await getToken(pier.app, { imp_key: spell(10).toUpperCase(), imp_secret: target.impSecret }, '203.0.114.99');
    expect(limited.statusCode).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ code: 1, response: null });
  });

  it('successful calls never use up the allowance (merchants calling getToken before every request)', async () => {
    const busy = await pier.newMerchant();
    for (let i = 0; i < 40; i++) expect((await getToken(pier.app, { imp_key: busy.impKey, imp_secret: busy.impSecret }, '192.0.2.50')).statusCode).toBe(200);
  });

  it('one address spraying unknown keys is limited per address, and a parallel burst cannot slip past', async () => {
    const burst = await Promise.all(Array.from({ length: 45 }, (_, i) => getToken(pier.app, { imp_key: `spray_${i}`, imp_secret: 'x' }, '198.51.100.200')));
    const counts = burst.reduce<Record<number, number>>((a, r) => ((a[r.statusCode] = (a[r.statusCode] ?? 0) + 1), a), {});
    expect(counts).toEqual({ 401: 30, 429: 15 });
    // another address is not affected
    expect((await getToken(pier.app, { imp_key: m.impKey, imp_secret: m.impSecret }, '198.51.100.201')).statusCode).toBe(200);
  });

  it('one IPv6 host spraying keys from every address of its /64 is limited as one address', async () => {
    // a host is given a whole /64: counting each of its 2^64 addresses apart would limit nothing
    const burst = await Promise.all(Array.from({ length: 45 }, (_, i) => getToken(pier.app, { imp_key: `spray6_${i}`, imp_secret: 'x' }, `2001:db8:77:1:${(i + 1).toString(16)}::${i + 7}`)));
    const counts = burst.reduce<Record<number, number>>((a, r) => ((a[r.statusCode] = (a[r.statusCode] ?? 0) + 1), a), {});
    expect(counts).toEqual({ 401: 30, 429: 15 });
    // the neighbouring /64 is another host; an IPv4 client written as IPv4-mapped IPv6 is that IPv4 address
    expect((await getToken(pier.app, { imp_key: m.impKey, imp_secret: m.impSecret }, '2001:db8:77:2::1')).statusCode).toBe(200);
    for (let i = 0; i < 30; i++) expect((await getToken(pier.app, { imp_key: `spray4_${i}`, imp_secret: 'x' }, i % 2 ? '198.51.100.77' : '::ffff:198.51.100.77')).statusCode).toBe(401);
    expect((await getToken(pier.app, { imp_key: 'spray4_last', imp_secret: 'x' }, '::ffff:198.51.100.77')).statusCode).toBe(429);
  });

  it('a second Pier process on the same database sees the same counts', async () => {
    const target = await pier.newMerchant();
    const store2: Store = openStore(pier.databaseUrl);
    const app2 = await buildApp({ ...pier.deps, store: store2 }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8081' });
    try {
      for (let i = 0; i < 5; i++) expect((await getToken(pier.app, { imp_key: target.impKey, imp_secret: `bad${i}` }, `10.9.0.${i}`)).statusCode).toBe(401);
      for (let i = 0; i < 5; i++) expect((await getToken(app2, { imp_key: target.impKey, imp_secret: `bad${i}` }, `10.9.1.${i}`)).statusCode).toBe(401);
      expect((await getToken(app2, { imp_key: target.impKey, imp_secret: target.impSecret }, '10.9.2.1')).statusCode).toBe(429);
      expect((await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '10.9.2.2')).statusCode).toBe(429);
    } finally {
      await app2.close();
      await store2.close();
    }
  });

  it('an unknown imp_key costs as much CPU as a known one with a wrong secret (both run scrypt)', async () => {
    const target = await pier.newMerchant();
    // this process's CPU (scrypt runs on its libuv threads), not wall time: under a loaded
    // machine's test run, wall time measured the other processes as much as scrypt
    const time = async (body: unknown, ip: string) => {
      const t0 = process.cpuUsage();
      const r = await getToken(pier.app, body, ip);
      expect(r.statusCode).toBe(401);
      const used = process.cpuUsage(t0);
      return used.user + used.system;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push(await time({ imp_key: target.impKey, imp_secret: `wrong${i}` }, `100.64.0.${i}`));
      unknown.push(await time({ imp_key: `no_such_key_${i}`, imp_secret: `wrong${i}` }, `100.64.1.${i}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // scrypt (N=16384) dominates: without it an unknown key cost about a tenth of the CPU
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });
});

describe('console sign-in rate limit', () => {
  it('a locked account answers exactly as an e-mail without an account, and its right password is refused all the same', async () => {
    // decision 0004: the sign-in never tells which e-mails have accounts. A guesser who fails 5
    // times on each address must not see the account's lock where the unknown address stays open
    const real = 'locked-0001@shop.example';
    const ghost = 'nobody-0001@shop.example';
    await createConsoleUser(pier.deps, m.merchantId, real, 'right-password-lock');
    const agent = new Agent(pier.app);
    const page = await agent.get('/console/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const cookie = [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const post = (email: string, password: string, ip: string) =>
      pier.app.inject({
        method: 'POST',
        url: '/console/login',
        remoteAddress: ip,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        payload: new URLSearchParams({ _csrf: csrf, email, password }).toString(),
      });
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) {
      await post(real, `wrong-password-${i}`, `100.70.0.${i}`);
      await post(ghost, `wrong-password-${i}`, `100.70.1.${i}`);
    }
    const lockedRow = await pier.store.db.selectFrom('console_users').select('locked_until').where('email', '=', real).executeTakeFirstOrThrow();
    expect(Number(lockedRow.locked_until)).toBeGreaterThan(Math.floor(pier.clock.now() / 1000));
    const answerOf = (r: Awaited<ReturnType<typeof post>>, email: string) => {
      // the date and the request id differ between any two answers
      const { date: _date, 'x-request-id': _id, ...headers } = r.headers;
      return { status: r.statusCode, headers, body: r.body.replaceAll(email, 'EMAIL') };
    };
    const toReal = answerOf(await post(real, 'right-password-lock', '100.70.2.1'), real);
    const toGhost = answerOf(await post(ghost, 'right-password-lock', '100.70.2.2'), ghost);
    expect(toReal).toEqual(toGhost);
    expect(toReal.status).toBe(401);
    expect(toReal.headers['set-cookie']).toBeUndefined();
    // the lock still holds: no session cookie for the right password
    expect(toReal.body).toContain('id="login-error"');
  });

  it('a locked account costs the same scrypt as an unknown e-mail (timing does not tell it either)', async () => {
    const real = 'locked-cpu@shop.example';
    await createConsoleUser(pier.deps, m.merchantId, real, 'right-password-cpu');
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) await signIn(pier.deps, real, `wrong-${i}-password`);
    const cpu = async (email: string) => {
      const t0 = process.cpuUsage();
      await signIn(pier.deps, email, 'any-password-1');
      const used = process.cpuUsage(t0);
      return used.user + used.system;
    };
    const locked: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      locked.push(await cpu(real));
      unknown.push(await cpu(`nobody-cpu-${i}@shop.example`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // scrypt dominates: without it a locked account answered with a fraction of the CPU
    expect(median(locked)).toBeGreaterThan(median(unknown) * 0.5);
  });

  it('answers 429 with Retry-After after 10 failures for one e-mail from many addresses', async () => {
    const email = 'limited@shop.example';
    await createConsoleUser(pier.deps, m.merchantId, email, 'right-password-789');
    const agent = new Agent(pier.app);
    const page = await agent.get('/console/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const post = (password: string, ip: string) =>
      pier.app.inject({
        method: 'POST',
        url: '/console/login',
        remoteAddress: ip,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
        payload: new URLSearchParams({ _csrf: csrf, email, password }).toString(),
      });
    // the account lock (after 5) and the per-e-mail limit (after 10) both hold
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await post(`wrong-password-${i}`, `172.16.5.${i}`)).statusCode);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses[10]).toBe(429);
    const last = await post('right-password-789', '172.16.5.200');
    expect(last.statusCode).toBe(429);
    expect(Number(last.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('one IPv6 host trying a password on many e-mails is stopped by its address limit, whichever address of its /64 it uses', async () => {
    const agent = new Agent(pier.app);
    const page = await agent.get('/console/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const post = (email: string, ip: string) =>
      pier.app.inject({
        method: 'POST',
        url: '/console/login',
        remoteAddress: ip,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
        payload: new URLSearchParams({ _csrf: csrf, email, password: 'Summer2026!!' }).toString(),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await post(`spray${i}@shop.example`, `2001:db8:99:5:${i.toString(16)}:0:0:1`)).statusCode);
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(401));
    expect(statuses[30]).toBe(429);
  });
});
