/**
 * A deposit into a window virtual account whose notice never reaches Pier (Pier was down when the PG
 * sent it; the PG gave up): Pier learnt of it only if, after the account's deadline, something asked
 * for the order's merchant_uid, and otherwise never. Now Pier asks the PG on a bounded schedule: an
 * hour after the account is issued, daily while it is open, and once just after its deadline
 * (decision 0086, src/domain/deposit-checks.ts).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { rspOf } from '../buyer-forms.js';
import { depsWith } from '../harness.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { vbankDepositCheckQueue } from '../../src/jobs/handlers/vbank-deposit-checks.js';
import type { Deps } from '../../src/core/deps.js';
import { advanceSandboxClock, resetSandboxClock } from '../../src/core/sandbox/clock.js';
import { windowRig, uid } from './window-rig.js';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { PG_LEFT_OUT_WAIT_SECONDS } from '../../src/core/merchants/channels.js';
import { unixSeconds } from '../../src/lib/clock.js';
import { openStore } from '../../src/store/db.js';

// not listening: no notice the simulator sends can reach this Pier, as when it was down
const r = windowRig();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const checks = (deps: Deps) => new JobRunner({ queues: [vbankDepositCheckQueue(deps)], logger: deps.logger }).drain();

async function issue(params: Record<string, unknown> = {}) {
  const w = await r.openWindow({ pay_method: 'vbank', amount: 17000, merchant_uid: uid('dcheck'), ...params });
  const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
  expect(rspOf((await r.postPier(issued.action, issued.fields)).html)).toMatchObject({ success: true, status: 'ready' });
  return w;
}

const depositAtPg = async (impUid: string) =>
  (await (await fetch(`${r.pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: impUid, amount: 17000 }) })).json()) as { status: string; notice: unknown };

describe('a deposit whose notice never reached Pier', () => {
  it('is recorded by the check an hour after the account was issued, with its paid webhook', async () => {
    const w = await issue();
    const dep = await depositAtPg(w.impUid);
    expect({ status: dep.status, notice: dep.notice }).toEqual({ status: 'paid', notice: null });
    await checks(r.pier.deps);
    expect((await r.payment(w.impUid)).status).toBe('ready');

    r.pier.clock.advance(HOUR);
    await checks(r.pier.deps);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, paid_at: Number(p.paid_at) > 0, lock: p.merchant_uid_lock, next: p.deposit_check_at }).toEqual({ status: 'paid', paid_at: true, lock: w.merchantUid, next: null });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready', 'paid']);
  });
});

describe('a check the PG cannot answer, before the deadline', () => {
  it('is made again within the hour, which records the deposit', async () => {
    // the dates of the accounts issued by the tests below are the clock's: it is set back after
    const before = r.pier.clock.now();
    onTestFinished(() => r.pier.clock.set(before));
    const w = await issue();
    await depositAtPg(w.impUid);
    r.pier.clock.advance(HOUR);
    const pgDown = depsWith(r.pier.deps, (real) => ({
      inquire: (...a: Parameters<typeof real.inquire>) => (a[1].moid === w.impUid ? Promise.reject(new ConnectorError('timeout', 'no answer from the PG', false, true)) : real.inquire(...a)),
    }));
    await checks(pgDown);
    const waiting = await r.payment(w.impUid);
    expect({ status: waiting.status, next: Number(waiting.deposit_check_at) }).toEqual({ status: 'ready', next: unixSeconds(r.pier.clock) + 3600 });

    r.pier.clock.advance(HOUR);
    await checks(r.pier.deps);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, next: p.deposit_check_at }).toEqual({ status: 'paid', next: null });
  });
});

describe('a deposit the PG holds that Pier cannot record, before the deadline', () => {
  it('is left for an operator and asked about again a day on, not sooner', async () => {
    // the dates of the accounts issued by the tests below are the clock's: it is set back after
    const before = r.pier.clock.now();
    onTestFinished(() => r.pier.clock.set(before));
    const w = await issue();
    await depositAtPg(w.impUid);
    r.pier.clock.advance(HOUR);
    // the PG reports another amount than the account's (recordVbankDeposit: wrong_amount)
    const otherAmount = depsWith(r.pier.deps, (real) => ({
      inquire: async (...a: Parameters<typeof real.inquire>) => {
        const found = await real.inquire(...a);
        return a[1].moid === w.impUid && found.found ? { ...found, amount: found.amount + 1 } : found;
      },
    }));
    await checks(otherAmount);
    const left = await r.payment(w.impUid);
    expect({ status: left.status, next: Number(left.deposit_check_at) }).toEqual({ status: 'ready', next: unixSeconds(r.pier.clock) + 86_400 });

    r.pier.clock.advance(DAY - 1000);
    await checks(r.pier.deps);
    expect((await r.payment(w.impUid)).status).toBe('ready');
    r.pier.clock.advance(1000);
    await checks(r.pier.deps);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, next: p.deposit_check_at }).toEqual({ status: 'paid', next: null });
  });
});

describe('a check made by a process that leaves the PG out', () => {
  it('waits for a process with the PG (decision 0080), not giving the account up, and the next check records the deposit', async () => {
    const w = await issue();
    await depositAtPg(w.impUid);
    r.pier.clock.advance(HOUR);
    // a Pier process on the same database without JTNET's settings runs the due check
    const store = openStore(r.pier.databaseUrl, { poolSize: 5 });
    const connectors = createConnectorRegistry({}, { clock: r.pier.clock });
    try {
      expect(connectors.unconfigured().map((p) => p.provider)).toEqual(['jtnet']);
      await checks({ ...r.pier.deps, store, connectors });
    } finally {
      await connectors.close();
      await store.close();
    }
    const waiting = await r.payment(w.impUid);
    expect({ status: waiting.status, next: Number(waiting.deposit_check_at) }).toEqual({ status: 'ready', next: unixSeconds(r.pier.clock) + PG_LEFT_OUT_WAIT_SECONDS });

    r.pier.clock.advance(PG_LEFT_OUT_WAIT_SECONDS * 1000);
    await checks(r.pier.deps);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, next: p.deposit_check_at }).toEqual({ status: 'paid', next: null });
  });
});

describe('the last check, after the deadline, made by a process that leaves the PG out', () => {
  it('waits for a process with the PG as the checks before it do, and that process records the deposit made in time', async () => {
    const w = await issue();
    await depositAtPg(w.impUid);
    // no check ran before the deadline (Pier was down): the first one is made after it
    const issued = await r.payment(w.impUid);
    // the simulator dates accounts by its own clock: Pier's is set back after, for the tests below
    const before = r.pier.clock.now();
    onTestFinished(() => r.pier.clock.set(before));
    r.pier.clock.set((Number(issued.vbank_date) + 3600) * 1000);
    const store = openStore(r.pier.databaseUrl, { poolSize: 5 });
    const connectors = createConnectorRegistry({}, { clock: r.pier.clock });
    try {
      await checks({ ...r.pier.deps, store, connectors });
    } finally {
      await connectors.close();
      await store.close();
    }
    const waiting = await r.payment(w.impUid);
    expect({ status: waiting.status, lock: waiting.merchant_uid_lock, next: Number(waiting.deposit_check_at) }).toEqual({
      status: 'ready',
      lock: w.merchantUid,
      next: unixSeconds(r.pier.clock) + PG_LEFT_OUT_WAIT_SECONDS,
    });

    r.pier.clock.advance(PG_LEFT_OUT_WAIT_SECONDS * 1000);
    await checks(r.pier.deps);
    const p = await r.payment(w.impUid);
    expect({ status: p.status, lock: p.merchant_uid_lock, next: p.deposit_check_at }).toEqual({ status: 'paid', lock: w.merchantUid, next: null });
  });
});

describe('an account never paid into', () => {
  it('is asked about an hour after issue, daily, and once after its deadline, which frees its merchant_uid; then never again', async () => {
    // issued on 2026-11-30 (KST), due 2026-12-03 23:59:59 KST
    const w = await issue({ vbank_due: '2026-12-03' });
    let asked = 0;
    const counted = depsWith(r.pier.deps, (real) => ({
      inquire: (...a: Parameters<typeof real.inquire>) => {
        if (a[1].moid === w.impUid) asked++;
        return real.inquire(...a);
      },
    }));
    for (let h = 0; h < 24 * 10; h++) {
      r.pier.clock.advance(HOUR);
      await checks(counted);
    }
    const p = await r.payment(w.impUid);
    // an hour after issue; then daily on Dec 1, 2 and 3; then 10 minutes after the deadline
    expect({ asked, status: p.status, lock: p.merchant_uid_lock, next: p.deposit_check_at }).toEqual({ asked: 5, status: 'ready', lock: null, next: null });
  });
});

describe('the sandbox clock set back', () => {
  it('moves a deposit check back with it, as webhook retries and window acknowledgements', async () => {
    const w = await issue();
    const checkAt = Number((await r.payment(w.impUid)).deposit_check_at);
    // the check as a sandbox clock a day ahead would have set it
    await advanceSandboxClock(r.pier.store, DAY);
    await r.pier.deps.store.db.updateTable('payments').set({ deposit_check_at: checkAt + 86_400 }).where('imp_uid', '=', w.impUid).execute();
    await resetSandboxClock(r.pier.store);
    expect(Number((await r.payment(w.impUid)).deposit_check_at)).toBe(checkAt);
  });
});
