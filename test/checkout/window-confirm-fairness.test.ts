/**
 * "One stuck row never delays another merchant", for the window acknowledgement lane
 * (window_confirms: resultConfirm and rechecks of window results at the PG; decision 0107): a
 * merchant with many abandoned windows whose rechecks all ask a PG that holds every inquiry until
 * Pier's read timeout (its MID down at the PG, a channel base URL that never answers) must not take
 * every slot of the lane, or another merchant's approval waits unacknowledged behind all of its
 * rechecks due earlier, one read timeout per five of them, while the PG's net-cancel clock runs.
 * Pier in-process, the tPay simulator over real HTTP (its `hold` fault on one MID's inquiries), the
 * real job runner.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { card, cardFields, rig } from './window-rig.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { addChannel } from '../../src/core/merchants/channels.js';

/** the slow merchant's own MID at the simulator, so only its inquiries are held */
const SLOW_MID = 'slowconfirm1m';
/** more of the slow merchant's rechecks due first than the lane has slots (5) */
const SLOW_RECHECKS = 6;
const HELD_INQUIRIES = 20;

let pier: TestPier;
let slow: TestMerchant;
let other: TestMerchant;

beforeAll(async () => {
  // held answers outlive Pier's read timeout (2 s): each held inquiry holds its slot that long
  pier = await startTestPier({ simulatorSlowMs: 60_000 });
  const merchantKey = randomBytes(64).toString('base64');
  const registered = await fetch(`${pier.simulatorUrl}/__control/merchants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mid: SLOW_MID, merchantKey, cancelPassword: '123456' }),
  });
  expect(registered.status).toBe(201);
  const m = await createMerchant(pier.deps, { name: 'slow confirms' });
  await addChannel(pier.deps, m.merchantId, { provider: 'jtnet', mid: SLOW_MID, merchantKey, cancelPassword: '123456', kind: 'window', sandbox: true, name: 'slow MID' });
  slow = { ...m, token: '' } as TestMerchant;
  other = await pier.newMerchant();
});
afterAll(() => pier.close());

const rowsOf = (impUid: string) => pier.store.db.selectFrom('window_confirms').select(['pg_tid', 'state']).where('imp_uid', '=', impUid).execute();
const held = async () => ((await (await fetch(`${pier.simulatorUrl}/__control/holds`)).json()) as { held: number }).held;
/** the hold faults not yet taken by an inquiry about the slow merchant's MID */
const faultsLeft = async () => ((await (await fetch(`${pier.simulatorUrl}/__control/faults`)).json()) as { pending: unknown[] }).pending.length;

describe('the window acknowledgement lane, with one merchant whose PG holds its inquiries', () => {
  it("acknowledges another merchant's approval while the slow merchant's older rechecks are still held at the PG", async () => {
    // the slow merchant's buyers close their windows: each attempt leaves a recheck, due once its
    // PG window can no longer be submitted
    const slowRig = rig(() => ({ pier, m: slow }));
    for (let i = 0; i < SLOW_RECHECKS; i++) {
      const w = await slowRig.openWindow({});
      expect((await slowRig.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' })).status).toBe(200);
      expect(await rowsOf(w.impUid)).toEqual([{ pg_tid: '', state: 'pending' }]);
    }
    pier.clock.advance(31 * 60_000);

    // the other merchant's buyer pays; the process died between writing the acknowledgement row and
    // recording the approval, so the lane is what records and acknowledges it (due after the rechecks)
    const otherRig = rig(() => ({ pier, m: other }));
    const w = await otherRig.openWindow({});
    const result = await otherRig.actInWindow(w, { action: 'pay', ...cardFields(card()) });
    expect(result.fields.resultCd).toBe('3001');
    await enqueueWindowConfirm(pier.deps, w.impUid, (await otherRig.payment(w.impUid)).channel_id!, result.fields.tid);
    expect((await otherRig.ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: null });

    // every inquiry about the slow merchant's MID is held (a frozen PG for that MID)
    const fault = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'hold', op: 'trans_search', mid: SLOW_MID, times: HELD_INQUIRIES }) });
    expect(fault.status).toBe(201);

    const runner = new JobRunner({ queues: [windowConfirmQueue(pier.deps)], logger: pier.deps.logger, idleMs: 20 });
    runner.start();
    let whenConfirmed = { slowInquiries: -1, held: -1 };
    try {
      for (let i = 0; i < 4_000; i++) {
        if ((await otherRig.ledgerTx(w.impUid))[0]?.confirmedAt != null) {
          whenConfirmed = { slowInquiries: HELD_INQUIRIES - (await faultsLeft()), held: await held() };
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await otherRig.ledgerTx(w.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: expect.any(Number) });
      expect(await otherRig.payment(w.impUid)).toMatchObject({ status: 'paid', pg_tid: result.fields.tid });
      // acknowledged while the slow merchant's first two inquiries (its room: half the lane's 5
      // slots) were still held, before their 2 s read timeout: not after its rechecks had taken
      // all five slots and the first of them had timed out
      expect(whenConfirmed).toEqual({ slowInquiries: 2, held: 2 });
    } finally {
      await runner.stop(0);
      await fetch(`${pier.simulatorUrl}/__control/holds/release`, { method: 'POST' });
      await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'DELETE' });
    }
  });
});
