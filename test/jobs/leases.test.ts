/**
 * The lease-based runner under failure: a worker that dies holding a schedule (before, during or
 * after its PG call), technical failures retried with backoff, declines never retried, and PG
 * outcomes in doubt settled by asking the PG. Time moves by the injected clock only.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import type { Deps } from '../../src/core/deps.js';
import { payAgain } from '../../src/core/payments/pay.js';
import { settleAttempt } from '../../src/core/payments/reconcile.js';
import { claimDueSchedules, DEFAULT_SCHEDULE_POLICY, runClaimedSchedule, type ScheduleRow } from '../../src/core/schedules/run.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { newImpUid } from '../../src/lib/ids.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let runner: JobRunner;
const now = () => Math.floor(pier.clock.now() / 1000);
const LEASE = DEFAULT_SCHEDULE_POLICY.leaseSeconds;

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function signIn() {
  const t = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
  m.token = t.body.response.access_token;
}

async function scheduleOne(merchantUid: string, customerUid = 'lease_c', inSeconds = 60) {
  const res = await pier.call('POST', '/subscribe/payments/schedule', {
    token: m.token,
    body: { customer_uid: customerUid, schedules: [{ merchant_uid: merchantUid, schedule_at: now() + inSeconds, amount: 4000, name: 'lease' }] },
  });
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
  pier.clock.advance(inSeconds * 1000);
}

const row = (merchantUid: string) => pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();
const paymentsOf = (merchantUid: string) => pier.store.db.selectFrom('payments').selectAll().where('merchant_uid', '=', merchantUid).orderBy('started_at').execute();
async function approvalsFor(impUids: string[]) {
  const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string }> };
  return ledger.approvals.filter((a) => impUids.includes(a.moid));
}

/** The charge a schedule makes, as a worker that is about to die makes it. */
const orderFor = (s: ScheduleRow) => ({
  merchantId: s.merchant_id,
  merchantUid: s.merchant_uid,
  amount: s.amount,
  taxFree: 0,
  vatAmount: null,
  name: s.name,
  buyer: { name: null, email: null, tel: null, addr: null, postcode: null },
  cardQuota: 0,
  customData: null,
  noticeUrl: null,
  customerUid: s.customer_uid,
  customerUidUsage: 'payment.scheduled',
  userAgent: null,
});

