/**
 * Reconciliation's fair read of refunds while a process of the version before migration 023 still
 * writes refunds without their merchant (a rolling upgrade: docs/operations.md, "Upgrading"; SQLite
 * too, whose workers and `pier` commands share one file). The read gives such refunds their
 * payment's merchant first, but one written between that and the walk is there when the walk
 * looks for the first merchant (`ORDER BY merchant_id LIMIT 1`): PostgreSQL sorts its NULL last,
 * SQLite first, and there the walk of merchants ended at once: nothing read, every merchant's due
 * refunds left until the next pass (decision 0076's read; found by a review, 2026-12-07).
 */
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/core/merchants/merchants.js';
import { dueRefunds } from '../src/core/payments/reconcile.js';
import { openStore, type Store } from '../src/store/db.js';
import type { PaymentsTable } from '../src/store/types.js';
import { startTestPier, testCardNumber, type TestPier } from './harness.js';

let pier: TestPier;
/** the other process, of the version before: its own connection to the same database */
let previous: Store;
let template: PaymentsTable;
const merchants: string[] = [];

const refund = (impUid: string, merchantId: string | null) => ({
  imp_uid: impUid,
  cancellation_id: impUid.replace('imp_', 'cncl_'),
  merchant_id: merchantId,
  amount: 100,
  tax_free: 0,
  reason: null,
  state: 'in_doubt',
  pg_tid: null,
  fail_reason: null,
  refund_holder: null,
  refund_bank: null,
  refund_account: null,
  requested_at: 0,
  cancelled_at: 0,
  next_check_at: 1_000,
  check_count: 0,
});

async function payment(db: Store['db'], impUid: string, merchantId: string) {
  await db.insertInto('payments').values({ ...template, imp_uid: impUid, merchant_id: merchantId, merchant_uid: impUid, merchant_uid_lock: impUid, pg_tid: null }).execute();
}

beforeAll(async () => {
  pier = await startTestPier();
  previous = openStore(pier.databaseUrl, { poolSize: 2 });
  const m = await pier.newMerchant();
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'template', amount: 1_000, card_number: testCardNumber({ kftcCode: '361', lastFour: '4444' }), expiry: '2030-01' } });
  expect(res.body.response?.status).toBe('paid');
  template = (await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', res.body.response.imp_uid).executeTakeFirstOrThrow()) as PaymentsTable;
  for (const name of ['a', 'b', 'c']) merchants.push((await createMerchant(pier.deps, { name })).merchantId);
  // a refund in doubt of each of the first two merchants, written by this version
  for (const [i, merchant] of merchants.slice(0, 2).entries()) {
    await payment(pier.store.db, `imp_own${i}`, merchant);
    await pier.store.db.insertInto('payment_cancels').values(refund(`imp_own${i}`, merchant)).execute();
  }
  await payment(pier.store.db, 'imp_old0', merchants[2]!);
});
afterAll(async () => {
  await previous?.close();
  await pier?.close();
});

describe('a refund written without its merchant while the fair read runs', () => {
  it("leaves the other merchants' due refunds read, on both databases; the next read gives it its merchant and reads it", async () => {
    let statements = 0;
    // the previous version's process records a refund just after the read looked for refunds
    // without their merchant (its first statement) and found none
    const afterFirst: KyselyPlugin = {
      transformQuery: (a) => a.node,
      transformResult: async (a) => {
        if (++statements === 1) await previous.db.insertInto('payment_cancels').values(refund('imp_old0', null)).execute();
        return a.result;
      },
    };
    const store = { ...pier.store, db: pier.store.db.withPlugin(afterFirst) };
    const first = await dueRefunds({ ...pier.deps, store }, { graceSeconds: 0 }, { excluded: [], after: null, limit: 100 });
    expect(statements).toBeGreaterThan(1);
    expect(first.map((r) => [r.cancellation_id, r.merchant_id]).sort()).toEqual([
      ['cncl_own0', merchants[0]],
      ['cncl_own1', merchants[1]],
    ]);
    const next = await dueRefunds(pier.deps, { graceSeconds: 0 }, { excluded: [], after: null, limit: 100 });
    expect(next.map((r) => [r.cancellation_id, r.merchant_id]).sort()).toEqual([
      ['cncl_old0', merchants[2]],
      ['cncl_own0', merchants[0]],
      ['cncl_own1', merchants[1]],
    ]);
  });
});
