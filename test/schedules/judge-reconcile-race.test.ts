/**
 * A scheduled charge in doubt past its grace has two settlers: the schedule worker judging its own
 * attempt (run.ts judgeAttempt) and reconciliation (every 30 s, or another Pier's). Both asked the
 * PG at once, and on its "nothing" both gave the attempt up (NICE: both net-cancelled). Now the
 * worker takes the attempt for its check as reconciliation does, and the one that did not take it
 * waits for the other's record (decision 0115). Driven against the tPay simulator over real HTTP,
 * its inquiries held (`hold` faults) so both settlers are in flight at once; the simulator's fault
 * queue counts the inquiries it was sent. Both stores (TEST_DATABASE_URL for PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileGraceSeconds, reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const good = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let pier: TestPier;
let m: TestMerchant;
const now = () => Math.floor(pier.clock.now() / 1000);

beforeAll(async () => {
  // a held inquiry stays held until the test releases it: the read timeout and the simulator's
  // hold outlast the test's wait
  pier = await startTestPier({ readTimeoutMs: 60_000, simulatorSlowMs: 120_000 });
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

async function control(method: string, path: string, body?: unknown) {
  const res = await fetch(`${pier.simulatorUrl}${path}`, { method, ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as Record<string, unknown>;
}
const fault = (mode: 'http_500' | 'reset' | 'hold', op: string, times = 1) => control('POST', '/__control/faults', { mode, op, times });
const held = async () => Number((await control('GET', '/__control/holds')).held);
const faultsLeft = async () => ((await control('GET', '/__control/faults')).pending as unknown[]).length;

/** Polls `check` until it is true (no fixed sleep: a condition, on the simulator's and the test's own state). */
async function until(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 2_000; i++) {
    if (await check()) return;
    await new Promise((r) => setImmediate(r));
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

describe('a scheduled charge in doubt, judged by its worker while reconciliation settles it', () => {
  it('is asked about once, at the PG, and recorded paid once with one `paid` webhook', async () => {
    const key = await pier.call('POST', '/subscribe/customers/race_c', { token: m.token, body: { card_number: good, expiry: '2030-12' } });
    expect(key.body.code, JSON.stringify(key.body)).toBe(0);
    const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'race_c', schedules: [{ merchant_uid: 'race_m1', schedule_at: now() + 60, amount: 9_900, name: '월간 구독' }] } });
    expect(res.body.code, JSON.stringify(res.body)).toBe(0);
    pier.clock.advance(61_000);
    // the PG approves, its answer is lost, the inquiry right after fails too: in doubt, leased
    await fault('reset', 'payments_token');
    await fault('http_500', 'trans_search');
    expect(await new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger }).runOnce()).toBe(1);
    const schedule = () => pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', 'race_m1').executeTakeFirstOrThrow();
    const impUid = (await schedule()).imp_uid!;
    const payment = () => pier.store.db.selectFrom('payments').select(['status', 'pg_state', 'check_count']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(await payment()).toMatchObject({ status: 'ready', pg_state: 'in_doubt' });
    expect(await faultsLeft()).toBe(0);

    // past the worker's lease and the grace: both settlers find it due
    pier.clock.advance(3_600_000);
    await fault('hold', 'trans_search', 2);
    const graceSeconds = reconcileGraceSeconds(pier.deps.connectors);
    // the worker judges its attempt first: its inquiry is held at the PG
    const judge = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger }).runOnce();
    await until(async () => (await held()) === 1, "the worker's inquiry reached the PG");
    // a reconciliation pass meanwhile (every 30 s, or another Pier's) finds the same attempt due
    let passEnded = false;
    const pass = reconcileInDoubt(pier.deps, { graceSeconds }).finally(() => (passEnded = true));
    await until(async () => passEnded || (await held()) === 2, 'the pass asked the PG too, or left the attempt to the worker');
    expect(await held(), 'inquiries the PG was sent at once').toBe(1);
    expect(await faultsLeft(), 'inquiries the PG was sent in all').toBe(1);
    expect(await pass, 'the pass reports no attempt it did not settle').toEqual({});

    await control('POST', '/__control/holds/release');
    expect(await judge).toBe(1);
    expect(await faultsLeft(), 'inquiries the PG was sent in all').toBe(1);
    await control('DELETE', '/__control/faults');
    expect(await payment()).toMatchObject({ status: 'paid', pg_state: 'done' });

    expect(await schedule()).toMatchObject({ state: 'executed', imp_uid: impUid, fail_reason: null });
    const events = await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute();
    expect(events.map((e) => e.status)).toEqual(['paid']);
    const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: { moid: string; status: string; amount: number }[] };
    expect(ledger.approvals.filter((a) => a.moid === impUid).map((a) => [a.status, a.amount])).toEqual([['paid', 9_900]]);
  });
});
