import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptBuckets, RateLimitedError, takeAttempt } from '../../src/core/merchants/rate-limit.js';
import { advanceSandboxClock, resetSandboxClock } from '../../src/core/sandbox/clock.js';
import { ACCESS_TOKEN_RETENTION_SECONDS, endedRowPurgeQueue, RATE_LIMIT_BUCKET_RETENTION_SECONDS } from '../../src/jobs/handlers/ended-row-purge.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { sha256Hex } from '../../src/lib/password.js';
import { startTestPier, type TestPier } from '../harness.js';

/**
 * Rows that end by time and that grow with sign-in attempts and getToken calls (decision 0067):
 * rate-limit buckets and access tokens, deleted in the background a bounded batch at a time.
 * Before, buckets were swept by a 1-in-100 chance on the request path (all at once) and expired
 * access tokens never.
 */
let pier: TestPier;
let sandbox: TestPier;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 86_400 * SECOND;

beforeAll(async () => {
  [pier, sandbox] = await Promise.all([startTestPier(), startTestPier({ sandboxClock: true })]);
});
afterAll(() => Promise.all([pier?.close(), sandbox?.close()]));

const purger = (p: TestPier, o: { batchSize?: number } = {}) =>
  new JobRunner({ queues: [endedRowPurgeQueue(p.deps, { idleIntervalMs: 0, ...o })], logger: p.deps.logger });

const bucket = (p: TestPier, name: string) => p.store.db.selectFrom('rate_limit_buckets').selectAll().where('bucket', '=', name).executeTakeFirst();
const tokenRow = (p: TestPier, token: string) => p.store.db.selectFrom('access_tokens').selectAll().where('token_hash', '=', sha256Hex(token)).executeTakeFirst();
const nowSeconds = (p: TestPier) => Math.floor(p.deps.clock.now() / 1000);

describe('rate-limit buckets', () => {
  it('deletes the bucket of a failed sign-in a day after its window, and keeps a live one counting', async () => {
    const impKey = `guess-${randomBytes(6).toString('hex')}`;
    const wrong = await pier.app.inject({ method: 'POST', url: '/users/getToken', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ imp_key: impKey, imp_secret: 'nope' }) });
    expect(wrong.statusCode).toBe(401);
    const [, keyBucket] = attemptBuckets('getToken', '127.0.0.1', impKey.toLowerCase());
    const written = await bucket(pier, keyBucket.bucket);
    expect(written?.hits).toBe(1);

    pier.clock.advance(RATE_LIMIT_BUCKET_RETENTION_SECONDS * SECOND - MINUTE);
    await purger(pier).drain();
    expect(await bucket(pier, keyBucket.bucket)).toBeDefined();

    // a bucket over its limit now
    const live = { bucket: `test:key:${randomBytes(6).toString('hex')}`, limit: 1, windowSeconds: 60 };
    await takeAttempt(pier.store, pier.deps.clock, [live]);
    await expect(takeAttempt(pier.store, pier.deps.clock, [live])).rejects.toBeInstanceOf(RateLimitedError);

    pier.clock.advance(2 * MINUTE - 2 * SECOND);
    expect(nowSeconds(pier)).toBeGreaterThan(written!.window_start + RATE_LIMIT_BUCKET_RETENTION_SECONDS);
    await purger(pier).drain();
    expect(await bucket(pier, keyBucket.bucket)).toBeUndefined();
    // the live bucket is untouched and still refuses
    expect((await bucket(pier, live.bucket))?.hits).toBe(2);
  });

  it('deletes buckets written while the sandbox clock ran ahead, once it is reset', async () => {
    await advanceSandboxClock(sandbox.store, 30 * DAY, sandbox.deps.clock);
    const ahead = { bucket: `test:ahead:${randomBytes(6).toString('hex')}`, limit: 10, windowSeconds: 60 };
    await takeAttempt(sandbox.store, sandbox.deps.clock, [ahead]);
    await purger(sandbox).drain();
    expect(await bucket(sandbox, ahead.bucket)).toBeDefined();
    await resetSandboxClock(sandbox.store, sandbox.deps.clock);
    await purger(sandbox).drain();
    expect(await bucket(sandbox, ahead.bucket)).toBeUndefined();
  });

  it('deletes at most one batch per pass', async () => {
    const prefix = `test:batch:${randomBytes(6).toString('hex')}`;
    const old = nowSeconds(pier) - RATE_LIMIT_BUCKET_RETENTION_SECONDS - 600;
    await pier.store.db
      .insertInto('rate_limit_buckets')
      .values(Array.from({ length: 5 }, (_, i) => ({ bucket: `${prefix}:${i}`, window_start: old, hits: 3 })))
      .execute();
    const left = async () => (await pier.store.db.selectFrom('rate_limit_buckets').select('bucket').where('bucket', 'like', `${prefix}:%`).execute()).length;
    const runner = purger(pier, { batchSize: 2 });
    await runner.runOnce();
    expect(await left()).toBe(3);
    await runner.runOnce();
    expect(await left()).toBe(1);
    await runner.drain();
    expect(await left()).toBe(0);
  });
});