beforeAll(async () => {
  pier = await startTestPier({ readTimeoutMs: 300 });
  m = await pier.newMerchant();
  runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
  const ok = await pier.call('POST', '/subscribe/customers/lease_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '6060' }), expiry: '2030-12' } });
  expect(ok.body.code).toBe(0);
});
afterAll(() => pier.close());

describe('a worker that dies holding a schedule', () => {
  it('before charging: the schedule is taken over once its lease runs out, and charged once', async () => {
    await scheduleOne('dies_before');
    const claimed = await claimDueSchedules(pier.store, { now: now(), owner: 'dead', leaseSeconds: LEASE, limit: 10 });
    expect(claimed.map((c) => c.merchant_uid)).toEqual(['dies_before']);
    expect(await runner.drain()).toBe(0); // leased to the dead worker
    // the lease runs out on the database's clock: whole seconds of real time plus the test's shift,
    // so a second boundary may pass between the claim and the look; 5 s short of it is safely short
    pier.clock.advance((LEASE - 5) * 1000);
    expect(await runner.drain()).toBe(0);
    pier.clock.advance(5000);
    expect(await runner.drain()).toBe(1);
    const r = await row('dies_before');
    expect(r).toMatchObject({ state: 'executed', lease_owner: null });
    const ps = await paymentsOf('dies_before');
    expect(ps.map((p) => p.status)).toEqual(['paid']);
    expect(await approvalsFor(ps.map((p) => p.imp_uid))).toHaveLength(1);
    await signIn();
  });

  it('after the PG approved: its approval executed the schedule in the same commit, so nothing is taken over or charged again', async () => {
    await scheduleOne('dies_after');
    const [s] = await claimDueSchedules(pier.store, { now: now(), owner: 'dead', leaseSeconds: LEASE, limit: 10 });
    // what the dead worker did: chose an imp_uid, recorded it, charged
    const impUid = newImpUid();
    await pier.store.db.updateTable('payment_schedules').set({ imp_uid: impUid, attempts: 1 }).where('id', '=', s.id).execute();
    const paid = await payAgain(pier.deps, { ...orderFor(s), impUid });
    expect(paid.status).toBe('paid');
    expect(await row('dies_after')).toMatchObject({ state: 'executed', imp_uid: impUid, attempts: 1, lease_owner: null, lease_until: 0, executed_at: now() });
    pier.clock.advance(LEASE * 1000);
    expect(await runner.drain()).toBe(0);
    expect(await row('dies_after')).toMatchObject({ state: 'executed', imp_uid: impUid, attempts: 1 });
    expect((await paymentsOf('dies_after')).map((p) => p.imp_uid)).toEqual([impUid]);
    expect(await approvalsFor([impUid])).toHaveLength(1);
    await signIn();
  });

  it('a schedule left `running` after its approval (by a Pier from before approvals executed schedules): taken over, recorded, not charged again', async () => {
    await scheduleOne('dies_after_old');
    const [s] = await claimDueSchedules(pier.store, { now: now(), owner: 'dead', leaseSeconds: LEASE, limit: 10 });
    const impUid = newImpUid();
    await pier.store.db.updateTable('payment_schedules').set({ imp_uid: impUid, attempts: 1 }).where('id', '=', s.id).execute();
    const paid = await payAgain(pier.deps, { ...orderFor(s), impUid });
    expect(paid.status).toBe('paid');
    // what an older Pier left: the approval recorded, the schedule still leased
    await pier.store.db.updateTable('payment_schedules').set({ state: 'running', lease_owner: 'dead', executed_at: 0 }).where('id', '=', s.id).execute();
    pier.clock.advance(LEASE * 1000);
    expect(await runner.drain()).toBe(1);
    expect(await row('dies_after_old')).toMatchObject({ state: 'executed', imp_uid: impUid, attempts: 1, lease_owner: null });
    expect((await paymentsOf('dies_after_old')).map((p) => p.imp_uid)).toEqual([impUid]);
    expect(await approvalsFor([impUid])).toHaveLength(1);
    await signIn();
  });

  it('mid-call (attempt left `calling`, the PG never got it): settled by asking the PG, then charged once', async () => {
    await scheduleOne('dies_mid');
    const [s] = await claimDueSchedules(pier.store, { now: now(), owner: 'dead', leaseSeconds: LEASE, limit: 10 });
    const impUid = newImpUid();
    await pier.store.db.updateTable('payment_schedules').set({ imp_uid: impUid, attempts: 1 }).where('id', '=', s.id).execute();
    const template = (await pier.store.db.selectFrom('payments').selectAll().where('merchant_id', '=', m.merchantId).executeTakeFirstOrThrow());
    await pier.store.db
      .insertInto('payments')
      .values({ ...template, imp_uid: impUid, merchant_uid: 'dies_mid', merchant_uid_lock: 'dies_mid', status: 'ready', pg_state: 'calling', pg_tid: null, apply_num: null, paid_at: 0, customer_uid_usage: 'payment.scheduled', started_at: now(), updated_at: now() })
      .execute();
    pier.clock.advance(LEASE * 1000);
    // taken over: the attempt is older than the grace, the PG has no record of it → technical → retried after a backoff
    expect(await runner.drain()).toBe(1);
    let r = await row('dies_mid');
    expect(r.state).toBe('scheduled');
    expect(r.due_at).toBeGreaterThan(now());
    expect((await paymentsOf('dies_mid')).map((p) => [p.status, p.fail_reason?.slice(0, 14)])).toEqual([['failed', '[PG_NO_RECORD]']]);
    pier.clock.set(r.due_at * 1000);
    expect(await runner.drain()).toBe(1);
    r = await row('dies_mid');
    expect(r).toMatchObject({ state: 'executed', attempts: 2 });
    const ps = await paymentsOf('dies_mid');
    expect(ps.map((p) => p.status)).toEqual(['failed', 'paid']);
    expect(await approvalsFor(ps.map((p) => p.imp_uid))).toHaveLength(1);
    await signIn();
  });
});

describe('failures', () => {
  it('retries a technical failure (PG unreachable) with backoff, then charges once', async () => {
    await scheduleOne('tech');
    const unreachable: Deps = {
      ...pier.deps,
      connectors: createConnectorRegistry({ jtnet: { baseUrl: `http://127.0.0.1:${await closedPort()}`, connectTimeoutMs: 500, readTimeoutMs: 500 } }),
    };
    const down = new JobRunner({ queues: [scheduleQueue(unreachable)], logger: pier.deps.logger });
    expect(await down.drain()).toBe(1);
    let r = await row('tech');
    expect(r).toMatchObject({ state: 'scheduled', attempts: 1, imp_uid: null });
    const wait1 = r.due_at - now();
    expect(wait1).toBeGreaterThanOrEqual(45);
    expect(wait1).toBeLessThanOrEqual(75);
    const v1 = await pier.call('GET', '/subscribe/payments/schedule/tech', { token: m.token });
    expect(v1.body.response).toMatchObject({ schedule_status: 'scheduled', payment_status: null });
    expect(await down.drain()).toBe(0); // not due yet
    pier.clock.set(r.due_at * 1000);
    expect(await down.drain()).toBe(1);
    r = await row('tech');
    expect(r.attempts).toBe(2);
    expect(r.due_at - now()).toBeGreaterThanOrEqual(90); // 2 min ±25 %
    pier.clock.set(r.due_at * 1000);
    expect(await runner.drain()).toBe(1); // the PG is back
    r = await row('tech');
    expect(r).toMatchObject({ state: 'executed', attempts: 3 });
    const ps = await paymentsOf('tech');
    expect(ps.map((p) => p.status)).toEqual(['failed', 'failed', 'paid']);
    expect(ps[0].fail_reason).toContain('PG_UNREACHABLE');
    expect(await approvalsFor(ps.map((p) => p.imp_uid))).toHaveLength(1);
    await signIn();
  });

  it('gives a schedule up as failed after the last technical attempt, and reports it', async () => {
    await scheduleOne('tech_out');
    const unreachable: Deps = {
      ...pier.deps,
      connectors: createConnectorRegistry({ jtnet: { baseUrl: `http://127.0.0.1:${await closedPort()}`, connectTimeoutMs: 500, readTimeoutMs: 500 } }),
    };
    const down = new JobRunner({ queues: [scheduleQueue(unreachable)], logger: pier.deps.logger });
    for (let i = 0; i < DEFAULT_SCHEDULE_POLICY.maxAttempts; i++) {
      await down.drain();
      pier.clock.advance(2 * 3600_000);
    }
    await signIn();
    const r = await row('tech_out');
    expect(r).toMatchObject({ state: 'executed', attempts: DEFAULT_SCHEDULE_POLICY.maxAttempts });
    const v1 = (await pier.call('GET', '/subscribe/payments/schedule/tech_out', { token: m.token })).body.response;
    expect(v1).toMatchObject({ schedule_status: 'executed', payment_status: 'failed' });
    expect(v1.fail_reason).toContain('PG_UNREACHABLE');
    const events = await pier.store.db.selectFrom('webhook_events').select(['status', 'cause', 'imp_uid']).where('merchant_uid', '=', 'tech_out').execute();
    expect(events).toEqual([{ status: 'failed', cause: 'schedule', imp_uid: v1.imp_uid }]);
  });

  it('leaves a charge in doubt (PG timeout) leased, and records it once the PG is asked', async () => {
    const slow = testCardNumber({ kftcCode: '381', lastFour: '1098' });
    const key = await pier.call('POST', '/subscribe/customers/lease_slow', { token: m.token, body: { card_number: slow, expiry: '2030-12' } });
    expect(key.body.code).toBe(0);
    // the immediate inquiry after the timeout fails too, so the attempt stays in doubt
    await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'trans_search' }) });
    await scheduleOne('doubt', 'lease_slow');
    expect(await runner.drain()).toBe(1);
    let r = await row('doubt');
    expect(r.state).toBe('running');
    expect((await paymentsOf('doubt')).map((p) => [p.status, p.pg_state])).toEqual([['ready', 'in_doubt']]);
    expect(await runner.drain()).toBe(0); // still leased while the outcome is unknown
    pier.clock.advance((DEFAULT_SCHEDULE_POLICY.inDoubtWaitSeconds + DEFAULT_SCHEDULE_POLICY.reconcileGraceSeconds) * 1000);
    expect(await runner.drain()).toBe(1);
    r = await row('doubt');
    expect(r).toMatchObject({ state: 'executed', attempts: 1 });
    const ps = await paymentsOf('doubt');
    expect(ps.map((p) => p.status)).toEqual(['paid']);
    expect(await approvalsFor(ps.map((p) => p.imp_uid))).toHaveLength(1);
    await signIn();
  });

  it('records a declined scheduled charge as failed at once: never retried, reported once', async () => {
    const later = testCardNumber({ kftcCode: '365', lastFour: '1051' });
    await pier.call('POST', '/subscribe/customers/lease_decl', { token: m.token, body: { card_number: later, expiry: '2030-12' } });
    await scheduleOne('declined', 'lease_decl');
    expect(await runner.drain()).toBe(1);
    for (let i = 0; i < 3; i++) {
      pier.clock.advance(24 * 3600_000);
      expect(await runner.drain()).toBe(0);
    }
    expect(await row('declined')).toMatchObject({ state: 'executed', attempts: 1 });
    expect((await paymentsOf('declined')).map((p) => p.status)).toEqual(['failed']);
    const events = await pier.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('merchant_uid', '=', 'declined').execute();
    expect(events).toEqual([{ status: 'failed', cause: 'schedule' }]);
    await signIn();
  });

  it('fails a schedule whose billing key was deleted, with a failed payment and webhook', async () => {
    await pier.call('POST', '/subscribe/customers/lease_gone', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '6161' }), expiry: '2030-12' } });
    await scheduleOne('gone', 'lease_gone', 120);
    await signIn();
    await pier.call('DELETE', '/subscribe/customers/lease_gone', { token: m.token });
    expect(await runner.drain()).toBe(1);
    const v1 = (await pier.call('GET', '/subscribe/payments/schedule/gone', { token: m.token })).body.response;
    expect(v1).toMatchObject({ schedule_status: 'executed', payment_status: 'failed', fail_reason: '등록되지 않은 구매자입니다.' });
    const p = (await pier.call('GET', `/payments/${v1.imp_uid}`, { token: m.token })).body.response;
    expect(p).toMatchObject({ status: 'failed', customer_uid: 'lease_gone', customer_uid_usage: 'payment.scheduled' });
    const retry = await pier.call('POST', '/subscribe/payments/schedule/gone/retry', { token: m.token });
    expect(retry.status).toBe(404);
  });
});

