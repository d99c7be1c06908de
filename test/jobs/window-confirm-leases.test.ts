/**
 * Window acknowledgement rows (window_confirms) are leased like schedules and webhook deliveries:
 * the lease runs out on the database's clock (decision 0009), so moving the sandbox clock while a
 * worker holds a row never hands it to a second worker (two confirms or inquiries of one approval
 * at once, the first one's outcome dropped by the fence).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimWindowConfirms, confirmNow, CONFIRM_LEASE_SECONDS, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { advanceSandboxClock } from '../../src/core/sandbox/clock.js';
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
    pier.clock.advance((CONFIRM_LEASE_SECONDS + 1) * 1000);
    const taken = await claimWindowConfirms(pier.deps, { owner: 'worker-b', limit: 10 });
    expect(taken.map((r) => [r.imp_uid, r.lease_owner])).toEqual([['imp_lease00001', 'worker-b']]);
  });
});