describe('access tokens', () => {
  it('deletes an access token an hour after it expired; it is refused the same way before and after', async () => {
    const m = await pier.newMerchant();
    const row = await tokenRow(pier, m.token);
    expect(row).toBeDefined();
    const untilExpiry = row!.expires_at - nowSeconds(pier);

    pier.clock.advance((untilExpiry + ACCESS_TOKEN_RETENTION_SECONDS) * SECOND - MINUTE);
    await purger(pier).drain();
    expect(await tokenRow(pier, m.token)).toBeDefined();
    const expired = await pier.call('GET', '/payments/status/paid', { token: m.token });
    expect(expired.status).toBe(401);

    pier.clock.advance(2 * MINUTE);
    await purger(pier).drain();
    expect(await tokenRow(pier, m.token)).toBeUndefined();
    const unknown = await pier.call('GET', '/payments/status/paid', { token: m.token });
    expect(unknown).toEqual(expired);
  });

  it('keeps a token the sandbox clock issued ahead of the real time until the real time passes its expiry', async () => {
    await advanceSandboxClock(sandbox.store, 30 * DAY, sandbox.deps.clock);
    const m = await sandbox.newMerchant();
    await resetSandboxClock(sandbox.store, sandbox.deps.clock);
    // by the real time the token has 30 days to go: it works, and the purge leaves it
    sandbox.clock.advance(2 * ACCESS_TOKEN_RETENTION_SECONDS * SECOND);
    await purger(sandbox).drain();
    expect(await tokenRow(sandbox, m.token)).toBeDefined();
    expect((await sandbox.call('GET', '/payments/status/paid', { token: m.token })).status).toBe(200);
  });
});

describe('fairness between the tables', () => {
  it('takes the tables in turn: a backlog of buckets does not keep an ended access token waiting', async () => {
    const m = await pier.newMerchant();
    const row = await tokenRow(pier, m.token);
    pier.clock.advance((row!.expires_at - nowSeconds(pier) + ACCESS_TOKEN_RETENTION_SECONDS + 60) * SECOND);
    const prefix = `test:backlog:${randomBytes(6).toString('hex')}`;
    const old = nowSeconds(pier) - RATE_LIMIT_BUCKET_RETENTION_SECONDS - 600;
    await pier.store.db
      .insertInto('rate_limit_buckets')
      .values(Array.from({ length: 6 }, (_, i) => ({ bucket: `${prefix}:${i}`, window_start: old, hits: 1 })))
      .execute();
    // what the runner's lane asks when its one slot is free: one job per claim
    const q = endedRowPurgeQueue(pier.deps, { batchSize: 2, idleIntervalMs: 0 });
    const tables: string[] = [];
    for (let i = 0; i < 3; i++) for (const job of await q.claim('test', 1)) tables.push(job.table);
    expect(tables).toContain('access_tokens');
    expect(tables.filter((t) => t === 'rate_limit_buckets').length).toBeGreaterThanOrEqual(1);
    expect(tables).toHaveLength(3);
  });
});
