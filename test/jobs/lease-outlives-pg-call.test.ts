/**
 * A job's lease against the PG timeouts an operator configures. A worker holding a scheduled charge
 * or a window acknowledgement waits on the PG for up to its connect and read timeouts (a day at
 * most, decision 0050); the leases were fixed (300 s, 120 s), so with a read timeout of 10 minutes
 * a second worker took the row while the first one's call could still answer: two workers on one
 * charge or one acknowledgement at once, the first one's outcome dropped by the lease fence.
 * Leases now follow the configured timeouts (decision 0056). Time moves by the injected clock only.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { claimWindowConfirms, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { readDbNow } from '../../src/store/db-clock.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { simulatorControl } from '../sim-control.js';

/** far past the old fixed leases (300 s, 120 s), well under a day */
const READ_TIMEOUT_MS = 600_000;

let pier: TestPier;
let m: TestMerchant;
const now = () => Math.floor(pier.clock.now() / 1000);

const control = (path: string, body?: unknown) => simulatorControl(pier.simulatorUrl, path, body);

beforeAll(async () => {
  // the simulator holds an answer until released, longer than any lease this test moves past
  pier = await startTestPier({ readTimeoutMs: READ_TIMEOUT_MS, simulatorSlowMs: 2 * READ_TIMEOUT_MS });
  m = await pier.newMerchant();
  const ok = await pier.call('POST', '/subscribe/customers/slow_pg_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '7070' }), expiry: '2030-12' } });
  expect(ok.body.code).toBe(0);
});
afterAll(() => pier?.close());

describe('a job whose PG call is still within the configured read timeout', () => {
  it('scheduled charge: a second worker does not take the schedule over while the first one waits on the PG, and it is charged once', async () => {
    const res = await pier.call('POST', '/subscribe/payments/schedule', {
      token: m.token,
      body: { customer_uid: 'slow_pg_c', schedules: [{ merchant_uid: 'slow_pg_1', schedule_at: now() + 60, amount: 5100, name: 'slow pg' }] },
    });
    expect(res.body.code).toBe(0);
    pier.clock.advance(60_000);
    await control('faults', { mode: 'hold', op: 'payments_token' });

    const first = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger, owner: 'worker-a' });
    const running = first.runOnce();
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });

    // five minutes and a second later the PG may still answer the first worker's call
    pier.clock.advance(301_000);
    const second = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger, owner: 'worker-b' });
    expect(await second.runOnce()).toBe(0);
    const held = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', 'slow_pg_1').executeTakeFirstOrThrow();
    expect(held).toMatchObject({ state: 'running', lease_owner: 'worker-a', attempts: 1 });
    // the lease covers what is left of the call: its read timeout from now at least
    expect(held.lease_until - (await readDbNow(pier.store))).toBeGreaterThanOrEqual(READ_TIMEOUT_MS / 1000 - 301);

    await control('holds/release', {});
    expect(await running).toBe(1);
    const done = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', 'slow_pg_1').executeTakeFirstOrThrow();
    expect(done).toMatchObject({ state: 'executed', lease_owner: null, attempts: 1 });
    const payments = await pier.store.db.selectFrom('payments').select(['imp_uid', 'status']).where('merchant_uid', '=', 'slow_pg_1').execute();
    expect(payments.map((p) => p.status)).toEqual(['paid']);
    const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string }> };
    expect(ledger.approvals.filter((a) => a.moid === payments[0].imp_uid)).toHaveLength(1);
  });

  it('window acknowledgement: a row the job queue leased is not claimed again while a confirm, inquiry and refund of it can still be in flight', async () => {
    await enqueueWindowConfirm(pier.deps, 'imp_slowpg0001', 'ch_any', 'tid_slow_pg_1');
    const queue = windowConfirmQueue(pier.deps);
    expect((await queue.claim('worker-a', 10)).map((r) => r.imp_uid)).toEqual(['imp_slowpg0001']);

    // past the old fixed 120 s, within one confirm at the configured read timeout
    pier.clock.advance(121_000);
    expect(await queue.claim('worker-b', 10)).toEqual([]);
    pier.clock.advance(READ_TIMEOUT_MS);
    expect(await queue.claim('worker-b', 10)).toEqual([]);
    // a run makes at most four PG calls (inquiry, refund, confirm, inquiry): past those the worker is gone
    pier.clock.advance(3 * (READ_TIMEOUT_MS + 1000) + 60_000);
    expect((await claimWindowConfirms(pier.deps, { owner: 'worker-b', limit: 10 })).map((r) => [r.imp_uid, r.lease_owner])).toEqual([['imp_slowpg0001', 'worker-b']]);
  });
});
