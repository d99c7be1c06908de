/**
 * Sandbox time: Pier's clock is the real time plus an offset kept in the database. Advancing it
 * (control endpoint or `pier sandbox clock advance`) makes a schedule due next month run now, and
 * every process sharing the database agrees on the time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.js';
import { advanceSandboxClock, parseDuration, refreshClock, resetSandboxClock, SandboxClock } from '../src/core/sandbox/clock.js';
import { scheduleQueue } from '../src/jobs/handlers/schedules.js';
import { JobRunner } from '../src/jobs/runner.js';
import { openStore } from '../src/store/db.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';

const ROOT = resolve(import.meta.dirname, '..');
const DAY = 86_400;
let pier: TestPier;
let m: TestMerchant;
let runner: JobRunner;
let dataDir: string;

const pierNow = () => Math.floor(pier.deps.clock.now() / 1000);

async function signIn() {
  const t = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
  expect(t.body.code).toBe(0);
  m.token = t.body.response.access_token;
}

function cli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  Object.assign(env, { DATABASE_URL: pier.databaseUrl, PIER_DATA_DIR: dataDir, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9', ...extra });
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true });
  m = await pier.newMerchant();
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger, beforePass: () => refreshClock(pier.deps.clock) });
  dataDir = mkdtempSync(join(tmpdir(), 'pier-sandbox-clock-'));
});
afterAll(async () => {
  await pier.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('sandbox clock', () => {
  it('runs a schedule due next month now, once the clock is advanced through the control endpoint', async () => {
    await pier.call('POST', '/subscribe/customers/clock_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '3030' }), expiry: '2030-12' } });
    const at = pierNow() + 30 * DAY;
    const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'clock_c', schedules: [{ merchant_uid: 'next_month', schedule_at: at, amount: 12_000, name: '월 구독' }] } });
    expect(res.body.code).toBe(0);
    expect(await runner.drain()).toBe(0);

    const shown = await pier.call('GET', '/pier/sandbox/clock', { token: m.token });
    expect(shown.body.response).toMatchObject({ offset_seconds: 0, now: pierNow() });
    const advanced = await pier.call('POST', '/pier/sandbox/clock/advance', { token: m.token, body: { by: '30d' } });
    expect(advanced.body.code).toBe(0);
    expect(advanced.body.response).toMatchObject({ offset_seconds: 30 * DAY, offset: '30d 0h 0m 0s' });
    expect(advanced.body.response.now - advanced.body.response.real_now).toBe(30 * DAY);

    expect(await runner.drain()).toBe(1);
    await signIn(); // the old token lived 30 minutes of Pier's time
    const s = (await pier.call('GET', '/subscribe/payments/schedule/next_month', { token: m.token })).body.response;
    expect(s).toMatchObject({ schedule_status: 'executed', payment_status: 'paid', executed_at: pierNow() });
    const p = (await pier.call('GET', `/payments/${s.imp_uid}`, { token: m.token })).body.response;
    expect(p.started_at).toBeGreaterThanOrEqual(at);
  });

  it('is shared through the database: another process sees the offset, and the CLI moves it', async () => {
    const otherStore = openStore(pier.databaseUrl, { poolSize: 2 });
    try {
      const otherClock = new SandboxClock(otherStore, pier.clock);
      await otherClock.refresh();
      expect(Math.floor(otherClock.now() / 1000)).toBe(pierNow());

      const before = pierNow();
      const moved = await cli(['sandbox', 'clock', 'advance', '2d']);
      expect(moved.stderr).toBe('');
      expect(moved.code).toBe(0);
      expect(moved.stdout).toContain('advanced the sandbox clock by 2d');
      expect(moved.stdout).toMatch(/offset\s+\+32d 0h 0m 0s/);
      await refreshClock(pier.deps.clock);
      await otherClock.refresh();
      expect(pierNow()).toBe(before + 2 * DAY);
      expect(Math.floor(otherClock.now() / 1000)).toBe(pierNow());

      const reset = await cli(['sandbox', 'clock', 'reset']);
      expect(reset.code).toBe(0);
      await refreshClock(pier.deps.clock);
      expect(pier.deps.clock.now()).toBe(pier.clock.now());
      expect(reset.stdout).toMatch(/offset\s+0 \(not moved\)/);
      await signIn();
    } finally {
      await otherStore.close();
    }
  });

  it('judges a token on the shared clock when another process moved it less than a second ago (PIER_WORKERS=2: getToken on one worker, the charge on the other)', async () => {
    // a merchant of its own: no token from the earlier, moved clocks is live for it
    const own = await pier.newMerchant();
    const early = own.token; // issued at offset 0: 30 minutes of life on the real clock
    // a second process on the same database, whose cached offset is behind until it re-reads it
    const otherStore = openStore(pier.databaseUrl, { poolSize: 2 });
    const otherClock = new SandboxClock(otherStore, pier.clock);
    await otherClock.refresh();
    const other = await buildApp({ ...pier.deps, store: otherStore, clock: otherClock }, { bodyLimit: 65536, publicUrl: 'http://localhost' });
    const onOther = (method: 'GET' | 'POST', url: string, token: string | null, body?: unknown) =>
      other.inject({ method, url, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    try {
      expect((await pier.call('POST', '/pier/sandbox/clock/advance', { token: early, body: { by: '2h' } })).body.code).toBe(0);
      // getToken on the process that has not seen the move: the token it hands out is live on the moved clock
      const issued = await onOther('POST', '/users/getToken', null, { imp_key: own.impKey, imp_secret: own.impSecret });
      const token = issued.json().response.access_token as string;
      expect(issued.json().response.expired_at).toBeGreaterThan(pierNow());
      expect((await pier.call('GET', '/pier/sandbox/clock', { token })).status).toBe(200);

      // the clock goes back on the first process; the second, still ahead, does not refuse a token live on it
      expect((await pier.call('POST', '/pier/sandbox/clock/reset', { token })).body.code).toBe(0);
      const checked = await onOther('GET', '/pier/sandbox/clock', early);
      expect(checked.statusCode).toBe(200);
      expect(checked.json().response.offset_seconds).toBe(0);
      // and a token expired on the shared clock is refused once this process has seen the move
      await advanceSandboxClock(pier.store, 3600_000, pier.deps.clock);
      await otherClock.refresh();
      expect((await onOther('GET', '/pier/sandbox/clock', early)).statusCode).toBe(401);
    } finally {
      await other.close();
      await otherStore.close();
      await resetSandboxClock(pier.store, pier.deps.clock);
    }
  });

  it('counts concurrent advances, never moves backwards by advance, and checks its input', async () => {
    await Promise.all([advanceSandboxClock(pier.store, 1000, pier.deps.clock), advanceSandboxClock(pier.store, 2000, pier.deps.clock)]);
    await refreshClock(pier.deps.clock);
    expect(pier.deps.clock.now() - pier.clock.now()).toBe(3000);
    await expect(advanceSandboxClock(pier.store, -5)).rejects.toThrow(/forward/);
    const bad = await pier.call('POST', '/pier/sandbox/clock/advance', { token: m.token, body: { by: 'tomorrow' } });
    expect(bad.status).toBe(400);
    const reset = await pier.call('POST', '/pier/sandbox/clock/reset', { token: m.token });
    expect(reset.body.response.offset_seconds).toBe(0);
    expect(parseDuration('1d12h')).toBe(36 * 3600_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('45')).toBe(45_000);
    expect(() => parseDuration('1y')).toThrow();
  });

  it('needs a token, and does not exist in production mode', async () => {
    expect((await pier.call('GET', '/pier/sandbox/clock')).status).toBe(401);
    expect((await pier.call('POST', '/pier/sandbox/clock/advance', { body: { by: '1d' } })).status).toBe(401);
    const prod = await buildApp({ ...pier.deps, mode: 'production' }, { bodyLimit: 65536, publicUrl: 'http://localhost' });
    try {
      const res = await prod.inject({ method: 'POST', url: '/pier/sandbox/clock/advance', headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' }, payload: '{"by":"1d"}' });
      expect(res.statusCode).toBe(404);
    } finally {
      await prod.close();
    }
    const cliProd = await cli(['sandbox', 'clock', 'advance', '1d'], { PIER_MODE: 'production', PIER_VAULT_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}` });
    expect(cliProd.code).toBe(1);
    expect(cliProd.stderr).toContain('sandbox mode only');
  });
});