describe('a worker whose lease was taken over before it charged', () => {
  /** `slow` claims the schedule, its lease runs out, and `fast` takes it over: `slow` then goes on with its stale row. */
  async function takenOver(merchantUid: string, customerUid: string) {
    await scheduleOne(merchantUid, customerUid);
    const [stale] = await claimDueSchedules(pier.store, { now: now(), owner: 'slow', leaseSeconds: LEASE, limit: 10 });
    expect(stale.merchant_uid).toBe(merchantUid);
    pier.clock.advance(LEASE * 1000);
    const [current] = await claimDueSchedules(pier.store, { now: now(), owner: 'fast', leaseSeconds: LEASE, limit: 10 });
    expect(current).toMatchObject({ id: stale.id, lease_owner: 'fast' });
    return { stale, current };
  }

  it('records nothing and charges nothing: the lease is checked in the attempt’s own commit', async () => {
    await pier.call('POST', '/subscribe/customers/lease_race', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '6262' }), expiry: '2030-12' } });
    const { stale, current } = await takenOver('race', 'lease_race');
    expect(await runClaimedSchedule(pier.deps, stale, 'slow')).toEqual({ outcome: 'lost', impUid: null });
    expect(await paymentsOf('race')).toEqual([]);
    expect(await row('race')).toMatchObject({ state: 'running', lease_owner: 'fast', imp_uid: null, attempts: 0 });
    // the worker that holds it charges it, once
    const done = await runClaimedSchedule(pier.deps, current, 'fast');
    expect(done.outcome).toBe('paid');
    expect(await row('race')).toMatchObject({ state: 'executed', imp_uid: done.impUid, attempts: 1, lease_owner: null });
    expect((await paymentsOf('race')).map((p) => [p.imp_uid, p.status])).toEqual([[done.impUid, 'paid']]);
    expect(await approvalsFor([done.impUid!])).toHaveLength(1);
    await signIn();
  });

  it('records nothing either when its billing key is gone meanwhile (no failed payment under the lost lease)', async () => {
    await pier.call('POST', '/subscribe/customers/lease_race_gone', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '6363' }), expiry: '2030-12' } });
    const { stale } = await takenOver('race_gone', 'lease_race_gone');
    await signIn();
    await pier.call('DELETE', '/subscribe/customers/lease_race_gone', { token: m.token });
    expect(await runClaimedSchedule(pier.deps, stale, 'slow')).toEqual({ outcome: 'lost', impUid: null });
    expect(await paymentsOf('race_gone')).toEqual([]);
    expect(await row('race_gone')).toMatchObject({ state: 'running', lease_owner: 'fast', imp_uid: null });
  });
});

