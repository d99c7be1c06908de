import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS } from '../../src/core/console/sessions.js';
import { endedRowPurgeQueue } from '../../src/jobs/handlers/ended-row-purge.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { sha256Hex } from '../../src/lib/password.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

/**
 * Console session rows go away once the session ends (decision 0067): at sign-out, when the
 * cookie of an ended or replaced session comes back, and in the background for the browsers that
 * never come back. Before, only the first two deleted anything: a browser closed without signing
 * out left its row in console_sessions for good.
 */
let c: ConsolePier;
let https: ConsolePier;
let user: ConsoleUser;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

beforeAll(async () => {
  [c, https] = await Promise.all([startConsolePier(), startConsolePier({ publicUrl: 'https://pay.example.com' })]);
  user = await c.newUser();
});
afterAll(() => Promise.all([c?.close(), https?.close()]));

const purger = (p: ConsolePier, o: { batchSize?: number } = {}) =>
  new JobRunner({ queues: [endedRowPurgeQueue(p.pier.deps, { idleIntervalMs: 0, ...o })], logger: p.pier.deps.logger });

const sessionCookie = (a: Agent, name = 'pier_console') => a.cookies.get(name)!;
const rowOf = (p: ConsolePier, token: string) =>
  p.pier.store.db.selectFrom('console_sessions').selectAll().where('id_hash', '=', sha256Hex(token)).executeTakeFirst();
const sessionCount = async (p: ConsolePier, userId: string) =>
  Number((await p.pier.store.db.selectFrom('console_sessions').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);
const userId = async (p: ConsolePier, email: string) =>
  (await p.pier.store.db.selectFrom('console_users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;

async function signedIn(p: ConsolePier, u: ConsoleUser): Promise<Agent> {
  const a = p.agent();
  expect((await a.signIn(u.email, u.password)).status).toBe(303);
  return a;
}

describe('console session rows', () => {
  it('deletes the row of a browser that left without signing out, in the background, once the session idled out', async () => {
    const gone = await signedIn(c, user);
    const stays = await signedIn(c, user);
    const token = sessionCookie(gone);
    expect(await rowOf(c, token)).toBeDefined();

    c.pier.clock.advance((SESSION_IDLE_SECONDS - 60) * SECOND);
    expect((await stays.get('/console/api/session')).status).toBe(200);
    await purger(c).drain();
    expect(await rowOf(c, token)).toBeDefined();

    c.pier.clock.advance(2 * MINUTE);
    await purger(c).drain();
    // the row is gone, and the cookie, were it to come back, is refused as an ended session's
    expect(await rowOf(c, token)).toBeUndefined();
    expect((await gone.get('/console/api/session')).status).toBe(401);
    // the session in use is kept and still works
    expect(await rowOf(c, sessionCookie(stays))).toBeDefined();
    expect((await stays.get('/console/api/session')).status).toBe(200);
  });

  it('deletes a session in use at its 12-hour end, however recently it was used', async () => {
    const a = await signedIn(c, user);
    const token = sessionCookie(a);
    for (let h = 1; h < SESSION_MAX_SECONDS / 3600; h++) {
      c.pier.clock.advance(HOUR);
      expect((await a.get('/console/api/session')).status).toBe(200);
    }
    await purger(c).drain();
    expect(await rowOf(c, token)).toBeDefined();
    // past its end by a second: last seen an hour ago, still not idle, but over
    c.pier.clock.advance(HOUR + SECOND);
    await purger(c).drain();
    expect(await rowOf(c, token)).toBeUndefined();
  });

  it('deletes at most one batch per pass', async () => {
    const u = await c.newUser();
    const id = await userId(c, u.email);
    for (let i = 0; i < 5; i++) await createSession(c.pier.deps, id, u.merchant.merchantId);
    c.pier.clock.advance(SESSION_IDLE_SECONDS * SECOND);
    const runner = purger(c, { batchSize: 2 });
    expect(await sessionCount(c, id)).toBe(5);
    await runner.runOnce();
    expect(await sessionCount(c, id)).toBe(3);
    await runner.runOnce();
    expect(await sessionCount(c, id)).toBe(1);
    await runner.drain();
    expect(await sessionCount(c, id)).toBe(0);
  });

  it('deletes the row at sign-out, by the form and by the API', async () => {
    for (const out of [(a: Agent) => a.post('/console/logout'), (a: Agent) => a.api('POST', '/console/api/logout')]) {
      const a = await signedIn(c, user);
      const token = sessionCookie(a);
      expect(await rowOf(c, token)).toBeDefined();
      expect([200, 303]).toContain((await out(a)).status);
      expect(await rowOf(c, token)).toBeUndefined();
    }
  });

  it('deletes the replaced session at a new sign-in in the same browser', async () => {
    // two tabs showed the sign-in form; the merchant signs in in one, then in the other
    const a = c.agent();
    const form = await a.get('/console/login');
    const _csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1];
    const signIn = () => a.request('POST', '/console/login', { form: { _csrf, email: user.email, password: user.password } });
    expect((await signIn()).status).toBe(303);
    const before = sessionCookie(a);
    expect((await signIn()).status).toBe(303);
    const after = sessionCookie(a);
    expect(after).not.toBe(before);
    expect(await rowOf(c, before)).toBeUndefined();
    expect(await rowOf(c, after)).toBeDefined();
  });

  it('deletes an ended session when its cookie comes back', async () => {
    const a = await signedIn(c, user);
    const token = sessionCookie(a);
    c.pier.clock.advance(SESSION_IDLE_SECONDS * SECOND);
    const r = await a.get('/console/payments');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/console/login?next=%2Fconsole%2Fpayments');
    expect(await rowOf(c, token)).toBeUndefined();
  });

  it('behind an https public URL, deletes the row of a session whose old unprefixed cookie is no longer read (decision 0064) once it idled out', async () => {
    const u = await https.newUser();
    const old = await createSession(https.pier.deps, await userId(https, u.email), u.merchant.merchantId);
    const r = await https.app.inject({ method: 'GET', url: '/console/api/session', headers: { cookie: `pier_console=${old.token}` } });
    expect(r.statusCode).toBe(401);
    // not deleted on sight (0064: that would be a write per request of a cookie nobody can clear) …
    expect(await rowOf(https, old.token)).toBeDefined();
    https.pier.clock.advance(SESSION_IDLE_SECONDS * SECOND);
    await purger(https).drain();
    // … but no longer left for good
    expect(await rowOf(https, old.token)).toBeUndefined();
  });
});
