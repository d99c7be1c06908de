/**
 * "One stuck row never delays another merchant", for deposit checks (decision 0086): a merchant
 * whose PG holds every inquiry until Pier's read timeout (a PG that is down for its MID, a frozen
 * proxy) must not take both slots of the deposit-check lane, or every other merchant's deposit
 * waits behind all of its older checks, one read timeout per two of them. Pier in-process, the
 * tPay simulator over real HTTP (its `hold` fault on one MID's inquiries), the real job runner.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rspOf } from '../buyer-forms.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { rig, uid } from './window-rig.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { vbankDepositCheckQueue } from '../../src/jobs/handlers/vbank-deposit-checks.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { addChannel } from '../../src/core/merchants/channels.js';

const HOUR = 3_600_000;
/** the slow merchant's own MID at the simulator, so only its inquiries are held */
const SLOW_MID = 'slowdeposit1m';

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
  const m = await createMerchant(pier.deps, { name: 'slow deposits' });
  await addChannel(pier.deps, m.merchantId, { provider: 'jtnet', mid: SLOW_MID, merchantKey, cancelPassword: '123456', kind: 'window', sandbox: true, name: 'slow MID' });
  slow = { ...m, token: '' } as TestMerchant;
  other = await pier.newMerchant();
});
afterAll(() => pier.close());

async function issue(m: TestMerchant) {
  const r = rig(() => ({ pier, m }));
  const w = await r.openWindow({ pay_method: 'vbank', amount: 17000, merchant_uid: uid('fair') });
  const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
  expect(rspOf((await r.postPier(issued.action, issued.fields)).html)).toMatchObject({ success: true, status: 'ready' });
  return w;
}

const paymentOf = (impUid: string) => pier.store.db.selectFrom('payments').select(['status', 'deposit_check_at']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
const held = async () => ((await (await fetch(`${pier.simulatorUrl}/__control/holds`)).json()) as { held: number }).held;
/** the hold faults not yet taken by an inquiry about the slow merchant's MID */
const faultsLeft = async () => ((await (await fetch(`${pier.simulatorUrl}/__control/faults`)).json()) as { pending: unknown[] }).pending.length;
const HELD_INQUIRIES = 20;

describe('the deposit-check lane, with one merchant whose PG holds its inquiries', () => {
  it("records another merchant's deposit while the slow merchant's older checks are still held at the PG", async () => {
    const slowAccounts = [];
    for (let i = 0; i < 4; i++) slowAccounts.push(await issue(slow));
    const paidInto = await issue(other);
    // the slow merchant's checks fall due first
    const first = Number((await paymentOf(paidInto.impUid)).deposit_check_at);
    for (const [i, w] of slowAccounts.entries()) await pier.store.db.updateTable('payments').set({ deposit_check_at: first - 10 + i }).where('imp_uid', '=', w.impUid).execute();
    // the deposit into the other merchant's account, whose notice never reached Pier
    const dep = await fetch(`${pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: paidInto.impUid, amount: 17000 }) });
    expect(dep.status).toBe(200);
    // every inquiry about the slow merchant's MID is held (a frozen PG for that MID)
    const fault = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'hold', op: 'trans_search', mid: SLOW_MID, times: HELD_INQUIRIES }) });
    expect(fault.status).toBe(201);
    pier.clock.advance(HOUR);

    const runner = new JobRunner({ queues: [vbankDepositCheckQueue(pier.deps)], logger: pier.deps.logger, idleMs: 20 });
    runner.start();
    let whenPaid = { slowInquiries: -1, held: -1 };
    try {
      for (let i = 0; i < 2_000; i++) {
        if ((await paymentOf(paidInto.impUid)).status === 'paid') {
          whenPaid = { slowInquiries: HELD_INQUIRIES - (await faultsLeft()), held: await held() };
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await paymentOf(paidInto.impUid)).status).toBe('paid');
      // recorded while the slow merchant's first inquiry was still held (before its 2 s read
      // timeout): not after every one of its 4 older checks had been asked and timed out, two at a time
      expect(whenPaid).toEqual({ slowInquiries: 1, held: 1 });
    } finally {
      await runner.stop(0);
      await fetch(`${pier.simulatorUrl}/__control/holds/release`, { method: 'POST' });
      await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'DELETE' });
    }
  });
});
