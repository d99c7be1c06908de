/**
 * Decision 0127: the sign-in allowances (getToken, console) and the payment window's are counted in
 * the database so every Pier process shares them (decision 0010), but each process put the window
 * by its own clock, and a bucket found in a window other than the caller's was started again at 1.
 * Two processes whose clocks disagree (hosts a little apart, a sandbox clock one process has not
 * re-read yet) put the same moment in two windows: near a window's end, alternating guesses between
 * them started the count again at every guess, and the allowance held nothing.
 *
 * Modelled as the other "second Pier process on the same database" tests do: a second app on a
 * store of its own, here with a clock 2 s ahead of the first's (another host).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { openStore, type Store } from '../../src/store/db.js';
import type { Clock } from '../../src/lib/clock.js';
import { startTestPier, type TestPier } from '../harness.js';

const SKEW_MS = 2_000;
const WINDOW_MS = 60_000;

let pier: TestPier;
let store2: Store;
let app2: PierApp;

beforeAll(async () => {
  pier = await startTestPier();
  store2 = openStore(pier.databaseUrl, { poolSize: 2 });
  const ahead: Clock = { now: () => pier.clock.now() + SKEW_MS };
  app2 = await buildApp({ ...pier.deps, store: store2, clock: ahead }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8081' });
});
afterAll(async () => {
  await app2?.close();
  await store2?.close();
  await pier?.close();
});

const getToken = (app: PierApp, body: unknown, ip: string) =>
  app.inject({ method: 'POST', url: '/users/getToken', remoteAddress: ip, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

/** The first process's clock 1.5 s before a minute ends: the second, 2 s ahead, is already in the next. */
function nearWindowEnd() {
  const now = pier.clock.now();
  pier.clock.set(now - (now % WINDOW_MS) + 2 * WINDOW_MS - 1_500);
}

describe('sign-in allowances with two processes whose clocks differ by 2 s', () => {
  it('guesses at one imp_secret alternated between the processes at a minute\'s end are all counted: the 11th is refused', async () => {
    const target = await pier.newMerchant();
    nearWindowEnd();
    const statuses: number[] = [];
    // the process ahead first: a guess the other counted in the minute that was ending would have
    // left with that minute, as any guess made before a window ends does
    for (let i = 0; i < 20; i++) {
      const app = i % 2 === 0 ? app2 : pier.app;
      statuses.push((await getToken(app, { imp_key: target.impKey, imp_secret: `guess-${i}` }, `203.0.120.${i}`)).statusCode);
    }
    // 10 per imp_key per minute (DEFAULT_RATE_LIMITS.perKey), whichever process a guess reached
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(10).fill(429)]);
    // the right secret too, on both processes, until the window the count is in has passed
    const first = await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.120.200');
    const second = await getToken(app2, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.120.201');
    expect([first.statusCode, second.statusCode]).toEqual([429, 429]);
    // Retry-After names the end of the window the guesses were counted in (the second process's
    // minute, which began 0.5 s ago on its clock), as each process's clock reads it
    expect(Number(first.headers['retry-after'])).toBe(62);
    expect(Number(second.headers['retry-after'])).toBe(60);
    pier.clock.advance(62_000);
    expect((await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.120.202')).statusCode).toBe(200);
  });

  it('one address spraying unknown keys through both processes at a minute\'s end gets its 30, not more', async () => {
    nearWindowEnd();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const app = i % 2 === 0 ? app2 : pier.app;
      statuses.push((await getToken(app, { imp_key: `spray_${i}`, imp_secret: 'x' }, '198.51.100.201')).statusCode);
    }
    expect(statuses).toEqual([...Array(30).fill(401), ...Array(10).fill(429)]);
  });

  it('a clock moved back by much more than a window (the sandbox clock reset) starts the count again, with no Retry-After from the future', async () => {
    const target = await pier.newMerchant();
    for (let i = 0; i < 10; i++) expect((await getToken(pier.app, { imp_key: target.impKey, imp_secret: `before-${i}` }, `203.0.121.${i}`)).statusCode).toBe(401);
    expect((await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.121.100')).statusCode).toBe(429);
    pier.clock.advance(-30 * 86_400_000);
    const after = await getToken(pier.app, { imp_key: target.impKey, imp_secret: target.impSecret }, '203.0.121.101');
    expect(after.statusCode).toBe(200);
    pier.clock.advance(30 * 86_400_000);
  });
});
