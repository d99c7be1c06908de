/**
 * Unschedule racing execution: schedules fall due while the merchant revokes them. Claiming and
 * revoking are both conditional updates on the schedule's state, so every schedule ends either
 * revoked (and is in the unschedule answer, and is never charged) or executed (charged once, and
 * not in any unschedule answer). On PostgreSQL two runners with their own stores claim at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import type { Deps } from '../../src/core/deps.js';
import { claimDueSchedules } from '../../src/core/schedules/run.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { openStore, type Store } from '../../src/store/db.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const extraStores: Store[] = [];

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const issued = await pier.call('POST', '/subscribe/customers/race_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '5150' }), expiry: '2030-12' } });
  expect(issued.body.code).toBe(0);
});
afterAll(async () => {
  for (const s of extraStores) await s.close();
  await pier.close();
});

/** Another Pier instance on the same database (its own store and connector). */
function anotherInstance(): Deps {
  if (!process.env.TEST_DATABASE_URL) return pier.deps; // SQLite: one process by design
  const store = openStore(pier.databaseUrl, { poolSize: 10 });
  extraStores.push(store);
  return {
    ...pier.deps,
    store,
    connectors: createConnectorRegistry({ jtnet: { baseUrl: pier.simulatorUrl, connectTimeoutMs: 1000, readTimeoutMs: 5000 } }),
  };
}

async function scheduleDue(prefix: string, n: number) {
  const at = Math.floor(pier.clock.now() / 1000) + 60;
  const schedules = Array.from({ length: n }, (_, i) => ({ merchant_uid: `${prefix}_${i}`, schedule_at: at, amount: 100 + i, name: 'race' }));
  const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: 'race_c', schedules } });
  expect(res.body.code).toBe(0);
  pier.clock.advance(60_000);
  return schedules.map((s) => s.merchant_uid);
}

async function ledgerMoids(): Promise<string[]> {
  const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string }> };
  return ledger.approvals.map((a) => a.moid);
}

describe('unschedule racing execution', () => {
  it('never charges a schedule that an unschedule answer listed as revoked; charges every other one exactly once', async () => {
    const uids = await scheduleDue('race', 120);
    const runners = [pier.deps, anotherInstance()].map((deps) => new JobRunner({ queues: [scheduleQueue(deps, { batchSize: 10, concurrency: 4 })], logger: deps.logger }));
    const revokedByAnswer = new Set<string>();
    const refusedNothingLeft: string[] = [];
    // one unschedule call per merchant_uid, interleaved with the runners' claims
    const revokes = uids.map(async (uid) => {
      const res = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { customer_uid: 'race_c', merchant_uid: [uid] } });
      if (res.body.code === 0) {
        expect(res.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual([uid]);
        expect(res.body.response[0].schedule_status).toBe('revoked');
        revokedByAnswer.add(uid);
      } else {
        expect(res.body.message).toBe('취소할 예약결제 기록이 존재하지 않습니다.');
        refusedNothingLeft.push(uid);
      }
    });
    await Promise.all([...runners.map((r) => r.drain()), ...revokes]);
    await Promise.all(runners.map((r) => r.drain()));

    const rows = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', 'in', uids).execute();
    const payments = await pier.store.db.selectFrom('payments').select(['imp_uid', 'merchant_uid', 'status']).where('merchant_uid', 'in', uids).execute();
    const charged = new Set(await ledgerMoids());
    for (const row of rows) {
      const mine = payments.filter((p) => p.merchant_uid === row.merchant_uid);
      if (revokedByAnswer.has(row.merchant_uid)) {
        expect(row.state, row.merchant_uid).toBe('revoked');
        expect(mine, row.merchant_uid).toEqual([]);
      } else {
        expect(row.state, row.merchant_uid).toBe('executed');
        expect(mine.map((p) => p.status), row.merchant_uid).toEqual(['paid']);
        expect(charged.has(mine[0].imp_uid)).toBe(true);
      }
    }
    expect(revokedByAnswer.size + refusedNothingLeft.length).toBe(uids.length);
    // no charge at the PG for anything revoked
    const revokedImp = payments.filter((p) => revokedByAnswer.has(p.merchant_uid));
    expect(revokedImp).toEqual([]);
    expect(payments.filter((p) => charged.has(p.imp_uid))).toHaveLength(uids.length - revokedByAnswer.size);
  });

  it('revokes a due schedule no worker has claimed yet (it then never runs), and cannot revoke one a worker holds', async () => {
    const [first, second] = await scheduleDue('order', 2);
    // a worker claims `first` (it is running: V1 still says scheduled)
    const claimed = await claimDueSchedules(pier.store, { now: Math.floor(pier.clock.now() / 1000), owner: 'slow-worker', leaseSeconds: 300, limit: 1 });
    expect(claimed.map((c) => c.merchant_uid)).toEqual([first]);
    const res = await pier.call('POST', '/subscribe/payments/unschedule', { token: m.token, body: { customer_uid: 'race_c', merchant_uid: [first, second] } });
    expect(res.body.response.map((s: { merchant_uid: string }) => s.merchant_uid)).toEqual([second]);
    // the claim of a revoked schedule takes nothing
    expect(await claimDueSchedules(pier.store, { now: Math.floor(pier.clock.now() / 1000), owner: 'other', leaseSeconds: 300, limit: 10 })).toEqual([]);
  });
});
