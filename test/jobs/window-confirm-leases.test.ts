/**
 * Window acknowledgement rows (window_confirms) and sandbox time. They are leased like schedules
 * and webhook deliveries: the lease runs out on the database's clock (decision 0009), so moving the
 * sandbox clock while a worker holds a row never hands it to a second worker (two confirms or
 * inquiries of one approval at once, the first one's outcome dropped by the fence). They fall due
 * on the sandbox clock, so a reset moves them back with it, as it moves webhook retries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimWindowConfirms, confirmLeaseSeconds, confirmNow, enqueueWindowConfirm, enqueueWindowRecheck, PG_WINDOW_LIFETIME_SECONDS } from '../../src/core/checkout/window-confirms.js';
import { advanceSandboxClock, resetSandboxClock } from '../../src/core/sandbox/clock.js';
import { unixSeconds } from '../../src/lib/clock.js';
import { startTestPier, type TestPier } from '../harness.js';

let pier: TestPier;
beforeAll(async () => {
  pier = await startTestPier({ sandboxClock: true });
});
afterAll(() => pier?.close());

const rowOf = (impUid: string) => pier.store.db.selectFrom('window_confirms').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();

describe('a window acknowledgement held by a worker', () => {
  it('is not claimed by a second worker when the sandbox clock is advanced meanwhile, only once its lease has run out', async () => {
    await enqueueWindowConfirm(pier.deps, 'imp_lease00001', 'ch_gone', 'tid_lease_1');
    const first = await claimWindowConfirms(pier.deps, { owner: 'worker-a', limit: 10 });
    expect(first.map((r) => r.imp_uid)).toEqual(['imp_lease00001']);

    // `pier sandbox clock advance 1d` while worker-a is still waiting on the PG
    await advanceSandboxClock(pier.store, 86_400_000, pier.deps.clock);
    expect(await claimWindowConfirms(pier.deps, { owner: 'worker-b', limit: 10 })).toEqual([]);
    // nor does the request path take it
    await confirmNow(pier.deps, 'imp_lease00001', 'tid_lease_1');
    expect((await rowOf('imp_lease00001')).lease_owner).toBe('worker-a');

    // worker-a died: its lease runs out on the database's clock, and the row is taken over
    pier.clock.advance((confirmLeaseSeconds(pier.deps) + 1) * 1000);
    const taken = await claimWindowConfirms(pier.deps, { owner: 'worker-b', limit: 10 });
    expect(taken.map((r) => [r.imp_uid, r.lease_owner])).toEqual([['imp_lease00001', 'worker-b']]);
  });
});

describe('a window acknowledgement or recheck written while the sandbox clock ran ahead', () => {
  it('is still due when it was meant to be after `pier sandbox clock reset`: not stranded by the offset', async () => {
    await advanceSandboxClock(pier.store, 30 * 86_400_000, pier.deps.clock);
    // the request path wrote a confirm (due now) and a recheck (due in 30 minutes) at sandbox time
    await enqueueWindowConfirm(pier.deps, 'imp_reset00001', 'ch_gone', 'tid_reset_1');
    await enqueueWindowRecheck(pier.deps, 'imp_reset00002', 'ch_gone', unixSeconds(pier.deps.clock) + PG_WINDOW_LIFETIME_SECONDS);
    await resetSandboxClock(pier.store, pier.deps.clock);

    const now = await claimWindowConfirms(pier.deps, { owner: 'after-reset', limit: 10 });
    expect(now.map((r) => r.imp_uid).filter((id) => id.startsWith('imp_reset'))).toEqual(['imp_reset00001']);
    await pier.store.db.updateTable('window_confirms').set({ state: 'done', lease_owner: null, lease_until: 0 }).where('imp_uid', '=', 'imp_reset00001').execute();
    // the recheck is due half an hour after it was written, as it was meant to be, not 30 days on
    pier.clock.advance(PG_WINDOW_LIFETIME_SECONDS * 1000);
    const later = await claimWindowConfirms(pier.deps, { owner: 'after-reset', limit: 10 });
    expect(later.map((r) => r.imp_uid).filter((id) => id.startsWith('imp_reset'))).toEqual(['imp_reset00002']);
  });
});