describe('a scheduled charge in doubt, settled by reconciliation', () => {
  it('the approval reconciliation records executes the schedule in the same commit, before its worker looks again', async () => {
    const slow = testCardNumber({ kftcCode: '381', lastFour: '1098' });
    expect((await pier.call('POST', '/subscribe/customers/lease_slow_rec', { token: m.token, body: { card_number: slow, expiry: '2030-12' } })).body.code).toBe(0);
    // the immediate inquiry after the timeout fails, so the attempt stays in doubt
    await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'trans_search' }) });
    await scheduleOne('doubt_rec', 'lease_slow_rec');
    expect(await runner.drain()).toBe(1);
    const leased = await row('doubt_rec');
    expect(leased.state).toBe('running');
    const [attempt] = await paymentsOf('doubt_rec');
    expect(attempt).toMatchObject({ imp_uid: leased.imp_uid, status: 'ready', pg_state: 'in_doubt' });

    // reconciliation asks the PG, which approved it
    expect(await settleAttempt(pier.deps, attempt.imp_uid, { giveUpIfUnknown: true })).toBe('paid');
    expect(await row('doubt_rec')).toMatchObject({ state: 'executed', imp_uid: attempt.imp_uid, attempts: 1, executed_at: now(), lease_owner: null, lease_until: 0 });
    const events = await pier.store.db.selectFrom('webhook_events').select(['status', 'cause']).where('merchant_uid', '=', 'doubt_rec').execute();
    expect(events).toEqual([{ status: 'paid', cause: 'schedule' }]);

    // its worker's next look finds nothing left to do
    pier.clock.advance((DEFAULT_SCHEDULE_POLICY.inDoubtWaitSeconds + DEFAULT_SCHEDULE_POLICY.reconcileGraceSeconds) * 1000);
    expect(await runner.drain()).toBe(0);
    expect(await approvalsFor([attempt.imp_uid])).toHaveLength(1);
    await signIn();
  });
});
